//! The metrics this service exports, by name, in one place, and the recorder that keeps them
//! for `GET /metrics` (the Prometheus text format, version 0.0.4).
//!
//! Modules record through the functions here, which call the `metrics` crate's macros: no
//! registry is passed around, and each name and label set is written once. Label values come
//! from fixed sets (routes are patterns, outcomes are names), so the number of series stays
//! bounded whatever clients send.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Counter, Histogram, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// `http_requests_total{method,route,status}`: answered requests.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// `http_request_duration_seconds{method,route}`: time from request to answer.
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";
/// `weatherlog_cache_lookups_total{result}`: weather lookups by where the answer came from.
pub const CACHE_LOOKUPS: &str = "weatherlog_cache_lookups_total";
/// `weatherlog_upstream_requests_total{provider,outcome}`: calls to the weather provider.
pub const UPSTREAM_REQUESTS: &str = "weatherlog_upstream_requests_total";
/// `weatherlog_upstream_request_duration_seconds{provider}`: how long those calls took.
pub const UPSTREAM_REQUEST_DURATION: &str = "weatherlog_upstream_request_duration_seconds";
/// `weatherlog_upstream_budget_remaining{window}`: calls left in this minute or day.
pub const UPSTREAM_BUDGET_REMAINING: &str = "weatherlog_upstream_budget_remaining";
/// `weatherlog_singleflight_waits_total`: lookups answered by another caller's upstream call.
pub const SINGLEFLIGHT_WAITS: &str = "weatherlog_singleflight_waits_total";
/// `weatherlog_store_errors_total{store}`: failed Redis or MongoDB operations.
pub const STORE_ERRORS: &str = "weatherlog_store_errors_total";
/// `weatherlog_logs_created_total`: weather logs stored.
pub const LOGS_CREATED: &str = "weatherlog_logs_created_total";
/// `weatherlog_rate_limited_total`: requests refused with 429 by the inbound rate limit.
pub const RATE_LIMITED: &str = "weatherlog_rate_limited_total";
/// `weatherlog_build_info{version}`: always 1; the label says which version runs.
pub const BUILD_INFO: &str = "weatherlog_build_info";

/// Histogram buckets in seconds, from 1 ms (a cache hit) to 10 s (past any upstream timeout).
const DURATION_BUCKETS_S: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// The series every cache lookup records into, by [`CacheResult`], taken once the recorder is
/// installed.
static CACHE_LOOKUP_SERIES: OnceLock<[Counter; 4]> = OnceLock::new();

thread_local! {
    /// The HTTP series this thread has recorded into, by method, route and status. Naming a
    /// series (`counter!(name, labels)`) looks it up in the recorder's registry, shared by every
    /// thread, by hashing its name and labels; the handle it returns is an atomic counter. So
    /// each worker keeps the handles it found: as few as the label values allow.
    static HTTP_SERIES: RefCell<HashMap<HttpLabels, (Counter, Histogram)>> = RefCell::default();
}

/// The labels of the HTTP series: method, route and status.
type HttpLabels = (&'static str, &'static str, u16);

/// Installs the process-wide recorder once (later calls return the same handle: tests start
/// several apps in one process), describes every metric, so `/metrics` lists each family with
/// its `# HELP` even before it first moves, and starts the one upkeep task. Call it inside a
/// Tokio runtime.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(DURATION_BUCKETS_S)
                .expect("the buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            spawn_upkeep(handle.clone());
            describe();
            start_at_zero();
            CACHE_LOOKUP_SERIES.get_or_init(|| {
                CacheResult::ALL.map(|result| counter!(CACHE_LOOKUPS, "result" => result.label()))
            });
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Answered HTTP requests, by method, route pattern and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from receiving a request to answering it."
    );
    describe_counter!(
        CACHE_LOOKUPS,
        "Weather lookups by where the answer came from: memory_hit, redis_hit, miss (asked upstream) or stale."
    );
    describe_counter!(
        UPSTREAM_REQUESTS,
        "Calls to the weather provider, by outcome."
    );
    describe_histogram!(
        UPSTREAM_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "How long calls to the weather provider took."
    );
    describe_gauge!(
        UPSTREAM_BUDGET_REMAINING,
        "Calls to the weather provider left in this minute or UTC day, shared by every replica."
    );
    describe_counter!(
        SINGLEFLIGHT_WAITS,
        "Lookups that waited for another caller's upstream call (on this or another replica)."
    );
    describe_counter!(STORE_ERRORS, "Failed Redis or MongoDB operations.");
    describe_counter!(LOGS_CREATED, "Weather logs stored.");
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429 by the inbound rate limit."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build runs."
    );
}

/// Creates the series whose labels are known in advance at 0, so a scrape lists them before
/// they first move and `rate()` has a start to count from.
fn start_at_zero() {
    for result in CacheResult::ALL {
        counter!(CACHE_LOOKUPS, "result" => result.label()).increment(0);
    }
    // A histogram is listed once it exists, even empty.
    let _ = histogram!(UPSTREAM_REQUEST_DURATION, "provider" => "openweathermap");
    for outcome in UPSTREAM_OUTCOMES {
        counter!(UPSTREAM_REQUESTS, "provider" => "openweathermap", "outcome" => *outcome)
            .increment(0);
    }
    for store in ["redis", "mongodb"] {
        counter!(STORE_ERRORS, "store" => store).increment(0);
    }
    counter!(SINGLEFLIGHT_WAITS).increment(0);
    counter!(LOGS_CREATED).increment(0);
    counter!(RATE_LIMITED).increment(0);
}

/// The outcomes of a call to a provider, as `weatherlog_upstream_requests_total` labels them.
pub const UPSTREAM_OUTCOMES: &[&str] = &[
    "ok",
    "not_found",
    "key_rejected",
    "rate_limited",
    "timeout",
    "error",
];

/// Drains histogram samples into their buckets every second, so memory stays flat between
/// scrapes (the exporter does it only when it runs its own HTTP listener, which we do not).
/// Until drained, each request's duration is kept as a sample of 8 bytes: at 180,000 requests a
/// second, five seconds of them were 7 MB of the process's memory; one second is 1.4 MB.
fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

/// One answered request. After a thread's first request with these labels, recording is two
/// atomic operations (see `HTTP_SERIES`). Before [`install`] nothing is recorded.
pub fn http_request(method: &'static str, route: &'static str, status: u16, elapsed: Duration) {
    if HANDLE.get().is_none() {
        return;
    }
    HTTP_SERIES.with_borrow_mut(|series| {
        let (requests, duration) = series.entry((method, route, status)).or_insert_with(|| {
            let status: metrics::SharedString = match status_label(status) {
                Some(label) => label.into(),
                None => status.to_string().into(),
            };
            (
                counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status),
                histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route),
            )
        });
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// The statuses this service answers most, as static labels.
fn status_label(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => return None,
    })
}

/// Where a lookup's answer came from.
#[derive(Clone, Copy, Debug)]
pub enum CacheResult {
    /// This process's memory (a recent answer, or another caller's call it waited for).
    MemoryHit,
    /// Redis, shared by every replica (read here or handed over by another replica's call).
    RedisHit,
    /// Nobody had it: this caller asked upstream.
    Miss,
    /// Upstream failed and the last good answer stood in (stale-if-error).
    Stale,
}

impl CacheResult {
    /// Every result, in declaration order (so `result as usize` indexes it).
    const ALL: [CacheResult; 4] = [
        CacheResult::MemoryHit,
        CacheResult::RedisHit,
        CacheResult::Miss,
        CacheResult::Stale,
    ];

    /// The `result` label.
    fn label(self) -> &'static str {
        match self {
            CacheResult::MemoryHit => "memory_hit",
            CacheResult::RedisHit => "redis_hit",
            CacheResult::Miss => "miss",
            CacheResult::Stale => "stale",
        }
    }
}

/// One weather lookup (an atomic add, once [`install`] has run).
pub fn cache_lookup(result: CacheResult) {
    if let Some(series) = CACHE_LOOKUP_SERIES.get() {
        series[result as usize].increment(1);
    }
}

/// One call to a provider: `outcome` is one of `ok`, `not_found`, `key_rejected`,
/// `rate_limited`, `timeout` or `error`.
pub fn upstream_request(provider: &'static str, outcome: &'static str, elapsed: Duration) {
    counter!(UPSTREAM_REQUESTS, "provider" => provider, "outcome" => outcome).increment(1);
    histogram!(UPSTREAM_REQUEST_DURATION, "provider" => provider).record(elapsed.as_secs_f64());
}

/// Calls left in a budget window: `window` is `minute` or `day`; `None` for no cap (`+Inf`).
pub fn upstream_budget_remaining(window: &'static str, remaining: Option<u64>) {
    let remaining = remaining.map_or(f64::INFINITY, |calls| calls as f64);
    gauge!(UPSTREAM_BUDGET_REMAINING, "window" => window).set(remaining);
}

pub fn singleflight_wait() {
    counter!(SINGLEFLIGHT_WAITS).increment(1);
}

/// A failed operation on `store`: `redis` or `mongodb`.
pub fn store_error(store: &'static str) {
    counter!(STORE_ERRORS, "store" => store).increment(1);
}

pub fn log_created() {
    counter!(LOGS_CREATED).increment(1);
}

pub fn rate_limited() {
    counter!(RATE_LIMITED).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_result_indexes_its_series() {
        for (index, result) in CacheResult::ALL.into_iter().enumerate() {
            assert_eq!(result as usize, index, "{}", result.label());
        }
    }
}
