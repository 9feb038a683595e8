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

use crate::openweather::UpstreamError;
use crate::shared_redis::SharedRedis;

/// How a lock's value starts while the holder's call failed a moment ago; the rest says how
/// (`failed:rate_limited:30`), so the waiters answer with the same problem.
const FAILED: &str = "failed:";
/// How long the `failed` marker stays.
const FAILED_MARKER: Duration = Duration::from_secs(1);

/// Deletes the lock if it still holds our token: `KEYS[1]` the lock, `ARGV[1]` the token.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Takes over a `failed` marker: `ARGV[1]` the marker's start, `ARGV[2]` our token, `ARGV[3]`
/// the lock's lifetime in ms.
const TAKE_OVER: &str = r#"
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then
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
    /// Another instance's call for this key failed less than a second ago, with this error.
    RecentlyFailed(UpstreamError),
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
                Acquired::RecentlyFailed(_) if first_try => self.take_over(key, token).await,
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
            Ok(Some(value)) if value.starts_with(FAILED) => {
                Acquired::RecentlyFailed(from_marker(&value[FAILED.len()..]))
            }
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

    /// Releases a lock after a call that failed with `err`, leaving the `failed` marker (which
    /// says how) for a second.
    pub async fn release_failed(&self, guard: LockGuard, err: &UpstreamError) {
        let script = Script::new(MARK_FAILED);
        let mut invocation = script.key(&guard.key);
        invocation
            .arg(&guard.token)
            .arg(format!("{FAILED}{}", marker(err)))
            .arg(FAILED_MARKER.as_millis() as u64);
        let _: Result<redis::Value, _> = self.redis.eval(&invocation).await;
    }
}

/// How a failed call is written into the `failed` marker.
fn marker(err: &UpstreamError) -> String {
    match err {
        UpstreamError::Timeout(timeout) => format!("timeout:{}", timeout.as_millis()),
        UpstreamError::RateLimited { retry_after_s } => format!("rate_limited:{retry_after_s}"),
        UpstreamError::BudgetExhausted { retry_after_s } => {
            format!("budget_exhausted:{retry_after_s}")
        }
        UpstreamError::KeyRejected => "key_rejected".into(),
        UpstreamError::NoApiKey => "no_api_key".into(),
        UpstreamError::Unreachable => "unreachable".into(),
        UpstreamError::PlaceNotFound | UpstreamError::Failed(_) => "error".into(),
    }
}

/// The error a `failed` marker describes; anything unreadable is a plain failure.
fn from_marker(text: &str) -> UpstreamError {
    let (kind, number) = text.split_once(':').unwrap_or((text, ""));
    let number: Option<u64> = number.parse().ok();
    match (kind, number) {
        ("timeout", Some(ms)) => UpstreamError::Timeout(Duration::from_millis(ms)),
        ("rate_limited", Some(retry_after_s)) => UpstreamError::RateLimited { retry_after_s },
        ("budget_exhausted", Some(retry_after_s)) => {
            UpstreamError::BudgetExhausted { retry_after_s }
        }
        ("key_rejected", _) => UpstreamError::KeyRejected,
        ("no_api_key", _) => UpstreamError::NoApiKey,
        ("unreachable", _) => UpstreamError::Unreachable,
        _ => UpstreamError::Failed("another instance's call failed a moment ago".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_marker_carries_the_kind_of_failure() {
        let failures = [
            UpstreamError::Timeout(Duration::from_millis(1500)),
            UpstreamError::RateLimited { retry_after_s: 30 },
            UpstreamError::BudgetExhausted { retry_after_s: 12 },
            UpstreamError::Unreachable,
            UpstreamError::KeyRejected,
            UpstreamError::NoApiKey,
        ];
        for err in failures {
            assert_eq!(
                format!("{:?}", from_marker(&marker(&err))),
                format!("{err:?}")
            );
        }
        assert!(matches!(from_marker("nonsense"), UpstreamError::Failed(_)));
    }
}
