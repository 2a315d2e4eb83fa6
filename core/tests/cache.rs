//! The two-tier cache on the servers: PostgreSQL and MongoDB behind tier 1
//! in each store and tier 2 in a shared Redis. Two stores opened on the same
//! configuration stand for two processes: each has its own tier 1.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use polystat::config::CacheOptions;
use polystat::job::TransformSet;
use polystat::model::{Catalog, Computation, Datasource, Folder, Linker, Period};
use polystat::{ListOptions, Store, StoreConfig};
use serde_json::json;
use tempfile::TempDir;

use common::{target_config, Target};

/// How long another store may take to drop an entry a write replaced: the
/// invalidation travels over Redis pub/sub on loopback.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(2);

/// Calls `check` every 5 ms until it returns true, and fails the test with
/// `failure` once [`PROPAGATION_LIMIT`] has passed.
async fn wait_until<F, Fut>(failure: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < PROPAGATION_LIMIT, "{failure}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn open(config: &StoreConfig) -> Store {
    Store::open(config.clone()).await.expect("open store")
}

/// Two stores on one PostgreSQL schema, MongoDB database and Redis prefix.
async fn two_stores() -> (TempDir, StoreConfig, Store, Store) {
    let dir = TempDir::new().expect("temp dir");
    let config = target_config(Target::Servers, &dir);
    let first = open(&config).await;
    let second = open(&config).await;
    (dir, config, first, second)
}

/// Reads `id` from `store` until its name is `expected` or the limit passes.
async fn eventually_named(store: &Store, id: uuid::Uuid, expected: &str) -> Duration {
    let started = Instant::now();
    loop {
        let read = store.catalogs().get(id).await.expect("get");
        if read.data.name == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PROPAGATION_LIMIT,
            "still read {:?} (version {}) {:?} after the write",
            read.data.name,
            read.version,
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn miss_fills_both_tiers() {
    let (_dir, _config, first, second) = two_stores().await;
    assert!(
        first.cache_stats().tier2_available,
        "the subscription is live after open"
    );
    let created = first
        .catalogs()
        .create(Catalog::new("shared"))
        .await
        .unwrap();

    first.catalogs().get(created.id).await.unwrap();
    let stats = first.cache_stats();
    assert_eq!(stats.tier1.misses, 1);
    assert_eq!(stats.tier2.misses, 1);
    assert_eq!(stats.loads.count, 1);
    assert_eq!(stats.tier1.fills, 1);
    assert_eq!(stats.tier2.fills, 1);

    let read = second.catalogs().get(created.id).await.unwrap();
    assert_eq!(read.data.name, "shared");
    let stats = second.cache_stats();
    assert_eq!(stats.tier2.hits, 1, "{stats:?}");
    assert_eq!(
        stats.loads.count, 0,
        "the second store never read the database"
    );

    second.catalogs().get(created.id).await.unwrap();
    assert_eq!(second.cache_stats().tier1.hits, 1);
}

#[tokio::test]
async fn write_reaches_other_store_tier1() {
    let (_dir, _config, first, second) = two_stores().await;
    let created = first.catalogs().create(Catalog::new("v1")).await.unwrap();
    let folder = first
        .folders()
        .create(Folder {
            name: "folder v1".into(),
            parent_id: None,
        })
        .await
        .unwrap();
    // Both tier 1 caches now hold version 1.
    for store in [&first, &second] {
        store.catalogs().get(created.id).await.unwrap();
        store.catalogs().get(created.id).await.unwrap();
        store.folders().get(folder.id).await.unwrap();
    }
    assert!(second.cache_stats().tier1.hits >= 1);

    let mut data = created.data.clone();
    data.name = "v2".into();
    first.catalogs().update(created.id, 1, data).await.unwrap();
    // The writer reads its own write at once.
    assert_eq!(
        first.catalogs().get(created.id).await.unwrap().data.name,
        "v2"
    );
    let delay = eventually_named(&second, created.id, "v2").await;
    eprintln!("the other store saw the write after {delay:?}");
    assert!(second.cache_stats().invalidations >= 1);

    let mut folder_data = folder.data.clone();
    folder_data.name = "folder v2".into();
    second
        .folders()
        .update(folder.id, 1, folder_data)
        .await
        .unwrap();
    let folders = first.folders();
    wait_until("folder update never arrived", || async {
        folders.get(folder.id).await.unwrap().version == 2
    })
    .await;
    assert_eq!(folders.get(folder.id).await.unwrap().data.name, "folder v2");
}

#[tokio::test]
async fn delete_reaches_every_store() {
    let (_dir, _config, first, second) = two_stores().await;
    let created = first
        .catalogs()
        .create(Catalog::new("doomed"))
        .await
        .unwrap();
    first.catalogs().get(created.id).await.unwrap();
    second.catalogs().get(created.id).await.unwrap();
    first.catalogs().delete(created.id, Some(1)).await.unwrap();
    let catalogs = second.catalogs();
    wait_until("deleted record still served", || async {
        catalogs.find(created.id).await.unwrap().is_none()
    })
    .await;
    assert!(first.catalogs().find(created.id).await.unwrap().is_none());
}

#[tokio::test]
async fn one_store_misses_load_once() {
    let (_dir, _config, first, _second) = two_stores().await;
    let created = first.catalogs().create(Catalog::new("hot")).await.unwrap();
    let catalogs = first.catalogs();
    let reads = (0..32).map(|_| catalogs.get(created.id));
    let results = futures::future::join_all(reads).await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap().data.name == "hot"));
    let stats = first.cache_stats();
    assert_eq!(stats.loads.count, 1, "{stats:?}");
    assert_eq!(stats.coalesced_loads, 31, "{stats:?}");
}

#[tokio::test]
async fn lease_lets_two_stores_load_once() {
    let (_dir, _config, first, second) = two_stores().await;
    let created = first.catalogs().create(Catalog::new("hot")).await.unwrap();
    let (here, there) = (first.catalogs(), second.catalogs());
    let (a, b) = tokio::join!(here.get(created.id), there.get(created.id));
    assert_eq!(a.unwrap().data.name, "hot");
    assert_eq!(b.unwrap().data.name, "hot");
    let (one, two) = (first.cache_stats(), second.cache_stats());
    assert_eq!(
        one.loads.count + two.loads.count,
        1,
        "one store loads, the other waits for its fill: {one:?} {two:?}"
    );
    // The other store either waited for the lease or, when its lookup came
    // after the fill, hit tier 2; which one depends on timing.
    let shared = one.lease_waits + two.lease_waits + one.tier2.hits + two.tier2.hits;
    assert!(shared >= 1, "{one:?} {two:?}");
}

#[tokio::test]
async fn key_lists_cached_until_written() {
    let (_dir, _config, first, second) = two_stores().await;
    let catalog = first.catalogs().create(Catalog::new("c")).await.unwrap();
    let control = common::control(&first, &catalog, "ac-1").await;
    let computation = || Computation {
        computation_group: uuid::Uuid::now_v7(),
        control_id: control.id,
        scope: serde_json::Map::new(),
        period: Period {
            from: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        },
        value: json!({ "passed": true }),
        evidences: Vec::new(),
    };
    first
        .computations()
        .bulk_insert(vec![computation(), computation()])
        .await
        .unwrap();
    let options = ListOptions::new().filter(json!({ "controlId": control.id.to_string() }));

    assert_eq!(
        first
            .computations()
            .list(&options)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let before = first.cache_stats();
    assert_eq!(
        first
            .computations()
            .list(&options)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let after = first.cache_stats();
    assert_eq!(
        after.tier1.hits,
        before.tier1.hits + 1,
        "the second list is a tier-1 hit"
    );
    assert_eq!(
        second
            .computations()
            .list(&options)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        second.cache_stats().loads.count,
        0,
        "the other store hit tier 2"
    );

    // An insert retires the cached lists, here at once and there over pub/sub.
    first.computations().create(computation()).await.unwrap();
    assert_eq!(
        first
            .computations()
            .list(&options)
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let computations = second.computations();
    wait_until("list never saw the insert", || async {
        computations.list(&options).await.unwrap().items.len() == 3
    })
    .await;

    // Lists without a key equality always read the database.
    let loads = first.cache_stats().loads.count;
    first
        .computations()
        .list(&ListOptions::new())
        .await
        .unwrap();
    first
        .computations()
        .list(&ListOptions::new())
        .await
        .unwrap();
    assert_eq!(first.cache_stats().loads.count, loads);
}

#[tokio::test]
async fn linker_results_cached_per_version() {
    let (_dir, config, first, second) = two_stores().await;
    let data = TempDir::new().unwrap();
    std::fs::write(
        data.path().join("rows.json"),
        json!([{ "id": 1, "name": "a" }, { "id": 2, "name": "b" }]).to_string(),
    )
    .unwrap();
    let first = first.with_data_root(data.path());
    let second = second.with_data_root(data.path());
    first
        .datasources()
        .create(Datasource::file("rows", "rows.json"))
        .await
        .unwrap();
    let spec = json!({ "sources": [{ "datasource": "rows" }] });
    let linker = first
        .linkers()
        .create(Linker {
            name: "all rows".into(),
            spec: serde_json::from_value(spec).unwrap(),
            execution_status: Default::default(),
            last_run_at: None,
        })
        .await
        .unwrap();
    let transforms = TransformSet::new(config.transform_limits.clone());

    let output = first
        .linker_result(linker.id, &transforms, None)
        .await
        .unwrap();
    assert_eq!(output.records.len(), 2);
    let loads = first.cache_stats().loads.count;
    let again = first
        .linker_result(linker.id, &transforms, None)
        .await
        .unwrap();
    assert_eq!(again, output);
    assert_eq!(first.cache_stats().loads.count, loads, "served from tier 1");
    let shared = second
        .linker_result(linker.id, &transforms, None)
        .await
        .unwrap();
    assert_eq!(shared, output);

    // Other run options are another entry.
    let sampled = first
        .linker_result(linker.id, &transforms, Some(1))
        .await
        .unwrap();
    assert_eq!(sampled.records.len(), 1);

    // Pointing the datasource at another file is another entry.
    std::fs::write(
        data.path().join("other.json"),
        json!([{ "id": 9, "name": "z" }]).to_string(),
    )
    .unwrap();
    let source = first
        .datasources()
        .find_one(json!({ "name": "rows" }))
        .await
        .unwrap()
        .expect("datasource");
    first
        .datasources()
        .update(
            source.id,
            source.version,
            Datasource::file("rows", "other.json"),
        )
        .await
        .unwrap();
    let moved = first
        .linker_result(linker.id, &transforms, None)
        .await
        .unwrap();
    assert_eq!(moved.records.len(), 1);
    assert_eq!(moved.records[0]["name"], "z");
    let mut back = first
        .datasources()
        .find_one(json!({ "name": "rows" }))
        .await
        .unwrap()
        .expect("datasource");
    back.data = Datasource::file("rows", "rows.json");
    first
        .datasources()
        .update(back.id, back.version, back.data)
        .await
        .unwrap();

    // A new linker version is another entry too.
    std::fs::write(
        data.path().join("rows.json"),
        json!([{ "id": 3, "name": "c" }]).to_string(),
    )
    .unwrap();
    let mut changed = linker.data.clone();
    changed.name = "renamed".into();
    first.linkers().update(linker.id, 1, changed).await.unwrap();
    let fresh = first
        .linker_result(linker.id, &transforms, None)
        .await
        .unwrap();
    assert_eq!(fresh.records.len(), 1);
}

#[tokio::test]
async fn unreachable_redis_degrades_to_database() {
    let dir = TempDir::new().unwrap();
    let mut config = target_config(Target::Servers, &dir);
    // Nothing listens on port 1 of the loopback address.
    config.cache_url = "redis://127.0.0.1:1/?prefix=unreachable:".into();
    config.cache = CacheOptions {
        redis_timeout: Duration::from_millis(100),
        ..CacheOptions::default()
    };
    let store = Store::open(config).await.expect("open without redis");
    let created = store.catalogs().create(Catalog::new("a")).await.unwrap();
    let mut data = created.data.clone();
    data.name = "b".into();
    store.catalogs().update(created.id, 1, data).await.unwrap();
    assert_eq!(
        store.catalogs().get(created.id).await.unwrap().data.name,
        "b"
    );
    let stats = store.cache_stats();
    assert!(!stats.tier2_available);
    assert_eq!(
        stats.tier2.hits + stats.tier2.misses,
        0,
        "tier 2 is skipped"
    );
    // Tier 1 still works, with the short TTL.
    store.catalogs().get(created.id).await.unwrap();
    assert_eq!(store.cache_stats().tier1.hits, 1);
    store.close().await;
}

#[tokio::test]
async fn cached_views_are_built_once_per_entry() {
    let (_dir, _config, first, second) = two_stores().await;
    let created = first.catalogs().create(Catalog::new("v1")).await.unwrap();
    let builds = AtomicUsize::new(0);
    let view = |store: &Store| {
        store.catalogs().cached_view(created.id, |record| {
            builds.fetch_add(1, Ordering::SeqCst);
            Some(record.data.name)
        })
    };
    assert!(view(&first).is_none(), "nothing is cached before a read");

    first.catalogs().get(created.id).await.unwrap();
    let built = view(&first).expect("a view of the cached record");
    let shared = view(&first).expect("the same view");
    assert_eq!(*built, "v1");
    assert!(Arc::ptr_eq(&built, &shared));
    assert_eq!(builds.load(Ordering::SeqCst), 1);

    // A write in another store drops the entry, and the view with it.
    let mut renamed = created.data.clone();
    renamed.name = "v2".into();
    second
        .catalogs()
        .update(created.id, created.version, renamed)
        .await
        .unwrap();
    wait_until(
        "the write never reached the first store's tier 1",
        || async { view(&first).is_none() },
    )
    .await;
    first.catalogs().get(created.id).await.unwrap();
    assert_eq!(*view(&first).expect("a view of the new record"), "v2");
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn tier1_respects_byte_bound() {
    let dir = TempDir::new().unwrap();
    let mut config = target_config(Target::Embedded, &dir);
    config.cache = CacheOptions {
        tier1_max_bytes: 64 * 1024,
        ..CacheOptions::default()
    };
    let store = Store::open(config).await.unwrap();
    let big = "x".repeat(4 * 1024);
    let mut ids = Vec::new();
    for index in 0..64 {
        let mut catalog = Catalog::new(format!("catalog {index}"));
        catalog.description = big.clone();
        ids.push(store.catalogs().create(catalog).await.unwrap().id);
    }
    for id in &ids {
        store.catalogs().get(*id).await.unwrap();
    }
    // moka applies evictions in the background; reading again runs them.
    for id in &ids {
        store.catalogs().get(*id).await.unwrap();
    }
    let stats = store.cache_stats();
    assert!(stats.tier1.evictions > 0, "{stats:?}");
    assert!(
        stats.tier1.hits < 64,
        "256 KiB of rows cannot all fit in 64 KiB: {stats:?}"
    );
}
