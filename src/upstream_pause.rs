//! Honouring upstream's refusals: after a 429 no call goes out until upstream's `Retry-After`
//! has passed, and after a 401 (key rejected) none for a minute. The pause is one Redis key
//! (`<prefix>:v1:upstream:pause`, expiring when the pause ends), so every replica keeps it; a
//! copy in process memory keeps it while Redis is down.
//!
//! Calling on through a refusal is how keys get suspended for longer: the pause turns a burst of
//! refused calls into none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::openweather::UpstreamError;
use crate::shared_redis::SharedRedis;

/// How long no call goes out after upstream rejected the key: a new key can take a while to
/// work, and hammering a rejected one helps nobody.
pub const KEY_REJECTED_PAUSE: Duration = Duration::from_secs(60);
/// Longest pause we keep, whatever `Retry-After` says.
const LONGEST_PAUSE: Duration = Duration::from_secs(crate::openweather::MAX_RETRY_AFTER_S);

/// Why calls are paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// Upstream answered 429.
    RateLimited,
    /// Upstream answered 401.
    KeyRejected,
}

/// A pause in force: why, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: PauseReason,
    pub until: DateTime<Utc>,
}

impl Pause {
    /// The error a caller gets instead of a call: the same problem as the refusal itself.
    pub fn as_error(&self) -> UpstreamError {
        match self.reason {
            PauseReason::KeyRejected => UpstreamError::KeyRejected,
            PauseReason::RateLimited => UpstreamError::RateLimited {
                retry_after_s: self.seconds_left(),
            },
        }
    }

    /// Whole seconds until the pause ends, at least 1.
    pub fn seconds_left(&self) -> u64 {
        let left = (self.until - Utc::now()).num_milliseconds().max(0) as u64;
        left.div_ceil(1000).max(1)
    }

    fn is_over(&self) -> bool {
        self.until <= Utc::now()
    }
}

/// The shared pause.
#[derive(Clone)]
pub struct RefusalPause {
    redis: SharedRedis,
    /// The last pause this process set, and whether Redis has it: one set while Redis was down
    /// holds here, and is handed to Redis once it answers again.
    local: Arc<Mutex<Option<(Pause, bool)>>>,
}

impl RefusalPause {
    pub fn new(redis: SharedRedis) -> Self {
        Self {
            redis,
            local: Arc::default(),
        }
    }

    fn key(&self) -> String {
        self.redis.key("upstream", "pause")
    }

    /// The pause in force, if any. Redis's, shared by the replicas; this process's own while
    /// Redis is down, or when Redis never got it (it was down when the pause began: then it
    /// gets it now).
    pub async fn current(&self) -> Option<Pause> {
        let shared = self
            .redis
            .query::<Option<String>>(redis::cmd("GET").arg(self.key()))
            .await;
        let local = *self.local();
        let local = local.filter(|(pause, _)| !pause.is_over());
        let pause = match (shared, local) {
            (Err(_), local) => local.map(|(pause, _)| pause),
            (Ok(_), Some((pause, false))) => {
                self.publish(pause).await;
                Some(pause)
            }
            (Ok(raw), _) => raw.and_then(|raw| serde_json::from_str::<Pause>(&raw).ok()),
        };
        pause.filter(|pause| !pause.is_over())
    }

    /// Starts a pause when `outcome` is a refusal (429 or 401); anything else changes nothing.
    pub async fn note(&self, outcome: Result<(), &UpstreamError>) {
        let (reason, length) = match outcome {
            Err(UpstreamError::RateLimited { retry_after_s }) => (
                PauseReason::RateLimited,
                Duration::from_secs(*retry_after_s),
            ),
            Err(UpstreamError::KeyRejected) => (PauseReason::KeyRejected, KEY_REJECTED_PAUSE),
            _ => return,
        };
        let length = length.clamp(Duration::from_secs(1), LONGEST_PAUSE);
        let pause = Pause {
            reason,
            until: Utc::now() + length,
        };
        tracing::warn!(
            ?reason,
            seconds = length.as_secs(),
            "pausing calls to upstream"
        );
        *self.local() = Some((pause, false));
        self.publish(pause).await;
    }

    /// Hands a pause to Redis, for the time it has left; remembers whether Redis took it.
    async fn publish(&self, pause: Pause) {
        let Ok(value) = serde_json::to_string(&pause) else {
            return;
        };
        let left_ms = (pause.until - Utc::now()).num_milliseconds().max(1);
        let command = redis::cmd("SET")
            .arg(self.key())
            .arg(value)
            .arg("PX")
            .arg(left_ms)
            .to_owned();
        if self.redis.query::<()>(&command).await.is_ok()
            && let Some((current, published)) = self.local().as_mut()
            && *current == pause
        {
            *published = true;
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Option<(Pause, bool)>> {
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
