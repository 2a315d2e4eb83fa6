//! The `cache` suite: get-by-id latency of a tier-1 hit, a tier-2 (Redis)
//! hit and an uncached PostgreSQL read, and the hit ratio of both tiers on
//! a Zipf-distributed workload.

use std::time::Instant;

use polystat::cache::{CacheOptions, CacheStats, LoadStats, TierStats};
use polystat::config::{ENV_CACHE_URL, ENV_RELATIONAL_URL, MEMORY_CACHE_URL};
use polystat::model::Catalog;
use polystat::{Store, StoreConfig};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::{drop_schema, fresh_name, required_url, with_prefix, with_schema};

/// Catalogs the latency measurements cycle through.
const LATENCY_KEYS: usize = 100;

/// Rounds of the latency measurements. Each round times every path in
/// turn, so a burst of load from other processes slows all three alike.
const ROUNDS: usize = 5;

/// Catalogs of the Zipf workload and its exponent.
const ZIPF_KEYS: usize = 10_000;
const ZIPF_EXPONENT: f64 = 1.0;

/// Tier-1 bound of the Zipf workload. By the cache's own size estimate a
/// catalog row weighs roughly 800 bytes, so tier 1 keeps about 1,300 of the
/// 10,000 catalogs (an estimate, not a count).
const ZIPF_TIER1_BYTES: u64 = 1024 * 1024;

/// Catalogs per bulk insert while seeding.
const SEED_BATCH: usize = 1_000;

/// Gets per round for each latency path, and gets of each Zipf phase.
struct Sizes {
    tier1_gets: usize,
    tier2_gets: usize,
    postgres_gets: usize,
    zipf_gets: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                tier1_gets: 20_000,
                tier2_gets: 2_000,
                postgres_gets: 1_000,
                zipf_gets: 20_000,
            }
        } else {
            Sizes {
                tier1_gets: 100_000,
                tier2_gets: 10_000,
                postgres_gets: 5_000,
                zipf_gets: 200_000,
            }
        }
    }
}

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let postgres = required_url(ENV_RELATIONAL_URL, "postgres://")?;
    let redis = required_url(ENV_CACHE_URL, "redis://")?;
    let name = fresh_name();
    let urls = Urls {
        postgres: with_schema(&postgres, &name),
        redis: with_prefix(&redis, &name),
    };
    let outcome = measure(&urls, &Sizes::new(quick)).await;
    // The schema goes whether or not the measurement succeeded. The Redis
    // keys under the fresh prefix expire on their own (tier-2 TTL).
    drop_schema(&postgres, &name).await?;
    outcome
}

/// The run's own schema and Redis prefix.
struct Urls {
    postgres: String,
    redis: String,
}

impl Urls {
    /// Opens a store on the run's schema. Documents share the PostgreSQL pool.
    async fn open(&self, cache_url: &str, cache: CacheOptions) -> anyhow::Result<Store> {
        let config = StoreConfig {
            relational_url: self.postgres.clone(),
            documents_url: self.postgres.clone(),
            cache_url: cache_url.to_string(),
            cache,
            ..StoreConfig::default()
        };
        Ok(Store::open(config).await?)
    }
}

async fn measure(urls: &Urls, sizes: &Sizes) -> anyhow::Result<Value> {
    let latency = measure_latency(urls, sizes).await?;
    let zipf = measure_zipf(urls, sizes).await?;
    let tier1 = latency.tier1.median;
    let tier2 = latency.tier2.median;
    let postgres = latency.postgres.median;
    let combined = zipf["combined_hit_ratio"].clone();
    Ok(json!({
        "suite": "cache",
        "rounds": ROUNDS,
        "latency_micros": {
            "tier1_hit": latency.tier1.to_json(),
            "tier2_hit": latency.tier2.to_json(),
            "postgres": latency.postgres.to_json(),
        },
        "cache_stats": latency.stats,
        "zipf": zipf,
        "ratios": {
            "tier1_vs_postgres": round3(postgres / tier1),
            "tier2_vs_postgres": round3(postgres / tier2),
            "zipf_hit_ratio": combined,
        },
    }))
}

/// Median and 99th percentile of one path, in microseconds.
struct Latency {
    samples: usize,
    median: f64,
    p99: f64,
}

impl Latency {
    fn from_samples(mut samples: Vec<f64>) -> anyhow::Result<Latency> {
        anyhow::ensure!(!samples.is_empty(), "no latency samples were taken");
        samples.sort_by(f64::total_cmp);
        let rank = |q: f64| ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
        Ok(Latency {
            samples: samples.len(),
            median: samples[rank(0.5) - 1],
            p99: samples[rank(0.99) - 1],
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "samples": self.samples,
            "median": round1(self.median),
            "p99": round1(self.p99),
        })
    }
}

struct LatencyReport {
    tier1: Latency,
    tier2: Latency,
    postgres: Latency,
    /// Counters of each store, which show that every path took the tier it
    /// is named after.
    stats: Value,
}

async fn measure_latency(urls: &Urls, sizes: &Sizes) -> anyhow::Result<LatencyReport> {
    let seed = urls.open(MEMORY_CACHE_URL, no_tier1()).await?;
    let ids = seed_catalogs(&seed, LATENCY_KEYS, "latency").await?;
    seed.close().await;

    let tier1_store = urls.open(&urls.redis, CacheOptions::default()).await?;
    let tier2_store = urls.open(&urls.redis, no_tier1()).await?;
    let postgres_store = urls.open(MEMORY_CACHE_URL, no_tier1()).await?;
    anyhow::ensure!(
        tier2_store.cache_stats().tier2_available,
        "the Redis tier is not available; check {ENV_CACHE_URL}"
    );
    // One get per key fills tier 1 of the first store and tier 2 in Redis.
    time_gets(&tier1_store, &ids, ids.len()).await?;
    time_gets(&tier2_store, &ids, ids.len()).await?;
    let before = [&tier1_store, &tier2_store, &postgres_store].map(|s| s.cache_stats());

    let (mut tier1, mut tier2, mut postgres) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        eprintln!("cache: latency round {} of {ROUNDS}", round + 1);
        tier1.extend(time_gets(&tier1_store, &ids, sizes.tier1_gets).await?);
        tier2.extend(time_gets(&tier2_store, &ids, sizes.tier2_gets).await?);
        postgres.extend(time_gets(&postgres_store, &ids, sizes.postgres_gets).await?);
    }
    let stats = json!({
        "tier1_hit": stats_json(&difference(&before[0], &tier1_store.cache_stats())),
        "tier2_hit": stats_json(&difference(&before[1], &tier2_store.cache_stats())),
        "postgres": stats_json(&difference(&before[2], &postgres_store.cache_stats())),
    });
    for store in [tier1_store, tier2_store, postgres_store] {
        store.close().await;
    }
    Ok(LatencyReport {
        tier1: Latency::from_samples(tier1)?,
        tier2: Latency::from_samples(tier2)?,
        postgres: Latency::from_samples(postgres)?,
        stats,
    })
}

/// Cache options with tier 1 off, so every get looks further.
fn no_tier1() -> CacheOptions {
    CacheOptions {
        tier1_max_bytes: 0,
        ..CacheOptions::default()
    }
}

/// Gets `count` catalogs by id, cycling through `ids`, and returns each
/// get's latency in microseconds.
async fn time_gets(store: &Store, ids: &[Uuid], count: usize) -> anyhow::Result<Vec<f64>> {
    let catalogs = store.catalogs();
    let mut samples = Vec::with_capacity(count);
    for id in ids.iter().cycle().take(count) {
        let started = Instant::now();
        catalogs.get(*id).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(samples)
}

async fn seed_catalogs(store: &Store, count: usize, label: &str) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(count);
    for start in (0..count).step_by(SEED_BATCH) {
        let batch = (start..count.min(start + SEED_BATCH))
            .map(|i| {
                let mut catalog = Catalog::new(format!("{label} catalog {i}"));
                catalog.description = "a catalog of the cache benchmark".to_string();
                catalog
            })
            .collect();
        let records = store.catalogs().bulk_insert(batch).await?;
        ids.extend(records.into_iter().map(|r| r.id));
    }
    Ok(ids)
}

/// Runs the Zipf workload twice on one store, first to warm both tiers and
/// then to measure, and reports the hit ratios of the second run.
async fn measure_zipf(urls: &Urls, sizes: &Sizes) -> anyhow::Result<Value> {
    let options = CacheOptions {
        tier1_max_bytes: ZIPF_TIER1_BYTES,
        ..CacheOptions::default()
    };
    let store = urls.open(&urls.redis, options).await?;
    eprintln!("cache: seeding {ZIPF_KEYS} catalogs");
    let mut ids = seed_catalogs(&store, ZIPF_KEYS, "zipf").await?;
    // A fixed seed makes runs comparable. The shuffle keeps popularity
    // independent of insertion order.
    let mut rng = StdRng::seed_from_u64(0x5eed);
    ids.shuffle(&mut rng);
    let zipf = Zipf::new(ZIPF_KEYS, ZIPF_EXPONENT);

    eprintln!("cache: Zipf warm-up, {} gets", sizes.zipf_gets);
    zipf_gets(&store, &ids, &zipf, &mut rng, sizes.zipf_gets).await?;
    let before = store.cache_stats();
    eprintln!("cache: Zipf measurement, {} gets", sizes.zipf_gets);
    let started = Instant::now();
    zipf_gets(&store, &ids, &zipf, &mut rng, sizes.zipf_gets).await?;
    let elapsed = started.elapsed();
    let stats = difference(&before, &store.cache_stats());
    store.close().await;

    let gets = sizes.zipf_gets as f64;
    let tier1_hits = stats.tier1.hits as f64;
    let tier2_hits = stats.tier2.hits as f64;
    Ok(json!({
        "keys": ZIPF_KEYS,
        "exponent": ZIPF_EXPONENT,
        "tier1_max_bytes": ZIPF_TIER1_BYTES,
        "gets": sizes.zipf_gets,
        "gets_per_second": (gets / elapsed.as_secs_f64()).round(),
        "tier1_hit_ratio": round3(tier1_hits / gets),
        "combined_hit_ratio": round3((tier1_hits + tier2_hits) / gets),
        "cache_stats": stats_json(&stats),
    }))
}

async fn zipf_gets(
    store: &Store,
    ids: &[Uuid],
    zipf: &Zipf,
    rng: &mut StdRng,
    count: usize,
) -> anyhow::Result<()> {
    let catalogs = store.catalogs();
    for _ in 0..count {
        catalogs.get(ids[zipf.sample(rng)]).await?;
    }
    Ok(())
}

/// Samples ranks `0..n` with probability proportional to
/// `1 / (rank + 1)^exponent`, by binary search in the cumulative
/// distribution.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (1..=n)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(exponent);
                total
            })
            .collect();
        for value in &mut cumulative {
            *value /= total;
        }
        Zipf { cumulative }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let target: f64 = rng.gen();
        let rank = self.cumulative.partition_point(|&c| c <= target);
        // Rounding can leave the last cumulative value a hair under 1.
        rank.min(self.cumulative.len() - 1)
    }
}

/// Subtracts two snapshots of one store's counters. The load count and
/// mean cover the interval, but the p99 and maximum load times cannot be
/// subtracted and stay those of the store's whole life.
fn difference(before: &CacheStats, after: &CacheStats) -> CacheStats {
    let tier = |b: &TierStats, a: &TierStats| TierStats {
        hits: a.hits - b.hits,
        misses: a.misses - b.misses,
        fills: a.fills - b.fills,
        evictions: a.evictions - b.evictions,
    };
    CacheStats {
        tier1: tier(&before.tier1, &after.tier1),
        tier2: tier(&before.tier2, &after.tier2),
        loads: load_difference(&before.loads, &after.loads),
        invalidations: after.invalidations - before.invalidations,
        stale_fills_dropped: after.stale_fills_dropped - before.stale_fills_dropped,
        flushes: after.flushes - before.flushes,
        coalesced_loads: after.coalesced_loads - before.coalesced_loads,
        lease_waits: after.lease_waits - before.lease_waits,
        redis_errors: after.redis_errors - before.redis_errors,
        tier2_available: after.tier2_available,
    }
}

fn load_difference(before: &LoadStats, after: &LoadStats) -> LoadStats {
    let count = after.count - before.count;
    let total = |l: &LoadStats| u128::from(l.mean_micros) * u128::from(l.count);
    let mean = (total(after) - total(before).min(total(after)))
        .checked_div(u128::from(count))
        .unwrap_or(0);
    LoadStats {
        count,
        mean_micros: u64::try_from(mean).unwrap_or(u64::MAX),
        ..*after
    }
}

/// Converts the counters to JSON for the suites' reports.
pub fn stats_json(stats: &CacheStats) -> Value {
    let tier = |t: &TierStats| json!({ "hits": t.hits, "misses": t.misses, "fills": t.fills, "evictions": t.evictions });
    json!({
        "tier1": tier(&stats.tier1),
        "tier2": tier(&stats.tier2),
        "loads": {
            "count": stats.loads.count,
            "mean_micros": stats.loads.mean_micros,
            "p99_micros": stats.loads.p99_micros,
            "max_micros": stats.loads.max_micros,
        },
        "invalidations": stats.invalidations,
        "stale_fills_dropped": stats.stale_fills_dropped,
        "flushes": stats.flushes,
        "coalesced_loads": stats.coalesced_loads,
        "lease_waits": stats.lease_waits,
        "redis_errors": stats.redis_errors,
        "tier2_available": stats.tier2_available,
    })
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
