//! Examples for the API document, copied from real answers of the service to recorded
//! OpenWeatherMap data (`tests/fixtures/openweathermap/current/`, served by
//! `examples/fake_openweathermap.rs`): Warsaw in heavy rain, Melbourne and Socorro.

use serde_json::{Value, json};

/// The weather in Warsaw, metric, as every answer carries it (`warsaw_pl_heavy_rain.json`).
fn warsaw() -> Value {
    json!({
        "location": { "name": "Warsaw", "country": "PL", "lat": 52.2299, "lon": 21.0093 },
        "observed_at": "2026-06-05T17:21:30Z",
        "units": "metric",
        "temperature": { "current": 17.03, "feels_like": 16.93, "min": 16.47, "max": 17.74 },
        "humidity_pct": 82,
        "pressure_hpa": 1011.0,
        "wind": { "speed": 6.26, "direction_deg": 283.0, "gust": 8.73 },
        "clouds_pct": 98,
        "visibility_m": 10000,
        "rain_1h_mm": 8.24,
        "snow_1h_mm": null,
        "conditions": [{ "main": "Rain", "description": "heavy intensity rain", "icon": "10d" }],
        "sunrise": "2026-06-05T02:18:04Z",
        "sunset": "2026-06-05T18:51:05Z",
        "timezone_offset_s": 7200,
        "provider": "openweathermap",
        "fetched_at": "2026-11-30T09:13:25.261Z"
    })
}

/// Adds the members of `extra` to the JSON object `base`.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

/// `GET /api/v1/weather?city=Warsaw,PL`, asked for the first time.
pub fn weather() -> Value {
    with(
        warsaw(),
        json!({ "cache": { "status": "miss", "age_s": 0, "ttl_s": 300 } }),
    )
}

/// A log of the Warsaw weather, as `POST /api/v1/logs` created it.
pub fn log_entry() -> Value {
    with(
        json!({ "id": "6b0d3e3965fd0591c5b06a8f", "logged_at": "2026-11-30T09:13:29.626Z" }),
        with(
            warsaw(),
            json!({ "cache_status": "hit", "note": "Umbrella weather", "tags": ["rain", "commute"] }),
        ),
    )
}

/// `GET /api/v1/logs?limit=1` with more logs to come.
pub fn log_page() -> Value {
    json!({
        "items": [log_entry()],
        "next_cursor": "AAABoiu7ERprDT45Zf0FkcWwao-kb40dGRYTGcWvhjjDEMS-"
    })
}

/// `GET /api/v1/stats` over three logs.
pub fn stats() -> Value {
    json!({
        "count": 3,
        "units": "metric",
        "places": [
            {
                "city": "Melbourne", "country": "AU", "count": 1,
                "temperature": { "avg": 19.41, "min": 19.41, "max": 19.41 },
                "humidity_avg": 52.0,
                "first_logged_at": "2026-11-30T09:13:29.894Z",
                "last_logged_at": "2026-11-30T09:13:29.894Z"
            },
            {
                "city": "Socorro", "country": "PT", "count": 1,
                "temperature": { "avg": 22.55, "min": 22.55, "max": 22.55 },
                "humidity_avg": 77.0,
                "first_logged_at": "2026-11-30T09:13:29.760Z",
                "last_logged_at": "2026-11-30T09:13:29.760Z"
            },
            {
                "city": "Warsaw", "country": "PL", "count": 1,
                "temperature": { "avg": 17.03, "min": 17.03, "max": 17.03 },
                "humidity_avg": 82.0,
                "first_logged_at": "2026-11-30T09:13:29.626Z",
                "last_logged_at": "2026-11-30T09:13:29.626Z"
            }
        ]
    })
}

/// Readiness's report on upstream, with `status` and the last failure as given.
fn upstream(status: &str, last_failure: Value) -> Value {
    json!({
        "provider": "openweathermap",
        "status": status,
        "last_success_at": "2026-11-30T09:13:25.261Z",
        "last_failure_at": if last_failure.is_null() { Value::Null } else { json!("2026-11-30T09:20:02.117Z") },
        "last_failure": last_failure,
        "calls_this_minute": 3,
        "calls_per_minute": 60,
        "calls_today": 412,
        "calls_per_day": 0
    })
}

/// `GET /health/ready` with both stores up and upstream answering.
pub fn ready() -> Value {
    json!({
        "status": "ok",
        "checks": {
            "mongodb": { "status": "up", "latency_ms": 1.85 },
            "redis": { "status": "up", "latency_ms": 1.34 },
            "upstream": upstream("ok", Value::Null)
        }
    })
}

/// `GET /health/ready` with MongoDB down (and upstream timing out, as it happens).
pub fn not_ready() -> Value {
    json!({
        "status": "down",
        "checks": {
            "mongodb": { "status": "down", "error": "MongoDB did not answer a ping" },
            "redis": { "status": "up", "latency_ms": 1.34 },
            "upstream": upstream("failing", json!("timeout"))
        }
    })
}

/// The request id the examples show (a UUID v7, as the service makes them).
pub const REQUEST_ID: &str = "01a231d7-4fd4-7766-9a32-309d5155e4df";

/// A problem+json body as a client gets it: as `crate::error::problem_response` writes it,
/// with the `request_id` the request telemetry adds.
pub fn problem(status: u16, kind: &str, detail: &str) -> Value {
    let title = actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Error");
    json!({
        "type": format!("/problems/{kind}"),
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": REQUEST_ID,
    })
}
