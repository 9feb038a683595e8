//! One error type for the whole API, rendered as RFC 9457 problem details
//! (`application/problem+json`), including the framework's own errors.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use strum::VariantArray;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};

use crate::domain::InvalidInput;
use crate::openweather::UpstreamError;
use crate::storage::StorageError;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The detail of a 404 for a URL that no route matches.
pub const NO_ROUTE: &str = "no route matches this URL";
/// The detail of a 405.
pub const NO_SUCH_METHOD: &str = "this route does not support that method";

/// Everything a request can fail with. Each variant has one [`ProblemKind`] (and so one status
/// code, see [`ApiError::kind`]) and a safe message; the underlying cause of a 5xx is logged,
/// never shown.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad query, body or path value).
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such log, route or place.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("{}", NO_SUCH_METHOD)]
    MethodNotAllowed,
    /// 413: the body is over 64 KiB.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 408: the request (its body, or the work it asked for) took longer than
    /// `REQUEST_TIMEOUT_SECONDS`.
    #[error("the request took longer than {0:?}")]
    RequestTimeout(std::time::Duration),
    /// 429: this client made more requests in the last minute than `RATE_LIMIT_PER_MINUTE`.
    #[error("more than {limit} requests a minute from this client; try again in {retry_after_s} s")]
    RateLimited { limit: u64, retry_after_s: u64 },
    /// 415: the body is not `application/json`.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// Upstream (OpenWeatherMap) failures, each of its own kind.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// 503: MongoDB failed or is unreachable.
    #[error("storage is unavailable; try again shortly")]
    Storage(#[from] StorageError),
    /// 403: an admin route, with no `ADMIN_TOKEN` configured.
    #[error("admin endpoints are disabled (set ADMIN_TOKEN to enable them)")]
    AdminDisabled,
    /// 401: an admin route without the right bearer token.
    #[error("this route needs `Authorization: Bearer <ADMIN_TOKEN>`")]
    Unauthorized,
    /// 503: Redis did not answer an admin command.
    #[error("the cache is unavailable; try again shortly")]
    CacheUnavailable(#[from] crate::shared_redis::RedisUnavailable),
}

impl From<InvalidInput> for ApiError {
    fn from(err: InvalidInput) -> Self {
        ApiError::BadRequest(err.0)
    }
}

impl ApiError {
    /// 404 for a URL that no route matches.
    pub fn no_route() -> Self {
        ApiError::NotFound(NO_ROUTE.into())
    }

    /// The error table: which kind of problem each error is. The status code follows from the
    /// kind ([`ProblemKind::status`]), so the two can never disagree.
    pub fn kind(&self) -> ProblemKind {
        match self {
            ApiError::BadRequest(_) => ProblemKind::BadRequest,
            ApiError::NotFound(_) => ProblemKind::NotFound,
            ApiError::MethodNotAllowed => ProblemKind::MethodNotAllowed,
            ApiError::PayloadTooLarge(_) => ProblemKind::PayloadTooLarge,
            ApiError::RequestTimeout(_) => ProblemKind::RequestTimeout,
            ApiError::UnsupportedMediaType => ProblemKind::UnsupportedMediaType,
            ApiError::RateLimited { .. } => ProblemKind::RateLimited,
            ApiError::Upstream(err) => match err {
                UpstreamError::NoApiKey => ProblemKind::NoApiKey,
                UpstreamError::PlaceNotFound => ProblemKind::PlaceNotFound,
                UpstreamError::KeyRejected => ProblemKind::UpstreamKeyRejected,
                UpstreamError::RateLimited { .. } => ProblemKind::UpstreamRateLimited,
                UpstreamError::Timeout(_) => ProblemKind::UpstreamTimeout,
                UpstreamError::Failed(_) | UpstreamError::Unreachable => {
                    ProblemKind::UpstreamFailed
                }
                UpstreamError::BudgetExhausted { .. } => ProblemKind::UpstreamBudgetExhausted,
            },
            ApiError::Storage(_) => ProblemKind::StorageUnavailable,
            ApiError::AdminDisabled => ProblemKind::AdminDisabled,
            ApiError::Unauthorized => ProblemKind::Unauthorized,
            ApiError::CacheUnavailable(_) => ProblemKind::CacheUnavailable,
        }
    }
}

/// Every kind of problem the API answers with: the last part of its `type` URI
/// (`/problems/<kind>`, the variant's name in kebab case) and its status code.
///
/// `VARIANTS` lists them all for the API document, which a test checks against the responses it
/// declares, so a new kind cannot go undocumented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum ProblemKind {
    BadRequest,
    /// No or a wrong bearer token on an admin route.
    Unauthorized,
    /// An admin route while `ADMIN_TOKEN` is unset.
    AdminDisabled,
    NotFound,
    PlaceNotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A client over the inbound rate limit (`RATE_LIMIT_PER_MINUTE`).
    RateLimited,
    NoApiKey,
    UpstreamKeyRejected,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamFailed,
    /// Our own call budget refused a call to upstream.
    UpstreamBudgetExhausted,
    StorageUnavailable,
    /// Redis did not answer an admin command.
    CacheUnavailable,
    /// A failure the service did not foresee (an error from the framework itself).
    Internal,
}

impl ProblemKind {
    /// The status code of this kind of problem.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::BadRequest => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::AdminDisabled => StatusCode::FORBIDDEN,
            ProblemKind::NotFound | ProblemKind::PlaceNotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::UpstreamKeyRejected | ProblemKind::UpstreamFailed => {
                StatusCode::BAD_GATEWAY
            }
            ProblemKind::NoApiKey
            | ProblemKind::UpstreamRateLimited
            | ProblemKind::UpstreamBudgetExhausted
            | ProblemKind::StorageUnavailable
            | ProblemKind::CacheUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `type` URI: `/problems/<kind>`.
    pub fn type_uri(self) -> String {
        format!("/problems/{}", <&'static str>::from(self))
    }
}

/// An RFC 9457 problem details body, sent as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/bad-request",
    "title": "Bad Request",
    "status": 400,
    "detail": "limit must be between 1 and 100",
    "request_id": "01a231d7-4fd4-7766-9a32-309d5155e4df"
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem: `/problems/<kind>`.
    #[serde(rename = "type")]
    #[schema(schema_with = problem_types)]
    pub kind: String,
    /// The status code's reason phrase.
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request, safe to show.
    pub detail: String,
    /// The request's id, as in its `X-Request-Id` header: quote it to find the request's log
    /// lines. Added to every problem on its way out (`middleware::request_telemetry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = true, value_type = String, pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub request_id: Option<String>,
}

/// The `type` of a [`Problem`] in the API document: one of the [`ProblemKind`]s.
fn problem_types() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri-reference".into())))
        .description(Some(
            "A URI reference naming the kind of problem: `/problems/<kind>`.",
        ))
        .enum_values(Some(ProblemKind::VARIANTS.iter().map(|k| k.type_uri())))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().status()
    }

    fn error_response(&self) -> HttpResponse {
        let kind = self.kind();
        if kind.status().is_server_error() {
            // The full cause chain goes to the log; the user sees the safe message only.
            tracing::error!(error = ?self, "request failed");
        }
        let detail = match self {
            // Upstream's own message may hold details we do not vouch for.
            ApiError::Upstream(UpstreamError::Failed(_)) => {
                "OpenWeatherMap answered with an error; try again shortly".to_owned()
            }
            ApiError::Upstream(UpstreamError::Unreachable) => {
                "could not reach OpenWeatherMap; try again shortly".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = problem_response(kind.status(), kind, detail);
        if let ApiError::Unauthorized = self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::RateLimited { retry_after_s, .. }
        | ApiError::Upstream(
            UpstreamError::RateLimited { retry_after_s }
            | UpstreamError::BudgetExhausted { retry_after_s },
        ) = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        response
    }
}

/// Builds a problem+json response.
pub fn problem_response(status: StatusCode, kind: ProblemKind, detail: String) -> HttpResponse {
    let problem = Problem {
        kind: kind.type_uri(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        request_id: None,
    };
    HttpResponse::build(status)
        .content_type(PROBLEM_JSON)
        .json(problem)
}

/// Turns a JSON body error from actix-web into an [`ApiError`] (413, 415 or 400).
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api_error = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::PayloadTooLarge(*limit),
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(err) => {
            ApiError::BadRequest(format!("the JSON body is not valid: {err}"))
        }
        other => ApiError::BadRequest(format!("could not read the request body: {other}")),
    };
    api_error.into()
}

/// Turns a query-string error into a 400 problem.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        QueryPayloadError::Deserialize(err) => format!("the query string is not valid: {err}"),
        other => format!("the query string is not valid: {other}"),
    };
    ApiError::BadRequest(detail).into()
}

/// Turns a path-segment error into a 400 problem. Path segments deserialize into domain types
/// (`LogId`, a city), whose messages already say which value is wrong.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match err {
        PathError::Deserialize(err) => err.to_string(),
        other => format!("the URL path is not valid: {other}"),
    };
    ApiError::BadRequest(detail).into()
}

/// Last line of defence: any 4xx or 5xx response that is not problem+json yet (an error from
/// actix-web itself, say) is rewritten as one. JSON that a handler shaped on purpose is kept:
/// readiness answers 503 with its own `{"status": "down", "checks": …}` body.
pub fn ensure_problem_json<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let deliberate = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes() == PROBLEM_JSON.as_bytes() || v.as_bytes() == b"application/json"
    });
    if deliberate {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => (ProblemKind::NotFound, NO_ROUTE),
        StatusCode::METHOD_NOT_ALLOWED => (ProblemKind::MethodNotAllowed, NO_SUCH_METHOD),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ProblemKind::PayloadTooLarge,
            "the request body is too large",
        ),
        status if status.is_server_error() => (
            ProblemKind::Internal,
            "the service failed to handle this request",
        ),
        _ => (ProblemKind::BadRequest, "the request could not be handled"),
    };
    let (req, _) = res.into_parts();
    let response = problem_response(status, kind, detail.to_owned()).map_into_boxed_body();
    let res = ServiceResponse::new(req, response).map_into_right_body::<B>();
    Ok(ErrorHandlerResponse::Response(res))
}
