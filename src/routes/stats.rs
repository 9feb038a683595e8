//! Summary of the log: `GET /api/v1/stats`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::logs::log_filter;
use super::responses::{BadRequest, StorageUnavailable};
use super::{Endpoint, examples};
use crate::domain::{InvalidInput, Units, city_schema};
use crate::error::ApiError;
use crate::storage::{LogFilter, LogStore, PlaceStats};

/// The summary of the log.
const STATS: &str = "/api/v1/stats";

/// The routes of this resource.
pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::GET, STATS, get_stats)]
}

/// Query of `GET /api/v1/stats`: optional `city`, `from`, `to` (RFC 3339) and `units`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only logs of this place: the name, matched exactly but case-insensitively, optionally
    /// with `,COUNTRY` (`warsaw` or `warsaw,pl`).
    #[param(schema_with = city_schema)]
    pub city: Option<String>,
    /// Only logs logged at or after this time (RFC 3339).
    #[param(example = "2026-11-30T00:00:00Z")]
    pub from: Option<DateTime<Utc>>,
    /// Only logs logged at or before this time (RFC 3339); not before `from`.
    #[param(example = "2026-12-01T00:00:00Z")]
    pub to: Option<DateTime<Utc>>,
    /// Unit system of the temperatures: `metric` (°C), `imperial` (°F) or `standard` (K).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
}

/// The logs a stats query is about (stats take no temperature filter).
impl TryFrom<&StatsQuery> for LogFilter {
    type Error = InvalidInput;

    fn try_from(query: &StatsQuery) -> Result<Self, Self::Error> {
        log_filter(
            query.city.as_deref(),
            query.from,
            query.to,
            query.units,
            (None, None),
        )
    }
}

/// The summary: the overall count, and per place its count, temperatures and humidity.
#[derive(Serialize, ToSchema)]
struct StatsResponse {
    /// Logs matched, over all places.
    count: u64,
    /// Unit system of the temperatures.
    units: Units,
    /// One entry per place, busiest first.
    places: Vec<PlaceSummary>,
}

/// The logs of one place (name and country as OpenWeatherMap gave them).
#[derive(Serialize, ToSchema)]
struct PlaceSummary {
    city: String,
    /// ISO 3166 country code, or `null`.
    #[schema(required = true)]
    country: Option<String>,
    /// Logs of this place.
    count: u64,
    temperature: TemperatureSummary,
    /// Mean relative humidity, %, to one decimal; `null` when no log had a humidity.
    #[schema(required = true)]
    humidity_avg: Option<f64>,
    /// When this place was first logged, RFC 3339 UTC.
    first_logged_at: DateTime<Utc>,
    /// When this place was last logged, RFC 3339 UTC.
    last_logged_at: DateTime<Utc>,
}

/// Mean, lowest and highest current temperature over the logs, in `units`.
#[derive(Serialize, ToSchema)]
struct TemperatureSummary {
    avg: f64,
    min: f64,
    max: f64,
}

/// Summarizes the log per place, computed by MongoDB in one aggregation (`LogStore::stats`).
#[utoipa::path(
    get,
    path = STATS,
    operation_id = "get_stats",
    tag = "stats",
    summary = "Summarize the logs per place",
    description = "Counts, temperatures (mean, lowest, highest) and mean humidity per place, \
        busiest first, over the logs that match `city`, `from` and `to`.",
    params(StatsQuery),
    responses(
        (status = 200, description = "The summary.", body = StatsResponse,
            example = json!(examples::stats())),
        (status = 400, response = BadRequest),
        (status = 503, response = StorageUnavailable),
    )
)]
#[tracing::instrument(name = "stats.get_stats", skip(store))]
pub async fn get_stats(
    store: web::Data<LogStore>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = LogFilter::try_from(&*query)?;
    let stats = store.stats(&filter).await?;
    let units = query.units;
    Ok(HttpResponse::Ok().json(StatsResponse {
        count: stats.count,
        units,
        places: stats
            .places
            .into_iter()
            .map(|place| PlaceSummary::from_stats(place, units))
            .collect(),
    }))
}

impl PlaceSummary {
    /// One place's metric stats, as the API shows them in `units`. The conversions are linear, so
    /// converting the average, minimum and maximum gives the same as converting every value first.
    fn from_stats(place: PlaceStats, units: Units) -> PlaceSummary {
        let t = |c: f64| units.temperature_from_celsius(c);
        PlaceSummary {
            city: place.city,
            country: place.country,
            count: place.count,
            temperature: TemperatureSummary {
                avg: t(place.temperature_avg),
                min: t(place.temperature_min),
                max: t(place.temperature_max),
            },
            humidity_avg: place.humidity_avg.map(|h| (h * 10.0).round() / 10.0),
            first_logged_at: place.first_logged_at,
            last_logged_at: place.last_logged_at,
        }
    }
}
