//! Summary of the log: `GET /api/v1/stats`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::logs::log_filter;
use crate::domain::Units;
use crate::error::ApiError;
use crate::storage::{LogStore, PlaceStats, to_chrono};

/// Query of `GET /api/v1/stats`: optional `city`, `from`, `to` (RFC 3339) and `units`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    pub city: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub units: Units,
}

/// The answer: the overall count, and per place its count, temperatures and humidity.
#[derive(Serialize)]
struct StatsResponse {
    /// Logs matched, over all places.
    count: u64,
    /// Unit system of the temperatures.
    units: Units,
    /// One entry per place, busiest first.
    places: Vec<PlaceSummary>,
}

#[derive(Serialize)]
struct PlaceSummary {
    city: String,
    country: Option<String>,
    count: u64,
    temperature: TemperatureSummary,
    /// Mean relative humidity, %.
    humidity_avg: Option<f64>,
    first_logged_at: DateTime<Utc>,
    last_logged_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct TemperatureSummary {
    avg: f64,
    min: f64,
    max: f64,
}

/// `GET /api/v1/stats`: computed by MongoDB in one aggregation (see `LogStore::stats`).
#[tracing::instrument(name = "GET /api/v1/stats", skip(store))]
pub async fn summary(
    store: web::Data<LogStore>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = log_filter(
        query.city.as_deref(),
        query.from,
        query.to,
        query.units,
        (None, None),
    )?;
    let stats = store.stats(&filter).await?;
    let units = query.units;
    Ok(HttpResponse::Ok().json(StatsResponse {
        count: stats.count,
        units,
        places: stats
            .places
            .into_iter()
            .map(|place| summarize(place, units))
            .collect(),
    }))
}

/// Converts one place's metric stats into `units`. The conversions are linear, so converting
/// the average, minimum and maximum gives the same as converting every value first.
fn summarize(place: PlaceStats, units: Units) -> PlaceSummary {
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
        first_logged_at: to_chrono(place.first_logged_at),
        last_logged_at: to_chrono(place.last_logged_at),
    }
}
