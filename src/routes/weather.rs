//! Current weather: `GET /api/v1/weather?city=…` (or `?lat=…&lon=…`) and `GET /api/v1/weather/{city}`.

use actix_web::http::Method;
use actix_web::http::header::{self, CacheControl, CacheDirective, ContentType};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToResponse, ToSchema};

use super::responses::{BadGateway, BadRequest, GatewayTimeout, PlaceNotFound, WeatherUnavailable};
use super::{Endpoint, OutputQuery, examples};
use crate::domain::CacheStatus;
use crate::domain::{
    InvalidInput, Language, Place, Units, Weather, WeatherReport, city_schema, deserialize_city,
};
use crate::error::ApiError;
use crate::lookup::{CacheInfo, LookedUpWeather, WeatherLookup};

/// The current weather at a place given in the query.
const WEATHER: &str = "/api/v1/weather";
/// The current weather at a city named in the path.
const WEATHER_BY_CITY: &str = "/api/v1/weather/{city}";

/// The routes of this resource.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, WEATHER, by_query),
        Endpoint::new(Method::GET, WEATHER_BY_CITY, by_path),
    ]
}

/// Query of `GET /api/v1/weather`: a `city`, or `lat` and `lon`; plus `units` and `lang`.
///
/// In the API document `city`, `lat` and `lon` are one exploded object parameter, `place` (see
/// `Place`'s schema), because only an object can say "one kind or the other".
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WeatherQuery {
    #[param(ignore)]
    pub city: Option<String>,
    #[param(ignore)]
    pub lat: Option<f64>,
    #[param(ignore)]
    pub lon: Option<f64>,
    /// Unit system of the answer: `metric` (°C, m/s), `imperial` (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
    /// Language of the condition descriptions (`en`, `de`, `pt_br`, …).
    #[serde(default)]
    #[param(value_type = Option<Language>)]
    pub lang: Language,
}

/// The place of a weather query: a city, or both coordinates, never both kinds.
impl TryFrom<&WeatherQuery> for Place {
    type Error = InvalidInput;

    fn try_from(query: &WeatherQuery) -> Result<Self, Self::Error> {
        Place::from_parts(query.city.as_deref(), query.lat, query.lon)
    }
}

/// Path of `GET /api/v1/weather/{city}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CityPath {
    /// The place by name, e.g. `Warsaw,PL`.
    #[serde(deserialize_with = "deserialize_city")]
    #[param(schema_with = city_schema, value_type = String)]
    pub city: Place,
}

/// 200 of both weather routes: the body and the freshness headers, declared once.
#[derive(ToResponse)]
#[response(
    description = "The current weather, in the requested units.",
    headers(
        ("X-Cache" = String, description = "`HIT` when the answer came from the cache, `MISS` when from OpenWeatherMap, `STALE` when OpenWeatherMap failed and this is the last good answer (at most `STALE_IF_ERROR_SECONDS` past its TTL)."),
        ("Age" = u64, description = "Seconds since the service fetched the answer from OpenWeatherMap."),
        ("Cache-Control" = String, description = "`max-age=N`: the seconds until the cached answer expires (`0` for a stale answer)."),
    ),
    example = json!(examples::weather())
)]
pub struct WeatherAnswer(pub WeatherResponse);

/// The current weather in the requested units, and how fresh it is (`cache`).
// The schema of the answer. Bodies are spliced together by `answer_body`, which gives the same
// bytes as serializing this (a test checks it).
#[derive(Serialize, ToSchema)]
pub struct WeatherResponse {
    #[serde(flatten)]
    weather: Weather,
    cache: CacheInfo,
}

/// The weather at a place given in the query: `?city=London,GB` or `?lat=51.51&lon=-0.13`.
#[utoipa::path(
    get,
    path = WEATHER,
    operation_id = "get_weather",
    tag = "weather",
    summary = "The current weather at a place given by name or coordinates",
    description = "Give `city`, or `lat` and `lon` (not both kinds). The answer comes from the \
        Redis cache when OpenWeatherMap was asked about the place in the last five minutes \
        (`X-Cache: HIT`), else from OpenWeatherMap (`MISS`). When OpenWeatherMap fails (for \
        any reason but an unknown place) and the cache holds an older answer, that answer comes \
        back as `200` with `X-Cache: STALE` and `Cache-Control: max-age=0` (stale-if-error).",
    params(
        ("place" = inline(Place), Query, style = Form, explode,
            description = "`city=…` (a place name, e.g. `Warsaw,PL`), or `lat=…&lon=…` \
                (degrees); not both kinds."),
        WeatherQuery,
    ),
    responses(
        (status = 200, response = WeatherAnswer),
        (status = 400, response = BadRequest),
        (status = 404, response = PlaceNotFound),
        (status = 502, response = BadGateway),
        (status = 503, response = WeatherUnavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
#[tracing::instrument(name = "weather.by_query", skip(lookup))]
pub async fn by_query(
    lookup: web::Data<WeatherLookup>,
    query: web::Query<WeatherQuery>,
) -> Result<HttpResponse, ApiError> {
    let place = Place::try_from(&*query)?;
    respond(&lookup, &place, query.units, &query.lang).await
}

/// The weather at a city named in the path, e.g. `London,GB`.
#[utoipa::path(
    get,
    path = WEATHER_BY_CITY,
    operation_id = "get_weather_by_city",
    tag = "weather",
    summary = "The current weather at a place given by name, in the path",
    description = "The same answer as `GET /api/v1/weather?city=…`.",
    params(CityPath, OutputQuery),
    responses(
        (status = 200, response = WeatherAnswer),
        (status = 400, response = BadRequest),
        (status = 404, response = PlaceNotFound),
        (status = 502, response = BadGateway),
        (status = 503, response = WeatherUnavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
#[tracing::instrument(name = "weather.by_path", skip(lookup))]
pub async fn by_path(
    lookup: web::Data<WeatherLookup>,
    query: web::Query<OutputQuery>,
    // Last: actix-web extracts in this order, and a bad query reports before a bad city.
    path: web::Path<CityPath>,
) -> Result<HttpResponse, ApiError> {
    respond(&lookup, &path.city, query.units, &query.lang).await
}

async fn respond(
    lookup: &WeatherLookup,
    place: &Place,
    units: Units,
    lang: &Language,
) -> Result<HttpResponse, ApiError> {
    let LookedUpWeather { report, cache } = lookup.look_up(place, lang).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "X-Cache",
            match cache.status {
                CacheStatus::Hit => "HIT",
                CacheStatus::Miss => "MISS",
                CacheStatus::Stale => "STALE",
            },
        ))
        .insert_header((header::AGE, cache.age_s))
        .insert_header(CacheControl(vec![CacheDirective::MaxAge(
            cache.ttl_s as u32,
        )]))
        .content_type(ContentType::json())
        .body(answer_body(&report, units, cache)))
}

/// The JSON of a `WeatherResponse`: the report's JSON in `units` (made once per report, see
/// `WeatherReport`) with the `cache` member added before its closing brace, so a request
/// serializes only that small object.
fn answer_body(report: &WeatherReport, units: Units, cache: CacheInfo) -> Vec<u8> {
    let weather = report.json(units);
    let members = weather
        .strip_suffix('}')
        .expect("a JSON object ends with a brace");
    let mut body = Vec::with_capacity(weather.len() + 64);
    body.extend_from_slice(members.as_bytes());
    body.extend_from_slice(b",\"cache\":");
    serde_json::to_writer(&mut body, &cache).expect("CacheInfo always serializes");
    body.push(b'}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spliced_body_is_the_serialized_response() {
        let mut sample = examples::weather();
        sample.as_object_mut().unwrap().remove("cache");
        let weather: Weather = serde_json::from_value(sample).unwrap();
        let report = WeatherReport::new(weather.clone());
        let cache = CacheInfo {
            status: CacheStatus::Hit,
            age_s: 42,
            ttl_s: 258,
        };
        for units in [Units::Metric, Units::Imperial, Units::Standard] {
            let expected = serde_json::to_vec(&WeatherResponse {
                weather: weather.clone().in_units(units),
                cache,
            })
            .unwrap();
            // Twice: the second time from the JSON made the first.
            for _ in 0..2 {
                assert_eq!(
                    String::from_utf8(answer_body(&report, units, cache)).unwrap(),
                    String::from_utf8(expected.clone()).unwrap(),
                    "{units:?}"
                );
            }
        }
    }
}
