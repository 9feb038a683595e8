//! Every 4xx and 5xx is RFC 9457 problem+json, including the framework's own errors.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;

    let problem = assert_problem(app.get("/api/v1/nope").await, 404).await;

    assert_eq!(problem["title"], "Not Found");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = spawn_app().await;

    let response = app
        .http
        .put(format!("{}/api/v1/logs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_problem(response, 405).await;
    let response = app
        .http
        .post(format!("{}/health/live", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_problem(response, 405).await;
}

#[tokio::test]
async fn malformed_json_is_a_400_problem_and_stores_nothing() {
    let app = spawn_app().await;

    let response = app
        .http
        .post(format!("{}/api/v1/logs", app.address))
        .header("content-type", "application/json")
        .body("{\"city\": ")
        .send()
        .await
        .unwrap();

    assert_problem(response, 400).await;
    assert_eq!(app.stored_logs().await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let app = spawn_app().await;

    let response = app
        .http
        .post(format!("{}/api/v1/logs", app.address))
        .header("content-type", "text/plain")
        .body("city=London")
        .send()
        .await
        .unwrap();

    assert_problem(response, 415).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_problem() {
    let app = spawn_app().await;
    let note = "x".repeat(70 * 1024);

    let response = app
        .post_log(serde_json::json!({ "city": "London", "note": note }))
        .await;

    assert_problem(response, 413).await;
    assert_eq!(app.stored_logs().await, 0);
}

#[tokio::test]
async fn a_bad_query_string_is_a_400_problem() {
    let app = spawn_app().await;

    for path in [
        "/api/v1/logs?limit=abc",
        "/api/v1/logs?limit=0",
        "/api/v1/logs?limit=101",
        "/api/v1/logs?from=yesterday",
        "/api/v1/logs?cursor=not-a-cursor",
        "/api/v1/logs?sort=asc",
        "/api/v1/stats?units=furlongs",
    ] {
        assert_problem(app.get(path).await, 400).await;
    }
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_a_408_problem_and_frees_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app_with(|settings| settings.request_timeout_seconds = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // Headers promise 100 bytes; only one arrives.
    stream
        .write_all(
            b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();

    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;

    assert!(read.is_ok(), "the service answered and closed within 5 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert_eq!(app.stored_logs().await, 0);
}
