//! Weather lookups through the cache (cache-aside): process memory, then Redis, then
//! OpenWeatherMap on a miss, with one upstream call per place however many ask at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::{CachedAnswer, WeatherCache};
use crate::domain::{Language, Place, Weather};
use crate::openweather::{OpenWeatherClient, UpstreamError};

/// How long a resolved answer stays in process memory. Short, so Redis stays the one shared
/// truth; long enough that a burst of lookups for one place costs one Redis round trip a second.
const MEMORY_TTL: Duration = Duration::from_secs(1);
/// Most answers kept in process memory (a few KiB each).
const MEMORY_CAPACITY: u64 = 10_000;

/// Whether an answer came from the cache (`hit`) or from OpenWeatherMap (`miss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    Hit,
    Miss,
}

/// How fresh an answer is: shown in the body (`cache`) and in the `X-Cache`, `Age` and
/// `Cache-Control` headers.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct CacheInfo {
    pub status: CacheStatus,
    /// Seconds since the service fetched the answer from upstream.
    pub age_s: u64,
    /// Seconds until the cached answer expires.
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
}

/// Looks the weather up, sharing answers between requests for five minutes (by default).
#[derive(Clone)]
pub struct WeatherLookup {
    client: OpenWeatherClient,
    cache: WeatherCache,
    ttl: Duration,
    not_found_ttl: Duration,
    /// Answers resolved in the last second, by cache key, and the resolutions in flight: moka
    /// runs one resolution per key at a time, and concurrent callers for that key wait for it
    /// (single-flight), so a burst for a cold place makes one upstream call per process.
    recent: moka::future::Cache<String, Arc<Resolved>>,
}

impl WeatherLookup {
    pub fn new(
        client: OpenWeatherClient,
        cache: WeatherCache,
        ttl: Duration,
        not_found_ttl: Duration,
    ) -> Self {
        Self {
            client,
            cache,
            ttl,
            not_found_ttl,
            recent: moka::future::Cache::builder()
                .max_capacity(MEMORY_CAPACITY)
                .time_to_live(MEMORY_TTL)
                .build(),
        }
    }

    /// The current weather at `place`, from the cache when it holds a fresh answer.
    ///
    /// A miss asks upstream and stores the answer for the TTL; concurrent misses for one place
    /// wait for that one call and share its answer or its error. "Place not found" is stored
    /// too, briefly, and still answers [`UpstreamError::PlaceNotFound`]; other upstream errors
    /// are never cached. Redis being down makes every lookup a miss, nothing worse.
    #[tracing::instrument(name = "lookup.look_up", skip(self))]
    pub async fn look_up(
        &self,
        place: &Place,
        lang: &Language,
    ) -> Result<LookedUpWeather, UpstreamError> {
        let key = self.cache.key(place, lang);
        if let Some(resolved) = self.recent.get(&key).await {
            if let Some(answer) = self.answer(&resolved, CacheStatus::Hit) {
                return answer;
            }
            // It expired within its second in memory: resolve it again.
            self.recent.invalidate(&key).await;
        }
        let entry = self
            .recent
            .entry(key.clone())
            .or_try_insert_with(self.resolve(&key, place, lang))
            .await
            .map_err(|err| UpstreamError::clone(&err))?;
        // Only the caller whose resolution fetched it reports a miss; those that waited for it
        // were answered from that one call, as from the cache.
        let status = if entry.is_fresh() && entry.value().fetched {
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
        if let Some(answer) = self.cache.get(key).await {
            let fresh = match &answer {
                CachedAnswer::Weather(weather) => self.age_s(weather) < self.ttl.as_secs(),
                CachedAnswer::NotFound => true,
            };
            if fresh {
                return Ok(Arc::new(Resolved {
                    answer,
                    fetched: false,
                }));
            }
        }
        let answer = match self.client.fetch_current(place, lang).await {
            Ok(weather) => {
                let answer = CachedAnswer::Weather(Box::new(weather));
                self.cache.set(key, &answer, self.ttl).await;
                answer
            }
            Err(UpstreamError::PlaceNotFound) => {
                let answer = CachedAnswer::NotFound;
                self.cache.set(key, &answer, self.not_found_ttl).await;
                answer
            }
            Err(other) => return Err(other),
        };
        Ok(Arc::new(Resolved {
            answer,
            fetched: true,
        }))
    }

    /// The answer a resolution gives a caller, or `None` when its weather is past the TTL.
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
        // Redis expires the key on time; this guards the in-memory copy and clock skew.
        if age_s >= self.ttl.as_secs() {
            return None;
        }
        let cache = CacheInfo {
            status,
            age_s,
            ttl_s: self.ttl.as_secs() - age_s,
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

    /// The cache, for readiness checks.
    pub fn cache(&self) -> &WeatherCache {
        &self.cache
    }
}
