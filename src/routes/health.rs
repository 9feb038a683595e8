//! Liveness and readiness: `GET /health/live` and `GET /health/ready`.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::{Endpoint, examples};
use crate::lookup::WeatherLookup;
use crate::storage::LogStore;

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

/// The readiness answer: overall status and one check per store.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ok`, `degraded` (Redis down: lookups work, uncached) or `down` (MongoDB down).
    #[schema(schema_with = readiness_status)]
    status: &'static str,
    checks: Checks,
}

/// One check per store.
#[derive(Serialize, ToSchema)]
struct Checks {
    mongodb: Check,
    redis: Check,
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

/// Readiness: pings MongoDB and Redis, both at once, with short timeouts.
///
/// 200 `ok` when both answer; 200 `degraded` when only Redis is down (lookups still work,
/// uncached); 503 `down` when MongoDB is down (no log can be read or written).
#[utoipa::path(
    get,
    path = READY,
    operation_id = "health_ready",
    tag = "health",
    summary = "Readiness: MongoDB and Redis answer",
    description = "Pings both stores at once. `degraded` (still 200) when only Redis is down: \
        lookups work, uncached. The 503 body is the same JSON shape, not problem+json, so a \
        probe can read which store is down.",
    responses(
        (status = 200, description = "`ok`, or `degraded` when only Redis is down.",
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
    let (mongodb, redis) = tokio::join!(mongodb, redis);
    let checks = Checks {
        mongodb: Check::from_ping(mongodb, "MongoDB did not answer a ping"),
        redis: Check::from_ping(redis, "Redis did not answer a ping"),
    };
    let (status, mut response) = match (checks.mongodb.status, checks.redis.status) {
        ("up", "up") => ("ok", HttpResponse::Ok()),
        ("up", _) => ("degraded", HttpResponse::Ok()),
        _ => ("down", HttpResponse::ServiceUnavailable()),
    };
    response.json(Readiness { status, checks })
}
