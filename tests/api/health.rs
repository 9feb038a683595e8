//! Liveness and readiness.

use std::time::Duration;

use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::helpers::{
    TEST_API_KEY, recorded, spawn_app, spawn_app_behind_a_mongodb_proxy, spawn_app_with,
    spawn_replicas,
};

#[tokio::test]
async fn liveness_is_ok() {
    let app = spawn_app().await;

    let response = app.get("/health/live").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[tokio::test]
async fn readiness_is_ok_when_both_stores_answer() {
    let app = spawn_app().await;

    let response = app.get("/health/ready").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["mongodb"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "up");
    assert!(body["checks"]["mongodb"]["latency_ms"].is_number());
    assert!(body["checks"]["redis"]["latency_ms"].is_number());
}

#[tokio::test]
async fn readiness_is_degraded_when_only_redis_is_down() {
    let app = spawn_app_with(|settings| {
        // Nothing listens on port 1.
        settings.redis_url = "redis://127.0.0.1:1".into();
    })
    .await;

    let response = app.get("/health/ready").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "down");
}

#[tokio::test]
async fn readiness_is_down_with_503_when_mongodb_is_down() {
    let (app, mut proxy) = spawn_app_behind_a_mongodb_proxy().await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    proxy.cut();
    let response = app.get("/health/ready").await;

    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "down");
    assert_eq!(body["checks"]["mongodb"]["status"], "down");
    // And it comes back with MongoDB.
    proxy.restore().await;
    let back = crate::helpers::eventually(Duration::from_secs(15), || async {
        app.get("/health/ready").await.status() == 200
    })
    .await;
    assert!(back, "readiness recovers when MongoDB returns");
}

#[tokio::test]
async fn start_up_gives_up_on_an_unreachable_mongodb_with_a_clear_error() {
    let upstream = wiremock::MockServer::start().await;
    let mut settings = crate::helpers::test_settings(&upstream);
    // Nothing listens on port 1; retry for one second only.
    settings.mongodb_uri = "mongodb://127.0.0.1:1/?directConnection=true".into();
    settings.mongodb_startup_timeout_seconds = 1;

    let started = std::time::Instant::now();
    let result = weatherlog::startup::Application::build(&settings).await;

    let Err(err) = result else {
        panic!("start-up succeeded without MongoDB")
    };
    assert!(err.to_string().contains("MongoDB"), "{err}");
    assert!(
        err.to_string().contains("last attempt failed with"),
        "says why: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it gave up in time"
    );
}

/// A readiness case: the upstream state, upstream's answer, the settings, the overall status.
type Case = (
    &'static str,
    ResponseTemplate,
    fn(&mut weatherlog::configuration::Settings),
    &'static str,
);

/// Readiness after one lookup of Warsaw against an upstream answering `answer`.
async fn readiness_after_a_lookup(
    answer: ResponseTemplate,
    customize: impl FnOnce(&mut weatherlog::configuration::Settings),
) -> (u16, Value) {
    let replicas = spawn_replicas(2, customize).await;
    replicas[0].upstream_always(answer).await;
    replicas[0].get_weather("Warsaw").await;
    // The other replica reports what the first one saw.
    let response = replicas[1].get("/health/ready").await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert!(!body.contains(TEST_API_KEY), "{body}");
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn readiness_names_the_upstream_state_and_degrades_without_failing() {
    let good = || recorded("current/warsaw_pl_heavy_rain.json");
    let cases: Vec<Case> = vec![
        ("ok", good(), |_| {}, "ok"),
        (
            "no_key",
            good(),
            |s| s.openweather_api_key = None,
            "degraded",
        ),
        (
            "key_rejected",
            ResponseTemplate::new(401),
            |_| {},
            "degraded",
        ),
        (
            "rate_limited",
            ResponseTemplate::new(429),
            |_| {},
            "degraded",
        ),
        (
            "budget_exhausted",
            good(),
            |s| s.upstream_calls_per_day = 1,
            "degraded",
        ),
        ("failing", ResponseTemplate::new(500), |_| {}, "degraded"),
    ];
    let checks = cases
        .into_iter()
        .map(|(state, answer, customize, overall)| async move {
            let (status, body) = readiness_after_a_lookup(answer, customize).await;
            assert_eq!(status, 200, "{state}: never 503 for upstream");
            assert_eq!(body["status"], overall, "{state}: {body}");
            let upstream = &body["checks"]["upstream"];
            assert_eq!(upstream["status"], state, "{body}");
            assert_eq!(upstream["provider"], "openweathermap");
            assert_eq!(upstream["calls_per_minute"], 60);
            let calls = if state == "no_key" { 0 } else { 1 };
            assert_eq!(upstream["calls_today"], calls, "{state}: {body}");
            if state == "failing" {
                assert_eq!(upstream["last_failure"], "error");
                assert!(upstream["last_failure_at"].is_string());
            }
            if state == "ok" {
                // RFC 3339 to the millisecond, as every other time the API shows.
                let at = upstream["last_success_at"].as_str().unwrap();
                let nanos = chrono::DateTime::parse_from_rfc3339(at)
                    .unwrap()
                    .timestamp_subsec_nanos();
                assert_eq!(nanos % 1_000_000, 0, "{at}");
                assert!(upstream["last_failure_at"].is_null());
            }
        });
    futures_util::future::join_all(checks).await;
}

#[tokio::test]
async fn before_any_call_upstream_is_unknown_and_readiness_ok() {
    let app = spawn_app().await;

    let body: Value = app.get("/health/ready").await.json().await.unwrap();

    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["upstream"]["status"], "unknown");
    assert!(body["checks"]["upstream"]["last_success_at"].is_null());
}
