//! Stale-if-error: when upstream fails, a cached answer past its TTL (but within
//! `STALE_IF_ERROR_SECONDS`) stands in, marked stale; past the window, the error shows.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{TestApp, UPSTREAM_PATH, assert_problem, recorded, spawn_app_with};

/// An app whose answers are fresh for a second, that has answered Warsaw once, and whose
/// upstream answers `failure` from now on. Returns once that answer is past its TTL.
async fn warsaw_cached_then_upstream_answers(
    failure: ResponseTemplate,
    stale_if_error_seconds: u64,
) -> TestApp {
    let app = spawn_app_with(|settings| {
        settings.cache_ttl_seconds = 1;
        settings.stale_if_error_seconds = stale_if_error_seconds;
        settings.openweather_timeout_ms = 300;
    })
    .await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .respond_with(recorded("current/warsaw_pl_heavy_rain.json"))
        .up_to_n_times(1)
        .mount(&app.upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .respond_with(failure)
        .mount(&app.upstream)
        .await;
    assert_eq!(
        app.get_weather("Warsaw,PL").await.headers()["x-cache"],
        "MISS"
    );
    // Past the one-second TTL, and past the one-second copy in memory.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app
}

#[tokio::test]
async fn a_failing_upstream_gets_the_last_good_answer_marked_stale() {
    let failures = [
        ("500", ResponseTemplate::new(500)),
        (
            "timeout",
            recorded("current/warsaw_pl_heavy_rain.json").set_delay(Duration::from_secs(2)),
        ),
        ("429", ResponseTemplate::new(429)),
        ("401", ResponseTemplate::new(401)),
    ];
    let checks = failures.into_iter().map(|(name, failure)| async move {
        let app = warsaw_cached_then_upstream_answers(failure, 3600).await;

        let response = app.get_weather("Warsaw,PL").await;

        assert_eq!(response.status(), 200, "{name}");
        let headers = response.headers().clone();
        assert_eq!(headers["x-cache"], "STALE", "{name}");
        assert_eq!(headers["cache-control"], "max-age=0", "{name}");
        let age: u64 = headers["age"].to_str().unwrap().parse().unwrap();
        assert!(age >= 2, "{name}: Age {age} is the real age");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["cache"],
            json!({"status": "stale", "age_s": age, "ttl_s": 0})
        );
        assert_eq!(body["location"]["name"], "Warsaw");
    });
    futures_util::future::join_all(checks).await;
}

#[tokio::test]
async fn past_the_stale_window_the_upstream_error_shows() {
    let app = warsaw_cached_then_upstream_answers(ResponseTemplate::new(500), 1).await;

    assert_problem(app.get_weather("Warsaw,PL").await, 502).await;
}

#[tokio::test]
async fn a_stale_if_error_window_of_zero_turns_it_off() {
    let app = warsaw_cached_then_upstream_answers(ResponseTemplate::new(500), 0).await;

    assert_problem(app.get_weather("Warsaw,PL").await, 502).await;
}

#[tokio::test]
async fn a_place_upstream_no_longer_knows_is_not_answered_stale() {
    let not_found = ResponseTemplate::new(404).set_body_raw(
        r#"{"cod":"404","message":"city not found"}"#,
        "application/json",
    );
    let app = warsaw_cached_then_upstream_answers(not_found, 3600).await;

    assert_problem(app.get_weather("Warsaw,PL").await, 404).await;
}

#[tokio::test]
async fn a_log_created_from_a_stale_answer_is_stored_as_stale() {
    let app = warsaw_cached_then_upstream_answers(ResponseTemplate::new(503), 3600).await;

    let log = app.create_log("Warsaw,PL").await;

    assert_eq!(log["cache_status"], "stale");
    let read: Value = app
        .get(&format!("/api/v1/logs/{}", log["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["cache_status"], "stale");
    assert_eq!(read["fetched_at"], log["fetched_at"]);
}
