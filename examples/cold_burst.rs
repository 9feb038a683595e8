//! The cold-burst load for `scripts/bench`: N requests at once for one place not yet cached,
//! spread round-robin over several service instances, and the latency each waited.
//!
//! `cargo run --release --example cold_burst -- N PATH BASE_URL...` prints one line:
//! `RESULT <requests> <ok> <p50 ms> <p99 ms> <max ms>`.

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("N, the number of requests");
    let path = args
        .next()
        .expect("PATH, e.g. /api/v1/weather?city=bench-cold");
    let bases: Vec<String> = args.collect();
    assert!(!bases.is_empty(), "at least one BASE_URL");

    // Up to one connection per request, all at once: the burst is the point.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(count)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let requests = (0..count).map(|i| {
        let client = client.clone();
        let url = format!("{}{path}", bases[i % bases.len()]);
        async move {
            let started = Instant::now();
            let ok = client
                .get(&url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            (ok, started.elapsed())
        }
    });
    let results = futures_util::future::join_all(requests).await;

    let ok = results.iter().filter(|(ok, _)| *ok).count();
    let mut latencies: Vec<Duration> = results.into_iter().map(|(_, latency)| latency).collect();
    latencies.sort();
    let at = |quantile: f64| {
        let index = ((latencies.len() as f64 * quantile).ceil() as usize).clamp(1, latencies.len());
        latencies[index - 1].as_secs_f64() * 1000.0
    };
    println!(
        "RESULT {count} {ok} {:.1} {:.1} {:.1}",
        at(0.50),
        at(0.99),
        at(1.0)
    );
}
