//! Single-flight across replicas: before asking upstream about a key, an instance takes a short
//! lock on it in Redis (`SET <prefix>:v1:lock:<key> <token> NX PX <lifetime>`); the others wait
//! for the answer to appear in the cache instead of asking too.
//!
//! Only the owner releases its lock (a Lua script compares the random token first), a holder
//! that dies simply lets the lock expire, and a holder whose call failed leaves a one-second
//! `failed` marker: the instances that waited for that call give up instead of each trying
//! again at once, while a request that arrives afterwards may take the lock over and try. With
//! Redis down there is no lock, and the per-process single-flight of `crate::lookup` still
//! holds.

use std::time::Duration;

use redis::Script;

use crate::shared_redis::SharedRedis;

/// What a lock's value is while the holder's call failed a moment ago.
const FAILED: &str = "failed";
/// How long the `failed` marker stays.
const FAILED_MARKER: Duration = Duration::from_secs(1);

/// Deletes the lock if it still holds our token: `KEYS[1]` the lock, `ARGV[1]` the token.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Takes over a `failed` marker: `ARGV[1]` the marker, `ARGV[2]` our token, `ARGV[3]` the
/// lock's lifetime in ms.
const TAKE_OVER: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
"#;

/// Replaces our lock by the `failed` marker: `ARGV[1]` the token, `ARGV[2]` the marker, `ARGV[3]`
/// its lifetime in ms.
const MARK_FAILED: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 0
"#;

/// The outcome of trying to take the lock on a key.
#[derive(Debug)]
pub enum Acquired {
    /// We hold it; release it with this guard.
    Held(LockGuard),
    /// Another instance is asking upstream about this key right now.
    Busy,
    /// Another instance's call for this key failed less than a second ago.
    RecentlyFailed,
    /// Redis did not answer: go on without a lock.
    NoRedis,
}

/// Proof that we hold a lock: its key and our token.
#[derive(Debug)]
pub struct LockGuard {
    key: String,
    token: String,
}

/// Takes, releases and watches fetch locks.
#[derive(Clone)]
pub struct FetchLock {
    redis: SharedRedis,
    /// A little above the upstream timeout, so a live holder never loses its lock mid-call.
    lifetime: Duration,
}

impl FetchLock {
    /// `upstream_timeout` bounds one upstream call; locks live a little longer.
    pub fn new(redis: SharedRedis, upstream_timeout: Duration) -> Self {
        Self {
            redis,
            lifetime: upstream_timeout.saturating_add(Duration::from_millis(500)),
        }
    }

    fn lock_key(&self, cache_key: &str) -> String {
        self.redis.key("lock", cache_key)
    }

    /// Tries once to take the lock on `cache_key`. `first_try` says whether this caller has not
    /// waited for another's call yet: such a caller may take over a `failed` marker, since the
    /// failure it marks happened before the caller asked.
    pub async fn try_acquire(&self, cache_key: &str, first_try: bool) -> Acquired {
        let key = self.lock_key(cache_key);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let command = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(self.lifetime.as_millis() as u64)
            .to_owned();
        match self.redis.query::<Option<String>>(&command).await {
            Ok(Some(_)) => Acquired::Held(LockGuard { key, token }),
            Ok(None) => match self.state(cache_key).await {
                Acquired::RecentlyFailed if first_try => self.take_over(key, token).await,
                other => other,
            },
            Err(_) => Acquired::NoRedis,
        }
    }

    /// Replaces a `failed` marker by our lock, if it is still there.
    async fn take_over(&self, key: String, token: String) -> Acquired {
        let script = Script::new(TAKE_OVER);
        let mut invocation = script.key(&key);
        invocation
            .arg(FAILED)
            .arg(&token)
            .arg(self.lifetime.as_millis() as u64);
        match self.redis.eval::<Option<String>>(&invocation).await {
            Ok(Some(_)) => Acquired::Held(LockGuard { key, token }),
            Ok(None) => Acquired::Busy,
            Err(_) => Acquired::NoRedis,
        }
    }

    /// Whether the lock on `cache_key` is taken, and by a call that failed, without trying to
    /// take it.
    pub async fn peek(&self, cache_key: &str) -> Acquired {
        self.state(cache_key).await
    }

    /// Whether the lock on `cache_key` is taken, and by a call that failed.
    async fn state(&self, cache_key: &str) -> Acquired {
        let key = self.lock_key(cache_key);
        match self
            .redis
            .query::<Option<String>>(redis::cmd("GET").arg(&key))
            .await
        {
            Ok(Some(value)) if value == FAILED => Acquired::RecentlyFailed,
            Ok(Some(_)) => Acquired::Busy,
            // Released between our SET and GET: worth another try.
            Ok(None) => Acquired::Busy,
            Err(_) => Acquired::NoRedis,
        }
    }

    /// Releases a lock after a call whose answer is now in the cache.
    pub async fn release(&self, guard: LockGuard) {
        let script = Script::new(RELEASE);
        let mut invocation = script.key(&guard.key);
        invocation.arg(&guard.token);
        let _: Result<i64, _> = self.redis.eval(&invocation).await;
    }

    /// Releases a lock after a failed call, leaving the `failed` marker for a second.
    pub async fn release_failed(&self, guard: LockGuard) {
        let script = Script::new(MARK_FAILED);
        let mut invocation = script.key(&guard.key);
        invocation
            .arg(&guard.token)
            .arg(FAILED)
            .arg(FAILED_MARKER.as_millis() as u64);
        let _: Result<redis::Value, _> = self.redis.eval(&invocation).await;
    }
}
