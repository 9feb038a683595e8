//! Request ids: kept from `X-Request-Id` or made, on every answer, in problem bodies and in
//! every log line of the request.

use crate::helpers::{CapturedLogs, spawn_app};

const UUID_V7: &str = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";

async fn get_with_id(app: &crate::helpers::TestApp, path: &str, id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .header("X-Request-Id", id)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_plain_incoming_id_is_echoed_on_the_answer() {
    let app = spawn_app().await;

    let response = get_with_id(&app, "/health/live", "checkout-42.retry:1").await;

    assert_eq!(response.headers()["x-request-id"], "checkout-42.retry:1");
}

#[tokio::test]
async fn without_an_id_or_with_a_bad_one_a_uuid_v7_is_made() {
    let app = spawn_app().await;
    let uuid_v7 = regex::Regex::new(UUID_V7).unwrap();
    let too_long = "x".repeat(129);

    for id in ["has spaces", "<script>", too_long.as_str()] {
        let response = get_with_id(&app, "/health/live", id).await;
        let made = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid_v7.is_match(made), "{id:?} was replaced by {made:?}");
    }
    let response = app.get("/health/live").await;
    assert!(uuid_v7.is_match(response.headers()["x-request-id"].to_str().unwrap()));
}

#[tokio::test]
async fn errors_404s_and_405s_carry_the_id_in_the_header_and_the_problem() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();

    let not_found = get_with_id(&app, "/no/such/route", "id-404").await;
    let no_log = get_with_id(&app, "/api/v1/logs/6b0d3e3965fd0591c5b06a8f", "id-log").await;
    let bad_request = get_with_id(&app, "/api/v1/logs?limit=0", "id-400").await;
    let wrong_method = client
        .put(format!("{}/api/v1/logs", app.address))
        .header("X-Request-Id", "id-405")
        .send()
        .await
        .unwrap();

    for (response, id) in [
        (not_found, "id-404"),
        (no_log, "id-log"),
        (bad_request, "id-400"),
        (wrong_method, "id-405"),
    ] {
        assert_eq!(response.headers()["x-request-id"], id);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["request_id"], id, "{problem}");
    }
}

#[tokio::test]
async fn json_log_lines_of_a_request_carry_its_id_and_its_route() {
    let logs = CapturedLogs::default();
    weatherlog::telemetry::init(
        "info",
        weatherlog::configuration::LogFormat::Json,
        logs.clone(),
    );
    let app = spawn_app().await;

    get_with_id(&app, "/api/v1/logs/6b0d3e3965fd0591c5b06a8f", "follow-me").await;

    let lines: Vec<serde_json::Value> = logs
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect();
    let finished = lines
        .iter()
        .find(|line| line["request_id"] == "follow-me" && line["message"] == "request finished")
        .expect("the request's last line");
    for field in ["timestamp", "level", "target", "message"] {
        assert!(finished.get(field).is_some(), "{field} in {finished}");
    }
    assert_eq!(finished["method"], "GET");
    assert_eq!(finished["route"], "/api/v1/logs/{id}");
    assert_eq!(finished["status"], 404);
    assert!(finished["latency_ms"].as_f64().unwrap() >= 0.0);
}
