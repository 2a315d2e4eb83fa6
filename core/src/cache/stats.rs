//! Cache counters, kept as atomics and read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one tier.
#[derive(Default)]
pub(crate) struct TierCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub fills: AtomicU64,
    pub evictions: AtomicU64,
}

impl TierCounters {
    pub fn record(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> TierStats {
        TierStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            fills: self.fills.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// Buckets of the load latency histogram: bucket `i` counts loads under
/// `2^i` microseconds, the last one everything slower.
const LATENCY_BUCKETS: usize = 32;

/// Every counter of the cache.
pub(crate) struct Counters {
    pub tier1: TierCounters,
    pub tier2: TierCounters,
    pub invalidations: AtomicU64,
    pub stale_fills_dropped: AtomicU64,
    pub flushes: AtomicU64,
    pub coalesced: AtomicU64,
    pub lease_waits: AtomicU64,
    pub redis_errors: AtomicU64,
    loads: AtomicU64,
    load_micros: AtomicU64,
    load_max_micros: AtomicU64,
    load_buckets: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            tier1: TierCounters::default(),
            tier2: TierCounters::default(),
            invalidations: AtomicU64::new(0),
            stale_fills_dropped: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            lease_waits: AtomicU64::new(0),
            redis_errors: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            load_micros: AtomicU64::new(0),
            load_max_micros: AtomicU64::new(0),
            load_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    /// Records how long one database load took.
    pub fn record_load(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.load_micros.fetch_add(micros, Ordering::Relaxed);
        self.load_max_micros.fetch_max(micros, Ordering::Relaxed);
        let bucket = (u64::BITS - micros.leading_zeros()) as usize;
        self.load_buckets[bucket.min(LATENCY_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, tier2_available: bool) -> CacheStats {
        let loads = self.loads.load(Ordering::Relaxed);
        let max_micros = self.load_max_micros.load(Ordering::Relaxed);
        let buckets: Vec<u64> = self
            .load_buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        CacheStats {
            tier1: self.tier1.snapshot(),
            tier2: self.tier2.snapshot(),
            loads: LoadStats {
                count: loads,
                mean_micros: self
                    .load_micros
                    .load(Ordering::Relaxed)
                    .checked_div(loads)
                    .unwrap_or(0),
                p99_micros: quantile(&buckets, loads, 0.99).min(max_micros),
                max_micros,
            },
            invalidations: self.invalidations.load(Ordering::Relaxed),
            stale_fills_dropped: self.stale_fills_dropped.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            coalesced_loads: self.coalesced.load(Ordering::Relaxed),
            lease_waits: self.lease_waits.load(Ordering::Relaxed),
            redis_errors: self.redis_errors.load(Ordering::Relaxed),
            tier2_available,
        }
    }
}

/// Returns the upper bound of the bucket containing quantile `q`, in microseconds.
fn quantile(buckets: &[u64], total: u64, q: f64) -> u64 {
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * q).ceil() as u64;
    let mut seen = 0;
    for (index, count) in buckets.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return 1u64 << index;
        }
    }
    u64::MAX
}

/// Hits, misses, fills and evictions of one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TierStats {
    pub hits: u64,
    pub misses: u64,
    pub fills: u64,
    /// Entries removed to stay under the size bound. Always 0 for tier 2,
    /// because Redis does not report which keys it evicted.
    pub evictions: u64,
}

impl TierStats {
    /// Hits over lookups, 0 before the first lookup.
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// Database loads made because both tiers missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadStats {
    pub count: u64,
    pub mean_micros: u64,
    /// Upper bound of the histogram bucket holding the 99th percentile
    /// (powers of two), capped at the maximum.
    pub p99_micros: u64,
    pub max_micros: u64,
}

/// A snapshot of the cache counters, from [`crate::Store::cache_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CacheStats {
    pub tier1: TierStats,
    pub tier2: TierStats,
    pub loads: LoadStats,
    /// Keys dropped after writes, here or in other processes.
    pub invalidations: u64,
    /// Fills dropped because a write invalidated the key while it loaded.
    pub stale_fills_dropped: u64,
    /// Times tier 1 was emptied because invalidations may have been lost.
    pub flushes: u64,
    /// Reads that waited for another read's load of the same key instead of
    /// loading it again.
    pub coalesced_loads: u64,
    /// Reads that waited for another process holding the key's load lease.
    pub lease_waits: u64,
    /// Redis cache commands that failed or timed out.
    pub redis_errors: u64,
    /// Whether tier 2 is in use right now (configured, reachable, and the
    /// invalidation subscription live).
    pub tier2_available: bool,
}
