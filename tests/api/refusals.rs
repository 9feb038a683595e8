//! Upstream refusals are honoured, not hammered: after a 429 no call goes out until its
//! `Retry-After` has passed, after a 401 none for a minute, on every replica.

use std::time::{Duration, SystemTime};

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{UPSTREAM_PATH, assert_problem, recorded, spawn_app, spawn_replicas};

const CITIES: [&str; 4] = ["Warsaw", "Melbourne", "Kochi", "Lisbon"];

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn after_a_429_no_call_goes_out_until_its_retry_after_has_passed() {
    let app = spawn_app().await;
    app.upstream_always(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .await;

    let first = app.get_weather(CITIES[0]).await;
    assert_eq!(retry_after(&first), 30);
    assert_problem(first, 503).await;
    for _ in 0..5 {
        for city in CITIES {
            let refused = app.get_weather(city).await;
            assert!((1..=30).contains(&retry_after(&refused)));
            let problem = assert_problem(refused, 503).await;
            assert_eq!(problem["type"], "/problems/upstream-rate-limited");
        }
    }

    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn a_retry_after_given_as_an_http_date_is_honoured_too() {
    let app = spawn_app().await;
    let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
    app.upstream_always(ResponseTemplate::new(429).insert_header("Retry-After", in_a_minute))
        .await;

    let first = app.get_weather(CITIES[0]).await;
    assert!(
        (58..=60).contains(&retry_after(&first)),
        "{}",
        retry_after(&first)
    );
    assert_eq!(app.get_weather(CITIES[1]).await.status(), 503);

    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn after_a_401_no_call_goes_out_for_a_minute() {
    let app = spawn_app().await;
    app.upstream_always(ResponseTemplate::new(401)).await;

    for city in CITIES {
        let problem = assert_problem(app.get_weather(city).await, 502).await;
        assert_eq!(problem["type"], "/problems/upstream-key-rejected");
    }

    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn a_429_seen_by_one_replica_pauses_the_others() {
    let replicas = spawn_replicas(3, |_| {}).await;
    replicas[0]
        .upstream_always(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .await;

    assert_eq!(replicas[0].get_weather(CITIES[0]).await.status(), 503);
    assert_eq!(replicas[1].get_weather(CITIES[1]).await.status(), 503);
    assert_eq!(replicas[2].get_weather(CITIES[2]).await.status(), 503);

    assert_eq!(replicas[0].upstream_calls().await, 1);
}

#[tokio::test]
async fn calls_resume_once_the_pause_is_over() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&app.upstream)
        .await;
    app.upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;

    assert_eq!(app.get_weather("Warsaw").await.status(), 503);
    assert_eq!(app.get_weather("Warsaw").await.status(), 503);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    assert_eq!(app.get_weather("Warsaw").await.status(), 200);
    assert_eq!(app.upstream_calls().await, 2);
}

#[tokio::test]
async fn clients_are_told_the_pause_the_service_keeps_itself() {
    for (given, told) in [("99999999", 86_400), ("0", 1)] {
        let app = spawn_app().await;
        app.upstream_always(ResponseTemplate::new(429).insert_header("Retry-After", given))
            .await;

        let first = app.get_weather(CITIES[0]).await;

        assert_eq!(retry_after(&first), told, "Retry-After: {given}");
    }
}
