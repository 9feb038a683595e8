//! What every request leaves behind: its id (kept from `X-Request-Id` or made), a span that
//! every log line written while it runs carries, one "request finished" line with its status
//! and latency, and the HTTP metrics (`http_requests_total`, `http_request_duration_seconds`).
//!
//! The outermost middleware, so that it sees every answer: errors, 404s, 405s, 408s and 429s
//! included. The `route` label and log field is the matched pattern (`/api/v1/logs/{id}`),
//! never the raw path, so labels stay few whatever clients send.

use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::PROBLEM_JSON;
use crate::prometheus;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest id kept from a client; longer ones are replaced, as are ids with other
/// characters than `A-Za-z0-9._:-` (so an id is safe in a log line and a header).
const MAX_REQUEST_ID_CHARS: usize = 128;

/// The id of a request: the client's `X-Request-Id` when it matches
/// `^[A-Za-z0-9._:-]{1,128}$`, else a new UUID v7 (time-ordered, so ids sort by arrival).
pub fn request_id(request: &ServiceRequest) -> HeaderValue {
    request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| is_valid_request_id(value.as_bytes()))
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::now_v7();
            HeaderValue::from_str(
                id.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            )
            .expect("a UUID is a valid header value")
        })
}

fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The route patterns a request can match, for the `route` label: the API's paths and the
/// Swagger UI's, anything else is `unmatched`. Matched here, before routing, because actix-web
/// only knows the pattern on a response, and an error from a middleware has no response yet.
pub struct RouteLabels(Vec<(ResourceDef, &'static str)>);

impl RouteLabels {
    /// Labels for `paths` (patterns such as `/api/v1/logs/{id}`), plus `/docs` and below.
    pub fn new(paths: impl IntoIterator<Item = &'static str>) -> Self {
        let mut labels: Vec<_> = paths
            .into_iter()
            .map(|path| (ResourceDef::new(path), path))
            .collect();
        labels.dedup_by_key(|(_, path)| *path);
        labels.push((ResourceDef::prefix("/docs"), "/docs"));
        RouteLabels(labels)
    }

    fn label(&self, path: &str) -> &'static str {
        self.0
            .iter()
            .find(|(pattern, _)| pattern.is_match(path))
            .map_or("unmatched", |(_, label)| label)
    }
}

/// The middleware: `from_fn(move |request, next| request_telemetry(labels.clone(), request,
/// next))`.
pub async fn request_telemetry(
    routes: Rc<RouteLabels>,
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id(&request);
    let method = method_label(request.method());
    let route = routes.label(request.path());
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method,
        route,
        status = Empty,
        latency_ms = Empty,
    );
    let result = next.call(request).instrument(span.clone()).await;
    let (status, error) = match &result {
        Ok(response) => (response.status(), response.response().error()),
        Err(err) => (err.as_response_error().status_code(), Some(err)),
    };
    let elapsed = started.elapsed();
    prometheus::http_request(method, route, status.as_u16(), elapsed);
    span.record("status", status.as_u16());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    // What went wrong, as the client was told it (never a secret: see `ApiError`).
    let error = error.map(|err| err.to_string());
    if status.is_server_error() {
        tracing::error!(parent: &span, error, "request finished");
    } else {
        tracing::info!(parent: &span, error, "request finished");
    }
    match result {
        Ok(response) => {
            let (http_request, http_response) = response.into_parts();
            let http_response = with_request_id(http_response.map_into_boxed_body(), id).await;
            Ok(ServiceResponse::new(http_request, http_response))
        }
        // An error from a middleware (a timeout's 408) becomes its answer after every
        // middleware has run; give it the id now, as an answer made in advance.
        Err(err) => {
            let answer = with_request_id(err.error_response(), id).await;
            Err(InternalError::from_response(err, answer).into())
        }
    }
}

/// Standard methods by name, anything else as `other`: a value per made-up method would let
/// clients grow without bound the set of values that logs and metrics are grouped by.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The answer with its `X-Request-Id`, and a problem+json body with the member `request_id`,
/// so a client can quote it. Error bodies are small and ours, so reading and writing one again
/// costs little, and only on errors.
async fn with_request_id(mut response: HttpResponse, id: HeaderValue) -> HttpResponse {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        let (head, body) = response.into_parts();
        let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
        let body =
            match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
                Ok(mut problem) => {
                    let request_id = id.to_str().unwrap_or_default().to_owned();
                    problem.insert("request_id".into(), request_id.into());
                    serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
                }
                Err(_) => bytes.to_vec(),
            };
        response = head.set_body(BoxBody::new(body));
        // The length changed: actix writes the new one.
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_is_its_pattern_and_anything_else_is_unmatched() {
        let routes = RouteLabels::new(["/api/v1/logs", "/api/v1/logs/{id}", "/api/v1/logs"]);
        assert_eq!(routes.label("/api/v1/logs"), "/api/v1/logs");
        assert_eq!(
            routes.label("/api/v1/logs/6b0d3e3965fd0591c5b06a8f"),
            "/api/v1/logs/{id}"
        );
        assert_eq!(routes.label("/docs/index.html"), "/docs");
        assert_eq!(routes.label("/api/v1/logs/a/b"), "unmatched");
        assert_eq!(routes.label("/wp-admin.php"), "unmatched");
    }

    #[test]
    fn a_request_id_is_kept_only_when_it_is_short_and_plain() {
        for kept in ["abc", "a.b_c:d-e", "0", &"x".repeat(128)] {
            assert!(is_valid_request_id(kept.as_bytes()), "{kept}");
        }
        for replaced in ["", "a b", "ab\"", "<script>", "é", &"x".repeat(129), "a\nb"] {
            assert!(!is_valid_request_id(replaced.as_bytes()), "{replaced:?}");
        }
    }
}
