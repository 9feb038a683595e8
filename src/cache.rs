//! The weather cache in Redis, shared by every instance: versioned keys, `SET … EX`, and an
//! outage treated as a miss. (The one-second copy in process memory is the lookup's: see
//! `crate::lookup`.)

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{Language, Place, Weather};
use crate::shared_redis::{RedisUnavailable, SharedRedis};

/// What the cache knows about one place.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CachedAnswer {
    /// Upstream's weather, in metric units, with its `fetched_at`.
    Weather(Box<Weather>),
    /// Upstream said the place does not exist (remembered for at most a minute).
    NotFound,
}

/// A Redis-backed cache of upstream answers, shared by all workers (it is cheap to clone).
///
/// Keys look like `weatherlog:v1:weather:city:london,gb:en`: prefix, schema version, place and
/// language. Units are not in the key: we always fetch metric and convert locally.
#[derive(Clone)]
pub struct WeatherCache {
    redis: SharedRedis,
}

impl WeatherCache {
    pub fn new(redis: SharedRedis) -> Self {
        Self { redis }
    }

    /// The Redis key for a place and language.
    pub fn key(&self, place: &Place, lang: &Language) -> String {
        self.redis.key(
            "weather",
            &format!("{}:{}", place.cache_key(), lang.as_str()),
        )
    }

    /// Reads a cached answer from Redis. Redis being down, or a value that no longer decodes, is
    /// a miss (`None`); the cause is logged, never returned.
    #[tracing::instrument(name = "cache.get", skip(self))]
    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        let raw: Option<String> = self.redis.query(redis::cmd("GET").arg(key)).await.ok()?;
        match serde_json::from_str::<CachedAnswer>(&raw?) {
            Ok(answer) => Some(answer),
            Err(err) => {
                tracing::warn!(error = %err, "cached value does not decode; treating it as a miss");
                None
            }
        }
    }

    /// Stores an answer for `ttl` with one `SET key value EX ttl`, so a key never lives without
    /// its expiry. A Redis failure is logged and otherwise ignored: the caller already has its
    /// answer.
    #[tracing::instrument(name = "cache.set", skip(self, answer))]
    pub async fn set(&self, key: &str, answer: &CachedAnswer, ttl: Duration) {
        let value = match serde_json::to_string(answer) {
            Ok(value) => value,
            Err(err) => {
                tracing::error!(error = %err, "could not encode a cache entry");
                return;
            }
        };
        let command = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .to_owned();
        let _: Result<(), _> = self.redis.query(&command).await;
    }

    /// Deletes this service's cached answers (of this schema version: older ones were written
    /// with their expiry and go by themselves): all of them, or those of one place in every
    /// language. `SCAN` walks the keyspace in steps and `UNLINK` frees the memory in the
    /// background, so Redis keeps serving; keys of other applications sharing the Redis, and
    /// this service's budget, pause and locks, are left alone. Returns how many keys went.
    ///
    /// Errors: Redis unavailable (some keys may already be gone).
    pub async fn purge(&self, place: Option<&Place>) -> Result<u64, RedisUnavailable> {
        let answers = self.redis.key("weather", "");
        let (pattern, place_prefix) = match place {
            // A city name may hold a `:` itself, so `london:*` would also match the place
            // `london:x`; the language, last, never does: keep keys whose rest has no `:`.
            Some(place) => {
                let place_prefix = format!("{answers}{}:", place.cache_key());
                (
                    format!("{}*", glob_escape(&place_prefix)),
                    Some(place_prefix),
                )
            }
            None => (format!("{}*", glob_escape(&answers)), None),
        };
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, mut keys): (u64, Vec<String>) = self
                .redis
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            if let Some(place_prefix) = &place_prefix {
                keys.retain(|key| {
                    key.strip_prefix(place_prefix.as_str())
                        .is_some_and(|lang| !lang.contains(':'))
                });
            }
            if !keys.is_empty() {
                deleted += self
                    .redis
                    .query::<u64>(redis::cmd("UNLINK").arg(&keys))
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// The Redis connection, for readiness checks.
    pub fn redis(&self) -> &SharedRedis {
        &self.redis
    }
}

/// `text` with the characters that `SCAN MATCH` patterns give a meaning (`* ? [ ] \`)
/// escaped, so a prefix or a city name matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_match_only_themselves() {
        assert_eq!(glob_escape("city:a*b?[c]\\d"), "city:a\\*b\\?\\[c\\]\\\\d");
        assert_eq!(glob_escape("weatherlog"), "weatherlog");
    }
}
