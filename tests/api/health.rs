//! Liveness and readiness.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TcpProxy, socket_address, spawn_app, spawn_app_with};

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
    let mongodb = socket_address(&std::env::var("MONGODB_URI").unwrap());
    let mut proxy = TcpProxy::start(mongodb).await;
    let address = proxy.address;
    let app = spawn_app_with(|settings| {
        settings.mongodb_uri = format!("mongodb://{address}/?directConnection=true");
    })
    .await;
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
