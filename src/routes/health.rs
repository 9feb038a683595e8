//! Liveness and readiness: `GET /health/live` and `GET /health/ready`.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::{Endpoint, examples};
use crate::lookup::WeatherLookup;
use crate::storage::LogStore;
use crate::upstream_health::UpstreamStatus;

/// Liveness.
const LIVE: &str = "/health/live";
/// Readiness.
const READY: &str = "/health/ready";

/// The routes of this resource.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, LIVE, live),
        Endpoint::new(Method::GET, READY, ready),
    ]
}

/// How long readiness waits for MongoDB's `ping`.
const MONGODB_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Liveness: the process is up and serving. Always 200 `{"status":"ok"}`.
#[utoipa::path(
    get,
    path = LIVE,
    operation_id = "health_live",
    tag = "health",
    summary = "Liveness: the process answers",
    responses(
        (status = 200, description = "Always, while the process serves.", body = Status,
            example = json!({"status": "ok"})),
    )
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// The liveness answer.
#[derive(Serialize, ToSchema)]
struct Status {
    /// Always `ok`.
    #[schema(schema_with = live_status)]
    status: &'static str,
}

/// The readiness answer: overall status, one check per store, and what upstream is doing.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ok`; `degraded` when Redis is down (lookups work, uncached) or upstream is in trouble
    /// (lookups answer from the cache, stale, or with an error); `down` when MongoDB is down.
    #[schema(schema_with = readiness_status)]
    status: &'static str,
    checks: Checks,
}

/// One check per store, and upstream.
#[derive(Serialize, ToSchema)]
struct Checks {
    mongodb: Check,
    redis: Check,
    upstream: UpstreamCheck,
}

/// What upstream is doing, as every replica saw it (shared through Redis). Never holds the key.
#[derive(Serialize, ToSchema)]
struct UpstreamCheck {
    /// Which upstream: `openweathermap`.
    provider: &'static str,
    /// `ok` (the last call was answered), `unknown` (no call yet), `no_key`, `key_rejected`
    /// (calls paused for a minute), `rate_limited` (calls paused until upstream's
    /// `Retry-After`), `budget_exhausted` (our own call budget) or `failing` (the last call
    /// failed).
    #[schema(schema_with = upstream_status)]
    status: &'static str,
    /// When upstream last answered, RFC 3339, or `null`.
    #[schema(required = true)]
    last_success_at: Option<DateTime<Utc>>,
    /// When a call last failed, RFC 3339, or `null`.
    #[schema(required = true)]
    last_failure_at: Option<DateTime<Utc>>,
    /// How it failed: `timeout`, `unreachable` (no connection), `rate_limited`,
    /// `key_rejected` or `error`; or `null`.
    #[schema(required = true)]
    last_failure: Option<String>,
    /// Calls made in this minute (UTC), by every replica.
    calls_this_minute: u64,
    /// `UPSTREAM_CALLS_PER_MINUTE`.
    calls_per_minute: u64,
    /// Calls made today (UTC), by every replica.
    calls_today: u64,
    /// `UPSTREAM_CALLS_PER_DAY`; `0` means no daily cap.
    calls_per_day: u64,
}

impl From<UpstreamStatus> for UpstreamCheck {
    fn from(status: UpstreamStatus) -> Self {
        UpstreamCheck {
            provider: status.provider,
            status: status.state.as_str(),
            last_success_at: status.record.last_success_at,
            last_failure_at: status.record.last_failure_at,
            last_failure: status.record.last_failure,
            calls_this_minute: status.usage.calls_this_minute,
            calls_per_minute: status.limits.0,
            calls_today: status.usage.calls_today,
            calls_per_day: status.limits.1,
        }
    }
}

/// Whether one store answered a ping.
#[derive(Serialize, ToSchema)]
struct Check {
    /// `up` or `down`.
    #[schema(schema_with = check_status)]
    status: &'static str,
    /// Round trip of the ping, in milliseconds; absent when down.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    /// Why it is down (safe to show: no addresses or passwords).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// A string that is one of `values`, for the `&'static str` status fields above.
fn one_of(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

fn live_status() -> ObjectBuilder {
    one_of(&["ok"])
}

fn readiness_status() -> ObjectBuilder {
    one_of(&["ok", "degraded", "down"])
}

fn check_status() -> ObjectBuilder {
    one_of(&["up", "down"])
}

fn upstream_status() -> ObjectBuilder {
    one_of(&[
        "ok",
        "unknown",
        "no_key",
        "key_rejected",
        "rate_limited",
        "budget_exhausted",
        "failing",
    ])
}

impl Check {
    fn from_ping<E>(result: Result<Duration, E>, error: &'static str) -> Self {
        match result {
            Ok(latency) => Check {
                status: "up",
                latency_ms: Some((latency.as_secs_f64() * 1e5).round() / 100.0),
                error: None,
            },
            Err(_) => Check {
                status: "down",
                latency_ms: None,
                error: Some(error),
            },
        }
    }
}

/// Readiness: pings MongoDB and Redis, both at once, with short timeouts, and reports what
/// upstream is doing.
///
/// 200 `ok` when both answer and upstream is `ok` or `unknown`; 200 `degraded` when Redis is
/// down (lookups still work, uncached) or upstream is in trouble; 503 `down` when MongoDB is
/// down (no log can be read or written).
#[utoipa::path(
    get,
    path = READY,
    operation_id = "health_ready",
    tag = "health",
    summary = "Readiness: MongoDB and Redis answer, and what upstream is doing",
    description = "Pings both stores at once. `degraded` (still 200) when Redis is down \
        (lookups work, uncached) or upstream is not `ok`/`unknown` (lookups answer from the \
        cache, stale, or with an error): never 503 for a third party, so an orchestrator does \
        not restart a healthy API. The 503 body is the same JSON shape, not problem+json, so a \
        probe can read which store is down.",
    responses(
        (status = 200, description = "`ok`, or `degraded` when Redis is down or upstream is in trouble.",
            body = Readiness, example = json!(examples::ready())),
        (status = 503, description = "`down`: MongoDB did not answer.", body = Readiness,
            content_type = "application/json", example = json!(examples::not_ready())),
    )
)]
pub async fn ready(store: web::Data<LogStore>, lookup: web::Data<WeatherLookup>) -> HttpResponse {
    let mongodb = async {
        match tokio::time::timeout(MONGODB_PING_TIMEOUT, store.ping()).await {
            Ok(Ok(latency)) => Ok(latency),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "MongoDB ping failed");
                Err(())
            }
            Err(_) => {
                tracing::warn!("MongoDB ping timed out");
                Err(())
            }
        }
    };
    let redis = async {
        lookup
            .cache()
            .redis()
            .ping()
            .await
            .map_err(|err| tracing::warn!(error = %err, "Redis ping failed"))
    };
    let (mongodb, redis, upstream) = tokio::join!(mongodb, redis, lookup.upstream_status());
    let upstream_degraded = upstream.state.is_degraded();
    let checks = Checks {
        mongodb: Check::from_ping(mongodb, "MongoDB did not answer a ping"),
        redis: Check::from_ping(redis, "Redis did not answer a ping"),
        upstream: upstream.into(),
    };
    // Upstream in trouble is never 503: an orchestrator would restart a healthy API because a
    // third party is down.
    let (status, mut response) = match (checks.mongodb.status, checks.redis.status) {
        ("up", "up") if !upstream_degraded => ("ok", HttpResponse::Ok()),
        ("up", _) => ("degraded", HttpResponse::Ok()),
        _ => ("down", HttpResponse::ServiceUnavailable()),
    };
    response.json(Readiness { status, checks })
}
