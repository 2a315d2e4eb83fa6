//! The two-tier read cache: tier 1 in this process (moka), tier 2 in Redis
//! when the cache URL names one, then the database.
//!
//! A read looks in tier 1, then tier 2, then loads from the database and
//! fills both tiers. Concurrent misses on one key in a process share one
//! load, and across processes a short lease in Redis lets one process load
//! a hot key while the others wait for its fill. Every write invalidates
//! both tiers after commit and publishes the invalidation, and other
//! processes drop their tier-1 entries when it arrives. Neither tier ever
//! takes a fill that started before an invalidation of its key, so a slow
//! reader cannot bring back a row a write replaced.
//!
//! A Redis failure never fails a read or a write. Redis commands run under a
//! timeout and a circuit breaker and fall through to the database. Tier 1
//! uses a short TTL while invalidations cannot arrive, and both tiers are
//! retired when the subscription comes back, because messages were lost.

mod breaker;
mod flight;
mod key;
mod listener;
mod options;
mod stats;
mod tier1;
mod tier2;
mod value;

pub(crate) use key::{stable_hash, Key};
pub use options::CacheOptions;
pub use stats::{CacheStats, LoadStats, TierStats};
pub(crate) use value::{Cached, PageRows};

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::changes::{ChangeEvent, ChangeFeed};
use crate::error::Result;
use crate::state::StateConfig;
use flight::{follow, Flight, Flights};
use stats::Counters;
use tier1::Tier1;
use tier2::{Lookup, Tier2};

/// Pause between two looks at tier 2 while another process holds a lease.
const LEASE_POLL: Duration = Duration::from_millis(2);

/// Maximum wait at open for the invalidation subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(3);

pub(crate) struct Cache {
    tier1: Arc<Tier1>,
    tier2: Option<Arc<Tier2>>,
    flights: Flights,
    counters: Arc<Counters>,
    listener: Option<AbortHandle>,
    changes: ChangeFeed,
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Cache {
    /// Builds the tiers. With Redis, it starts the invalidation listener and
    /// waits briefly for its first subscription; Redis being down is not an
    /// error, the cache starts degraded and recovers on its own.
    pub async fn open(options: &CacheOptions, state: &StateConfig) -> Result<Cache> {
        let counters = Arc::new(Counters::default());
        let tier1 = Arc::new(Tier1::new(options, counters.clone()));
        let mut cache = Cache {
            tier1,
            tier2: None,
            flights: Flights::default(),
            counters,
            listener: None,
            changes: ChangeFeed::default(),
        };
        let StateConfig::Redis(redis) = state else {
            return Ok(cache);
        };
        if !options.tier2_enabled {
            return Ok(cache);
        }
        let tier2 = Arc::new(Tier2::open(redis, options, cache.counters.clone())?);
        let (ready, subscribed) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(listener::listen(
            cache.tier1.clone(),
            tier2.clone(),
            cache.changes.clone(),
            ready,
        ));
        cache.listener = Some(task.abort_handle());
        cache.tier2 = Some(tier2);
        let _ = tokio::time::timeout(SUBSCRIBE_WAIT, subscribed).await;
        Ok(cache)
    }

    /// Stops the invalidation listener. Tier 2 goes unused from then on,
    /// because invalidations from other processes no longer arrive.
    pub fn stop(&self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        if let Some(tier2) = &self.tier2 {
            tier2.set_subscribed(false);
        }
    }

    /// The change feed that every write of this store reaches.
    pub fn changes(&self) -> &ChangeFeed {
        &self.changes
    }

    /// Sends a change event built by `event` when anyone listens.
    pub fn notify(&self, event: impl FnOnce() -> ChangeEvent) {
        if self.changes.wanted() {
            self.changes.send(event());
        }
    }

    pub fn stats(&self) -> CacheStats {
        let available = self.tier2.as_ref().is_some_and(|tier2| tier2.available());
        self.counters.snapshot(available)
    }

    /// Current tier-1 list generation of `collection`, for list keys.
    pub fn list_generation(&self, collection: &'static str) -> u64 {
        self.tier1.list_generation(collection)
    }

    /// Returns the value of `key` when tier 1 holds it, without waiting on
    /// anything: the synchronous fast path of the bindings.
    pub fn peek(&self, key: &Key) -> Option<Arc<Cached>> {
        self.tier1.peek(key)
    }

    /// Returns a view of the value of `key` when tier 1 contains it. `build`
    /// derives the view once per entry, as [`Tier1::peek_view`] describes.
    pub fn peek_view<V, F>(&self, key: &Key, build: F) -> Option<Arc<V>>
    where
        V: std::any::Any + Send + Sync,
        F: FnOnce(&Cached) -> Option<V>,
    {
        self.tier1.peek_view(key, build)
    }

    /// Reads `key` through both tiers. On a miss, `load` reads the database
    /// and returns the value with its version, or `None` when there is
    /// nothing. `lease` requests the cross-process load lease (for hot keys).
    pub async fn read<F, Fut>(&self, key: Key, lease: bool, load: F) -> Result<Option<Arc<Cached>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<(Cached, i64)>>>,
    {
        if let Some(value) = self.tier1.get(&key) {
            return Ok(Some(value));
        }
        let leader = match self.flights.join(&key) {
            Flight::Leader(leader) => Some(leader),
            Flight::Follower(receiver) => {
                self.counters
                    .coalesced
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match follow(receiver).await {
                    // A write after the leader's load started may have
                    // replaced what it read, and this caller may have
                    // started after that write returned: load again.
                    Some((value, started)) if !self.tier1.invalidated_after(&key, started) => {
                        return Ok(value);
                    }
                    _ => None,
                }
            }
        };
        let load_started = self.tier1.begin_load();
        let loaded = self.read_through(&key, lease, load_started, load).await;
        if let (Some(leader), Ok(value)) = (leader, &loaded) {
            leader.finish(value.clone(), load_started);
        }
        loaded
    }

    async fn read_through<F, Fut>(
        &self,
        key: &Key,
        lease: bool,
        load_started: u64,
        load: F,
    ) -> Result<Option<Arc<Cached>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<(Cached, i64)>>>,
    {
        let tier2 = self.tier2.as_deref();
        let mut lookup = match tier2 {
            Some(tier2) => tier2.lookup(key, lease).await,
            None => None,
        };
        if let Some((cached, version)) = lookup.as_mut().and_then(|l| l.hit.take()) {
            return Ok(Some(self.fill_tier1(key, cached, version, load_started)));
        }
        if let (Some(tier2), Some(found)) = (tier2, &lookup) {
            if lease && !found.leased() {
                if let Some((cached, version)) = self.wait_for_lease(tier2, key).await {
                    return Ok(Some(self.fill_tier1(key, cached, version, load_started)));
                }
            }
        }
        let started = Instant::now();
        let loaded = load().await;
        self.counters.record_load(started.elapsed());
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                if let (Some(tier2), Some(found)) = (tier2, &lookup) {
                    tier2.release(key, found).await;
                }
                return Err(error);
            }
        };
        let Some((cached, version)) = loaded else {
            if let (Some(tier2), Some(found)) = (tier2, &lookup) {
                tier2.release(key, found).await;
            }
            return Ok(None);
        };
        if let (Some(tier2), Some(found)) = (tier2, &lookup) {
            tier2.fill(key, found, version, &cached).await;
        }
        Ok(Some(self.fill_tier1(key, cached, version, load_started)))
    }

    fn fill_tier1(
        &self,
        key: &Key,
        cached: Cached,
        version: i64,
        load_started: u64,
    ) -> Arc<Cached> {
        let cached = Arc::new(cached);
        self.tier1
            .fill(key.clone(), cached.clone(), version, load_started);
        cached
    }

    /// Polls tier 2 while another process holds the lease, for at most the
    /// lease time; `None` when its fill did not come.
    async fn wait_for_lease(&self, tier2: &Tier2, key: &Key) -> Option<(Cached, i64)> {
        self.counters
            .lease_waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let deadline = Instant::now() + tier2.lease_time();
        while Instant::now() < deadline {
            tokio::time::sleep(LEASE_POLL).await;
            let mut found: Lookup = tier2.lookup(key, false).await?;
            if let Some(hit) = found.hit.take() {
                return Some(hit);
            }
        }
        None
    }

    /// Invalidates what a committed write changed: the records `ids` of
    /// `collection` and every cached list of it, in this process at once and
    /// in Redis and other processes through tier 2. A Redis failure is
    /// logged and remembered, not returned.
    pub async fn written(&self, collection: &'static str, ids: &[Uuid]) {
        self.invalidate_tier1(collection, ids);
        if let Some(tier2) = &self.tier2 {
            tier2.invalidate(collection, ids).await;
            // A read in this process between the first tier-1 invalidation
            // and the tier-2 one may have found the old value in Redis and
            // put it in tier 1. This process skips its own message, so the
            // keys are dropped again, and a fill still in flight is dropped
            // because it started before this invalidation.
            self.invalidate_tier1(collection, ids);
        }
    }

    fn invalidate_tier1(&self, collection: &'static str, ids: &[Uuid]) {
        for id in ids {
            self.tier1.invalidate(&Key::Record {
                collection,
                id: *id,
            });
        }
        self.tier1.invalidate_lists(collection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> Key {
        Key::Record {
            collection: "catalogs",
            id: Uuid::nil(),
        }
    }

    async fn memory_cache() -> Cache {
        Cache::open(&CacheOptions::default(), &StateConfig::Embedded)
            .await
            .expect("open cache")
    }

    fn name_of(value: &Option<Arc<Cached>>) -> Value {
        match value.as_deref() {
            Some(Cached::Json(value)) => value.clone(),
            other => panic!("unexpected cached value {other:?}"),
        }
    }

    use serde_json::Value;

    #[tokio::test]
    async fn follower_after_write_loads_again() {
        let cache = memory_cache().await;
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let leader = cache.read(key(), false, || async {
            released.await.ok();
            Ok(Some((Cached::Json(json!("old")), 1)))
        });
        let follower = async {
            // Let the leader start its load, then write, then read.
            tokio::task::yield_now().await;
            cache.written("catalogs", &[Uuid::nil()]).await;
            let read = cache.read(key(), false, || async {
                Ok(Some((Cached::Json(json!("new")), 2)))
            });
            let (value, _) = tokio::join!(read, async {
                tokio::task::yield_now().await;
                release.send(()).ok();
            });
            value
        };
        let (old, new) = tokio::join!(leader, follower);
        assert_eq!(name_of(&old.unwrap()), json!("old"));
        assert_eq!(name_of(&new.unwrap()), json!("new"));
    }

    #[tokio::test]
    async fn followers_share_leader_load() {
        let cache = memory_cache().await;
        let loads = std::sync::atomic::AtomicU32::new(0);
        let read = || {
            cache.read(key(), false, || async {
                loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(Some((Cached::Json(json!("value")), 1)))
            })
        };
        let (a, b, c) = tokio::join!(read(), read(), read());
        for value in [a, b, c] {
            assert_eq!(name_of(&value.unwrap()), json!("value"));
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
