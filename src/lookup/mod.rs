//! Weather lookups through the cache (cache-aside): process memory, then Redis, then
//! OpenWeatherMap on a miss, with one upstream call per place however many ask at once, in one
//! process (moka, here) and across replicas (`crate::fetch_lock`), and the last good answer
//! when upstream fails. The guarded call itself (lock, pause, budget) is in `guarded_fetch`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::{CachedAnswer, WeatherCache};
use crate::domain::{CacheStatus, Language, Place, Weather, WeatherReport};
use crate::openweather::{OpenWeatherClient, UpstreamError};
use crate::prometheus::{self, CacheResult};
use crate::shared_redis::RedisUnavailable;
use crate::upstream_guard::CallBudget;
use crate::upstream_health::UpstreamStatus;
use guarded_fetch::GuardedFetch;

mod guarded_fetch;

/// How long a resolved answer stays in process memory. Short, so Redis stays the one shared
/// truth; long enough that a burst of lookups for one place costs one Redis round trip a second.
const MEMORY_TTL: Duration = Duration::from_secs(1);
/// How long a finished resolution stays where its waiters find it.
const IN_FLIGHT_TTL: Duration = Duration::from_millis(100);
/// Most answers kept in process memory (a few KiB each).
const MEMORY_CAPACITY: u64 = 10_000;

/// How fresh an answer is: shown in the body (`cache`) and in the `X-Cache`, `Age` and
/// `Cache-Control` headers.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct CacheInfo {
    pub status: CacheStatus,
    /// Seconds since the service fetched the answer from upstream.
    pub age_s: u64,
    /// Seconds until the cached answer expires; `0` for a stale answer.
    pub ttl_s: u64,
}

/// A looked-up weather report (metric units, shared with the requests that read it at the same
/// time) and its freshness.
#[derive(Debug)]
pub struct LookedUpWeather {
    pub report: Arc<WeatherReport>,
    pub cache: CacheInfo,
}

/// What resolving a key found, kept a second in process memory.
#[derive(Debug)]
struct Resolved {
    /// The weather, or `None` when upstream said the place does not exist.
    report: Option<Arc<WeatherReport>>,
    /// `true` when this answer was fetched from upstream by the resolution (not read from Redis).
    fetched: bool,
    /// `true` when upstream failed and this is the last good answer, past its TTL.
    stale: bool,
}

/// Looks the weather up, sharing answers between requests for five minutes (by default).
#[derive(Clone)]
pub struct WeatherLookup {
    cache: WeatherCache,
    /// The one guarded call to upstream a miss makes.
    upstream: GuardedFetch,
    freshness: Freshness,
    /// Answers resolved in the last second, by cache key: the hit path, a plain synchronous
    /// read.
    recent: moka::sync::Cache<String, Arc<Resolved>>,
    /// The resolutions in flight, by cache key: moka runs one per key at a time and concurrent
    /// callers for that key wait for it (single-flight), so a burst for a cold place makes one
    /// upstream call per process. Kept apart from `recent` so that hits never pay for the
    /// asynchronous cache's bookkeeping.
    in_flight: moka::future::Cache<String, Arc<Resolved>>,
}

impl WeatherLookup {
    /// `upstream_timeout` bounds one upstream call (the client's timeout), and so how long an
    /// instance waits for another's; `ttl` and `not_found_ttl` are how long answers are fresh,
    /// and `stale_if_error` how much longer an answer is kept for when upstream fails.
    pub fn new(
        client: OpenWeatherClient,
        cache: WeatherCache,
        budget: CallBudget,
        upstream_timeout: Duration,
        (ttl, stale_if_error, not_found_ttl): (Duration, Duration, Duration),
    ) -> Self {
        let freshness = Freshness {
            ttl,
            stale_if_error,
        };
        Self {
            upstream: GuardedFetch::new(
                client,
                cache.clone(),
                budget,
                upstream_timeout,
                (freshness, not_found_ttl),
            ),
            cache,
            freshness,
            recent: moka::sync::Cache::builder()
                .max_capacity(MEMORY_CAPACITY)
                .time_to_live(MEMORY_TTL)
                .build(),
            // A resolution's result stays only as long as its waiters need to read it; `recent`
            // keeps it for the second after.
            in_flight: moka::future::Cache::builder()
                .max_capacity(MEMORY_CAPACITY)
                .time_to_live(IN_FLIGHT_TTL)
                .build(),
        }
    }

    /// The current weather at `place`, from the cache when it holds a fresh answer.
    ///
    /// A miss asks upstream and stores the answer for the TTL plus the stale-if-error window;
    /// concurrent misses for one place wait for that one call and share its answer or its
    /// error. When the call fails for any reason but "place not found", an answer still within
    /// the window stands in, marked [`CacheStatus::Stale`]. "Place not found" is stored too,
    /// briefly, and still answers [`UpstreamError::PlaceNotFound`]; other upstream errors are
    /// never cached. Redis being down makes every lookup a miss, nothing worse.
    #[tracing::instrument(name = "lookup.look_up", skip(self))]
    pub async fn look_up(
        &self,
        place: &Place,
        lang: &Language,
    ) -> Result<LookedUpWeather, UpstreamError> {
        let key = self.cache.key(place, lang);
        if let Some(resolved) = self.recent.get(&key)
            && let Some(answer) = self.answer(&resolved, CacheStatus::Hit)
        {
            prometheus::cache_lookup(CacheResult::MemoryHit);
            return answer;
        }
        // On the heap: the resolution's future (Redis, the lock, upstream) is about 4.7 KB, the
        // hit's 0.2 KB; inline, every hit would carry, and copy, the larger one.
        Box::pin(self.look_up_past_memory(key, place, lang)).await
    }

    /// The lookup when process memory has no fresh answer: resolve the key, once per process at
    /// a time, and share the result.
    async fn look_up_past_memory(
        &self,
        key: String,
        place: &Place,
        lang: &Language,
    ) -> Result<LookedUpWeather, UpstreamError> {
        // A resolution can hand over an answer that reaches its TTL before the caller reads it
        // (read from Redis at 299.9 s): then it is dropped and resolved again, which asks
        // upstream. Twice is enough: a second resolution either fetches or finds a fresh answer.
        for _ in 0..2 {
            self.recent.invalidate(&key);
            let entry = self
                .in_flight
                .entry(key.clone())
                .or_try_insert_with(self.resolve(&key, place, lang))
                .await
                .map_err(|err| UpstreamError::clone(&err))?;
            // Only the caller whose resolution fetched it reports a miss; those that waited for
            // it were answered from that one call, as from the cache.
            let (status, result) = if entry.value().stale {
                (CacheStatus::Stale, CacheResult::Stale)
            } else if !entry.is_fresh() {
                prometheus::singleflight_wait();
                (CacheStatus::Hit, CacheResult::MemoryHit)
            } else if entry.value().fetched {
                (CacheStatus::Miss, CacheResult::Miss)
            } else {
                (CacheStatus::Hit, CacheResult::RedisHit)
            };
            if let Some(answer) = self.answer(entry.value(), status) {
                prometheus::cache_lookup(result);
                if entry.is_fresh() {
                    self.recent.insert(key, entry.value().clone());
                }
                return answer;
            }
            self.in_flight.invalidate(&key).await;
        }
        Err(UpstreamError::Failed(
            "the answer expired twice while it was being looked up".into(),
        ))
    }

    /// Reads Redis, and asks upstream on a miss; run once per key at a time (see `recent`).
    async fn resolve(
        &self,
        key: &str,
        place: &Place,
        lang: &Language,
    ) -> Result<Arc<Resolved>, UpstreamError> {
        let cached = self.cache.get(key).await;
        if let Some(answer) = cached
            .as_ref()
            .filter(|answer| self.freshness.is_fresh(answer))
        {
            return Ok(Resolved::new(answer.clone(), false, false));
        }
        match self.upstream.fetch_once_for_all(key, place, lang).await {
            Ok((answer, fetched)) => Ok(Resolved::new(answer, fetched, false)),
            Err(err) => match cached {
                Some(CachedAnswer::Weather(weather))
                    if !matches!(err, UpstreamError::PlaceNotFound)
                        && age_s(&weather) < self.freshness.stale_limit_s() =>
                {
                    tracing::warn!(error = %err, "upstream failed; answering with the last good answer");
                    Ok(Resolved::new(CachedAnswer::Weather(weather), false, true))
                }
                _ => Err(err),
            },
        }
    }

    /// The answer a resolution gives a caller, or `None` when its weather is too old for it (past
    /// the TTL, or for a stale answer past the stale-if-error window).
    fn answer(
        &self,
        resolved: &Resolved,
        status: CacheStatus,
    ) -> Option<Result<LookedUpWeather, UpstreamError>> {
        let Some(report) = &resolved.report else {
            return Some(Err(UpstreamError::PlaceNotFound));
        };
        let age_s = age_s(report.weather());
        let cache = if resolved.stale {
            if age_s >= self.freshness.stale_limit_s() {
                return None;
            }
            CacheInfo {
                status: CacheStatus::Stale,
                age_s,
                ttl_s: 0,
            }
        } else {
            // Redis expires the key on time; this guards the in-memory copy and clock skew.
            if age_s >= self.freshness.ttl.as_secs() {
                return None;
            }
            CacheInfo {
                status,
                age_s,
                ttl_s: self.freshness.ttl.as_secs() - age_s,
            }
        };
        Some(Ok(LookedUpWeather {
            report: report.clone(),
            cache,
        }))
    }

    /// What readiness reports about upstream: its state, the last calls and the budget.
    pub async fn upstream_status(&self) -> UpstreamStatus {
        self.upstream.status().await
    }

    /// Deletes cached answers (all, or one place's; see `WeatherCache::purge`), and this
    /// process's copies in memory. Other replicas' copies in memory last at most a second more.
    ///
    /// Errors: Redis unavailable.
    pub async fn purge(&self, place: Option<&Place>) -> Result<u64, RedisUnavailable> {
        self.recent.invalidate_all();
        self.in_flight.invalidate_all();
        self.cache.purge(place).await
    }

    /// The cache, for readiness checks.
    pub fn cache(&self) -> &WeatherCache {
        &self.cache
    }
}

/// How long answers are fresh, and how much longer they may stand in for a failing upstream.
#[derive(Clone, Copy, Debug)]
struct Freshness {
    ttl: Duration,
    /// The stale-if-error window, past the TTL.
    stale_if_error: Duration,
}

impl Freshness {
    /// Whether an answer is within its TTL ("not found" always is, while Redis keeps it).
    fn is_fresh(&self, answer: &CachedAnswer) -> bool {
        match answer {
            CachedAnswer::Weather(weather) => age_s(weather) < self.ttl.as_secs(),
            CachedAnswer::NotFound => true,
        }
    }

    /// The age, in seconds, up to which an answer may stand in for a failing upstream.
    fn stale_limit_s(&self) -> u64 {
        self.kept_for().as_secs()
    }

    /// How long Redis keeps an answer: its TTL and the stale-if-error window.
    fn kept_for(&self) -> Duration {
        self.ttl + self.stale_if_error
    }
}

impl Resolved {
    /// What a resolution found, its weather wrapped once into the report that every request
    /// reading it shares.
    fn new(answer: CachedAnswer, fetched: bool, stale: bool) -> Arc<Self> {
        let report = match answer {
            CachedAnswer::Weather(weather) => Some(Arc::new(WeatherReport::new(*weather))),
            CachedAnswer::NotFound => None,
        };
        Arc::new(Self {
            report,
            fetched,
            stale,
        })
    }
}

/// Whole seconds since upstream was asked for `weather`.
fn age_s(weather: &Weather) -> u64 {
    (Utc::now() - weather.fetched_at).num_seconds().max(0) as u64
}
