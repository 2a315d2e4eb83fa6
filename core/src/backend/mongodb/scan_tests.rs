//! Scans against the FerretDB server of `tests/services.sh`, counting the
//! commands that the driver sends. Each test works in its own database and
//! drops it. Without `POLYSTAT_TEST_MONGODB_URL` the tests print that they
//! were skipped and pass, so that `cargo test --lib` runs without servers.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use serde_json::json;
use uuid::Uuid;

use super::{client_options, MongoBackend};
use crate::backend::{PoolOptions, Row};
use crate::model::{CollectionSpec, Entity, Folder};
use crate::query::Filter;

/// Names of the commands the driver started, in order.
type Commands = Arc<Mutex<Vec<String>>>;

/// Opens a backend on a fresh database that records the commands it sends,
/// or returns `None` when no server is configured.
async fn open_recording() -> Option<(MongoBackend, Commands)> {
    let Ok(base) = std::env::var("POLYSTAT_TEST_MONGODB_URL") else {
        eprintln!("skipped: POLYSTAT_TEST_MONGODB_URL is not set");
        return None;
    };
    let (prefix, _) = base.rsplit_once('/').expect("URL with a path");
    let url = format!("{prefix}/t_{}", Uuid::now_v7().simple());
    let pool = PoolOptions::default();
    let mut options = client_options(&url, &pool).await.expect("client options");
    let commands = Commands::default();
    let recorded = Arc::clone(&commands);
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            let mut names = recorded.lock().unwrap_or_else(|e| e.into_inner());
            names.push(started.command_name);
        }
    }));
    let backend = MongoBackend::connect(&url, options, &pool)
        .await
        .expect("open the backend");
    Some((backend, commands))
}

fn spec() -> &'static CollectionSpec {
    &<Folder as Entity>::SPEC
}

fn folder(index: usize) -> Row {
    let now = Utc::now();
    Row {
        id: Uuid::now_v7(),
        version: 1,
        created_at: now,
        updated_at: now,
        body: json!({ "name": format!("f{index:04}"), "parentId": null }),
    }
}

fn count(commands: &Commands, name: &str) -> usize {
    let names = commands.lock().unwrap_or_else(|e| e.into_inner());
    names.iter().filter(|n| *n == name).count()
}

#[tokio::test]
async fn scan_reads_through_one_cursor() {
    let Some((backend, commands)) = open_recording().await else {
        return;
    };
    let rows: Vec<Row> = (0..2_500).map(folder).collect();
    backend.insert(spec(), &rows).await.expect("insert");
    let mut expected: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    expected.sort();
    commands.lock().unwrap().clear();

    let filter = Filter::default();
    let mut scan = backend
        .scan(spec(), &[], &filter, None, 1_000)
        .expect("start the scan");
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    loop {
        let batch = scan.next_batch().await.expect("read a batch");
        if batch.is_empty() {
            break;
        }
        sizes.push(batch.len());
        ids.extend(batch.iter().map(|r| r.id));
    }

    assert_eq!(sizes, [1_000, 1_000, 500]);
    assert_eq!(ids, expected);
    assert_eq!(
        count(&commands, "find"),
        1,
        "{:?}",
        commands.lock().unwrap()
    );
    let get_mores = count(&commands, "getMore");
    assert!((2..=3).contains(&get_mores), "{get_mores} getMore commands");
    backend.database.drop().await.expect("drop the database");
}

#[tokio::test]
async fn scan_after_an_id_with_filter() {
    let Some((backend, commands)) = open_recording().await else {
        return;
    };
    let rows: Vec<Row> = (0..300).map(folder).collect();
    backend.insert(spec(), &rows).await.expect("insert");
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| r.id);
    let after = sorted[99].id;
    commands.lock().unwrap().clear();

    let filter = Filter::parse(&json!({ "name": { "$lt": "f0200" } })).expect("filter");
    let mut scan = backend
        .scan(spec(), &[], &filter, Some(after), 50)
        .expect("start the scan");
    let mut read = Vec::new();
    loop {
        let batch = scan.next_batch().await.expect("read a batch");
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 50, "batch of {}", batch.len());
        read.extend(batch);
    }

    // The server may return more rows than the filter selects, because the
    // repository checks every row; it must return them in id order after
    // `after`, and miss none.
    assert!(read.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert!(read.iter().all(|row| row.id > after));
    let below = |row: &Row| row.body["name"].as_str().is_some_and(|n| n < "f0200");
    let ids: Vec<Uuid> = read.iter().filter(|r| below(r)).map(|r| r.id).collect();
    let expected: Vec<Uuid> = sorted[100..]
        .iter()
        .filter(|r| below(r))
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(
        count(&commands, "find"),
        1,
        "{:?}",
        commands.lock().unwrap()
    );
    backend.database.drop().await.expect("drop the database");
}
