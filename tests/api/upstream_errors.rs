//! How OpenWeatherMap's failures reach our users: each as its own problem+json status.

use std::time::Duration;

use wiremock::ResponseTemplate;

use crate::helpers::{assert_problem, fixture, spawn_app, spawn_app_with};

fn recorded_error(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}

#[tokio::test]
async fn an_unknown_place_is_404() {
    let app = spawn_app().await;
    app.upstream_always(recorded_error(404, "errors/404-city-not-found.json"))
        .await;

    let problem = assert_problem(app.get_weather("Nowhere-on-earth").await, 404).await;

    assert_eq!(problem["type"], "/problems/place-not-found");
}

#[tokio::test]
async fn a_rejected_key_is_502_and_says_so() {
    let app = spawn_app().await;
    app.upstream_always(recorded_error(401, "errors/401-invalid-api-key.json"))
        .await;

    let problem = assert_problem(app.get_weather("London").await, 502).await;

    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("rejected the configured API key")
    );
}

#[tokio::test]
async fn a_rate_limit_is_503_with_retry_after() {
    let app = spawn_app().await;
    app.upstream_always(recorded_error(429, "errors/429-rate-limit.json"))
        .await;

    let response = app.get_weather("London").await;

    assert_eq!(response.headers()["retry-after"], "60");
    assert_problem(response, 503).await;
}

#[tokio::test]
async fn a_rate_limit_passes_on_upstreams_retry_after() {
    let app = spawn_app().await;
    app.upstream_always(
        recorded_error(429, "errors/429-rate-limit.json").insert_header("Retry-After", "17"),
    )
    .await;

    let response = app.get_weather("London").await;

    assert_eq!(response.headers()["retry-after"], "17");
}

#[tokio::test]
async fn an_upstream_server_error_is_502() {
    let app = spawn_app().await;
    app.upstream_always(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .await;

    let problem = assert_problem(app.get_weather("London").await, 502).await;

    assert!(!problem["detail"].as_str().unwrap().contains("html"));
}

#[tokio::test]
async fn an_unreadable_upstream_answer_is_502() {
    let app = spawn_app().await;
    app.upstream_always(ResponseTemplate::new(200).set_body_string("{\"cod\": 200"))
        .await;

    assert_problem(app.get_weather("London").await, 502).await;
}

#[tokio::test]
async fn an_upstream_that_hangs_past_the_timeout_is_504() {
    let app = spawn_app_with(|settings| settings.openweather_timeout_ms = 300).await;
    app.upstream_always(
        ResponseTemplate::new(200)
            .set_body_raw(
                fixture("current/london_gb_utc_offset_zero.json"),
                "application/json",
            )
            .set_delay(Duration::from_secs(3)),
    )
    .await;

    let started = std::time::Instant::now();
    let problem = assert_problem(app.get_weather("London").await, 504).await;

    assert_eq!(problem["type"], "/problems/upstream-timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout cut the wait short"
    );
}

#[tokio::test]
async fn an_upstream_nobody_listens_on_is_502_and_says_it_could_not_be_reached() {
    // A port that was free a moment ago: connecting is refused, so nothing answered.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let app = spawn_app_with(|settings| {
        settings.openweather_base_url = format!("http://127.0.0.1:{closed_port}");
    })
    .await;

    let problem = assert_problem(app.get_weather("Warsaw").await, 502).await;

    assert_eq!(problem["type"], "/problems/upstream-failed");
    assert_eq!(
        problem["detail"],
        "could not reach OpenWeatherMap; try again shortly"
    );
    let ready: serde_json::Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(ready["checks"]["upstream"]["last_failure"], "unreachable");
}

#[tokio::test]
async fn without_an_api_key_lookups_are_503_and_say_why() {
    let app = spawn_app_with(|settings| settings.openweather_api_key = None).await;

    let problem = assert_problem(app.get_weather("London").await, 503).await;

    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no OpenWeatherMap API key")
    );
    assert_eq!(app.upstream_calls().await, 0);
}

#[tokio::test]
async fn a_404_that_is_not_openweathermaps_is_a_502_and_is_not_cached() {
    let app = spawn_app().await;
    // What a wrong OPENWEATHER_BASE_URL or a proxy would answer.
    app.upstream_always(ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"))
        .await;

    assert_problem(app.get_weather("Warsaw").await, 502).await;
    assert_problem(app.get_weather("Warsaw").await, 502).await;

    assert_eq!(
        app.upstream_calls().await,
        2,
        "nothing was cached as not found"
    );
}

#[tokio::test]
async fn a_base_url_with_a_path_keeps_it() {
    let app = spawn_app_with(|settings| {
        settings.openweather_base_url = format!("{}/owm", settings.openweather_base_url);
    })
    .await;
    wiremock::Mock::given(wiremock::matchers::path("/owm/data/2.5/weather"))
        .respond_with(crate::helpers::recorded(
            "current/warsaw_pl_heavy_rain.json",
        ))
        .mount(&app.upstream)
        .await;

    assert_eq!(app.get_weather("Warsaw").await.status(), 200);
}
