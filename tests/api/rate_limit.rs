//! The inbound rate limit: at most `RATE_LIMIT_PER_MINUTE` requests per client in a sliding
//! minute, counted in Redis so that every replica shares one limit, and by each process while
//! Redis is down. Every test connects from 127.0.0.1, so each sets a small limit of its own (the
//! other tests run with the limit off). How a client is found behind proxies, entry by entry, is
//! unit-tested in `src/middleware/rate_limit.rs`.

use serde_json::json;

use crate::helpers::{
    TestApp, assert_problem, recorded, spawn_app, spawn_app_with, spawn_replicas,
};
use crate::redis_outage::{OwnRedis, free_port};

/// A response header as text ("" when absent).
fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("a text header").to_owned())
        .unwrap_or_default()
}

/// The `r` and `t` of `RateLimit: "default";r=<r>;t=<t>`.
fn service_limit(response: &reqwest::Response) -> (u64, u64) {
    let value = header(response, "ratelimit");
    let numbers = value
        .strip_prefix("\"default\";r=")
        .and_then(|rest| rest.split_once(";t="))
        .unwrap_or_else(|| panic!("RateLimit: {value:?}"));
    (numbers.0.parse().unwrap(), numbers.1.parse().unwrap())
}

/// `GET path` with extra request headers.
async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the request is sent")
}

const WARSAW: &str = "/api/v1/weather?city=Warsaw,PL";

#[tokio::test]
async fn over_the_limit_a_client_gets_429_with_retry_after_and_the_ratelimit_fields() {
    let app = spawn_app_with(|settings| settings.rate_limit_per_minute = 3).await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;

    // curl -i 'localhost:8080/api/v1/weather?city=Warsaw,PL', three times: allowed, and told
    // how many are left.
    for left in [2, 1, 0] {
        let response = app.get(WARSAW).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            r#""default";q=3;w=60"#
        );
        let (remaining, reset_s) = service_limit(&response);
        assert_eq!(remaining, left);
        assert!((1..=120).contains(&reset_s), "t={reset_s}");
    }

    // The fourth: refused, and told when to come back.
    let refused = app.get(WARSAW).await;
    assert_eq!(
        header(&refused, "ratelimit-policy"),
        r#""default";q=3;w=60"#
    );
    let retry_after: u64 = header(&refused, "retry-after").parse().expect("seconds");
    assert!(
        (1..=120).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(service_limit(&refused), (0, retry_after));
    let problem = assert_problem(refused, 429).await;
    assert_eq!(problem["type"], "/problems/rate-limited");
    assert_eq!(
        app.upstream_calls().await,
        1,
        "only the first lookup went upstream"
    );

    // Redis holds one counter for the client, gone two minutes after its first request.
    let keys = rate_limit_counters(&app, "*").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let prefix = format!("{}:v1:ratelimit:127.0.0.1:", app.settings.redis_key_prefix);
    assert!(keys[0].starts_with(&prefix), "{}", keys[0]);
    let mut redis = app.redis().await;
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=121_000).contains(&ttl_ms), "PTTL {ttl_ms}");

    // An operator sees it, and /metrics itself is never limited.
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("\nweatherlog_rate_limited_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_refused_request_changes_nothing_and_calls_no_upstream() {
    let app = spawn_app_with(|settings| settings.rate_limit_per_minute = 1).await;
    app.upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;
    let log = app.create_log("Warsaw,PL").await;

    let second = app.post_log(json!({ "city": "Melbourne" })).await;
    assert_problem(second, 429).await;
    let delete = app.delete_log(log["id"].as_str().unwrap()).await;
    assert_problem(delete, 429).await;

    assert_eq!(app.stored_logs().await, 1);
    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn replicas_share_one_limit() {
    let replicas = spawn_replicas(3, |settings| settings.rate_limit_per_minute = 6).await;
    replicas[0]
        .upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;

    let mut statuses = Vec::new();
    for i in 0..9 {
        statuses.push(replicas[i % 3].get(WARSAW).await.status().as_u16());
    }

    // Six in all, not six per replica.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429]);
}

#[tokio::test]
async fn replicas_that_take_requests_a_few_at_a_time_still_allow_no_more_than_the_limit() {
    // A limit of 500 lets a busy client's leases grow to 5 requests (a hundredth of it).
    let replicas = spawn_replicas(3, |settings| settings.rate_limit_per_minute = 500).await;
    replicas[0]
        .upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;

    let mut allowed: u64 = 0;
    for i in 0..540 {
        let response = replicas[i % 3].get(WARSAW).await;
        if response.status() == 200 {
            allowed += 1;
        }
    }

    // Never more than the limit; fewer only by the requests the leases still hold (4 each).
    assert!((500 - 3 * 4..=500).contains(&allowed), "{allowed} allowed");
    let counted = counted_in_redis(&replicas[0]).await;
    assert!(
        (allowed..=500).contains(&counted),
        "{counted} counted in Redis"
    );
}

#[tokio::test]
async fn requests_a_lease_did_not_use_are_given_back_at_the_next_request() {
    // Leases of up to 5: a burst of 9 takes 1 + 2 + 4, then 5, and uses 2 of those 5.
    let app = spawn_app_with(|settings| settings.rate_limit_per_minute = 500).await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    for _ in 0..9 {
        assert_eq!(app.get(WARSAW).await.status(), 200);
    }
    assert_eq!(counted_in_redis(&app).await, 12, "3 taken, not used yet");

    // A pause longer than a lease lives, then one request: the 3 go back, 1 is counted.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = app.get(WARSAW).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        counted_in_redis(&app).await,
        10,
        "every request, and only those"
    );
    // Within a minute's window or across two: the RateLimit field counts the same 10.
    assert!(
        service_limit(&response).0 >= 490,
        "{}",
        header(&response, "ratelimit")
    );
}

#[tokio::test]
async fn a_burst_of_concurrent_requests_loses_none_of_the_leased_requests() {
    // 100 at once find the lease used up together, and each takes one from Redis.
    let app = spawn_app_with(|settings| settings.rate_limit_per_minute = 500).await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    let minute = || chrono::Utc::now().timestamp() / 60;
    let started_in = minute();
    app.get(WARSAW).await;
    let burst = (0..100).map(|_| app.get(WARSAW));
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.get(WARSAW).await;

    // Whatever the leases held came back: Redis counts the 102 requests, and only those.
    let counted = counted_in_redis(&app).await;
    if minute() == started_in {
        assert_eq!(counted, 102);
    } else {
        // Across a window's end, a lease of the window before is dropped, not handed on (it
        // was counted there): at most 4 more.
        assert!((102..=106).contains(&counted), "{counted}");
    }
}

/// The Redis keys of the rate-limit counters of `client` (`*`: of every client), one per window.
async fn rate_limit_counters(app: &TestApp, client: &str) -> Vec<String> {
    let pattern = format!("{}:v1:ratelimit:{client}:*", app.settings.redis_key_prefix);
    redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut app.redis().await)
        .await
        .unwrap()
}

/// What Redis counts for the client 127.0.0.1, over its windows.
async fn counted_in_redis(app: &TestApp) -> u64 {
    let keys = rate_limit_counters(app, "127.0.0.1").await;
    if keys.is_empty() {
        return 0;
    }
    let counters: Vec<u64> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    counters.iter().sum()
}

#[tokio::test]
async fn with_redis_stopped_each_process_still_limits_on_its_own() {
    let port = free_port();
    let mut redis = OwnRedis::start_on(port);
    let app = spawn_app_with(|settings| {
        settings.redis_url = format!("redis://127.0.0.1:{port}").as_str().into();
        settings.rate_limit_per_minute = 3;
    })
    .await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    let counted_in_redis = app.get(WARSAW).await;
    assert_eq!(service_limit(&counted_in_redis).0, 2);

    redis.stop();

    // The local limiter starts afresh: three more, then 429, never "no limit".
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = app.get(WARSAW).await;
        assert_eq!(
            header(&response, "ratelimit-policy"),
            r#""default";q=3;w=60"#
        );
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            // One request comes back every 20 s.
            let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
            assert!(
                (1..=20).contains(&retry_after),
                "Retry-After: {retry_after}"
            );
            assert_eq!(service_limit(&response), (0, retry_after));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn after_a_redis_restart_what_a_lease_held_is_not_given_back_to_the_new_counter() {
    let port = free_port();
    let mut redis = OwnRedis::start_on(port);
    let replicas = spawn_replicas(2, |settings| {
        settings.redis_url = format!("redis://127.0.0.1:{port}").as_str().into();
        settings.rate_limit_per_minute = 500;
        // So that a request can come from another client (X-Forwarded-For).
        settings.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    })
    .await;
    let (a, b) = (&replicas[0], &replicas[1]);
    a.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    // Leases of 1, 2, 4 and 5 on A: 12 counted for 9 requests, 3 held.
    for _ in 0..9 {
        a.get(WARSAW).await;
    }
    redis.stop();
    let mut redis = OwnRedis::start_on(port);
    // Another client's request finds A's connection broken: A sees Redis fail.
    get_with(a, WARSAW, &[("X-Forwarded-For", "203.0.113.9")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for app in [a, b] {
        for _ in 0..2 {
            app.get("/health/ready").await;
        }
    }
    // B counts 9 requests of the client in the new Redis (12, with its own lease), then A one.
    for _ in 0..9 {
        b.get(WARSAW).await;
    }
    a.get(WARSAW).await;

    // Had A given its 3 back, B's count would have lost them: 13 - 3.
    let counted = counted_in_redis(a).await;
    assert_eq!(counted, 13, "B's 12 and A's 1");
    redis.stop();
}

#[tokio::test]
async fn the_health_probes_are_never_limited() {
    let app = spawn_app_with(|settings| settings.rate_limit_per_minute = 1).await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    assert_eq!(app.get(WARSAW).await.status(), 200);
    assert_eq!(app.get(WARSAW).await.status(), 429);

    for _ in 0..5 {
        for probe in ["/health/live", "/health/ready"] {
            let response = app.get(probe).await;
            assert_eq!(response.status(), 200, "{probe}");
            assert_eq!(header(&response, "ratelimit"), "", "{probe}");
        }
    }
}

#[tokio::test]
async fn with_the_limit_at_zero_there_is_no_limit_and_no_fields() {
    // The tests' default: RATE_LIMIT_PER_MINUTE=0.
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;

    for _ in 0..20 {
        let response = app.get(WARSAW).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-policy"), "");
        assert_eq!(header(&response, "ratelimit"), "");
    }
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_change_no_identity() {
    // TRUSTED_PROXIES is empty: nobody's headers are believed.
    let app = spawn_app_with(|settings| settings.rate_limit_per_minute = 2).await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;

    // Every request claims another client; all count against 127.0.0.1.
    let claims = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-For", "203.0.113.8"),
        ("X-Forwarded-For", "198.51.100.1, 203.0.113.9"),
        ("Forwarded", "for=192.0.2.1"),
    ];
    let mut statuses = Vec::new();
    for claim in claims {
        statuses.push(get_with(&app, WARSAW, &[claim]).await.status().as_u16());
    }

    assert_eq!(statuses, [200, 200, 429, 429]);
    // A plain request, from the same peer, is refused too.
    assert_eq!(app.get(WARSAW).await.status(), 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_a_limit_of_its_own() {
    // The tests connect from 127.0.0.1: here it plays the reverse proxy.
    let app = spawn_app_with(|settings| {
        settings.rate_limit_per_minute = 2;
        settings.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    })
    .await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    let status = |headers: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move { get_with(app, WARSAW, headers).await.status().as_u16() }
    };

    // curl -H 'X-Forwarded-For: 203.0.113.7' 'localhost:8080/api/v1/weather?city=Warsaw,PL'
    assert_eq!(status(&[("X-Forwarded-For", "203.0.113.7")]).await, 200);
    assert_eq!(status(&[("X-Forwarded-For", "203.0.113.7")]).await, 200);
    assert_eq!(status(&[("X-Forwarded-For", "203.0.113.7")]).await, 429);
    // Naming someone else first changes nothing: the proxy appended the address it saw last.
    assert_eq!(
        status(&[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")]).await,
        429
    );

    // Another client has a limit of its own; an IPv4-mapped address is the same client.
    assert_eq!(status(&[("X-Forwarded-For", "203.0.113.8")]).await, 200);
    assert_eq!(
        status(&[("X-Forwarded-For", "::ffff:203.0.113.8")]).await,
        200
    );
    assert_eq!(status(&[("X-Forwarded-For", "203.0.113.8")]).await, 429);

    // IPv6 clients count per /64, however written.
    assert_eq!(status(&[("X-Forwarded-For", "2001:db8:1:2::1")]).await, 200);
    assert_eq!(
        status(&[("X-Forwarded-For", "2001:db8:1:2::ffff")]).await,
        200
    );
    assert_eq!(
        status(&[("X-Forwarded-For", "[2001:db8:1:2::abcd]:4711")]).await,
        429
    );
    assert_eq!(status(&[("X-Forwarded-For", "2001:db8:1:3::1")]).await, 200);

    // Forwarded (RFC 7239), when no X-Forwarded-For came.
    let forwarded = &[("Forwarded", r#"for="[2001:db8:1:3::2]:4711";proto=http"#)];
    assert_eq!(status(forwarded).await, 200);
    assert_eq!(status(forwarded).await, 429);

    // Garbage names nobody: the proxy itself is the client, with a limit of its own.
    assert_eq!(status(&[("X-Forwarded-For", "not an address")]).await, 200);
    assert_eq!(status(&[]).await, 200);
    assert_eq!(status(&[]).await, 429);
}
