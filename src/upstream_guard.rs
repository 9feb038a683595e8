//! Protects the metered upstream: a call budget per minute and per day that every replica
//! shares through Redis, counted in process memory while Redis is down.
//!
//! The counters are fixed windows aligned to the UTC clock (`<prefix>:v1:budget:minute:<n>`,
//! `…:day:<n>`). One Lua script checks both and, only when both allow the call, increments
//! them and gives a new counter its expiry in the same step: Redis runs a script atomically,
//! so two replicas can never both take the last call of a window.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use redis::Script;

use crate::openweather::UpstreamError;
use crate::prometheus;
use crate::shared_redis::SharedRedis;

const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_DAY: i64 = 86_400;

/// `KEYS[1]` the minute counter, `KEYS[2]` the day counter; `ARGV[1]` calls per minute,
/// `ARGV[2]` calls per day (0: no cap), `ARGV[3]`/`ARGV[4]` their lifetimes in ms. Returns
/// `{1, minute, day}` when the call may go ahead (counted), `{0, minute, day}` when not.
const TAKE_A_CALL: &str = r#"
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local per_day = tonumber(ARGV[2])
if minute >= tonumber(ARGV[1]) or (per_day > 0 and day >= per_day) then
    return {0, minute, day}
end
minute = redis.call('INCR', KEYS[1])
if minute == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
day = redis.call('INCR', KEYS[2])
if day == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {1, minute, day}
"#;

/// How many calls the current windows have used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetUsage {
    pub calls_this_minute: u64,
    pub calls_today: u64,
}

/// The call budget: `UPSTREAM_CALLS_PER_MINUTE` and `UPSTREAM_CALLS_PER_DAY`.
#[derive(Clone)]
pub struct CallBudget {
    redis: SharedRedis,
    per_minute: u64,
    /// `0`: no daily cap.
    per_day: u64,
    /// The same windows, counted here while Redis is down.
    local: Arc<Mutex<LocalWindows>>,
}

impl CallBudget {
    /// The budget reports itself whole in `weatherlog_upstream_budget_remaining` until its
    /// first call (call [`crate::prometheus::install`] first).
    pub fn new(redis: SharedRedis, per_minute: u64, per_day: u64) -> Self {
        let budget = Self {
            redis,
            per_minute,
            per_day,
            local: Arc::default(),
        };
        budget.report_remaining(BudgetUsage::default());
        budget
    }

    /// The limits: calls per minute, and per day (`0`: none).
    pub fn limits(&self) -> (u64, u64) {
        (self.per_minute, self.per_day)
    }

    /// Takes one call from the budget, or says when the exhausted window ends.
    ///
    /// Errors: [`UpstreamError::BudgetExhausted`] with the seconds until a call is allowed.
    pub async fn take_a_call(&self) -> Result<BudgetUsage, UpstreamError> {
        let windows = Windows::at(Utc::now().timestamp());
        let [minute, day] = self.counters(windows);
        let script = Script::new(TAKE_A_CALL);
        let mut invocation = script.key(minute);
        invocation
            .key(day)
            .arg(self.per_minute)
            .arg(self.per_day)
            // A second of slack past each window's end, for clocks a little apart.
            .arg((windows.minute_left_s + 1) * 1000)
            .arg((windows.day_left_s + 1) * 1000);
        let (allowed, usage) = match self.redis.eval::<(u8, u64, u64)>(&invocation).await {
            Ok((allowed, minute, day)) => (
                allowed == 1,
                BudgetUsage {
                    calls_this_minute: minute,
                    calls_today: day,
                },
            ),
            Err(_) => self.take_locally(windows),
        };
        self.report_remaining(usage);
        if allowed {
            Ok(usage)
        } else {
            Err(UpstreamError::BudgetExhausted {
                retry_after_s: self.retry_after_s(usage, windows),
            })
        }
    }

    /// The calls the current windows have used (for readiness).
    pub async fn usage(&self) -> BudgetUsage {
        let windows = Windows::at(Utc::now().timestamp());
        let keys = self.counters(windows);
        match self
            .redis
            .query::<(Option<u64>, Option<u64>)>(redis::cmd("MGET").arg(&keys))
            .await
        {
            Ok((minute, day)) => BudgetUsage {
                calls_this_minute: minute.unwrap_or(0),
                calls_today: day.unwrap_or(0),
            },
            Err(_) => self.local().usage(windows),
        }
    }

    /// Sets the `weatherlog_upstream_budget_remaining` gauges from the calls used so far (no
    /// daily cap: `+Inf` for the day).
    fn report_remaining(&self, usage: BudgetUsage) {
        let minute = self.per_minute.saturating_sub(usage.calls_this_minute);
        prometheus::upstream_budget_remaining("minute", Some(minute));
        let day = (self.per_day > 0).then(|| self.per_day.saturating_sub(usage.calls_today));
        prometheus::upstream_budget_remaining("day", day);
    }

    /// The Redis keys of the minute's and the day's counters.
    fn counters(&self, windows: Windows) -> [String; 2] {
        [
            self.redis
                .key("budget", &format!("minute:{}", windows.minute)),
            self.redis.key("budget", &format!("day:{}", windows.day)),
        ]
    }

    /// Whether the current windows have no call left.
    pub fn is_exhausted(&self, usage: BudgetUsage) -> bool {
        usage.calls_this_minute >= self.per_minute
            || (self.per_day > 0 && usage.calls_today >= self.per_day)
    }

    fn take_locally(&self, windows: Windows) -> (bool, BudgetUsage) {
        let mut local = self.local();
        let usage = local.usage(windows);
        if self.is_exhausted(usage) {
            return (false, usage);
        }
        (true, local.count(windows))
    }

    fn local(&self) -> std::sync::MutexGuard<'_, LocalWindows> {
        // A panic elsewhere cannot leave two counters inconsistent: keep counting.
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seconds until the exhausted window (the day's when both are) ends.
    fn retry_after_s(&self, usage: BudgetUsage, windows: Windows) -> u64 {
        let day_exhausted = self.per_day > 0 && usage.calls_today >= self.per_day;
        let left = if day_exhausted {
            windows.day_left_s
        } else {
            windows.minute_left_s
        };
        left.max(1) as u64
    }
}

/// The windows a moment falls in (index since the epoch) and the seconds left in each.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Windows {
    minute: i64,
    day: i64,
    minute_left_s: i64,
    day_left_s: i64,
}

impl Windows {
    fn at(unix_s: i64) -> Self {
        Self {
            minute: unix_s.div_euclid(SECONDS_PER_MINUTE),
            day: unix_s.div_euclid(SECONDS_PER_DAY),
            minute_left_s: SECONDS_PER_MINUTE - unix_s.rem_euclid(SECONDS_PER_MINUTE),
            day_left_s: SECONDS_PER_DAY - unix_s.rem_euclid(SECONDS_PER_DAY),
        }
    }
}

/// The budget's windows counted in process memory.
#[derive(Debug, Default)]
struct LocalWindows {
    minute: i64,
    minute_calls: u64,
    day: i64,
    day_calls: u64,
}

impl LocalWindows {
    fn usage(&mut self, windows: Windows) -> BudgetUsage {
        if self.minute != windows.minute {
            (self.minute, self.minute_calls) = (windows.minute, 0);
        }
        if self.day != windows.day {
            (self.day, self.day_calls) = (windows.day, 0);
        }
        BudgetUsage {
            calls_this_minute: self.minute_calls,
            calls_today: self.day_calls,
        }
    }

    fn count(&mut self, windows: Windows) -> BudgetUsage {
        self.usage(windows);
        self.minute_calls += 1;
        self.day_calls += 1;
        self.usage(windows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_utc_clock() {
        // 2026-12-01T10:16:59Z
        let at = Windows::at(1_796_120_219);
        assert_eq!(at.minute_left_s, 1);
        assert_eq!(at.day_left_s, 86_400 - (10 * 3600 + 16 * 60 + 59));
        assert_eq!(Windows::at(1_796_120_220).minute, at.minute + 1);
    }

    #[test]
    fn local_counts_start_over_in_a_new_window() {
        let mut local = LocalWindows::default();
        let first = Windows::at(1_796_120_219);
        local.count(first);
        local.count(first);
        assert_eq!(local.usage(first).calls_this_minute, 2);
        let next_minute = Windows::at(1_796_120_220);
        assert_eq!(
            local.usage(next_minute),
            BudgetUsage {
                calls_this_minute: 0,
                calls_today: 2
            }
        );
    }
}
