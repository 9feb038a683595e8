//! Several instances on one Redis and one MongoDB, as replicas behind a load balancer: they
//! share the cache, and one upstream call per place serves them all.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{recorded, spawn_replicas};

#[tokio::test]
async fn concurrent_misses_spread_over_three_replicas_make_one_upstream_call() {
    let replicas = spawn_replicas(3, |_| {}).await;
    replicas[0]
        .upstream_always(
            recorded("current/warsaw_pl_heavy_rain.json").set_delay(Duration::from_millis(300)),
        )
        .await;

    let replicas = &replicas;
    let lookups = (0..60).map(|i| async move {
        let response = replicas[i % 3].get_weather("Warsaw,PL").await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    });
    let answers = futures_util::future::join_all(lookups).await;

    assert_eq!(replicas[0].upstream_calls().await, 1);
    let fetched_at = &answers[0]["fetched_at"];
    assert!(answers.iter().all(|a| a["fetched_at"] == *fetched_at));
}

#[tokio::test]
async fn a_lock_left_by_a_dead_replica_expires_and_another_takes_over() {
    let replicas = spawn_replicas(2, |settings| settings.openweather_timeout_ms = 500).await;
    replicas[0]
        .upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;
    // A replica took the lock for Warsaw and died before it answered or released it.
    let lock = format!(
        "{}:v1:lock:{}:v1:weather:city:warsaw,pl:en",
        replicas[0].settings.redis_key_prefix, replicas[0].settings.redis_key_prefix
    );
    let mut redis = replicas[0].redis().await;
    let _: () = redis::cmd("SET")
        .arg(&lock)
        .arg("token-of-a-dead-replica")
        .arg("PX")
        .arg(700)
        .query_async(&mut redis)
        .await
        .unwrap();

    // Meanwhile a lookup waits for the dead replica's answer, for one upstream timeout and a
    // margin (500 + 250 ms): when the lock expires at 700 ms it is too late for this lookup to
    // make a call of its own within that bound, so it does not.
    let started = Instant::now();
    let waiting = replicas[1].get_weather("Warsaw,PL").await;
    assert_eq!(waiting.status(), 504);
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1000), "waited {waited:?}");
    assert_eq!(replicas[0].upstream_calls().await, 0);

    // The next lookup takes the expired lock over.
    let next = replicas[1].get_weather("Warsaw,PL").await;
    assert_eq!(next.status(), 200);
    assert_eq!(next.headers()["x-cache"], "MISS");
    assert_eq!(replicas[0].upstream_calls().await, 1);
}

#[tokio::test]
async fn replicas_that_waited_for_a_refused_call_answer_with_the_same_problem() {
    let replicas = spawn_replicas(3, |_| {}).await;
    replicas[0]
        .upstream_always(
            wiremock::ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_delay(Duration::from_millis(300)),
        )
        .await;

    let replicas = &replicas;
    let lookups = (0..30).map(|i| async move {
        let response = replicas[i % 3].get_weather("Warsaw,PL").await;
        let retry_after = response.headers().get("retry-after").cloned();
        let problem = crate::helpers::assert_problem(response, 503).await;
        (problem["type"].clone(), retry_after)
    });
    let answers = futures_util::future::join_all(lookups).await;

    for (kind, retry_after) in answers {
        assert_eq!(kind, "/problems/upstream-rate-limited");
        assert!(retry_after.is_some(), "every answer says when to retry");
    }
    assert_eq!(replicas[0].upstream_calls().await, 1);
}
