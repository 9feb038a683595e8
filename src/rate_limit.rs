//! Inbound rate limiting: how many requests one client may make in a sliding minute, counted in
//! Redis so that every replica shares one limit, and counted in process memory while Redis is
//! down. It knows clients only as [`ClientKey`]s; working one out from a request, and saying the
//! outcome in HTTP, is `crate::middleware::rate_limit`'s job.
//!
//! The algorithm is the *sliding window counter* (Cloudflare, "How we built rate limiting
//! capable of scaling to millions of domains", 2017; also Alex Xu, *System Design Interview*,
//! ch. 4): two fixed one-minute windows per client, aligned to the UTC clock, whose counts give
//! the requests of the last 60 s as
//!
//! ```text
//! estimate = previous × (window − elapsed) / window + current
//! ```
//!
//! the previous window's count weighted by the share of it still inside the last 60 s, plus the
//! current window's count. A request is allowed while `estimate + 1 ≤ limit`. It is an estimate
//! (it assumes the previous window's requests came evenly), but it holds two counters per
//! client, has no burst at a window's edge as a fixed window has, and fits in one Lua script:
//! Redis runs a script atomically, so replicas checking the same client at once can never both
//! take its last request.
//!
//! Keys: `<prefix>:v1:ratelimit:<client>:<window>`, `<window>` the minute since the epoch, each
//! expiring two windows after its first request (it is read as the previous window for one
//! minute more), so a flood from many addresses leaves nothing behind in Redis.
//!
//! One round trip per request would make the check cost more than the cached lookup it guards,
//! so a replica takes a client's requests from Redis a few at a time when the client is busy (a
//! *lease*, as quota servers such as Google's Doorman hand out): the script counts the whole
//! lease at once, and only if it fits, so replicas together still never allow more than the
//! limit. A client that used up its last lease within a second gets one twice as large, up to
//! `MAX_LEASE` requests and a hundredth of the limit; a quiet client takes one at a time, as
//! before. A lease is usable for a second; what it did not use goes back to the counter that
//! counted it with the client's next check (in the same script), so a client that pauses now
//! and then loses nothing. Until then a replica holds what it took: up to `lease − 1`, and
//! for a client with many requests in flight when its lease runs out (each takes a lease, and
//! the new lease holds them all) up to a lease per request in flight, so that client may be
//! refused by other replicas a little early; never allowed more. When a Redis call fails,
//! every lease is dropped, since a Redis that comes back restarted has counters that never
//! counted them. A counter reset that no call saw fail (a `FLUSHDB`, an eviction) is the one
//! case where a give-back lowers what others counted, by at most what the lease held.
//!
//! While Redis is down each process limits on its own with a `governor` keyed limiter (GCRA:
//! `limit` requests at once, refilled evenly over a minute): the same limit per client, though per
//! replica. Never no limit, never "reject everything".

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use moka::ops::compute::Op;
use redis::Script;

use crate::shared_redis::SharedRedis;

/// The window of the limit: a minute, in milliseconds.
pub const WINDOW_MS: u64 = 60_000;
/// How long a window's counter lives in Redis: two windows (it is the previous window for the
/// next minute), and a second of slack for clocks a little apart.
const COUNTER_LIFETIME_MS: u64 = 2 * WINDOW_MS + 1000;
/// How many local checks pass between two prunings of the local limiter's clients.
const PRUNE_EVERY: u64 = 1024;
/// Most requests one lease holds (see the module's documentation).
const MAX_LEASE: u64 = 64;
/// How long a lease's requests stay usable by this process. It is remembered for as long as
/// its counter lives, so that what it did not use can be given back.
const LEASE_LIFETIME: Duration = Duration::from_secs(1);
/// Most clients with a lease in this process (each a few dozen bytes).
const MAX_LEASED_CLIENTS: u64 = 10_000;
/// Most clients the local limiter keeps. Past it (after pruning those whose state is as good as
/// new) it forgets them all: memory stays bounded whatever a flood of addresses does.
const MAX_LOCAL_CLIENTS: usize = 100_000;

/// `KEYS[1]` this window's counter, `KEYS[2]` the previous window's; `ARGV[1]` the limit,
/// `ARGV[2]` the window in ms, `ARGV[3]` the ms elapsed in this window, `ARGV[4]` a new counter's
/// lifetime in ms, `ARGV[5]` how many requests the lease wants, `ARGV[6]` and `ARGV[7]` how many
/// requests an earlier lease counted in this window and in the previous one and did not use
/// (given back first). Returns `{granted, current, previous}`: how many it got (as many as fit,
/// up to the number wanted; 0 when none fits), and the counters, `current` counting them. A
/// refused request is not counted, so a client that keeps trying still gets `limit` requests a
/// minute through.
const TAKE_REQUESTS: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
-- Never below zero, nor onto a counter that is gone (DECRBY would make one without expiry).
local back = math.min(tonumber(ARGV[6]), current)
if back > 0 then current = redis.call('DECRBY', KEYS[1], back) end
back = math.min(tonumber(ARGV[7]), previous)
if back > 0 then previous = redis.call('DECRBY', KEYS[2], back) end
local limit, window, elapsed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- The most n with previous * (window - elapsed) / window + current + n <= limit.
local room = math.floor((limit * window - previous * (window - elapsed)) / window) - current
local granted = math.min(tonumber(ARGV[5]), room)
if granted < 1 then
    return {0, current, previous}
end
current = redis.call('INCRBY', KEYS[1], granted)
if current == granted then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {granted, current, previous}
"#;

/// Hashed once: every request sends its SHA1 (`EVALSHA`), the body only after Redis forgot it.
static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_REQUESTS));

/// Who a request counts against: an IPv4 address, or the /64 network of an IPv6 address (one
/// subscriber is usually handed a whole /64, so a limit per IPv6 address would be no limit).
/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, how a dual-stack socket shows an IPv4
/// peer) counts as its IPv4 address.
///
/// Displays as it appears in Redis keys: `192.0.2.7`, `2001:db8:1:2::/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    /// The first 64 bits of the address.
    V6Net(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => ClientKey::V6Net((u128::from(v6) >> 64) as u64),
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::V4(v4) => write!(f, "{v4}"),
            ClientKey::V6Net(net) => write!(f, "{}/64", Ipv6Addr::from(u128::from(*net) << 64)),
        }
    }
}

/// What the limiter decided for one request, in the terms of the RateLimit fields
/// (draft-ietf-httpapi-ratelimit-headers-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead (it has been counted).
    pub allowed: bool,
    /// Requests per minute: `RATE_LIMIT_PER_MINUTE`, the policy's `q`.
    pub limit: u64,
    /// Requests the client may still make right now, after this one: the `r` parameter. `0`
    /// when refused.
    pub remaining: u64,
    /// Seconds until the client may make at least one request more than `remaining` says: the
    /// `t` parameter ("the number of seconds until additional quota ... is made available").
    /// With a sliding window, quota comes back gradually, so this is often short; `remaining`
    /// is back to `limit` only once the last request has left the window (up to two minutes).
    pub reset_s: u64,
    /// When refused: seconds until a request is allowed again, at least 1, and equal to
    /// `reset_s` (the draft: `Retry-After` must not be earlier than `t`). `0` when allowed.
    pub retry_after_s: u64,
}

/// The inbound rate limit: `RATE_LIMIT_PER_MINUTE` requests per client in a sliding minute.
/// Cheap to clone (the local fallback is shared).
#[derive(Clone)]
pub struct RequestLimiter {
    redis: SharedRedis,
    limit: NonZeroU32,
    /// The leases this process holds, by client: usable for [`LEASE_LIFETIME`], kept as long as
    /// their counters.
    leases: moka::sync::Cache<ClientKey, Arc<Lease>>,
    local: Arc<LocalLimiter>,
}

/// Requests of one client taken from Redis and not used yet.
#[derive(Debug)]
struct Lease {
    /// How many it held.
    size: u64,
    /// How many are left.
    left: AtomicU64,
    /// The decision for the request that took it: the RateLimit fields, as of then.
    decision: Decision,
    /// The window whose counter counted it.
    window: i64,
    taken: Instant,
}

impl Lease {
    fn is_usable(&self) -> bool {
        self.taken.elapsed() < LEASE_LIFETIME
    }

    /// Takes one request of the lease, and gives its decision, if one is left and the lease is
    /// still usable.
    fn take(&self) -> Option<Decision> {
        if !self.is_usable() {
            return None;
        }
        let before = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .ok()?;
        Some(Decision {
            // The requests left in Redis, and those left here.
            remaining: self.decision.remaining + before - 1,
            ..self.decision
        })
    }
}

impl RequestLimiter {
    /// A limiter of `per_minute` requests per client; `None` when `per_minute` is 0 (no limit).
    ///
    /// Panics: `per_minute` above `u32::MAX` (the settings allow at most a hundred million).
    pub fn new(redis: SharedRedis, per_minute: u64) -> Option<Self> {
        let per_minute = u32::try_from(per_minute).expect("RATE_LIMIT_PER_MINUTE fits in a u32");
        let limit = NonZeroU32::new(per_minute)?;
        Some(Self {
            redis,
            limit,
            leases: moka::sync::Cache::builder()
                .max_capacity(MAX_LEASED_CLIENTS)
                .time_to_live(Duration::from_millis(COUNTER_LIFETIME_MS))
                .build(),
            local: Arc::new(LocalLimiter::new(limit, MAX_LOCAL_CLIENTS)),
        })
    }

    /// Requests per minute.
    pub fn limit(&self) -> u64 {
        u64::from(self.limit.get())
    }

    /// Counts one request of `client` and decides it: from the client's lease in this process,
    /// else with one `EVALSHA` in Redis (which takes a new lease), or, when Redis fails or is
    /// backing off after an outage, with the local limiter. Never fails.
    pub async fn check(&self, client: ClientKey) -> Decision {
        let last_lease = self.leases.get(&client);
        if let Some(decision) = last_lease.as_ref().and_then(|lease| lease.take()) {
            return decision;
        }
        // On the heap: the script call's future is large, and inline every request answered
        // from a lease would carry, and copy, it.
        Box::pin(self.check_in_redis(client, last_lease)).await
    }

    /// Takes a new lease for `client` in Redis, giving back what `last_lease` did not use; the
    /// local limiter when Redis fails.
    async fn check_in_redis(&self, client: ClientKey, last_lease: Option<Arc<Lease>>) -> Decision {
        let now = Moment::at(Utc::now().timestamp_millis());
        let (mut wanted, mut back_now, mut back_before) = (1, 0, 0);
        if let Some(lease) = &last_lease {
            // Taken by this caller alone, so that two callers never give them back twice.
            let unused = lease.left.swap(0, Ordering::Relaxed);
            if lease.window == now.window {
                back_now = unused;
            } else if lease.window == now.window - 1 {
                back_before = unused;
            }
            // Used up within its lifetime: the client is busy, so twice as many this time.
            if unused == 0 && lease.is_usable() {
                wanted = (lease.size * 2).min(self.max_lease());
            }
        }
        let [current, previous] = self.counters(client, now);
        let mut invocation = SCRIPT.key(current);
        invocation
            .key(previous)
            .arg(self.limit())
            .arg(WINDOW_MS)
            .arg(now.elapsed_ms)
            .arg(COUNTER_LIFETIME_MS)
            .arg(wanted)
            .arg(back_now)
            .arg(back_before);
        match self.redis.eval::<(u64, u64, u64)>(&invocation).await {
            Ok((granted, current, previous)) => {
                let decision = Counts {
                    current,
                    previous,
                    elapsed_ms: now.elapsed_ms,
                }
                .decide(self.limit(), granted > 0);
                let Some(left) = granted.checked_sub(1) else {
                    return decision;
                };
                // This request is one of them; the others wait here for the next ones. The new
                // lease takes the place of the one there and over what it still holds (if
                // counted in the same window): a busy client's requests that found its lease used
                // up at the same moment each took one, and each must add to the others', not
                // replace them (what a lost lease holds is counted, and never given back). moka
                // runs these one at a time per client. Kept even when none is left, so the next
                // request finds out whether the client is busy.
                let mut held = left;
                self.leases.entry(client).and_compute_with(|there| {
                    if let Some(there) = there.map(|entry| entry.into_value())
                        && there.window == now.window
                    {
                        held += there.left.swap(0, Ordering::Relaxed);
                    }
                    Op::Put(Arc::new(Lease {
                        size: granted,
                        left: AtomicU64::new(held),
                        decision,
                        window: now.window,
                        taken: Instant::now(),
                    }))
                });
                Decision {
                    remaining: decision.remaining + held,
                    ..decision
                }
            }
            // SharedRedis has logged the failure; this request still gets a decision. Every
            // lease goes: a Redis that failed may come back empty (restarted), and giving back
            // what a lease held to a counter made since would take away other requests' count.
            Err(_) => {
                self.leases.invalidate_all();
                self.local.check(client)
            }
        }
    }

    /// The largest lease: `MAX_LEASE`, and at most a hundredth of the limit, so that what
    /// leases hold for a while costs a busy client little of its limit.
    fn max_lease(&self) -> u64 {
        (self.limit() / 100).clamp(1, MAX_LEASE)
    }

    /// The Redis keys of the client's counters: this window's and the previous one's.
    fn counters(&self, client: ClientKey, now: Moment) -> [String; 2] {
        [now.window, now.window - 1]
            .map(|window| self.redis.key("ratelimit", &format!("{client}:{window}")))
    }
}

/// Where a moment falls: its window (minutes since the epoch) and the ms elapsed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Moment {
    window: i64,
    elapsed_ms: u64,
}

impl Moment {
    fn at(unix_ms: i64) -> Self {
        let window_ms = WINDOW_MS as i64;
        Self {
            window: unix_ms.div_euclid(window_ms),
            elapsed_ms: unix_ms.rem_euclid(window_ms) as u64,
        }
    }
}

/// A client's two counters as the script saw them, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    /// Requests counted in this window, this one included when it was allowed.
    current: u64,
    /// Requests counted in the previous window.
    previous: u64,
    /// Milliseconds elapsed in this window, below [`WINDOW_MS`].
    elapsed_ms: u64,
}

impl Counts {
    /// The estimate of the last minute's requests, times [`WINDOW_MS`] (so it stays whole).
    fn used_ms(self) -> u64 {
        self.previous * (WINDOW_MS - self.elapsed_ms) + self.current * WINDOW_MS
    }

    /// The numbers of the RateLimit fields for these counts.
    fn decide(self, limit: u64, allowed: bool) -> Decision {
        let remaining = (limit * WINDOW_MS).saturating_sub(self.used_ms()) / WINDOW_MS;
        // Room for one more than `remaining` is, by the floor above, not there yet: `t` > 0.
        let reset_s = self.ms_until_room_for(limit, remaining + 1).div_ceil(1000);
        Decision {
            allowed,
            limit,
            remaining,
            reset_s,
            retry_after_s: if allowed { 0 } else { reset_s.max(1) },
        }
    }

    /// Milliseconds until the estimate leaves room for `n` more requests (`1 ≤ n ≤ limit`),
    /// if no request comes in meanwhile: first while this window lasts (the previous window's
    /// weight falls), else in the next one, where this window's count is the previous one.
    fn ms_until_room_for(self, limit: u64, n: u64) -> u64 {
        let left_ms = WINDOW_MS - self.elapsed_ms;
        // This window: previous × (left − dt) + (current + n) × window ≤ limit × window.
        if let Some(spare) = (limit * WINDOW_MS).checked_sub((self.current + n) * WINDOW_MS) {
            let wait_ms = match self.previous {
                0 => 0,
                previous => left_ms.saturating_sub(spare / previous),
            };
            if wait_ms < left_ms {
                return wait_ms;
            }
        }
        // The next window, `e` ms into it: current × (window − e) + n × window ≤ limit × window.
        let spare = limit.saturating_sub(n) * WINDOW_MS;
        let into_next_ms = match self.current {
            0 => 0,
            current => WINDOW_MS.saturating_sub(spare / current),
        };
        left_ms + into_next_ms
    }
}

type KeyedLimiter = RateLimiter<
    ClientKey,
    DefaultKeyedStateStore<ClientKey>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The limit counted in this process, for while Redis is down: a `governor` keyed limiter with
/// the same `limit` per minute (GCRA: up to `limit` at once, then one every `60 s / limit`).
struct LocalLimiter {
    /// Replaced by a fresh one when it holds too many clients.
    limiter: RwLock<KeyedLimiter>,
    limit: NonZeroU32,
    max_clients: usize,
    checks: AtomicU64,
}

impl LocalLimiter {
    fn new(limit: NonZeroU32, max_clients: usize) -> Self {
        Self {
            limiter: RwLock::new(Self::fresh(limit)),
            limit,
            max_clients,
            checks: AtomicU64::new(0),
        }
    }

    fn fresh(limit: NonZeroU32) -> KeyedLimiter {
        RateLimiter::keyed(Quota::per_minute(limit)).with_middleware::<StateInformationMiddleware>()
    }

    fn check(&self, client: ClientKey) -> Decision {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        let limit = u64::from(self.limit.get());
        // A panic elsewhere leaves the limiter usable: keep limiting.
        let limiter = self.limiter.read().unwrap_or_else(|e| e.into_inner());
        match limiter.check_key(&client) {
            Ok(state) => Decision {
                allowed: true,
                limit,
                remaining: u64::from(state.remaining_burst_capacity()),
                // One request's worth comes back within one refill interval.
                reset_s: seconds_up(state.quota().replenish_interval()),
                retry_after_s: 0,
            },
            Err(not_until) => {
                let wait_s = seconds_up(not_until.wait_time_from(limiter.clock().now())).max(1);
                Decision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset_s: wait_s,
                    retry_after_s: wait_s,
                }
            }
        }
    }

    /// Drops the clients whose state is as good as new, and forgets every client when more than
    /// `max_clients` remain, so memory stays bounded (by `max_clients + PRUNE_EVERY` clients).
    fn prune(&self) {
        let mut limiter = self.limiter.write().unwrap_or_else(|e| e.into_inner());
        limiter.retain_recent();
        if limiter.len() > self.max_clients {
            tracing::warn!(
                clients = limiter.len(),
                "the local rate limiter holds too many clients; starting it afresh"
            );
            *limiter = Self::fresh(self.limit);
        }
        limiter.shrink_to_fit();
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.limiter.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A duration in whole seconds, rounded up.
fn seconds_up(duration: Duration) -> u64 {
    duration.as_millis().div_ceil(1000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(previous: u64, current: u64, elapsed_ms: u64) -> Counts {
        Counts {
            current,
            previous,
            elapsed_ms,
        }
    }

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_64() {
        let key = |s: &str| ClientKey::from(s.parse::<IpAddr>().unwrap());
        assert_eq!(key("192.0.2.7").to_string(), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("::1").to_string(), "::/64");
    }

    #[test]
    fn moments_follow_the_utc_minute() {
        // 2026-12-01T10:16:59.250Z
        let at = Moment::at(1_796_120_219_250);
        assert_eq!(at.elapsed_ms, 59_250);
        assert_eq!(Moment::at(1_796_120_220_000).window, at.window + 1);
        assert_eq!(Moment::at(1_796_120_220_000).elapsed_ms, 0);
    }

    #[test]
    fn the_previous_window_counts_by_the_share_of_it_still_inside_the_last_minute() {
        // 40 requests last minute, 25 s into this one: 40 × 35/60 ≈ 23.3, plus 10 now.
        let decision = counts(40, 10, 25_000).decide(50, true);
        assert_eq!(decision.remaining, 16, "floor(50 − 33.3)");
        assert_eq!(decision.retry_after_s, 0);
        // One more is there once 40 × left/60 + 10 ≤ 33, i.e. 34.5 s left: 0.5 s from now.
        assert_eq!(decision.reset_s, 1);
    }

    #[test]
    fn a_refusal_says_when_the_next_request_is_allowed() {
        // Limit 3 used up 10 s into a window with nothing before: this window cannot give more,
        // so it is 20 s into the next one (3 × 40/60 + 1 ≤ 3): 50 s + 20 s.
        let refused = counts(0, 3, 10_000).decide(3, false);
        assert_eq!(
            refused,
            Decision {
                allowed: false,
                limit: 3,
                remaining: 0,
                reset_s: 70,
                retry_after_s: 70
            }
        );
        // Refused by the previous window's weight: room once 300 × left/60 + 0 + 1 ≤ 300,
        // 200 ms later.
        let refused = counts(300, 0, 0).decide(300, false);
        assert_eq!((refused.remaining, refused.retry_after_s), (0, 1));
    }

    #[test]
    fn a_single_request_leaves_the_window_within_two_minutes() {
        // Limit 1: room again only when the request has faded out completely, at the end of
        // the next window.
        let refused = counts(0, 1, 0).decide(1, false);
        assert_eq!(refused.retry_after_s, 120);
        let allowed = counts(0, 1, 59_999).decide(300, true);
        assert_eq!(allowed.remaining, 299);
        assert_eq!(
            allowed.reset_s, 61,
            "the request counts fully until this window ends"
        );
    }

    #[test]
    fn remaining_and_reset_agree_at_every_moment() {
        for elapsed_ms in (0..WINDOW_MS).step_by(997) {
            for (previous, current) in [(0, 1), (5, 1), (10, 0), (10, 10), (3, 7)] {
                let limit = 10;
                let decision = counts(previous, current, elapsed_ms).decide(limit, true);
                let wait_ms = counts(previous, current, elapsed_ms)
                    .ms_until_room_for(limit, decision.remaining + 1);
                // Waiting that long leaves room for `remaining + 1`, and a millisecond less
                // does not.
                let later = |ms: u64| {
                    let at = elapsed_ms + ms;
                    let (previous, current, elapsed) = if at < WINDOW_MS {
                        (previous, current, at)
                    } else {
                        (current, 0, at - WINDOW_MS)
                    };
                    counts(previous, current, elapsed).used_ms()
                };
                let room = (limit - decision.remaining - 1) * WINDOW_MS;
                assert!(later(wait_ms) <= room, "{previous} {current} {elapsed_ms}");
                if wait_ms > 0 {
                    assert!(
                        later(wait_ms - 1) > room,
                        "{previous} {current} {elapsed_ms}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_local_limiter_allows_the_limit_then_refuses_with_a_wait() {
        let local = LocalLimiter::new(NonZeroU32::new(3).unwrap(), 10);
        let client = ClientKey::from(IpAddr::from([192, 0, 2, 7]));
        let remaining: Vec<u64> = (0..3).map(|_| local.check(client).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = local.check(client);
        assert!(!refused.allowed);
        // One request comes back every 20 s.
        assert!((19..=20).contains(&refused.retry_after_s), "{refused:?}");
        // Another client has a budget of its own.
        assert!(
            local
                .check(ClientKey::from(IpAddr::from([192, 0, 2, 8])))
                .allowed
        );
    }

    #[test]
    fn the_local_limiter_forgets_clients_so_a_flood_of_addresses_stays_bounded() {
        let local = LocalLimiter::new(NonZeroU32::new(3).unwrap(), 1000);
        for i in 0..(10 * PRUNE_EVERY as u32) {
            let client = ClientKey::from(IpAddr::from(Ipv4Addr::from(0x0a00_0000 + i)));
            local.check(client);
        }
        assert!(
            local.clients() <= 1000 + PRUNE_EVERY as usize,
            "{} clients kept",
            local.clients()
        );
        // With a limit this high, a client's state is as good as new a few µs later.
        let local = LocalLimiter::new(NonZeroU32::new(1_000_000).unwrap(), 1000);
        for i in 0..(PRUNE_EVERY as u32 - 1) {
            local.check(ClientKey::from(IpAddr::from(Ipv4Addr::from(i))));
        }
        std::thread::sleep(Duration::from_millis(5));
        local.check(ClientKey::from(IpAddr::from([192, 0, 2, 7])));
        assert!(local.clients() <= 1, "{} clients kept", local.clients());
    }
}
