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
use utoipa::ToSchema;

use crate::domain::InvalidInput;
use crate::openweather::UpstreamError;
use crate::storage::StorageError;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a request can fail with. Each variant has one status code and a safe message;
/// the underlying cause of a 5xx is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad query, body or path value).
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such log, route or place.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("this route does not support that method")]
    MethodNotAllowed,
    /// 413: the body is over 64 KiB.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 408: the request (its body, or the work it asked for) took longer than
    /// `REQUEST_TIMEOUT_SECONDS`.
    #[error("the request took longer than {0:?}")]
    RequestTimeout(std::time::Duration),
    /// 415: the body is not `application/json`.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// Upstream (OpenWeatherMap) failures, each mapped to its own status below.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// 503: MongoDB failed or is unreachable.
    #[error("storage is unavailable; try again shortly")]
    Storage(#[from] StorageError),
}

impl From<InvalidInput> for ApiError {
    fn from(err: InvalidInput) -> Self {
        ApiError::BadRequest(err.0)
    }
}

/// An RFC 9457 problem details body, sent as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/bad-request",
    "title": "Bad Request",
    "status": 400,
    "detail": "limit must be between 1 and 100"
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/problems/<kind>`): `bad-request`,
    /// `not-found`, `place-not-found`, `method-not-allowed`, `payload-too-large`,
    /// `unsupported-media-type`, `no-api-key`, `upstream-key-rejected`, `upstream-rate-limited`,
    /// `upstream-timeout`, `upstream-failed`, `storage-unavailable` or `internal`.
    #[serde(rename = "type")]
    #[schema(format = "uri-reference", pattern = "^/problems/[a-z-]+$")]
    pub kind: String,
    /// The status code's reason phrase.
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request, safe to show.
    pub detail: String,
}

impl ApiError {
    /// A short name for the kind of problem, used as the `type` URI.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::Upstream(err) => match err {
                UpstreamError::NoApiKey => "no-api-key",
                UpstreamError::PlaceNotFound => "place-not-found",
                UpstreamError::KeyRejected => "upstream-key-rejected",
                UpstreamError::RateLimited { .. } => "upstream-rate-limited",
                UpstreamError::Timeout(_) => "upstream-timeout",
                UpstreamError::Failed(_) => "upstream-failed",
            },
            ApiError::Storage(_) => "storage-unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Upstream(err) => match err {
                UpstreamError::PlaceNotFound => StatusCode::NOT_FOUND,
                UpstreamError::NoApiKey | UpstreamError::RateLimited { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                UpstreamError::KeyRejected | UpstreamError::Failed(_) => StatusCode::BAD_GATEWAY,
            },
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The full cause chain goes to the log; the user sees the safe message only.
            tracing::error!(error = ?self, "request failed");
        }
        let detail = match self {
            // Upstream's own message may hold details we do not vouch for.
            ApiError::Upstream(UpstreamError::Failed(_)) => {
                "OpenWeatherMap answered with an error; try again shortly".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = problem_response(status, self.kind(), detail);
        if let ApiError::Upstream(UpstreamError::RateLimited { retry_after_s }) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        response
    }
}

/// Builds a problem+json response.
pub fn problem_response(status: StatusCode, kind: &str, detail: String) -> HttpResponse {
    let problem = Problem {
        kind: format!("/problems/{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
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

/// Turns a path-segment error into a 400 problem.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("the URL path is not valid: {err}")).into()
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
        StatusCode::NOT_FOUND => ("not-found", "no route matches this URL".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this route does not support that method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload-too-large",
            "the request body is too large".to_owned(),
        ),
        status if status.is_server_error() => (
            "internal",
            "the service failed to handle this request".to_owned(),
        ),
        _ => ("bad-request", "the request could not be handled".to_owned()),
    };
    let (req, _) = res.into_parts();
    let response = problem_response(status, kind, detail).map_into_boxed_body();
    let res = ServiceResponse::new(req, response).map_into_right_body::<B>();
    Ok(ErrorHandlerResponse::Response(res))
}
