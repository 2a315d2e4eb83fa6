//! Redis stops and starts again under two open stores. No read or write
//! fails meanwhile, and once Redis is back no store serves a record older
//! than the database's, although Redis comes back with the entries it held
//! before it stopped. Stops the server of `tests/services.sh`, so it lives
//! in a test binary of its own.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polystat::model::Catalog;
use polystat::{Store, StoreConfig};
use tempfile::TempDir;
use uuid::Uuid;

use common::{target_config, Target};

/// How long the stores may take to notice that Redis stopped or returned.
const NOTICE_LIMIT: Duration = Duration::from_secs(10);

fn services(action: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("bash")
        .arg(root.join("tests/services.sh"))
        .args([action, "redis"])
        .current_dir(root)
        .output()
        .expect("run tests/services.sh");
    assert!(
        output.status.success(),
        "tests/services.sh {action} redis failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn wait_for_tier2(store: &Store, available: bool) {
    let started = Instant::now();
    while store.cache_stats().tier2_available != available {
        assert!(
            started.elapsed() < NOTICE_LIMIT,
            "tier 2 availability did not become {available}: {:?}",
            store.cache_stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn name_of(store: &Store, id: Uuid) -> String {
    store.catalogs().get(id).await.expect("get").data.name
}

async fn rename(store: &Store, id: Uuid, name: &str) {
    let current = store.catalogs().get(id).await.expect("get before rename");
    let mut data = current.data.clone();
    data.name = name.into();
    store
        .catalogs()
        .update(id, current.version, data)
        .await
        .expect("rename");
}

/// Reads and writes one record in a loop until stopped; returns the
/// operations done. Any failure panics the task, and the test fails when it joins it.
async fn keep_busy(store: Store, id: Uuid, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let mut round = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let read = store
            .catalogs()
            .get(id)
            .await
            .expect("read during the fault");
        if round.is_multiple_of(4) {
            let mut data = read.data.clone();
            data.name = format!("busy {round}");
            // A conflict is impossible: only this task writes this record.
            store
                .catalogs()
                .update(id, read.version, data)
                .await
                .expect("write during the fault");
        }
        round += 1;
        done.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn open(config: &StoreConfig) -> Store {
    Store::open(config.clone()).await.expect("open store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_nothing_and_serves_nothing_stale() {
    let dir = TempDir::new().unwrap();
    let config = target_config(Target::Servers, &dir);
    let first = open(&config).await;
    let second = open(&config).await;
    let watched = first.catalogs().create(Catalog::new("v1")).await.unwrap();
    let busy = first.catalogs().create(Catalog::new("busy")).await.unwrap();
    // Both tiers hold version 1 in both stores.
    for store in [&first, &second] {
        assert_eq!(name_of(store, watched.id).await, "v1");
        assert_eq!(name_of(store, watched.id).await, "v1");
    }
    assert!(first.cache_stats().tier2.fills >= 1);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let worker = tokio::spawn(keep_busy(
        second.clone(),
        busy.id,
        stop.clone(),
        done.clone(),
    ));

    let before = done.load(Ordering::Relaxed);
    services("stop");
    wait_for_tier2(&first, false).await;
    wait_for_tier2(&second, false).await;
    // A write while Redis is down cannot invalidate tier 2, which still
    // contains version 1 and keeps it across the restart.
    rename(&first, watched.id, "v2").await;
    assert_eq!(name_of(&first, watched.id).await, "v2");
    assert_eq!(
        name_of(&second, watched.id).await,
        "v2",
        "tier 1 was flushed when the subscription dropped"
    );
    // Keep Redis down until the busy task has done real work without it.
    let outage = Instant::now();
    while done.load(Ordering::Relaxed) < before + 20 {
        assert!(
            outage.elapsed() < NOTICE_LIMIT,
            "the busy task stalled while Redis was down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = done.load(Ordering::Relaxed) - before;
    eprintln!(
        "busy task: {during} operations in {:?} without Redis",
        outage.elapsed()
    );

    services("start");
    wait_for_tier2(&first, true).await;
    wait_for_tier2(&second, true).await;
    for store in [&first, &second] {
        assert_eq!(name_of(store, watched.id).await, "v2");
    }
    // A store opened after the fault reads through Redis's old entry too.
    let third = open(&config).await;
    assert_eq!(name_of(&third, watched.id).await, "v2");

    // Invalidations flow again.
    rename(&third, watched.id, "v3").await;
    let started = Instant::now();
    while name_of(&second, watched.id).await != "v3" {
        assert!(
            started.elapsed() < NOTICE_LIMIT,
            "the write after recovery never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    stop.store(true, Ordering::SeqCst);
    worker.await.expect("the busy task saw no error");
    let total = done.load(Ordering::Relaxed);
    assert!(
        total > before + during,
        "the busy task kept going after the restart"
    );
    let stats = second.cache_stats();
    eprintln!("{stats:?}");
    assert!(
        stats.flushes >= 1,
        "tier 1 was flushed at least once: {stats:?}"
    );
    for store in [first, second, third] {
        store.close().await;
    }
}
