//! The five-minute Redis cache: hits, misses, keys, expiry, and what is never cached.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::Value;
use wiremock::Mock;
use wiremock::ResponseTemplate;
use wiremock::matchers::{method, path, query_param};

use crate::helpers::{UPSTREAM_PATH, assert_problem, fixture, recorded, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_second_lookup_is_a_hit_and_makes_no_upstream_call() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .respond_with(recorded("current/socorro_pt_metric_by_coords.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;

    let first = app.get_weather("Lisbon,PT").await;
    let second = app.get_weather("Lisbon,PT").await;

    assert_eq!(first.headers()["x-cache"], "MISS");
    assert_eq!(second.headers()["x-cache"], "HIT");
    let cache_control = second.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let age: u64 = second.headers()["age"].to_str().unwrap().parse().unwrap();
    assert!(cache_control.starts_with("max-age="), "{cache_control}");
    let first: Value = first.json().await.unwrap();
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["cache"]["status"], "hit");
    assert_eq!(second["cache"]["age_s"], age);
    assert_eq!(second["temperature"], first["temperature"]);
    assert_eq!(
        second["fetched_at"], first["fetched_at"],
        "fetched_at is upstream's moment"
    );
    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn spellings_of_a_city_share_one_entry_but_countries_do_not() {
    let app = spawn_app().await;
    app.upstream_serves_city("london", "current/london_gb_utc_offset_zero.json")
        .await;
    app.upstream_serves_city("london,gb", "current/london_gb_utc_offset_zero.json")
        .await;
    app.upstream_serves_city("london,ca", "current/london_gb_utc_offset_zero.json")
        .await;

    for city in ["london", " London ", "LONDON"] {
        assert_eq!(app.get_weather(city).await.status(), 200, "{city:?}");
    }
    assert_eq!(app.upstream_calls().await, 1);

    app.get_weather("London,GB").await;
    app.get_weather("London,CA").await;
    assert_eq!(app.upstream_calls().await, 3);
}

#[tokio::test]
async fn keys_are_prefixed_versioned_and_expire() {
    let app = spawn_app().await;
    app.upstream_serves_city("warszawa", "current/warszawa_pl_lang_pl.json")
        .await;

    app.get("/api/v1/weather?city=Warszawa&lang=pl").await;

    let mut redis = app.redis().await;
    let key = format!(
        "{}:v1:weather:city:warszawa:pl",
        app.settings.redis_key_prefix
    );
    // Kept for the TTL plus the stale-if-error window; freshness is judged from `fetched_at`.
    let expiry: i64 = redis.ttl(&key).await.unwrap();
    let kept = (app.settings.cache_ttl_seconds + app.settings.stale_if_error_seconds) as i64;
    assert!(
        (kept - 5..=kept).contains(&expiry),
        "{key} expires in {expiry} s"
    );
}

#[tokio::test]
async fn after_the_ttl_a_lookup_is_a_miss_again() {
    let app = spawn_app_with(|settings| settings.cache_ttl_seconds = 1).await;
    app.upstream_serves_city("são paulo,br", "current/sao_paulo_br_lang_pt_br.json")
        .await;

    assert_eq!(
        app.get_weather("São Paulo,BR").await.headers()["x-cache"],
        "MISS"
    );
    assert_eq!(
        app.get_weather("São Paulo,BR").await.headers()["x-cache"],
        "HIT"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = app.get_weather("São Paulo,BR").await;

    assert_eq!(after.headers()["x-cache"], "MISS");
    assert_eq!(app.upstream_calls().await, 2);
}

#[tokio::test]
async fn a_cached_value_that_no_longer_decodes_is_a_miss() {
    let app = spawn_app().await;
    app.upstream_serves_city("melbourne", "current/melbourne_au_lang_pt_br.json")
        .await;
    let key = format!(
        "{}:v1:weather:city:melbourne:en",
        app.settings.redis_key_prefix
    );
    let mut redis = app.redis().await;
    let _: () = redis
        .set_ex(&key, "{\"not\": \"weather\"}", 300)
        .await
        .unwrap();

    let response = app.get_weather("Melbourne").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cache"], "MISS");
    let stored: String = redis.get(&key).await.unwrap();
    assert!(stored.contains("Melbourne"), "the bad entry was replaced");
}

#[tokio::test]
async fn a_place_not_found_is_remembered_briefly_and_still_answers_404() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .and(query_param("q", "atlantis"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            fixture("errors/404-city-not-found.json"),
            "application/json",
        ))
        .expect(1)
        .mount(&app.upstream)
        .await;

    assert_problem(app.get_weather("Atlantis").await, 404).await;
    assert_problem(app.get_weather("atlantis").await, 404).await;

    let key = format!(
        "{}:v1:weather:city:atlantis:en",
        app.settings.redis_key_prefix
    );
    let ttl: i64 = app.redis().await.ttl(&key).await.unwrap();
    assert!((1..=60).contains(&ttl), "not-found TTL is {ttl}");
}

#[tokio::test]
async fn upstream_errors_are_never_cached() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&app.upstream)
        .await;
    app.upstream_serves_city("bratislava", "current/bratislava_sk_fog_standard.json")
        .await;

    assert_problem(app.get_weather("Bratislava").await, 502).await;
    let second = app.get_weather("Bratislava").await;

    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["x-cache"], "MISS");
}

#[tokio::test]
async fn a_key_of_the_wrong_type_is_a_miss_for_that_place_only() {
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.upstream_serves_city("melbourne", "current/melbourne_au_lang_pt_br.json")
        .await;
    let key = format!(
        "{}:v1:weather:city:warsaw:en",
        app.settings.redis_key_prefix
    );
    let mut redis = app.redis().await;
    let _: () = redis.lpush(&key, "not a string").await.unwrap();

    let warsaw = app.get_weather("Warsaw").await;
    let melbourne = app.get_weather("Melbourne").await;

    assert_eq!(warsaw.status(), 200);
    assert_eq!(melbourne.status(), 200);
    let stored: String = redis.get(&key).await.unwrap();
    assert!(
        stored.contains("Warsaw"),
        "the SET replaced the wrong-typed key"
    );
    let melbourne_key = format!(
        "{}:v1:weather:city:melbourne:en",
        app.settings.redis_key_prefix
    );
    let cached: Option<String> = redis.get(&melbourne_key).await.unwrap();
    assert!(cached.is_some(), "other places are still cached");
}

#[tokio::test]
async fn concurrent_misses_for_one_place_make_one_upstream_call() {
    let app = spawn_app().await;
    app.upstream_always(
        recorded("current/warsaw_pl_heavy_rain.json").set_delay(Duration::from_millis(300)),
    )
    .await;

    let lookups = (0..50).map(|_| async {
        let response = app.get_weather("Warsaw,PL").await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    });
    let answers = futures_util::future::join_all(lookups).await;

    assert_eq!(
        app.upstream_calls().await,
        1,
        "one call for 50 concurrent misses"
    );
    let fetched_at = &answers[0]["fetched_at"];
    assert!(answers.iter().all(|a| a["fetched_at"] == *fetched_at));
    let misses = answers
        .iter()
        .filter(|a| a["cache"]["status"] == "miss")
        .count();
    assert_eq!(misses, 1, "only the caller that fetched reports a miss");
}
