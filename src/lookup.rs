//! Weather lookups through the cache (cache-aside): process memory, then Redis, then
//! OpenWeatherMap on a miss, with one upstream call per place however many ask at once, in one
//! process (moka) and across replicas (`crate::fetch_lock`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::{CachedAnswer, WeatherCache};
use crate::domain::{CacheStatus, Language, Place, Weather};
use crate::fetch_lock::{Acquired, FetchLock};
use crate::openweather::{OpenWeatherClient, UpstreamError};
use crate::shared_redis::RedisUnavailable;
use crate::upstream_guard::CallBudget;
use crate::upstream_health::{UpstreamHealth, UpstreamState, UpstreamStatus};
use crate::upstream_pause::RefusalPause;

/// How long a resolved answer stays in process memory. Short, so Redis stays the one shared
/// truth; long enough that a burst of lookups for one place costs one Redis round trip a second.
const MEMORY_TTL: Duration = Duration::from_secs(1);
/// How long a finished resolution stays where its waiters find it.
const IN_FLIGHT_TTL: Duration = Duration::from_millis(100);
/// Most answers kept in process memory (a few KiB each).
const MEMORY_CAPACITY: u64 = 10_000;
/// How much longer than one upstream call an instance waits for another's answer: room for the
/// holder to store it and for our next poll to see it.
const WAIT_MARGIN: Duration = Duration::from_millis(250);
/// First and longest pause between two looks at the cache while another instance fetches. The
/// longest bounds how late a waiter sees the answer; one `GET` per 20 ms per waiting process
/// (the others wait in moka) costs Redis nothing.
const FIRST_POLL: Duration = Duration::from_millis(5);
const LONGEST_POLL: Duration = Duration::from_millis(20);

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

/// A looked-up weather report (metric units) and its freshness.
#[derive(Debug)]
pub struct LookedUpWeather {
    pub weather: Weather,
    pub cache: CacheInfo,
}

/// What resolving a key found, kept a second in process memory.
#[derive(Debug)]
struct Resolved {
    answer: CachedAnswer,
    /// `true` when this answer was fetched from upstream by the resolution (not read from Redis).
    fetched: bool,
    /// `true` when upstream failed and this is the last good answer, past its TTL.
    stale: bool,
}

/// Looks the weather up, sharing answers between requests for five minutes (by default).
#[derive(Clone)]
pub struct WeatherLookup {
    client: OpenWeatherClient,
    cache: WeatherCache,
    lock: FetchLock,
    budget: CallBudget,
    pause: RefusalPause,
    health: UpstreamHealth,
    /// The upstream timeout: how long one call may take.
    upstream_timeout: Duration,
    ttl: Duration,
    /// How long past the TTL an answer may stand in for a failing upstream (stale-if-error).
    stale_if_error: Duration,
    not_found_ttl: Duration,
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
        Self {
            lock: FetchLock::new(cache.redis().clone(), upstream_timeout),
            budget,
            pause: RefusalPause::new(cache.redis().clone()),
            health: UpstreamHealth::new(cache.redis().clone()),
            client,
            cache,
            upstream_timeout,
            ttl,
            stale_if_error,
            not_found_ttl,
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
        if let Some(resolved) = self.recent.get(&key) {
            if let Some(answer) = self.answer(&resolved, CacheStatus::Hit) {
                return answer;
            }
            // It expired within its second in memory: resolve it again.
            self.recent.invalidate(&key);
            self.in_flight.invalidate(&key).await;
        }
        let entry = self
            .in_flight
            .entry(key.clone())
            .or_try_insert_with(self.resolve(&key, place, lang))
            .await
            .map_err(|err| UpstreamError::clone(&err))?;
        if entry.is_fresh() {
            self.recent.insert(key, entry.value().clone());
        }
        // Only the caller whose resolution fetched it reports a miss; those that waited for it
        // were answered from that one call, as from the cache.
        let status = if entry.value().stale {
            CacheStatus::Stale
        } else if entry.is_fresh() && entry.value().fetched {
            CacheStatus::Miss
        } else {
            CacheStatus::Hit
        };
        self.answer(entry.value(), status).unwrap_or_else(|| {
            // An answer from Redis that expired between the read and now: rare, and upstream
            // will be asked on the next lookup.
            Err(UpstreamError::Failed("the cached answer expired".into()))
        })
    }

    /// Reads Redis, and asks upstream on a miss; run once per key at a time (see `recent`).
    async fn resolve(
        &self,
        key: &str,
        place: &Place,
        lang: &Language,
    ) -> Result<Arc<Resolved>, UpstreamError> {
        let cached = self.cache.get(key).await;
        if let Some(answer) = cached.as_ref().filter(|answer| self.is_fresh(answer)) {
            return Ok(Arc::new(Resolved {
                answer: answer.clone(),
                fetched: false,
                stale: false,
            }));
        }
        match self.fetch_once_for_all(key, place, lang).await {
            Ok((answer, fetched)) => Ok(Arc::new(Resolved {
                answer,
                fetched,
                stale: false,
            })),
            Err(err) => match cached {
                Some(CachedAnswer::Weather(weather))
                    if !matches!(err, UpstreamError::PlaceNotFound)
                        && self.age_s(&weather) < self.stale_limit_s() =>
                {
                    tracing::warn!(error = %err, "upstream failed; answering with the last good answer");
                    Ok(Arc::new(Resolved {
                        answer: CachedAnswer::Weather(weather),
                        fetched: false,
                        stale: true,
                    }))
                }
                _ => Err(err),
            },
        }
    }

    /// Asks upstream, unless another instance is asking already: then waits for its answer to
    /// appear in Redis, for at most an upstream timeout (plus a margin). `true` with the answer
    /// when this instance fetched it.
    async fn fetch_once_for_all(
        &self,
        key: &str,
        place: &Place,
        lang: &Language,
    ) -> Result<(CachedAnswer, bool), UpstreamError> {
        let deadline = Instant::now() + self.upstream_timeout + WAIT_MARGIN;
        let mut poll = FIRST_POLL;
        let mut first_try = true;
        loop {
            // Taking the lock over (its holder died, or failed) is only for a caller that can
            // still make a whole upstream call within its own bound; the others just wait.
            let may_fetch = first_try || Instant::now() + self.upstream_timeout <= deadline;
            let lock = if may_fetch {
                self.lock.try_acquire(key, first_try).await
            } else {
                self.lock.peek(key).await
            };
            match lock {
                Acquired::Held(guard) => {
                    // The holder before us may have stored its answer just before releasing.
                    if let Some(answer) = self.fresh_in_redis(key).await {
                        self.lock.release(guard).await;
                        return Ok((answer, false));
                    }
                    let fetched = self.fetch_and_store(key, place, lang).await;
                    match &fetched {
                        Ok(_) => self.lock.release(guard).await,
                        Err(err) => self.lock.release_failed(guard, err).await,
                    }
                    return fetched.map(|answer| (answer, true));
                }
                Acquired::NoRedis => {
                    return self
                        .fetch_and_store(key, place, lang)
                        .await
                        .map(|answer| (answer, true));
                }
                // The waiters of a failed call answer with its error, as its caller did.
                Acquired::RecentlyFailed(err) => return Err(err),
                Acquired::Busy => {}
            }
            if Instant::now() + poll > deadline {
                return Err(UpstreamError::Timeout(self.upstream_timeout));
            }
            first_try = false;
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(LONGEST_POLL);
            if let Some(answer) = self.fresh_in_redis(key).await {
                return Ok((answer, false));
            }
        }
    }

    /// Asks upstream, unless a refusal paused the calls or the budget is used up, and caches
    /// what it said: the weather for the TTL (and the stale-if-error window), "not found"
    /// briefly. A 429 or 401 pauses the calls of every replica.
    async fn fetch_and_store(
        &self,
        key: &str,
        place: &Place,
        lang: &Language,
    ) -> Result<CachedAnswer, UpstreamError> {
        // Without a key no call is made, so none is taken from the budget.
        if !self.client.has_api_key() {
            return Err(UpstreamError::NoApiKey);
        }
        if let Some(pause) = self.pause.current().await {
            return Err(pause.as_error());
        }
        self.budget.take_a_call().await?;
        let fetched = self.client.fetch_current(place, lang).await;
        self.pause.note(&fetched.as_ref().map(|_| ())).await;
        self.health.note(fetched.as_ref().map(|_| ())).await;
        let (answer, ttl) = match fetched {
            // Kept past the TTL, to stand in if upstream fails later; freshness is judged from
            // `fetched_at`, not from the key's expiry.
            Ok(weather) => (
                CachedAnswer::Weather(Box::new(weather)),
                self.ttl + self.stale_if_error,
            ),
            Err(UpstreamError::PlaceNotFound) => (CachedAnswer::NotFound, self.not_found_ttl),
            Err(other) => return Err(other),
        };
        self.cache.set(key, &answer, ttl).await;
        Ok(answer)
    }

    /// A cached answer that is still fresh.
    async fn fresh_in_redis(&self, key: &str) -> Option<CachedAnswer> {
        let answer = self.cache.get(key).await?;
        self.is_fresh(&answer).then_some(answer)
    }

    /// Whether an answer is within its TTL ("not found" always is, while Redis keeps it).
    fn is_fresh(&self, answer: &CachedAnswer) -> bool {
        match answer {
            CachedAnswer::Weather(weather) => self.age_s(weather) < self.ttl.as_secs(),
            CachedAnswer::NotFound => true,
        }
    }

    /// The age, in seconds, up to which an answer may stand in for a failing upstream.
    fn stale_limit_s(&self) -> u64 {
        (self.ttl + self.stale_if_error).as_secs()
    }

    /// The answer a resolution gives a caller, or `None` when its weather is too old for it (past
    /// the TTL, or for a stale answer past the stale-if-error window).
    fn answer(
        &self,
        resolved: &Resolved,
        status: CacheStatus,
    ) -> Option<Result<LookedUpWeather, UpstreamError>> {
        let weather = match &resolved.answer {
            CachedAnswer::Weather(weather) => weather,
            CachedAnswer::NotFound => return Some(Err(UpstreamError::PlaceNotFound)),
        };
        let age_s = self.age_s(weather);
        let cache = if resolved.stale {
            if age_s >= self.stale_limit_s() {
                return None;
            }
            CacheInfo {
                status: CacheStatus::Stale,
                age_s,
                ttl_s: 0,
            }
        } else {
            // Redis expires the key on time; this guards the in-memory copy and clock skew.
            if age_s >= self.ttl.as_secs() {
                return None;
            }
            CacheInfo {
                status,
                age_s,
                ttl_s: self.ttl.as_secs() - age_s,
            }
        };
        Some(Ok(LookedUpWeather {
            weather: Weather::clone(weather),
            cache,
        }))
    }

    /// Whole seconds since upstream was asked for `weather`.
    fn age_s(&self, weather: &Weather) -> u64 {
        (Utc::now() - weather.fetched_at).num_seconds().max(0) as u64
    }

    /// What readiness reports about upstream: its state, the last calls and the budget.
    pub async fn upstream_status(&self) -> UpstreamStatus {
        let (pause, usage, record) = tokio::join!(
            self.pause.current(),
            self.budget.usage(),
            self.health.read()
        );
        UpstreamStatus {
            provider: crate::openweather::PROVIDER,
            state: UpstreamState::from_facts(
                self.client.has_api_key(),
                pause.map(|pause| pause.reason),
                self.budget.is_exhausted(usage),
                &record,
            ),
            record,
            usage,
            limits: self.budget.limits(),
        }
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
