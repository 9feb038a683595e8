//! Redis stopped mid-run: lookups still answer (uncached), readiness says degraded, and both
//! recover when Redis returns. Uses a redis-server of its own, so it can stop it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{eventually, spawn_app_with};

/// A throwaway redis-server on a free port, killed when dropped (also used by
/// `tests/api/rate_limit.rs`).
pub struct OwnRedis {
    pub port: u16,
    process: Child,
}

impl OwnRedis {
    pub fn start_on(port: u16) -> Self {
        let process = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        Self { port, process }
    }

    pub fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn readiness(app: &crate::helpers::TestApp) -> (u16, Value) {
    let response = app.get("/health/ready").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn lookups_survive_redis_stopping_and_the_cache_recovers_when_it_returns() {
    let port = free_port();
    let mut redis = OwnRedis::start_on(port);
    let app = spawn_app_with(|settings| {
        settings.redis_url = format!("redis://127.0.0.1:{port}").as_str().into();
    })
    .await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.upstream_serves_city("warszawa,pl", "current/warszawa_pl_lang_pl.json")
        .await;
    let cached = eventually(Duration::from_secs(5), || async {
        app.get_weather("Warsaw,PL").await;
        app.get_weather("Warsaw,PL").await.headers()["x-cache"] == "HIT"
    })
    .await;
    assert!(cached, "the cache works while Redis is up");

    redis.stop();
    // A place never looked up before must come from upstream, with nowhere to cache it.
    let during = app.get_weather("Warszawa,PL").await;
    assert_eq!(during.status(), 200, "lookups still answer");
    assert_eq!(during.headers()["x-cache"], "MISS");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "degraded");

    let _redis = OwnRedis::start_on(redis.port);
    let recovered = eventually(Duration::from_secs(15), || async {
        readiness(&app).await.1["status"] == "ok"
    })
    .await;
    assert!(recovered, "readiness is ok again");
    let hit = eventually(Duration::from_secs(10), || async {
        app.get_weather("Warsaw,PL").await.headers()["x-cache"] == "HIT"
    })
    .await;
    assert!(hit, "the cache serves hits again");
}

#[tokio::test]
async fn with_redis_stopped_concurrent_misses_still_make_one_call_and_the_budget_holds() {
    let port = free_port();
    let mut redis = OwnRedis::start_on(port);
    let app = spawn_app_with(|settings| {
        settings.redis_url = format!("redis://127.0.0.1:{port}").as_str().into();
        settings.upstream_calls_per_day = 2;
    })
    .await;
    app.upstream_always(
        crate::helpers::recorded("current/warsaw_pl_heavy_rain.json")
            .set_delay(Duration::from_millis(300)),
    )
    .await;
    redis.stop();

    // One process, no Redis: its own single-flight merges the burst into one call.
    let burst = (0..20).map(|_| app.get_weather("Warsaw,PL"));
    let answers = futures_util::future::join_all(burst).await;
    assert!(answers.iter().all(|a| a.status() == 200));
    assert_eq!(app.upstream_calls().await, 1);

    // And the budget is counted in memory: a second call is allowed, a third is not.
    assert_eq!(app.get_weather("Melbourne").await.status(), 200);
    assert_eq!(app.get_weather("Kochi").await.status(), 503);
    assert_eq!(app.upstream_calls().await, 2);
}
