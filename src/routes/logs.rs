//! The weather log: `POST`, `GET` (list and one), `PATCH` and `DELETE` under `/api/v1/logs`.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::responses::{
    BadGateway, BadRequest, GatewayTimeout, LogNotFound, PayloadTooLarge, PlaceNotFound,
    ServiceUnavailable, StorageUnavailable, UnsupportedMediaType, nullable,
};
use super::{Endpoint, JsonObject, examples};
use crate::domain::{
    InvalidInput, Language, LogEntry, LogId, LogPatch, LogPatchRequest, NewLog, Note, Place, Tags,
    Units, city_schema,
};
use crate::error::ApiError;
use crate::lookup::WeatherLookup;
use crate::storage::{Cursor, LogFilter, LogStore};

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

/// Default and largest page size of the list.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// Body of `POST /api/v1/logs`: a `city`, or `lat` and `lon`; an optional `note` (≤ 500
/// characters), `tags` (≤ 10, each ≤ 32 characters) and `lang` for the description.
///
/// A field given as `null` counts as left out.
// The rule "a `city`, or `lat` and `lon`" is added to the schema in `crate::openapi`: a struct
// of optional fields cannot say it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"city": "Warsaw,PL", "note": "Umbrella weather", "tags": ["rain", "commute"]}))]
pub struct CreateLogRequest {
    /// The place by name; give either `city`, or `lat` and `lon`.
    #[schema(schema_with = nullable_city)]
    pub city: Option<String>,
    /// Latitude in degrees, −90 to 90; give it with `lon`, instead of `city`.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Longitude in degrees, −180 to 180; give it with `lat`, instead of `city`.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
    /// A free-text note, at most 500 characters.
    #[schema(value_type = Option<Note>)]
    pub note: Option<String>,
    /// At most 10 tags, each 1 to 32 characters after trimming.
    #[serde(default)]
    #[schema(value_type = Tags)]
    pub tags: Vec<String>,
    /// Language of the condition descriptions (`en`, `de`, `pt_br`, …).
    #[schema(value_type = Option<Language>)]
    pub lang: Option<String>,
}

/// A city query that may also be `null` (meaning: not given).
fn nullable_city() -> utoipa::openapi::schema::Object {
    nullable(city_schema())
}

/// Checks every field of the body, before the upstream call, so bad input costs nothing.
impl TryFrom<CreateLogRequest> for NewLog {
    type Error = InvalidInput;

    fn try_from(body: CreateLogRequest) -> Result<Self, Self::Error> {
        Ok(NewLog {
            place: Place::from_parts(body.city.as_deref(), body.lat, body.lon)?,
            note: body.note.map(Note::parse).transpose()?,
            tags: Tags::parse(body.tags)?,
            lang: body
                .lang
                .as_deref()
                .map(Language::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// Query of `POST`, `GET /{id}` and `PATCH`: only `units` for the answer.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitsQuery {
    /// Unit system of the answer: `metric` (°C, m/s), `imperial` (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
}

/// Query of `GET /api/v1/logs`. `min_temp`/`max_temp` are in `units`; `from`/`to` are RFC 3339
/// (write `+` as `%2B` in a URL, or use `Z`).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
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
    /// Only logs at least this warm, in `units`.
    pub min_temp: Option<f64>,
    /// Only logs at most this warm, in `units`; not below `min_temp`.
    pub max_temp: Option<f64>,
    /// Unit system of the answer and of `min_temp`/`max_temp`: `metric` (°C, m/s), `imperial`
    /// (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
    /// Page size, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page, as it was given.
    #[param(example = "MTc5NjAzMDAwOTg5NDo2YjBkM2UzOTY1ZmQwNTkxYzViMDZhOTA")]
    pub cursor: Option<String>,
}

/// A checked [`ListQuery`]: which logs, how many, from where.
#[derive(Debug)]
pub struct ListRequest {
    pub filter: LogFilter,
    /// 1 to 100.
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl TryFrom<&ListQuery> for ListRequest {
    type Error = InvalidInput;

    fn try_from(query: &ListQuery) -> Result<Self, Self::Error> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(InvalidInput::new(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(ListRequest {
            cursor: query.cursor.as_deref().map(Cursor::decode).transpose()?,
            filter: log_filter(
                query.city.as_deref(),
                query.from,
                query.to,
                query.units,
                (query.min_temp, query.max_temp),
            )?,
            limit,
        })
    }
}

/// A page of logs, newest first; pass `next_cursor` as `cursor` to get the next one (`null` on
/// the last page).
#[derive(Serialize, ToSchema)]
struct LogPageResponse {
    items: Vec<LogEntry>,
    /// An opaque position; `null` on the last page.
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
    let weather = lookup.look_up(&new_log.place, &new_log.lang).await?.weather;
    let entry = store.insert(weather, new_log.note, new_log.tags).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/logs/{}", entry.id)))
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
        it is `null`; logs added meanwhile never shift later pages.",
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
    let page = store
        .list(&request.filter, request.limit, request.cursor)
        .await?;
    Ok(HttpResponse::Ok().json(LogPageResponse {
        items: page
            .items
            .into_iter()
            .map(|entry| in_units(entry, query.units))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
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
    id: web::Path<LogId>,
    query: web::Query<UnitsQuery>,
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
    id: web::Path<LogId>,
    query: web::Query<UnitsQuery>,
    body: web::Json<JsonObject<LogPatchRequest>>,
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

/// Builds a storage filter from query values; temperatures are given in `units`.
///
/// Errors: `from` after `to`, a temperature that is not a number, `min_temp` above `max_temp`,
/// or a malformed city.
pub(crate) fn log_filter(
    city: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    units: Units,
    (min_temp, max_temp): (Option<f64>, Option<f64>),
) -> Result<LogFilter, InvalidInput> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(InvalidInput::new("from must not be after to"));
    }
    for value in [min_temp, max_temp].into_iter().flatten() {
        if !value.is_finite() {
            return Err(InvalidInput::new("temperatures must be numbers"));
        }
    }
    if let (Some(min), Some(max)) = (min_temp, max_temp)
        && min > max
    {
        return Err(InvalidInput::new("min_temp must not be above max_temp"));
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
