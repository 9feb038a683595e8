//! `GET /metrics`: each family moves after the requests that should move it. Each test runs in
//! a process of its own (nextest), so the process-wide counters start at zero.

use std::time::Duration;

use futures_util::future::join_all;
use redis::AsyncCommands;

use crate::helpers::{TestApp, recorded, spawn_app, spawn_app_behind_a_mongodb_proxy};

/// The scrape, as Prometheus reads it.
async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (`name{label="value",...}`, labels in the order the code
/// gives them), or 0 when it is not there yet.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn a_lookup_counts_a_miss_then_hits_and_one_upstream_call() {
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;

    app.get_weather("Warsaw,PL").await;
    app.get_weather("Warsaw,PL").await;

    let metrics = scrape(&app).await;
    assert_eq!(
        sample(&metrics, r#"weatherlog_cache_lookups_total{result="miss"}"#),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_cache_lookups_total{result="memory_hit"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_upstream_requests_total{provider="openweathermap",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_upstream_request_duration_seconds_count{provider="openweathermap"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_upstream_budget_remaining{window="minute"}"#
        ),
        59.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_upstream_budget_remaining{window="day"}"#
        ),
        f64::INFINITY
    );
    assert_eq!(
        sample(&metrics, r#"weatherlog_build_info{version="0.1.0"}"#),
        1.0
    );
}

#[tokio::test]
async fn a_second_instance_reads_redis_and_an_unknown_place_counts_as_not_found() {
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.upstream_always(wiremock::ResponseTemplate::new(404).set_body_raw(
        crate::helpers::fixture("errors/404-city-not-found.json"),
        "application/json",
    ))
    .await;
    app.get_weather("Warsaw,PL").await;
    // Forget the memory tier: the next lookup reads Redis.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.get_weather("Warsaw,PL").await;
    app.get_weather("Atlantis").await;

    let metrics = scrape(&app).await;
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_cache_lookups_total{result="redis_hit"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"weatherlog_upstream_requests_total{provider="openweathermap",outcome="not_found"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn concurrent_misses_for_one_place_wait_for_one_call() {
    let app = spawn_app().await;
    app.upstream_always(
        recorded("current/warsaw_pl_heavy_rain.json").set_delay(Duration::from_millis(300)),
    )
    .await;

    let answers = join_all((0..5).map(|_| app.get_weather("Warsaw,PL"))).await;

    assert!(answers.iter().all(|answer| answer.status() == 200));
    let metrics = scrape(&app).await;
    assert_eq!(
        sample(&metrics, r#"weatherlog_cache_lookups_total{result="miss"}"#),
        1.0
    );
    assert_eq!(sample(&metrics, "weatherlog_singleflight_waits_total"), 4.0);
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_never_by_raw_path() {
    let app = spawn_app().await;

    app.get("/api/v1/logs/6b0d3e3965fd0591c5b06a8f").await;
    app.get("/no/such/thing").await;
    app.get("/no/such/other/thing").await;

    let metrics = scrape(&app).await;
    assert_eq!(
        sample(
            &metrics,
            r#"http_requests_total{method="GET",route="/api/v1/logs/{id}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        2.0
    );
    assert!(
        !metrics.contains("6b0d3e3965fd0591c5b06a8f"),
        "no raw path in a label"
    );
    assert!(
        metrics.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/logs/{id}",le="0.005"}"#),
        "durations are a histogram with buckets:\n{metrics}"
    );
}

#[tokio::test]
async fn a_stored_log_and_store_errors_are_counted() {
    let (app, mut proxy) = spawn_app_behind_a_mongodb_proxy().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.create_log("Warsaw,PL").await;
    // A key of the wrong type: Redis refuses the command, which counts as a Redis error.
    let key = format!("{}:v1:weather:city:kochi:en", app.settings.redis_key_prefix);
    let _: () = app.redis().await.lpush(&key, "not a string").await.unwrap();
    app.get_weather("Kochi").await;
    proxy.cut();
    app.get("/api/v1/logs").await;

    let metrics = scrape(&app).await;
    assert_eq!(sample(&metrics, "weatherlog_logs_created_total"), 1.0);
    assert!(sample(&metrics, r#"weatherlog_store_errors_total{store="redis"}"#) >= 1.0);
    assert!(
        sample(
            &metrics,
            r#"weatherlog_store_errors_total{store="mongodb"}"#
        ) >= 1.0
    );
}

#[tokio::test]
async fn every_family_is_described_before_it_moves() {
    let app = spawn_app().await;

    let metrics = scrape(&app).await;

    for family in [
        "weatherlog_cache_lookups_total",
        "weatherlog_upstream_requests_total",
        "weatherlog_upstream_request_duration_seconds",
        "weatherlog_upstream_budget_remaining",
        "weatherlog_singleflight_waits_total",
        "weatherlog_store_errors_total",
        "weatherlog_logs_created_total",
        "weatherlog_rate_limited_total",
        "weatherlog_build_info",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {family} ")),
            "{family} is described:\n{metrics}"
        );
    }
}
