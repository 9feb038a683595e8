//! The cache, for operators: `DELETE /api/v1/cache` (all of it, or one place) with the admin
//! token.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Endpoint;
use super::admin::Admin;
use super::responses::{AdminDisabled, BadRequest, CacheUnavailable, Unauthorized};
use crate::domain::{InvalidInput, Place, city_schema};
use crate::error::ApiError;
use crate::lookup::WeatherLookup;

/// The cached answers.
const CACHE: &str = "/api/v1/cache";

/// The routes of this resource.
pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::DELETE, CACHE, purge)]
}

/// Query of `DELETE /api/v1/cache`: nothing (every place), a `city`, or `lat` and `lon`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PurgeQuery {
    /// Only this place (every language): a name, as `GET /api/v1/weather` takes it.
    #[param(schema_with = city_schema)]
    pub city: Option<String>,
    /// Only this place, with `lon`: latitude in degrees, −90 to 90.
    #[param(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Only this place, with `lat`: longitude in degrees, −180 to 180.
    #[param(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
}

/// Which place a purge is about; `None` for all of them.
fn place(query: &PurgeQuery) -> Result<Option<Place>, InvalidInput> {
    match (&query.city, query.lat, query.lon) {
        (None, None, None) => Ok(None),
        (city, lat, lon) => Place::from_parts(city.as_deref(), lat, lon).map(Some),
    }
}

/// How many keys a purge deleted.
#[derive(Serialize, ToSchema)]
pub struct PurgeResponse {
    /// Cached answers deleted (one per place and language).
    deleted: u64,
}

/// Deletes this service's cached answers, so the next lookups ask upstream again.
#[utoipa::path(
    delete,
    path = CACHE,
    operation_id = "purge_cache",
    tag = "admin",
    summary = "Delete cached answers: all of them, or one place's",
    description = "Needs `Authorization: Bearer <ADMIN_TOKEN>`. Deletes only this service's \
        cached answers (`SCAN MATCH <prefix>:v1:weather:*` and `UNLINK`, never `FLUSHDB`): \
        other applications sharing the Redis keep their keys, and the call budget, the pause \
        after a refusal and the fetch locks stay. Purge to drop answers you know are wrong; \
        to change what is cached, bump the schema version instead.",
    params(PurgeQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The answers were deleted.", body = PurgeResponse,
            example = json!({"deleted": 12})),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 503, response = CacheUnavailable),
    )
)]
#[tracing::instrument(name = "cache.purge", skip_all)]
pub async fn purge(
    _admin: Admin,
    lookup: web::Data<WeatherLookup>,
    query: web::Query<PurgeQuery>,
) -> Result<HttpResponse, ApiError> {
    let place = place(&query)?;
    let deleted = lookup.purge(place.as_ref()).await?;
    tracing::info!(deleted, "cache purged");
    Ok(HttpResponse::Ok().json(PurgeResponse { deleted }))
}
