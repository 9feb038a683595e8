//! One call to upstream for everyone who asks, guarded: the fetch lock (so replicas wait for
//! one another), the pause after a refusal, the call budget, and the record of how upstream
//! answered. What `crate::lookup` runs on a miss.

use std::time::Duration;

use tokio::time::Instant;

use super::Freshness;
use crate::cache::{CachedAnswer, WeatherCache};
use crate::domain::{Language, Place};
use crate::fetch_lock::{Acquired, FetchLock};
use crate::openweather::{OpenWeatherClient, UpstreamError};
use crate::prometheus;
use crate::upstream_guard::CallBudget;
use crate::upstream_health::{UpstreamHealth, UpstreamState, UpstreamStatus};
use crate::upstream_pause::RefusalPause;

/// How much longer than one upstream call an instance waits for another's answer: room for the
/// holder to store it and for our next poll to see it.
const WAIT_MARGIN: Duration = Duration::from_millis(250);
/// First and longest pause between two looks at the cache while another instance fetches. The
/// longest bounds how late a waiter sees the answer; one `GET` per 20 ms per waiting process
/// (the others wait in moka) costs Redis nothing.
const FIRST_POLL: Duration = Duration::from_millis(5);
const LONGEST_POLL: Duration = Duration::from_millis(20);

/// The upstream client and everything that guards its calls.
#[derive(Clone)]
pub(super) struct GuardedFetch {
    client: OpenWeatherClient,
    cache: WeatherCache,
    lock: FetchLock,
    budget: CallBudget,
    pause: RefusalPause,
    health: UpstreamHealth,
    /// How long one call may take.
    upstream_timeout: Duration,
    freshness: Freshness,
    not_found_ttl: Duration,
}

impl GuardedFetch {
    pub(super) fn new(
        client: OpenWeatherClient,
        cache: WeatherCache,
        budget: CallBudget,
        upstream_timeout: Duration,
        (freshness, not_found_ttl): (Freshness, Duration),
    ) -> Self {
        let redis = cache.redis().clone();
        Self {
            lock: FetchLock::new(redis.clone(), upstream_timeout),
            pause: RefusalPause::new(redis.clone()),
            health: UpstreamHealth::new(redis),
            client,
            cache,
            budget,
            upstream_timeout,
            freshness,
            not_found_ttl,
        }
    }

    /// Asks upstream, unless another instance is asking already: then waits for its answer to
    /// appear in Redis, for at most an upstream timeout (plus a margin). `true` with the answer
    /// when this instance fetched it.
    pub(super) async fn fetch_once_for_all(
        &self,
        key: &str,
        place: &Place,
        lang: &Language,
    ) -> Result<(CachedAnswer, bool), UpstreamError> {
        let deadline = Instant::now() + self.upstream_timeout + WAIT_MARGIN;
        let mut poll = FIRST_POLL;
        let mut first_try = true;
        loop {
            // Taking the lock over (its holder died, or failed) is only for a caller that can
            // still make a whole upstream call within its own bound; the others just wait.
            let may_fetch = first_try || Instant::now() + self.upstream_timeout <= deadline;
            let lock = if may_fetch {
                self.lock.try_acquire(key, first_try).await
            } else {
                self.lock.peek(key).await
            };
            match lock {
                Acquired::Held(guard) => {
                    // The holder before us may have stored its answer just before releasing.
                    if let Some(answer) = self.fresh_in_redis(key).await {
                        self.lock.release(guard).await;
                        return Ok((answer, false));
                    }
                    let fetched = self.fetch_and_store(key, place, lang).await;
                    match &fetched {
                        Ok(_) => self.lock.release(guard).await,
                        Err(err) => self.lock.release_failed(guard, err).await,
                    }
                    return fetched.map(|answer| (answer, true));
                }
                Acquired::NoRedis => {
                    return self
                        .fetch_and_store(key, place, lang)
                        .await
                        .map(|answer| (answer, true));
                }
                // The waiters of a failed call answer with its error, as its caller did.
                Acquired::RecentlyFailed(err) => return Err(err),
                Acquired::Busy => {}
            }
            if Instant::now() + poll > deadline {
                return Err(UpstreamError::Timeout(self.upstream_timeout));
            }
            first_try = false;
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(LONGEST_POLL);
            if let Some(answer) = self.fresh_in_redis(key).await {
                // Another replica's call answered this lookup.
                prometheus::singleflight_wait();
                return Ok((answer, false));
            }
        }
    }

    /// Asks upstream, unless a refusal paused the calls or the budget is used up, and caches
    /// what it said: the weather for the TTL (and the stale-if-error window), "not found"
    /// briefly. A 429 or 401 pauses the calls of every replica.
    async fn fetch_and_store(
        &self,
        key: &str,
        place: &Place,
        lang: &Language,
    ) -> Result<CachedAnswer, UpstreamError> {
        // Without a key no call is made, so none is taken from the budget.
        if !self.client.has_api_key() {
            return Err(UpstreamError::NoApiKey);
        }
        if let Some(pause) = self.pause.current().await {
            return Err(pause.as_error());
        }
        self.budget.take_a_call().await?;
        let fetched = self.client.fetch_current(place, lang).await;
        let outcome = fetched.as_ref().map(|_| ());
        self.pause.note(outcome).await;
        self.health.note(outcome).await;
        let (answer, ttl) = match fetched {
            // Kept past the TTL, to stand in if upstream fails later; freshness is judged from
            // `fetched_at`, not from the key's expiry.
            Ok(weather) => (
                CachedAnswer::Weather(Box::new(weather)),
                self.freshness.kept_for(),
            ),
            Err(UpstreamError::PlaceNotFound) => (CachedAnswer::NotFound, self.not_found_ttl),
            Err(other) => return Err(other),
        };
        self.cache.set(key, &answer, ttl).await;
        Ok(answer)
    }

    /// A cached answer that is still fresh.
    async fn fresh_in_redis(&self, key: &str) -> Option<CachedAnswer> {
        let answer = self.cache.get(key).await?;
        self.freshness.is_fresh(&answer).then_some(answer)
    }

    /// What readiness reports about upstream: its state, the last calls and the budget.
    pub(super) async fn status(&self) -> UpstreamStatus {
        let (pause, usage, record) = tokio::join!(
            self.pause.current(),
            self.budget.usage(),
            self.health.read()
        );
        UpstreamStatus {
            provider: crate::openweather::PROVIDER,
            state: UpstreamState::from_facts(
                self.client.has_api_key(),
                pause.map(|pause| pause.reason),
                self.budget.is_exhausted(usage),
                &record,
            ),
            record,
            usage,
            limits: self.budget.limits(),
        }
    }
}
