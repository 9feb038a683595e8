//! The weather log: `POST`, `GET` (list and one), `PATCH` and `DELETE` under `/api/v1/logs`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JsonObject, language};
use crate::domain::{LogEntry, LogId, LogPatch, LogPatchRequest, Note, Place, Tags, Units};
use crate::error::ApiError;
use crate::lookup::WeatherLookup;
use crate::storage::{Cursor, LogFilter, LogStore};

/// Default and largest page size of the list.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// Body of `POST /api/v1/logs`: a `city`, or `lat` and `lon`; an optional `note` (≤ 500
/// characters), `tags` (≤ 10, each ≤ 32 characters) and `lang` for the description.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLogRequest {
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub note: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub lang: Option<String>,
}

/// Query of `POST`, `GET /{id}` and `PATCH`: only `units` for the answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitsQuery {
    #[serde(default)]
    pub units: Units,
}

/// Query of `GET /api/v1/logs`. `min_temp`/`max_temp` are in `units`; `from`/`to` are RFC 3339
/// (write `+` as `%2B` in a URL, or use `Z`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub city: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub min_temp: Option<f64>,
    pub max_temp: Option<f64>,
    #[serde(default)]
    pub units: Units,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A page of logs; pass `next_cursor` as `cursor` to get the next one (`null` on the last).
#[derive(Serialize)]
struct LogPageResponse {
    items: Vec<LogEntry>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/logs`: looks the weather up (through the cache) and stores it as a new log.
/// 201 with `Location: /api/v1/logs/{id}`.
#[tracing::instrument(name = "POST /api/v1/logs", skip(lookup, store))]
pub async fn create(
    lookup: web::Data<WeatherLookup>,
    store: web::Data<LogStore>,
    query: web::Query<UnitsQuery>,
    body: web::Json<JsonObject<CreateLogRequest>>,
) -> Result<HttpResponse, ApiError> {
    let JsonObject(body) = body.into_inner();
    // Check everything before the upstream call, so bad input costs nothing.
    let place = Place::from_parts(body.city.as_deref(), body.lat, body.lon)?;
    let note = body.note.map(Note::parse).transpose()?;
    let tags = Tags::parse(body.tags)?;
    let lang = language(body.lang.as_deref())?;

    let weather = lookup.current(&place, &lang).await?.weather;
    let entry = store.insert(weather, note, tags).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/logs/{}", entry.id)))
        .json(in_units(entry, query.units)))
}

/// `GET /api/v1/logs`: newest first, filtered, one page at a time.
#[tracing::instrument(name = "GET /api/v1/logs", skip(store))]
pub async fn list(
    store: web::Data<LogStore>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let filter = log_filter(
        query.city.as_deref(),
        query.from,
        query.to,
        query.units,
        (query.min_temp, query.max_temp),
    )?;
    let page = store.list(&filter, limit, cursor).await?;
    Ok(HttpResponse::Ok().json(LogPageResponse {
        items: page
            .items
            .into_iter()
            .map(|entry| in_units(entry, query.units))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

/// `GET /api/v1/logs/{id}`.
#[tracing::instrument(name = "GET /api/v1/logs/{id}", skip(store))]
pub async fn get(
    store: web::Data<LogStore>,
    id: web::Path<String>,
    query: web::Query<UnitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: LogId = id.parse()?;
    let entry = store.get(id).await?.ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::Ok().json(in_units(entry, query.units)))
}

/// `PATCH /api/v1/logs/{id}`: changes `note` and/or `tags`, nothing else.
#[tracing::instrument(name = "PATCH /api/v1/logs/{id}", skip(store))]
pub async fn update(
    store: web::Data<LogStore>,
    id: web::Path<String>,
    query: web::Query<UnitsQuery>,
    body: web::Json<JsonObject<LogPatchRequest>>,
) -> Result<HttpResponse, ApiError> {
    let id: LogId = id.parse()?;
    let JsonObject(body) = body.into_inner();
    let patch = LogPatch::try_from(body)?;
    let entry = store
        .update(id, patch)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::Ok().json(in_units(entry, query.units)))
}

/// `DELETE /api/v1/logs/{id}`: 204, or 404 when there is no such log.
#[tracing::instrument(name = "DELETE /api/v1/logs/{id}", skip(store))]
pub async fn delete(
    store: web::Data<LogStore>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: LogId = id.parse()?;
    if store.delete(id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found(id))
    }
}

/// Builds a storage filter from query values; temperatures are given in `units`.
pub(crate) fn log_filter(
    city: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    units: Units,
    (min_temp, max_temp): (Option<f64>, Option<f64>),
) -> Result<LogFilter, ApiError> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    for value in [min_temp, max_temp].into_iter().flatten() {
        if !value.is_finite() {
            return Err(ApiError::BadRequest("temperatures must be numbers".into()));
        }
    }
    if let (Some(min), Some(max)) = (min_temp, max_temp)
        && min > max
    {
        return Err(ApiError::BadRequest(
            "min_temp must not be above max_temp".into(),
        ));
    }
    Ok(LogFilter {
        city: city.map(Place::city).transpose()?,
        from,
        to,
        min_temp_c: min_temp.map(|t| units.temperature_to_celsius(t)),
        max_temp_c: max_temp.map(|t| units.temperature_to_celsius(t)),
    })
}

fn in_units(mut entry: LogEntry, units: Units) -> LogEntry {
    entry.weather = entry.weather.in_units(units);
    entry
}

fn not_found(id: LogId) -> ApiError {
    ApiError::NotFound(format!("no log has the id {id}"))
}
