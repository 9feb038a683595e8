//! Weather lookups through the cache (cache-aside): Redis first, OpenWeatherMap on a miss.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::{CachedAnswer, WeatherCache};
use crate::domain::{Language, Place, Weather};
use crate::openweather::{OpenWeatherClient, UpstreamError};

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

/// Looks the weather up, sharing answers between requests for five minutes (by default).
#[derive(Clone)]
pub struct WeatherLookup {
    client: OpenWeatherClient,
    cache: WeatherCache,
    ttl: Duration,
    not_found_ttl: Duration,
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
        }
    }

    /// The current weather at `place`, from the cache when it holds a fresh answer.
    ///
    /// A miss asks upstream and stores the answer for the TTL. "Place not found" is stored too,
    /// briefly, and still answers [`UpstreamError::PlaceNotFound`]; other upstream errors are
    /// never cached. Redis being down makes every lookup a miss, nothing worse.
    #[tracing::instrument(name = "lookup.look_up", skip(self))]
    pub async fn look_up(
        &self,
        place: &Place,
        lang: &Language,
    ) -> Result<LookedUpWeather, UpstreamError> {
        let key = self.cache.key(place, lang);
        match self.cache.get(&key).await.as_deref() {
            Some(CachedAnswer::Weather(weather)) => {
                let age_s = (Utc::now() - weather.fetched_at).num_seconds().max(0) as u64;
                // Redis expires the key on time; this guards the in-memory copy and clock skew.
                if age_s < self.ttl.as_secs() {
                    let cache = CacheInfo {
                        status: CacheStatus::Hit,
                        age_s,
                        ttl_s: self.ttl.as_secs() - age_s,
                    };
                    return Ok(LookedUpWeather {
                        weather: Weather::clone(weather),
                        cache,
                    });
                }
            }
            Some(CachedAnswer::NotFound) => return Err(UpstreamError::PlaceNotFound),
            None => {}
        }

        match self.client.fetch_current(place, lang).await {
            Ok(weather) => {
                // A clone on the miss path only, which also waits for upstream.
                let answer = CachedAnswer::Weather(Box::new(weather.clone()));
                self.cache.set(&key, answer, self.ttl).await;
                let cache = CacheInfo {
                    status: CacheStatus::Miss,
                    age_s: 0,
                    ttl_s: self.ttl.as_secs(),
                };
                Ok(LookedUpWeather { weather, cache })
            }
            Err(UpstreamError::PlaceNotFound) => {
                self.cache
                    .set(&key, CachedAnswer::NotFound, self.not_found_ttl)
                    .await;
                Err(UpstreamError::PlaceNotFound)
            }
            Err(other) => Err(other),
        }
    }

    /// The cache, for readiness checks.
    pub fn cache(&self) -> &WeatherCache {
        &self.cache
    }
}
