//! The weather log: `POST`, `GET` (list and one), `PATCH` and `DELETE` under `/api/v1/logs`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::language;
use crate::domain::{LogEntry, LogId, LogPatch, LogPatchRequest, Note, Place, Tags, Units};
use crate::error::ApiError;
use crate::lookup::WeatherLookup;
use crate::storage::LogStore;

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

/// `POST /api/v1/logs`: looks the weather up (through the cache) and stores it as a new log.
/// 201 with `Location: /api/v1/logs/{id}`.
#[tracing::instrument(name = "POST /api/v1/logs", skip(lookup, store))]
pub async fn create(
    lookup: web::Data<WeatherLookup>,
    store: web::Data<LogStore>,
    query: web::Query<UnitsQuery>,
    body: web::Json<CreateLogRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
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
    body: web::Json<LogPatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let id: LogId = id.parse()?;
    let patch = LogPatch::try_from(body.into_inner())?;
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

fn in_units(mut entry: LogEntry, units: Units) -> LogEntry {
    entry.weather = entry.weather.in_units(units);
    entry
}

fn not_found(id: LogId) -> ApiError {
    ApiError::NotFound(format!("no log has the id {id}"))
}
