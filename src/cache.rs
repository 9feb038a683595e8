//! The weather cache in Redis, shared by every instance: versioned keys, `SET … EX`, and an
//! outage treated as a miss. (The one-second copy in process memory is the lookup's: see
//! `crate::lookup`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::domain::{Language, Place, Weather};

/// Bumped whenever the cached JSON changes shape, so old entries are simply never read again.
const SCHEMA_VERSION: &str = "v1";
/// How long one Redis command may take before we give up on it and treat it as a miss.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a Redis failure, how long lookups skip Redis before trying it again, so an outage costs
/// one timeout per second rather than one per request.
const OUTAGE_BACKOFF: Duration = Duration::from_secs(1);

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
    redis: ConnectionManager,
    prefix: Arc<str>,
    /// Monotonic milliseconds (since `started`) until which Redis is skipped; 0 when healthy.
    skip_until_ms: Arc<AtomicU64>,
    started: Instant,
}

impl WeatherCache {
    /// Prepares the cache without connecting: Redis may be down at start-up, and the connection
    /// manager connects (and later reconnects) on demand.
    ///
    /// Errors: a malformed `redis_url`.
    pub fn new(redis_url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        Ok(Self {
            redis: ConnectionManager::new_lazy_with_config(client, config)?,
            prefix: prefix.into(),
            skip_until_ms: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
        })
    }

    /// The Redis key for a place and language.
    pub fn key(&self, place: &Place, lang: &Language) -> String {
        format!(
            "{}:{SCHEMA_VERSION}:weather:{}:{}",
            self.prefix,
            place.cache_key(),
            lang.as_str()
        )
    }

    /// Reads a cached answer from Redis. Redis being down, or a value that no longer decodes, is
    /// a miss (`None`); the cause is logged, never returned.
    #[tracing::instrument(name = "cache.get", skip(self))]
    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        if self.in_outage() {
            return None;
        }
        let mut redis = self.redis.clone();
        let raw: Option<String> = match redis.get(key).await {
            Ok(raw) => raw,
            Err(err) => {
                self.note_failure(&err);
                return None;
            }
        };
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
        if self.in_outage() {
            return;
        }
        let value = match serde_json::to_string(answer) {
            Ok(value) => value,
            Err(err) => {
                tracing::error!(error = %err, "could not encode a cache entry");
                return;
            }
        };
        let mut redis = self.redis.clone();
        let result: redis::RedisResult<()> = redis.set_ex(key, value, ttl.as_secs().max(1)).await;
        if let Err(err) = result {
            self.note_failure(&err);
        }
    }

    /// Sends `PING` and times the answer (for readiness). Always asks Redis, even in an outage.
    ///
    /// Errors: Redis unreachable, or no answer within 250 ms.
    pub async fn ping(&self) -> Result<Duration, redis::RedisError> {
        let started = Instant::now();
        let mut redis = self.redis.clone();
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut redis).await;
        match pong {
            Ok(_) => {
                self.skip_until_ms.store(0, Ordering::Relaxed);
                Ok(started.elapsed())
            }
            Err(err) => {
                self.note_failure(&err);
                Err(err)
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn in_outage(&self) -> bool {
        let until = self.skip_until_ms.load(Ordering::Relaxed);
        until != 0 && self.now_ms() < until
    }

    fn note_failure(&self, err: &redis::RedisError) {
        // Only a Redis we cannot reach is an outage. An error reply about one key (WRONGTYPE
        // after someone stored a list there) is a miss for that key alone: backing off would
        // switch the cache off for every place, and the SET that repairs the key would be
        // skipped.
        let unreachable = err.is_io_error()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal();
        if !unreachable {
            tracing::warn!(error = %err, "Redis refused a cache command; treating it as a miss");
            return;
        }
        tracing::warn!(error = %err, "Redis unavailable; serving without the cache for a second");
        let until = self.now_ms() + OUTAGE_BACKOFF.as_millis() as u64;
        self.skip_until_ms.store(until.max(1), Ordering::Relaxed);
    }
}
