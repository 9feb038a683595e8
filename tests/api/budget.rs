//! The call budget: at most `UPSTREAM_CALLS_PER_MINUTE` and `UPSTREAM_CALLS_PER_DAY` calls to
//! OpenWeatherMap, counted in Redis and shared by every replica. (The tests use the daily cap:
//! a minute window could end in the middle of a test.)

use std::time::Duration;

use crate::helpers::{assert_problem, recorded, spawn_app_with, spawn_replicas};

const CITIES: [&str; 5] = ["Warsaw", "Melbourne", "Kochi", "Lisbon", "Bratislava"];

#[tokio::test]
async fn a_call_past_the_budget_is_not_made_and_says_when_to_retry() {
    let app = spawn_app_with(|settings| settings.upstream_calls_per_day = 2).await;
    app.upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;

    assert_eq!(app.get_weather(CITIES[0]).await.status(), 200);
    assert_eq!(app.get_weather(CITIES[1]).await.status(), 200);
    let refused = app.get_weather(CITIES[2]).await;

    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(refused, 503).await;
    assert_eq!(problem["type"], "/problems/upstream-budget-exhausted");
    assert_eq!(app.upstream_calls().await, 2);
    // A cached place still answers: the budget counts calls, not lookups.
    assert_eq!(app.get_weather(CITIES[0]).await.headers()["x-cache"], "HIT");
}

#[tokio::test]
async fn replicas_share_one_budget() {
    let replicas = spawn_replicas(3, |settings| settings.upstream_calls_per_day = 3).await;
    replicas[0]
        .upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;

    let mut answered = 0;
    for (i, city) in CITIES.iter().enumerate() {
        if replicas[i % 3].get_weather(city).await.status() == 200 {
            answered += 1;
        }
    }

    assert_eq!(answered, 3);
    assert_eq!(replicas[0].upstream_calls().await, 3);
}

#[tokio::test]
async fn with_the_budget_used_up_a_cached_place_answers_stale() {
    let app = spawn_app_with(|settings| {
        settings.upstream_calls_per_day = 1;
        settings.cache_ttl_seconds = 1;
    })
    .await;
    app.upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;
    assert_eq!(app.get_weather("Warsaw,PL").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let response = app.get_weather("Warsaw,PL").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cache"], "STALE");
    assert_eq!(app.upstream_calls().await, 1);
}
