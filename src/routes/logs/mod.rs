//! The weather log: `POST`, `GET` (list and one), `PATCH` and `DELETE` under `/api/v1/logs`.
//!
//! The handlers are here; the bodies and queries they take, and the checks that turn those
//! into domain values, are in `requests`.

mod requests;

pub(crate) use requests::log_filter;
pub use requests::{CreateLogRequest, ListQuery, ListRequest, LogPatchRequest, UnitsQuery};

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{
    BadGateway, BadRequest, GatewayTimeout, LogNotFound, PayloadTooLarge, PlaceNotFound,
    ServiceUnavailable, StorageUnavailable, UnsupportedMediaType,
};
use super::{Endpoint, JsonObject, examples};
use crate::domain::{LogEntry, LogId, LogPatch, NewLog, Units};
use crate::error::ApiError;
use crate::lookup::WeatherLookup;
use crate::storage::LogStore;

/// One log.
const LOG: &str = "/api/v1/logs/{id}";
/// The log collection.
const LOGS: &str = "/api/v1/logs";

/// The routes of this resource.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, LOGS, list),
        Endpoint::new(Method::POST, LOGS, create),
        Endpoint::new(Method::GET, LOG, get),
        Endpoint::new(Method::PATCH, LOG, update),
        Endpoint::new(Method::DELETE, LOG, delete),
    ]
}

/// A page of logs, newest first; pass `next_cursor` as `cursor` to get the next one (`null` on
/// the last page).
#[derive(Serialize, ToSchema)]
struct LogPageResponse {
    items: Vec<LogEntry>,
    /// An opaque position, signed by the service; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Creates a log: looks the weather up (through the cache) and stores it with the note and
/// tags. 201 with a `Location` header naming the new log.
#[utoipa::path(
    post,
    path = LOGS,
    operation_id = "create_log",
    tag = "logs",
    summary = "Log the current weather at a place, with a note and tags",
    description = "The body is checked first; then the weather is looked up (through the cache) \
        and stored with the note and tags. The answer is the new log, in `units`.",
    params(UnitsQuery),
    request_body(content = CreateLogRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The log was created.", body = LogEntry,
            links(
                ("GetLogById" = (operation_id = "get_log",
                    parameters(("id" = "$response.body#/id")),
                    description = "The `id` of the new log reads it.")),
                ("UpdateLogById" = (operation_id = "update_log",
                    parameters(("id" = "$response.body#/id")),
                    description = "The `id` of the new log changes its note or tags.")),
                ("DeleteLogById" = (operation_id = "delete_log",
                    parameters(("id" = "$response.body#/id")),
                    description = "The `id` of the new log deletes it."))
            ),
            headers(("Location" = String, description = "The new log's URL: `/api/v1/logs/{id}`.")),
            example = json!(examples::log_entry())),
        (status = 400, response = BadRequest),
        (status = 404, response = PlaceNotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 502, response = BadGateway),
        (status = 503, response = ServiceUnavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
#[tracing::instrument(name = "logs.create", skip(lookup, store))]
pub async fn create(
    lookup: web::Data<WeatherLookup>,
    store: web::Data<LogStore>,
    query: web::Query<UnitsQuery>,
    body: web::Json<JsonObject<CreateLogRequest>>,
) -> Result<HttpResponse, ApiError> {
    let JsonObject(body) = body.into_inner();
    let new_log = NewLog::try_from(body)?;
    let looked_up = lookup.look_up(&new_log.place, &new_log.lang).await?;
    let entry = store
        .insert(
            looked_up.report.weather().clone(),
            looked_up.cache.status,
            new_log.note,
            new_log.tags,
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{LOGS}/{}", entry.id)))
        .json(in_units(entry, query.units)))
}

/// Lists logs newest first, filtered, one page at a time.
#[utoipa::path(
    get,
    path = LOGS,
    operation_id = "list_logs",
    tag = "logs",
    summary = "List logs, newest first, filtered, one page at a time",
    description = "Filters take literal values only. Pass `next_cursor` back as `cursor` until \
        it is `null`; logs added meanwhile never shift later pages. Cursors are signed: one \
        this service did not hand out is refused with 400.",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of logs.", body = LogPageResponse,
            links(
                ("NextPage" = (operation_id = "list_logs",
                    parameters(("cursor" = "$response.body#/next_cursor")),
                    description = "`next_cursor`, when not `null`, is the `cursor` of the next page.")),
                ("GetFirstLog" = (operation_id = "get_log",
                    parameters(("id" = "$response.body#/items/0/id")),
                    description = "The `id` of a listed log reads it."))
            ),
            example = json!(examples::log_page())),
        (status = 400, response = BadRequest),
        (status = 503, response = StorageUnavailable),
    )
)]
#[tracing::instrument(name = "logs.list", skip(store))]
pub async fn list(
    store: web::Data<LogStore>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = ListRequest::try_from(&*query)?;
    // Checked before any query: a cursor the service never handed out costs nothing.
    let cursor = request
        .cursor
        .map(|cursor| store.verify_cursor(&cursor))
        .transpose()?;
    let page = store.list(&request.filter, request.limit, cursor).await?;
    Ok(HttpResponse::Ok().json(LogPageResponse {
        items: page
            .items
            .into_iter()
            .map(|entry| in_units(entry, query.units))
            .collect(),
        next_cursor: page.next_cursor.map(|cursor| cursor.to_string()),
    }))
}

/// Reads one log.
#[utoipa::path(
    get,
    path = LOG,
    operation_id = "get_log",
    tag = "logs",
    summary = "One log",
    params(("id" = LogId, Path, description = "The log's id: 24 hexadecimal digits."), UnitsQuery),
    responses(
        (status = 200, description = "The log, in `units`.", body = LogEntry,
            example = json!(examples::log_entry())),
        (status = 400, response = BadRequest),
        (status = 404, response = LogNotFound),
        (status = 503, response = StorageUnavailable),
    )
)]
#[tracing::instrument(name = "logs.get", skip(store))]
pub async fn get(
    store: web::Data<LogStore>,
    query: web::Query<UnitsQuery>,
    // Last: actix-web extracts in this order, and a bad query reports before a bad id, as it
    // did when the id was parsed in the handler.
    id: web::Path<LogId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let entry = store.get(id).await?.ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::Ok().json(in_units(entry, query.units)))
}

/// Changes a log's `note` and/or `tags`, nothing else.
#[utoipa::path(
    patch,
    path = LOG,
    operation_id = "update_log",
    tag = "logs",
    summary = "Change a log's note or tags (nothing else)",
    description = "Give `note`, `tags` or both; `\"note\": null` removes the note. Any other \
        field is refused, so the measured weather cannot be rewritten.",
    params(("id" = LogId, Path, description = "The log's id: 24 hexadecimal digits."), UnitsQuery),
    request_body(content = LogPatchRequest, content_type = "application/json",
        example = json!({"note": "Umbrella AND boots"})),
    responses(
        (status = 200, description = "The log after the change, in `units`.", body = LogEntry,
            example = json!(examples::log_entry())),
        (status = 400, response = BadRequest),
        (status = 404, response = LogNotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = StorageUnavailable),
    )
)]
#[tracing::instrument(name = "logs.update", skip(store))]
pub async fn update(
    store: web::Data<LogStore>,
    query: web::Query<UnitsQuery>,
    body: web::Json<JsonObject<LogPatchRequest>>,
    // Last, so the body is read (and its 413, 415 or 408 reported) before a bad id is.
    id: web::Path<LogId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let JsonObject(body) = body.into_inner();
    let patch = LogPatch::try_from(body)?;
    let entry = store
        .update(id, patch)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::Ok().json(in_units(entry, query.units)))
}

/// Deletes a log: 204, or 404 when there is no such log.
#[utoipa::path(
    delete,
    path = LOG,
    operation_id = "delete_log",
    tag = "logs",
    summary = "Delete a log",
    params(("id" = LogId, Path, description = "The log's id: 24 hexadecimal digits.")),
    responses(
        (status = 204, description = "The log was deleted."),
        (status = 400, response = BadRequest),
        (status = 404, response = LogNotFound),
        (status = 503, response = StorageUnavailable),
    )
)]
#[tracing::instrument(name = "logs.delete", skip(store))]
pub async fn delete(
    store: web::Data<LogStore>,
    id: web::Path<LogId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
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
