//! The one Redis connection every instance-shared piece uses (the answer cache, the fetch lock,
//! the upstream's call budget and pause): a reconnecting connection manager, the key namespace,
//! and the outage back-off, so a Redis that is down costs one timeout a second, not one per
//! command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError, ScriptInvocation};

use crate::prometheus;

/// Bumped whenever the shape of what we store changes, so old entries are simply never read
/// again.
pub const SCHEMA_VERSION: &str = "v1";
/// How long one Redis command may take before we give up on it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After Redis was unreachable, how long commands skip it before trying it again.
const OUTAGE_BACKOFF: Duration = Duration::from_secs(1);

/// Why a Redis command gave no answer. Callers fall back to what works without Redis.
#[derive(Debug, thiserror::Error)]
pub enum RedisUnavailable {
    #[error("Redis was unreachable a moment ago; not asked again yet")]
    BackingOff,
    #[error("Redis failed: {0}")]
    Failed(#[from] RedisError),
}

/// A shared, cheap-to-clone handle on Redis.
#[derive(Clone)]
pub struct SharedRedis {
    connection: ConnectionManager,
    prefix: Arc<str>,
    /// Monotonic milliseconds (since `started`) until which Redis is skipped; 0 when healthy.
    skip_until_ms: Arc<AtomicU64>,
    started: Instant,
}

impl SharedRedis {
    /// Prepares the connection without connecting: Redis may be down at start-up, and the
    /// connection manager connects (and later reconnects) on demand.
    ///
    /// Errors: a malformed `redis_url`.
    pub fn new(redis_url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            prefix: prefix.into(),
            skip_until_ms: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
        })
    }

    /// A key in this service's namespace: `<prefix>:v1:<kind>:<rest>`, e.g.
    /// `weatherlog:v1:weather:city:london,gb:en`.
    pub fn key(&self, kind: &str, rest: &str) -> String {
        format!("{}:{SCHEMA_VERSION}:{kind}:{rest}", self.prefix)
    }

    /// The key prefix every key of this service starts with (`REDIS_KEY_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs one command. Skipped while backing off after an outage; a failure is logged here.
    pub async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, RedisUnavailable> {
        self.run(|mut connection| async move { command.query_async(&mut connection).await })
            .await
    }

    /// Runs a pipeline (`atomic()` makes it a MULTI/EXEC transaction), with the same rules.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisUnavailable> {
        self.run(|mut connection| async move { pipeline.query_async(&mut connection).await })
            .await
    }

    /// Runs a Lua script (atomic on the server), with the same rules.
    pub async fn eval<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, RedisUnavailable> {
        self.run(|mut connection| async move { script.invoke_async(&mut connection).await })
            .await
    }

    /// The rules every command follows: skipped while backing off, failures noted.
    async fn run<T, F, Fut>(&self, send: F) -> Result<T, RedisUnavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.in_outage() {
            return Err(RedisUnavailable::BackingOff);
        }
        send(self.connection.clone()).await.map_err(|err| {
            self.note_failure(&err);
            RedisUnavailable::Failed(err)
        })
    }

    /// Sends `PING` and times the answer (for readiness). Always asks Redis, even in an outage,
    /// and ends the back-off when it answers.
    ///
    /// Errors: Redis unreachable, or no answer within 250 ms.
    pub async fn ping(&self) -> Result<Duration, RedisError> {
        let started = Instant::now();
        let mut connection = self.connection.clone();
        let pong: redis::RedisResult<String> =
            redis::cmd("PING").query_async(&mut connection).await;
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

    fn note_failure(&self, err: &RedisError) {
        prometheus::store_error("redis");
        // Only a Redis we cannot reach is an outage. An error reply about one key (WRONGTYPE
        // after someone stored a list there) concerns that key alone: backing off would switch
        // Redis off for every place, and the SET that repairs the key would be skipped.
        let unreachable = err.is_io_error()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal();
        if unreachable {
            tracing::warn!(error = %err, "Redis unavailable; working without it for a second");
            let until = self.now_ms() + OUTAGE_BACKOFF.as_millis() as u64;
            self.skip_until_ms.store(until.max(1), Ordering::Relaxed);
        } else {
            tracing::warn!(error = %err, "Redis refused a command");
        }
    }
}
