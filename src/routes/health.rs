//! Liveness and readiness: `GET /health/live` and `GET /health/ready`.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::lookup::WeatherLookup;
use crate::storage::LogStore;

/// How long readiness waits for MongoDB's `ping`.
const MONGODB_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /health/live`: the process is up and serving. Always 200 `{"status":"ok"}`.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// The readiness answer: overall status and one check per store.
#[derive(Serialize)]
struct Readiness {
    /// `ok`, `degraded` (Redis down: lookups work, uncached) or `down` (MongoDB down).
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    mongodb: Check,
    redis: Check,
}

#[derive(Serialize)]
struct Check {
    /// `up` or `down`.
    status: &'static str,
    /// Round trip of the ping, in milliseconds; absent when down.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    /// Why it is down (safe to show: no addresses or passwords).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
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

/// `GET /health/ready`: pings MongoDB and Redis, both at once, with short timeouts.
///
/// 200 `ok` when both answer; 200 `degraded` when only Redis is down (lookups still work,
/// uncached); 503 `down` when MongoDB is down (no log can be read or written).
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
