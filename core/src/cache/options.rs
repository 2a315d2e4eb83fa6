//! Settings of the two cache tiers.

use std::time::Duration;

/// Sizes, lifetimes and failure handling of the read cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// Approximate bytes of records tier 1 keeps; 0 turns tier 1 off.
    pub tier1_max_bytes: u64,
    /// How long a tier-1 entry lives after it is filled.
    pub tier1_ttl: Duration,
    /// A tier-1 entry that is not read for this long expires early.
    pub tier1_idle: Duration,
    /// Tier-1 lifetime while invalidations from other processes cannot be
    /// received (Redis unreachable): it bounds how stale a read can be.
    pub degraded_ttl: Duration,
    /// How long a tier-2 (Redis) entry lives.
    pub tier2_ttl: Duration,
    /// Whether tier 2 is used when the cache URL names Redis.
    pub tier2_enabled: bool,
    /// Maximum wait for one Redis cache command. A slower command counts as
    /// a failure, and the read goes to the database.
    pub redis_timeout: Duration,
    /// How long a process may hold the load lease of a key. Other processes
    /// wait at most this long for its fill before loading themselves.
    pub lease: Duration,
    /// Consecutive Redis failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the open breaker skips Redis before trying it again.
    pub breaker_cooldown: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            tier1_max_bytes: 64 * 1024 * 1024,
            tier1_ttl: Duration::from_secs(60),
            tier1_idle: Duration::from_secs(30),
            degraded_ttl: Duration::from_secs(1),
            tier2_ttl: Duration::from_secs(600),
            tier2_enabled: true,
            redis_timeout: Duration::from_millis(250),
            lease: Duration::from_millis(250),
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(1),
        }
    }
}
