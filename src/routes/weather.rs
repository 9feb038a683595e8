//! Current weather: `GET /api/v1/weather?city=…` (or `?lat=…&lon=…`) and `GET /api/v1/weather/{city}`.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{OutputQuery, language};
use crate::domain::{Place, Units, Weather};
use crate::error::ApiError;
use crate::lookup::{CacheInfo, CacheStatus, Lookup, WeatherLookup};

/// Query of `GET /api/v1/weather`: a `city`, or `lat` and `lon`; plus `units` and `lang`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherQuery {
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[serde(default)]
    pub units: Units,
    pub lang: Option<String>,
}

/// The answer: the weather in the requested units, and how fresh it is.
#[derive(Serialize)]
struct WeatherResponse {
    #[serde(flatten)]
    weather: Weather,
    cache: CacheInfo,
}

/// `GET /api/v1/weather?city=London,GB` or `?lat=51.51&lon=-0.13`.
#[tracing::instrument(name = "GET /api/v1/weather", skip(lookup))]
pub async fn by_query(
    lookup: web::Data<WeatherLookup>,
    query: web::Query<WeatherQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let place = Place::from_parts(query.city.as_deref(), query.lat, query.lon)?;
    let output = OutputQuery {
        units: query.units,
        lang: query.lang,
    };
    respond(&lookup, place, output).await
}

/// `GET /api/v1/weather/{city}`, e.g. `/api/v1/weather/London,GB`.
#[tracing::instrument(name = "GET /api/v1/weather/{city}", skip(lookup))]
pub async fn by_path(
    lookup: web::Data<WeatherLookup>,
    city: web::Path<String>,
    query: web::Query<OutputQuery>,
) -> Result<HttpResponse, ApiError> {
    let place = Place::city(&city)?;
    respond(&lookup, place, query.into_inner()).await
}

async fn respond(
    lookup: &WeatherLookup,
    place: Place,
    output: OutputQuery,
) -> Result<HttpResponse, ApiError> {
    let lang = language(output.lang.as_deref())?;
    let Lookup { weather, cache } = lookup.current(&place, &lang).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "X-Cache",
            match cache.status {
                CacheStatus::Hit => "HIT",
                CacheStatus::Miss => "MISS",
            },
        ))
        .insert_header((header::AGE, cache.age_s))
        .insert_header(CacheControl(vec![CacheDirective::MaxAge(
            cache.ttl_s as u32,
        )]))
        .json(WeatherResponse {
            weather: weather.in_units(output.units),
            cache,
        }))
}
