//! How upstream has been doing, for readiness: when it last answered, when it last failed and
//! how. Kept in one Redis hash (`<prefix>:v1:upstream:health`), so every replica reports what
//! any of them saw; a copy in process memory stands in while Redis is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};

use crate::openweather::UpstreamError;
use crate::shared_redis::SharedRedis;

/// How long the record is kept after the last call: long enough to tell an operator about
/// yesterday's outage, short enough not to linger forever.
const KEPT_FOR_S: u64 = 7 * 86_400;

/// What the last calls said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamRecord {
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// How the last failure went: `timeout`, `rate_limited`, `key_rejected` or `error`.
    pub last_failure: Option<String>,
}

impl UpstreamRecord {
    /// Whether the last call failed.
    pub fn is_failing(&self) -> bool {
        match (self.last_failure_at, self.last_success_at) {
            (Some(failure), Some(success)) => failure > success,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// The record of upstream's answers.
#[derive(Clone)]
pub struct UpstreamHealth {
    redis: SharedRedis,
    local: Arc<Mutex<UpstreamRecord>>,
}

impl UpstreamHealth {
    pub fn new(redis: SharedRedis) -> Self {
        Self {
            redis,
            local: Arc::default(),
        }
    }

    fn key(&self) -> String {
        self.redis.key("upstream", "health")
    }

    /// Records the outcome of one call. "Place not found" is an answer, so it counts as success.
    pub async fn note(&self, outcome: Result<(), &UpstreamError>) {
        // Milliseconds, as every other time the API shows.
        let now = Utc::now().trunc_subsecs(3);
        let fields: Vec<(&str, String)> = match outcome {
            Ok(()) | Err(UpstreamError::PlaceNotFound) => {
                self.local().last_success_at = Some(now);
                vec![("last_success_at", now.to_rfc3339())]
            }
            Err(err) => {
                let kind = failure_kind(err);
                let mut local = self.local();
                local.last_failure_at = Some(now);
                local.last_failure = Some(kind.to_owned());
                vec![
                    ("last_failure_at", now.to_rfc3339()),
                    ("last_failure", kind.to_owned()),
                ]
            }
        };
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        pipeline.cmd("HSET").arg(self.key()).arg(fields).ignore();
        pipeline
            .cmd("EXPIRE")
            .arg(self.key())
            .arg(KEPT_FOR_S)
            .ignore();
        let _: Result<(), _> = self.redis.query_pipeline(&pipeline).await;
    }

    /// The record all replicas share, or this process's own while Redis is down.
    pub async fn read(&self) -> UpstreamRecord {
        let shared = self
            .redis
            .query::<HashMap<String, String>>(redis::cmd("HGETALL").arg(self.key()))
            .await;
        match shared {
            Ok(fields) => {
                let time = |name: &str| {
                    fields
                        .get(name)
                        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                        .map(|at| at.with_timezone(&Utc))
                };
                UpstreamRecord {
                    last_success_at: time("last_success_at"),
                    last_failure_at: time("last_failure_at"),
                    last_failure: fields.get("last_failure").cloned(),
                }
            }
            Err(_) => self.local().clone(),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, UpstreamRecord> {
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The name of a failure, as readiness shows it.
fn failure_kind(err: &UpstreamError) -> &'static str {
    match err {
        UpstreamError::Timeout(_) => "timeout",
        UpstreamError::RateLimited { .. } => "rate_limited",
        UpstreamError::KeyRejected => "key_rejected",
        UpstreamError::Unreachable => "unreachable",
        _ => "error",
    }
}

/// Upstream's state as readiness names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamState {
    /// The last call was answered.
    Ok,
    /// No call yet.
    Unknown,
    /// No API key is configured: no call can be made.
    NoKey,
    /// Upstream rejected the key; calls are paused.
    KeyRejected,
    /// Upstream answered 429; calls are paused until its `Retry-After`.
    RateLimited,
    /// Our own call budget is used up for this minute or day.
    BudgetExhausted,
    /// The last call failed (timeout, 5xx, an answer we could not read).
    Failing,
}

impl UpstreamState {
    /// The state from what we know, the most pressing first.
    pub fn from_facts(
        has_key: bool,
        pause: Option<crate::upstream_pause::PauseReason>,
        budget_exhausted: bool,
        record: &UpstreamRecord,
    ) -> Self {
        use crate::upstream_pause::PauseReason;
        match (has_key, pause) {
            (false, _) => UpstreamState::NoKey,
            (true, Some(PauseReason::KeyRejected)) => UpstreamState::KeyRejected,
            (true, Some(PauseReason::RateLimited)) => UpstreamState::RateLimited,
            (true, None) if budget_exhausted => UpstreamState::BudgetExhausted,
            (true, None) if record.is_failing() => UpstreamState::Failing,
            (true, None) if record.last_success_at.is_some() => UpstreamState::Ok,
            (true, None) => UpstreamState::Unknown,
        }
    }

    /// The name readiness shows.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Ok => "ok",
            UpstreamState::Unknown => "unknown",
            UpstreamState::NoKey => "no_key",
            UpstreamState::KeyRejected => "key_rejected",
            UpstreamState::RateLimited => "rate_limited",
            UpstreamState::BudgetExhausted => "budget_exhausted",
            UpstreamState::Failing => "failing",
        }
    }

    /// Whether an operator should look: anything but `ok` and `unknown`.
    pub fn is_degraded(self) -> bool {
        !matches!(self, UpstreamState::Ok | UpstreamState::Unknown)
    }
}

/// Everything readiness reports about upstream.
#[derive(Clone, Debug)]
pub struct UpstreamStatus {
    pub provider: &'static str,
    pub state: UpstreamState,
    pub record: UpstreamRecord,
    pub usage: crate::upstream_guard::BudgetUsage,
    /// Calls per minute, and per day (`0`: no daily cap).
    pub limits: (u64, u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream_pause::PauseReason;

    #[test]
    fn the_most_pressing_fact_names_the_state() {
        let failed = UpstreamRecord {
            last_failure_at: Some(Utc::now()),
            ..UpstreamRecord::default()
        };
        let fine = UpstreamRecord {
            last_success_at: Some(Utc::now()),
            ..UpstreamRecord::default()
        };
        let state = UpstreamState::from_facts;
        assert_eq!(state(false, None, false, &fine), UpstreamState::NoKey);
        assert_eq!(
            state(true, Some(PauseReason::KeyRejected), false, &fine),
            UpstreamState::KeyRejected
        );
        assert_eq!(
            state(true, Some(PauseReason::RateLimited), true, &fine),
            UpstreamState::RateLimited
        );
        assert_eq!(
            state(true, None, true, &fine),
            UpstreamState::BudgetExhausted
        );
        assert_eq!(state(true, None, false, &failed), UpstreamState::Failing);
        assert_eq!(state(true, None, false, &fine), UpstreamState::Ok);
        assert_eq!(
            state(true, None, false, &UpstreamRecord::default()),
            UpstreamState::Unknown
        );
    }
}
