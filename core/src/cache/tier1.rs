//! Tier 1: entries in this process, bounded by bytes, time to live and idle
//! time.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;

use super::key::Key;
use super::options::CacheOptions;
use super::stats::Counters;
use super::value::Cached;

/// One tier-1 entry with what its expiry needs.
pub(crate) struct Entry {
    pub value: Arc<Cached>,
    pub version: i64,
    created: Instant,
    ttl: Duration,
    weight: u32,
    /// A form of the value that a binding derived on its first hit, kept so
    /// later hits skip the conversion. It lives and dies with the entry, so
    /// an invalidation drops it too.
    // NOTE: the view is not counted in `weight`. A binding's view (a Python
    // dict, JSON text) is of the same order of size as the row, so with a
    // binding tier 1 may use a small multiple of its byte bound.
    view: OnceLock<Arc<dyn Any + Send + Sync>>,
}

/// Expires an entry at its own TTL after creation, or after the idle time
/// without reads, whichever comes first.
struct EntryExpiry {
    idle: Duration,
}

impl moka::Expiry<Key, Arc<Entry>> for EntryExpiry {
    fn expire_after_create(&self, _: &Key, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.ttl.min(self.idle))
    }

    fn expire_after_read(
        &self,
        _: &Key,
        entry: &Arc<Entry>,
        read_at: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        let left = (entry.created + entry.ttl).saturating_duration_since(read_at);
        Some(left.min(self.idle))
    }

    fn expire_after_update(
        &self,
        _: &Key,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl.min(self.idle))
    }
}

/// The in-process tier. Each invalidation takes a sequence number, and a fill
/// only lands when no invalidation of its key happened after the load
/// started, so a slow reader cannot put back a row that a write replaced.
/// List entries are keyed by a per-collection generation that every write to
/// the collection moves on, which retires all of them at once.
pub(crate) struct Tier1 {
    entries: moka::sync::Cache<Key, Arc<Entry>>,
    invalidated_at: moka::sync::Cache<Key, u64>,
    list_generations: RwLock<HashMap<&'static str, u64>>,
    sequence: AtomicU64,
    /// Sequence number of the last flush; fills that started before it drop.
    flushed_at: AtomicU64,
    /// While set, new entries live for the short TTL only: invalidations
    /// from other processes cannot arrive.
    degraded: AtomicBool,
    ttl: Duration,
    degraded_ttl: Duration,
    /// False when the size bound is 0: nothing is kept.
    enabled: bool,
    counters: Arc<Counters>,
}

impl Tier1 {
    pub fn new(options: &CacheOptions, counters: Arc<Counters>) -> Self {
        let evictions = counters.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(options.tier1_max_bytes)
            .weigher(|_: &Key, entry: &Arc<Entry>| entry.weight)
            .expire_after(EntryExpiry {
                idle: options.tier1_idle,
            })
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    evictions.tier1.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Tier1 {
            entries,
            // Remembered longer than any load can take, so late fills are caught.
            invalidated_at: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            list_generations: RwLock::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            flushed_at: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            ttl: options.tier1_ttl,
            degraded_ttl: options.degraded_ttl,
            enabled: options.tier1_max_bytes > 0,
            counters,
        }
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Cached>> {
        if !self.enabled {
            return None;
        }
        let found = self.entries.get(key).map(|entry| entry.value.clone());
        self.counters.tier1.record(found.is_some());
        found
    }

    /// Like [`Tier1::get`], but counts only a hit: after a miss the caller
    /// reads through [`super::Cache::read`], which counts it.
    pub fn peek(&self, key: &Key) -> Option<Arc<Cached>> {
        if !self.enabled {
            return None;
        }
        let found = self.entries.get(key).map(|entry| entry.value.clone());
        if found.is_some() {
            self.counters.tier1.record(true);
        }
        found
    }

    /// Returns a view of the value of `key`, like [`Tier1::peek`] returns the
    /// value. `build` derives it on the first hit of an entry, and later hits
    /// share it. Returns `None` when tier 1 does not contain `key` or `build`
    /// returns `None`.
    pub fn peek_view<V, F>(&self, key: &Key, build: F) -> Option<Arc<V>>
    where
        V: Any + Send + Sync,
        F: FnOnce(&Cached) -> Option<V>,
    {
        if !self.enabled {
            return None;
        }
        let entry = self.entries.get(key)?;
        self.counters.tier1.record(true);
        if let Some(view) = entry.view.get() {
            // A view of another type is present only when two callers read
            // one key with different view types. This caller builds its own.
            if let Ok(view) = view.clone().downcast::<V>() {
                return Some(view);
            }
            return build(&entry.value).map(Arc::new);
        }
        let view = Arc::new(build(&entry.value)?);
        let _ = entry.view.set(view.clone());
        Some(view)
    }

    /// Marks the start of a database load; pass the value to [`Tier1::fill`].
    pub fn begin_load(&self) -> u64 {
        self.sequence.load(Ordering::SeqCst)
    }

    /// Stores a loaded value unless its key was invalidated after
    /// `load_started` or the entry already contains a newer version.
    pub fn fill(&self, key: Key, value: Arc<Cached>, version: i64, load_started: u64) {
        if !self.enabled {
            return;
        }
        if self.invalidated_after(&key, load_started) || self.holds_newer(&key, version) {
            self.counters
                .stale_fills_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ttl = if self.degraded.load(Ordering::SeqCst) {
            self.degraded_ttl
        } else {
            self.ttl
        };
        let entry = Entry {
            weight: value.weight(),
            value,
            version,
            created: Instant::now(),
            ttl,
            view: OnceLock::new(),
        };
        self.entries.insert(key.clone(), Arc::new(entry));
        // A write may have invalidated between the check and the insert.
        if self.invalidated_after(&key, load_started) {
            self.entries.invalidate(&key);
            self.counters
                .stale_fills_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counters.tier1.fills.fetch_add(1, Ordering::Relaxed);
    }

    fn holds_newer(&self, key: &Key, version: i64) -> bool {
        self.entries
            .get(key)
            .is_some_and(|entry| entry.version > version)
    }

    /// Checks whether `key` was invalidated (or everything flushed) after the
    /// load that started at `load_started`.
    pub fn invalidated_after(&self, key: &Key, load_started: u64) -> bool {
        self.flushed_at.load(Ordering::SeqCst) > load_started
            || self
                .invalidated_at
                .get(key)
                .is_some_and(|at| at > load_started)
    }

    /// Drops a key after a committed write.
    pub fn invalidate(&self, key: &Key) {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        self.invalidated_at.insert(key.clone(), sequence);
        self.entries.invalidate(key);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Retires every list entry of `collection`.
    pub fn invalidate_lists(&self, collection: &'static str) {
        let mut generations = self.list_generations.write().expect("list generation lock");
        *generations.entry(collection).or_insert(0) += 1;
    }

    /// Current list generation of `collection`, part of its list keys.
    pub fn list_generation(&self, collection: &'static str) -> u64 {
        let generations = self.list_generations.read().expect("list generation lock");
        generations.get(collection).copied().unwrap_or(0)
    }

    /// Drops everything, and makes every load in flight drop its fill.
    pub fn flush(&self) {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        self.flushed_at.store(sequence, Ordering::SeqCst);
        {
            let mut generations = self.list_generations.write().expect("list generation lock");
            for generation in generations.values_mut() {
                *generation += 1;
            }
        }
        self.entries.invalidate_all();
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_degraded(&self, degraded: bool) {
        self.degraded.store(degraded, Ordering::SeqCst);
    }
}
