//! The inbound rate limit in HTTP: who the client is, what the limiter (`crate::rate_limit`)
//! decided for it, and how that is said. A refused request gets 429 problem+json with
//! `Retry-After`; every answer of a limited route carries the `RateLimit-Policy` and `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers-10, so clients can pace themselves:
//!
//! ```text
//! RateLimit-Policy: "default";q=300;w=60      300 requests (q) in 60 s (w), per client
//! RateLimit: "default";r=297;t=1              297 left (r); one more in 1 s (t)
//! ```
//!
//! It runs before the routes, so a refused request reaches no handler: it changes no data and
//! calls no upstream. `/health/*` (an orchestrator's probes must get through however busy the
//! address they come from is) and `/metrics` are never limited.
//!
//! The client is the TCP peer: its IPv4 address, or its IPv6 /64 (see
//! [`crate::rate_limit::ClientKey`]).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use crate::error::ApiError;
use crate::prometheus;
use crate::rate_limit::{ClientKey, Decision, RequestLimiter, WINDOW_MS};

/// The quota policy field: `"default";q=<limit>;w=60`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The service limit field: `"default";r=<remaining>;t=<seconds>`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whether a path is never limited: the health probes, and the metrics route.
pub fn is_exempt(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

/// The rate limit as the middleware applies it.
pub struct RateLimiting {
    /// `None`: `RATE_LIMIT_PER_MINUTE=0`, no limit and no fields.
    limiter: Option<RequestLimiter>,
    /// The same on every answer, so built once.
    policy: HeaderValue,
}

impl RateLimiting {
    pub fn new(limiter: Option<RequestLimiter>) -> Self {
        let limit = limiter.as_ref().map_or(0, RequestLimiter::limit);
        Self {
            limiter,
            policy: quota_policy(limit),
        }
    }
}

/// The middleware, for `actix_web::middleware::from_fn`: decides, then passes the request on
/// or answers 429, and adds the RateLimit fields to the answer either way.
///
/// Errors: only those of the routes it passes the request to.
pub async fn limit<B: MessageBody>(
    limiting: Arc<RateLimiting>,
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(limiter) = &limiting.limiter else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    if is_exempt(request.path()) {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let client = ClientKey::from(client_address(&request));
    let decision = limiter.check(client).await;
    let mut response = if decision.allowed {
        next.call(request).await?.map_into_left_body()
    } else {
        tracing::debug!(%client, retry_after_s = decision.retry_after_s, "rate limited");
        prometheus::rate_limited();
        let refusal = ApiError::RateLimited {
            limit: decision.limit,
            retry_after_s: decision.retry_after_s,
        }
        .error_response();
        request.into_response(refusal).map_into_right_body()
    };
    let headers = response.headers_mut();
    headers.insert(RATELIMIT_POLICY, limiting.policy.clone());
    headers.insert(RATELIMIT, service_limit(&decision));
    Ok(response)
}

/// The address a request counts against: the TCP peer (`0.0.0.0` if actix-web knows none, which
/// only a test request can be).
fn client_address(request: &ServiceRequest) -> IpAddr {
    request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.ip())
}

/// `"default";q=<limit>;w=60`.
fn quota_policy(limit: u64) -> HeaderValue {
    let policy = format!("\"default\";q={limit};w={}", WINDOW_MS / 1000);
    HeaderValue::from_str(&policy).expect("digits and quotes are a header value")
}

/// `"default";r=<remaining>;t=<reset_s>`, written on the stack: one copy into the header value.
fn service_limit(decision: &Decision) -> HeaderValue {
    // 16 characters and two u64s of at most 20 digits each.
    let mut buffer = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    write!(
        cursor,
        "\"default\";r={};t={}",
        decision.remaining, decision.reset_s
    )
    .expect("64 bytes hold the field");
    let length = cursor.position() as usize;
    HeaderValue::from_bytes(&buffer[..length]).expect("digits and quotes are a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_read_as_the_draft_writes_them() {
        assert_eq!(quota_policy(300), "\"default\";q=300;w=60");
        let decision = Decision {
            allowed: true,
            limit: 300,
            remaining: u64::MAX,
            reset_s: u64::MAX,
            retry_after_s: 0,
        };
        assert_eq!(
            service_limit(&decision),
            "\"default\";r=18446744073709551615;t=18446744073709551615"
        );
    }

    #[test]
    fn only_the_probes_and_metrics_are_exempt() {
        for path in ["/health/live", "/health/ready", "/metrics"] {
            assert!(is_exempt(path), "{path}");
        }
        for path in [
            "/api/v1/weather",
            "/docs",
            "/api/v1/openapi.json",
            "/healthz",
            "/health",
            "/metrics/x",
        ] {
            assert!(!is_exempt(path), "{path}");
        }
    }
}
