//! The MongoDB backend against the FerretDB server of `tests/services.sh`:
//! documents on MongoDB, relational data in a temporary SQLite file. Each
//! test works in its own database and drops it at the end.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use mongodb::bson::{doc, Bson, Document};
use polystat::config::PoolOptions;
use polystat::model::{
    Computation, Datasource, Evidence, Folder, GuaranteePoint, Linker, Mashup, Period,
};
use polystat::{Error, ListOptions, Store, StoreConfig};
use serde_json::{json, Map, Value};
use tempfile::TempDir;
use uuid::Uuid;

use common::{catalog, control, server_url, unique_name, TEST_MASTER_KEY};

/// A store whose documents live in a fresh MongoDB database, dropped on drop.
struct MongoStore {
    store: Store,
    url: String,
    database: String,
    _dir: TempDir,
}

impl MongoStore {
    async fn open() -> MongoStore {
        let base = server_url("POLYSTAT_TEST_MONGODB_URL");
        let (prefix, _) = base.rsplit_once('/').expect("URL with a path");
        let database = unique_name();
        let url = format!("{prefix}/{database}");
        let dir = TempDir::new().expect("temp dir");
        let config = StoreConfig {
            relational_url: format!("sqlite://{}", dir.path().join("r.db").display()),
            documents_url: url.clone(),
            ..StoreConfig::default()
        }
        .with_master_key(TEST_MASTER_KEY)
        .expect("master key");
        let store = Store::open(config).await.expect("open store on MongoDB");
        MongoStore {
            store,
            url,
            database,
            _dir: dir,
        }
    }

    /// Opens the raw collection, to check how documents are stored.
    async fn raw(&self, collection: &str) -> mongodb::Collection<Document> {
        let client = mongodb::Client::with_uri_str(&self.url)
            .await
            .expect("client");
        client.database(&self.database).collection(collection)
    }
}

impl Drop for MongoStore {
    fn drop(&mut self) {
        let (url, database) = (self.url.clone(), self.database.clone());
        // Drop runs inside the test's runtime, so the cleanup gets its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&url).await?;
                client.database(&database).drop().await
            })
        });
        if let Ok(Err(error)) = cleanup.join() {
            eprintln!("dropping test database {} failed: {error}", self.database);
        }
    }
}

async fn embedded() -> (TempDir, Store) {
    common::open_store().await
}

fn at(seconds: u32, millis: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, seconds).unwrap()
        + chrono::Duration::milliseconds(i64::from(millis))
}

fn point(label: &str, value: Value, metrics: Value, timestamp: DateTime<Utc>) -> GuaranteePoint {
    GuaranteePoint {
        agreement_id: "sla-1".into(),
        guarantee_id: label.into(),
        value,
        result: true,
        timestamp,
        metrics: metrics.as_object().cloned().unwrap_or_default(),
        scope: Map::new(),
        computation_group: None,
        unique_key: String::new(),
    }
}

fn computation(control_id: Uuid, value: Value) -> Computation {
    Computation {
        computation_group: Uuid::now_v7(),
        control_id,
        scope: Map::new(),
        period: Period {
            from: at(0, 123),
            to: at(1, 0),
        },
        value,
        evidences: vec![Evidence {
            id: "e1".into(),
            key: "k".into(),
            value: json!([[1, 2], [3]]),
            result: true,
            from: Some(at(0, 500)),
            to: None,
        }],
    }
}

fn linker(name: &str) -> Linker {
    Linker {
        name: name.into(),
        spec: serde_json::from_value(json!({ "sources": [{ "datasource": "pulls" }] })).unwrap(),
        execution_status: Default::default(),
        last_run_at: None,
    }
}

#[tokio::test]
async fn computation_crud_and_versions() {
    let db = MongoStore::open().await;
    let store = &db.store;
    let catalog = catalog(store, "Baseline").await;
    let control = control(store, &catalog, "C-1").await;

    let created = store
        .computations()
        .create(computation(control.id, json!(true)))
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    let read = store.computations().get(created.id).await.unwrap();
    assert_eq!(read, created);

    let mut data = read.data.clone();
    data.value = json!(false);
    let updated = store
        .computations()
        .update(created.id, 1, data.clone())
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(
        store
            .computations()
            .get(created.id)
            .await
            .unwrap()
            .data
            .value,
        json!(false)
    );

    let stale = store
        .computations()
        .update(created.id, 1, data)
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Conflict { .. }), "{stale}");
    assert!(stale.to_string().contains("expected version 1"), "{stale}");
    let stale_delete = store
        .computations()
        .delete(created.id, Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(stale_delete, Error::Conflict { .. }),
        "{stale_delete}"
    );

    store
        .computations()
        .delete(created.id, Some(2))
        .await
        .unwrap();
    let missing = store.computations().get(created.id).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    let again = store
        .computations()
        .delete(created.id, None)
        .await
        .unwrap_err();
    assert!(matches!(again, Error::NotFound { .. }), "{again}");
}

#[tokio::test]
async fn mashups_folders_and_linkers_round_trip() {
    let db = MongoStore::open().await;
    let store = &db.store;
    let root = store
        .folders()
        .create(Folder {
            name: "root".into(),
            parent_id: None,
        })
        .await
        .unwrap();
    let child = store
        .folders()
        .create(Folder {
            name: "child".into(),
            parent_id: Some(root.id),
        })
        .await
        .unwrap();
    assert_eq!(store.folders().get(child.id).await.unwrap(), child);
    let children = store
        .folders()
        .list(&ListOptions::new().filter(json!({ "parentId": root.id.to_string() })))
        .await
        .unwrap();
    assert_eq!(children.items, vec![child.clone()]);

    // Node-RED wires are arrays of arrays, which FerretDB 1.x cannot store as they are.
    let nodes = vec![
        json!({ "id": "n1", "type": "inject", "wires": [["n2", "n3"], []] }),
        json!({ "id": "n2", "type": "debug", "wires": [] }),
    ];
    let mashup = store
        .mashups()
        .create(Mashup {
            name: "flow".into(),
            folder_id: Some(child.id),
            nodes,
        })
        .await
        .unwrap();
    assert_eq!(store.mashups().get(mashup.id).await.unwrap(), mashup);
    let wired = store
        .mashups()
        .list(&ListOptions::new().filter(json!({ "nodes.wires": { "$size": 2 } })))
        .await
        .unwrap();
    assert_eq!(wired.items.len(), 1);

    let linker = store.linkers().create(linker("join")).await.unwrap();
    assert_eq!(store.linkers().get(linker.id).await.unwrap(), linker);
    let found = store
        .linkers()
        .find_one(json!({ "name": "join" }))
        .await
        .unwrap();
    assert_eq!(found.map(|l| l.id), Some(linker.id));
}

#[tokio::test]
async fn unique_indexes_conflict_naming_fields() {
    let db = MongoStore::open().await;
    let store = &db.store;

    let first = store
        .datasources()
        .create(Datasource::file("pulls", "a.json"))
        .await
        .unwrap();
    let duplicate = store
        .datasources()
        .create(Datasource::file("pulls", "b.json"))
        .await
        .unwrap_err();
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate}");
    assert!(
        duplicate.to_string().contains("owner and name"),
        "{duplicate}"
    );
    let mut other_owner = Datasource::file("pulls", "b.json");
    other_owner.owner = "team-b".into();
    let second = store
        .datasources()
        .create(other_owner.clone())
        .await
        .unwrap();
    other_owner.owner = first.data.owner.clone();
    let renamed = store
        .datasources()
        .update(second.id, second.version, other_owner)
        .await
        .unwrap_err();
    assert!(matches!(renamed, Error::Conflict { .. }), "{renamed}");
    assert!(renamed.to_string().contains("owner and name"), "{renamed}");

    store.linkers().create(linker("join")).await.unwrap();
    let linker_duplicate = store.linkers().create(linker("join")).await.unwrap_err();
    assert!(
        linker_duplicate.to_string().contains("same name"),
        "{linker_duplicate}"
    );

    let p = point("uptime", json!(1), json!({}), at(0, 0));
    store.guarantee_points().create(p.clone()).await.unwrap();
    let point_duplicate = store.guarantee_points().create(p).await.unwrap_err();
    assert!(
        matches!(point_duplicate, Error::Conflict { .. }),
        "{point_duplicate}"
    );
    assert!(
        point_duplicate.to_string().contains("uniqueKey"),
        "{point_duplicate}"
    );
}

#[tokio::test]
async fn bulk_insert_is_all_or_nothing() {
    let db = MongoStore::open().await;
    let points = db.store.guarantee_points();
    let existing = points
        .create(point("p0", json!(0), json!({}), at(0, 0)))
        .await
        .unwrap();

    let batch = vec![
        point("p1", json!(1), json!({}), at(1, 0)),
        point("p2", json!(2), json!({}), at(2, 0)),
        point("p1", json!(1), json!({}), at(1, 0)),
    ];
    let error = points.bulk_insert(batch).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error}");
    assert_eq!(points.count(&json!({})).await.unwrap(), 1);

    let clashing = vec![
        point("p3", json!(3), json!({}), at(3, 0)),
        point("p0", json!(0), json!({}), at(0, 0)),
    ];
    let error = points.bulk_insert(clashing).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error}");
    let all = points.list_all(&ListOptions::new()).await.unwrap();
    assert_eq!(all, vec![existing]);

    let fine = (4..9)
        .map(|i| point(&format!("p{i}"), json!(i), json!({}), at(i, 0)))
        .collect();
    assert_eq!(points.bulk_insert(fine).await.unwrap().len(), 5);
    assert_eq!(points.count(&json!({})).await.unwrap(), 6);
}

#[tokio::test]
async fn replace_swaps_computations() {
    let db = MongoStore::open().await;
    let store = &db.store;
    let catalog = catalog(store, "Baseline").await;
    let control = control(store, &catalog, "C-1").await;
    let old = store
        .computations()
        .bulk_insert(vec![
            computation(control.id, json!(1)),
            computation(control.id, json!(2)),
        ])
        .await
        .unwrap();
    let old_ids: Vec<Uuid> = old.iter().map(|c| c.id).collect();

    let new_id = store
        .computations()
        .replace(&old_ids, computation(control.id, json!(3)))
        .await
        .unwrap();
    let left = store
        .computations()
        .list_all(&ListOptions::new())
        .await
        .unwrap();
    assert_eq!(left.iter().map(|c| c.id).collect::<Vec<_>>(), vec![new_id]);
    assert_eq!(left[0].data.value, json!(3));
}

#[tokio::test]
async fn pages_by_id_and_sorted() {
    let db = MongoStore::open().await;
    let folders = db.store.folders();
    let items = (0..25)
        .map(|i| Folder {
            name: format!("f{i:02}"),
            parent_id: None,
        })
        .collect();
    let created = folders.bulk_insert(items).await.unwrap();
    let mut ids: Vec<Uuid> = created.iter().map(|f| f.id).collect();
    ids.sort();

    let mut seen = Vec::new();
    let mut options = ListOptions::new().limit(10);
    loop {
        let page = folders.list(&options).await.unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|f| f.id));
        match page.next_cursor {
            Some(cursor) => options = options.cursor(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let mut names = Vec::new();
    let mut options = ListOptions::new()
        .filter(json!({ "name": { "$gte": "f05" } }))
        .sort(json!({ "name": -1 }))
        .limit(7);
    loop {
        let page = folders.list(&options).await.unwrap();
        names.extend(page.items.iter().map(|f| f.data.name.clone()));
        match page.next_cursor {
            Some(cursor) => options = options.cursor(cursor),
            None => break,
        }
    }
    let expected: Vec<String> = (5..25).rev().map(|i| format!("f{i:02}")).collect();
    assert_eq!(names, expected);

    assert_eq!(folders.count(&json!({})).await.unwrap(), 25);
    assert_eq!(
        folders
            .count(&json!({ "name": { "$lt": "f05" } }))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        folders
            .count(&json!({ "parentId": Uuid::now_v7().to_string() }))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn list_all_reads_past_one_batch() {
    let db = MongoStore::open().await;
    let folders = db.store.folders();
    let items = (0..2_500)
        .map(|i| Folder {
            name: format!("f{i:04}"),
            parent_id: None,
        })
        .collect();
    let created = folders.bulk_insert(items).await.unwrap();
    let mut ids: Vec<Uuid> = created.iter().map(|f| f.id).collect();
    ids.sort();

    let all = folders.list_all(&ListOptions::new()).await.unwrap();
    let listed: Vec<Uuid> = all.iter().map(|f| f.id).collect();
    assert_eq!(listed, ids);

    let first = folders
        .list(&ListOptions::new().limit(1_200))
        .await
        .unwrap();
    let cursor = first.next_cursor.expect("a cursor after 1,200 of 2,500");
    let rest = folders
        .list_all(&ListOptions::new().cursor(cursor))
        .await
        .unwrap();
    let rest: Vec<Uuid> = rest.iter().map(|f| f.id).collect();
    assert_eq!(rest, ids[1_200..]);

    let options = ListOptions::new()
        .filter(json!({ "name": { "$gte": "f1000" } }))
        .sort(json!({ "name": -1 }));
    let sorted = folders.list_all(&options).await.unwrap();
    let names: Vec<String> = sorted.iter().map(|f| f.data.name.clone()).collect();
    let expected: Vec<String> = (1_000..2_500).rev().map(|i| format!("f{i:04}")).collect();
    assert_eq!(names, expected);

    let page = folders.list(&options.clone().limit(100)).await.unwrap();
    let cursor = page.next_cursor.expect("a cursor after 100 of 1,500");
    let rest = folders.list_all(&options.cursor(cursor)).await.unwrap();
    let names: Vec<String> = rest.iter().map(|f| f.data.name.clone()).collect();
    assert_eq!(names, expected[100..]);
}

/// Bodies that exercise every conversion rule.
fn round_trip_value() -> Value {
    json!({
        "max": i64::MAX,
        "min": i64::MIN,
        "tenth": 0.1,
        "huge": 1e300,
        "two": 2.0,
        "instant_ms": "2024-01-31T12:34:56.789Z",
        "instant_s": "2024-01-31T12:34:56Z",
        "micros": "2024-01-31T12:34:56.789123Z",
        "zero_fraction": "2024-01-31T12:34:56.000Z",
        "offset": "2024-01-31T12:34:56+02:00",
        "date_only": "2024-01-31",
        "nested": [[1, [2, "2024-01-31T12:34:56Z"]], [], [[]]],
        "names": { "a.b": 1, "$x": 2, "100%": 3, "%2E": 4, "%array": [5], "": 6 },
        "text": "é😀\u{0}"
    })
}

#[tokio::test]
async fn value_types_round_trip() {
    let db = MongoStore::open().await;
    let store = &db.store;
    let catalog = catalog(store, "Baseline").await;
    let control = control(store, &catalog, "C-1").await;
    let created = store
        .computations()
        .create(computation(control.id, round_trip_value()))
        .await
        .unwrap();
    let read = store.computations().get(created.id).await.unwrap();
    assert_eq!(read.data.value, round_trip_value());
    assert_eq!(read.data, created.data);

    let raw = db.raw("computations").await;
    let stored = raw
        .find_one(doc! { "_id": created.id.to_string() })
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(stored.get("version"), Some(Bson::Int64(1))),
        "{stored}"
    );
    assert!(
        matches!(stored.get("createdAt"), Some(Bson::DateTime(_))),
        "{stored}"
    );
    let period = stored.get_document("period").unwrap();
    assert!(
        matches!(period.get("from"), Some(Bson::DateTime(_))),
        "{stored}"
    );
    let value = stored.get_document("value").unwrap();
    assert!(
        matches!(value.get("max"), Some(Bson::Int64(i64::MAX))),
        "{stored}"
    );
    assert!(
        matches!(value.get("tenth"), Some(Bson::Double(_))),
        "{stored}"
    );
    assert!(
        matches!(value.get("instant_ms"), Some(Bson::DateTime(_))),
        "{stored}"
    );
    assert!(
        matches!(value.get("instant_s"), Some(Bson::DateTime(_))),
        "{stored}"
    );
    assert!(
        matches!(value.get("micros"), Some(Bson::String(_))),
        "{stored}"
    );
    assert!(
        matches!(value.get("zero_fraction"), Some(Bson::String(_))),
        "{stored}"
    );

    let too_big = computation(control.id, json!({ "n": u64::MAX }));
    let error = store.computations().create(too_big).await.unwrap_err();
    assert!(matches!(error, Error::Validation { .. }), "{error}");
    assert!(error.to_string().contains("value.n"), "{error}");
    assert!(
        error.to_string().contains("18446744073709551615"),
        "{error}"
    );
}

/// Labelled values for the query cases: every edge case of docs/query.md.
fn query_values() -> Vec<Option<Value>> {
    vec![
        None,
        Some(json!(null)),
        Some(json!(1)),
        Some(json!([1, 9])),
        Some(json!([])),
        Some(json!({ "b": 1 })),
        Some(json!([{ "b": 1 }, {}])),
        Some(json!([{ "b": 1 }])),
        Some(json!(5)),
        Some(json!("x")),
        Some(json!(["x", "y"])),
        Some(json!([5, 6])),
        Some(json!([{ "0": 5 }])),
        Some(json!(i64::MAX)),
        Some(json!(1.5)),
        Some(json!(true)),
        Some(json!([null])),
        Some(json!([[1], 2])),
        Some(json!([{ "b": [1, 2] }, { "b": 3 }])),
        Some(json!("2024-05-01T10:00:00Z")),
        Some(json!("2024-05-01T10:00:00.500Z")),
        Some(json!("2024-05-01T10:00:00.123456Z")),
        Some(json!([[{ "b": 1 }]])),
        Some(json!({ "x": 1, "y": 2 })),
        Some(json!(1.0)),
        Some(json!(["2024-05-01T10:00:00Z", "z"])),
        Some(json!({ "a.b": 1, "$k": [2] })),
        Some(json!([{ "b": null }, 4])),
    ]
}

fn query_filters() -> Vec<Value> {
    let mut filters = Vec::new();
    for path in ["value", "metrics.a"] {
        let dotted = |suffix: &str| format!("{path}{suffix}");
        for condition in [
            json!(null),
            json!({ "$eq": null }),
            json!({ "$ne": null }),
            json!({ "$ne": 1 }),
            json!({ "$in": [null, 2] }),
            json!({ "$nin": [1] }),
            json!({ "$nin": [null] }),
            json!({ "$gte": null }),
            json!({ "$lt": null }),
            json!({ "$gt": 0 }),
            json!({ "$not": { "$gt": 5 } }),
            json!({ "$exists": true }),
            json!({ "$exists": false }),
            json!({ "$exists": 0 }),
            json!(1),
            json!([1, 9]),
            json!({ "b": 1 }),
            json!("x"),
            json!({ "$size": 2 }),
            json!({ "$size": 0 }),
            json!({ "$not": { "$size": 0 } }),
            json!({ "$elemMatch": { "$gt": 3, "$lt": 7 } }),
            json!({ "$elemMatch": { "b": 1 } }),
            json!({ "$not": { "$elemMatch": { "b": 1 } } }),
            json!({ "$ne": "x" }),
            json!({ "$nin": ["x", 5] }),
            json!({ "$gt": 5, "$lt": 3 }),
            json!({ "$gte": i64::MAX }),
            json!({ "$lt": "z" }),
            json!({ "$gt": false }),
            json!({ "$in": [[1], { "b": 1 }] }),
            json!("2024-05-01T10:00:00Z"),
            json!({ "$gt": "2024-05-01T10:00:00Z" }),
            json!({ "$lt": "2024-05-01T10:00:00Z" }),
            json!({ "$gte": "2024-05-01" }),
            json!({ "$lte": "2024-05-01T10:00:00.9" }),
            json!({ "$in": ["2024-05-01T10:00:00.500Z"] }),
        ] {
            filters.push(json!({ path: condition }));
        }
        filters.push(json!({ dotted(".b"): null }));
        filters.push(json!({ dotted(".b"): 1 }));
        filters.push(json!({ dotted(".b"): { "$ne": 1 } }));
        filters.push(json!({ dotted(".b"): { "$exists": false } }));
        filters.push(json!({ dotted(".0"): 5 }));
        filters.push(json!({ dotted(".0"): 1 }));
        filters.push(json!({ "$or": [{ path: 1 }, { path: { "$size": 0 } }] }));
        filters.push(json!({ "$nor": [{ path: 1 }, { path: null }] }));
        filters.push(json!({ "$and": [{ path: { "$gt": 1 } }, { path: { "$lt": 9 } }] }));
    }
    filters.extend([
        json!({ "timestamp": { "$gte": "2024-05-01T10:00:01Z" } }),
        json!({ "timestamp": { "$lt": "2024-05-01T10:00:01Z" } }),
        json!({ "timestamp": { "$gt": "2024-05-01T10:00:01.5" } }),
        json!({ "timestamp": "2024-05-01T10:00:02Z" }),
        json!({ "timestamp": { "$in": ["2024-05-01T10:00:02.500Z", "x"] } }),
        json!({ "createdAt": { "$gte": "2000-01-01T00:00:00Z" } }),
        json!({ "createdAt": { "$lt": "2000-01-01T00:00:00Z" } }),
        json!({ "updatedAt": { "$ne": "2000-01-01T00:00:00.000000Z" } }),
        json!({ "version": 1 }),
        json!({ "id": { "$exists": true } }),
        json!({ "_id": { "$exists": false } }),
        json!({ "guaranteeId": { "$in": ["q03", "q07"] } }),
        json!({ "$or": [{ "value": 5 }, { "metrics.a": "x" }] }),
        json!({ "absent": null }),
        json!({ "absent": { "$exists": false } }),
        json!({ "absent": { "$ne": 1 } }),
        json!({ "$nor": [{ "absent": null }] }),
        json!({ "$nor": [{ "value": { "$in": [1, "x"] } }] }),
        json!({ "$nor": [{ "value": { "$size": 2 } }, { "value": { "$gte": 1.5 } }] }),
        json!({ "$nor": [{ "metrics.a": { "$exists": true } }] }),
        json!({ "$nor": [{ "metrics.a": { "$size": 2 } }] }),
        json!({ "$nor": [{ "metrics.a": 5 }] }),
        json!({ "$nor": [{ "value": "2024-05-01T10:00:00Z" }] }),
        json!({ "$nor": [{ "createdAt": { "$ne": "x" } }] }),
        json!({ "value": { "$not": { "$in": [null, 5] } } }),
        json!({ "value": { "$not": { "$lt": "2024-05-01T10:00:00Z" } } }),
        json!({ "value": { "$not": { "$exists": true } } }),
        json!({ "metrics.a": { "$not": { "$size": 2 } } }),
    ]);
    filters
}

async fn store_query_points(store: &Store) {
    let points = query_values()
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let metrics = match &value {
                Some(value) => json!({ "a": value }),
                None => json!({}),
            };
            let timestamp = at(0, 0) + chrono::Duration::milliseconds(500 * i as i64);
            point(
                &format!("q{i:02}"),
                value.unwrap_or(Value::Null),
                metrics,
                timestamp,
            )
        })
        .collect();
    store.guarantee_points().bulk_insert(points).await.unwrap();
}

async fn labels(store: &Store, filter: &Value) -> Vec<String> {
    let options = ListOptions::new().filter(filter.clone());
    let records = store.guarantee_points().list_all(&options).await.unwrap();
    records.into_iter().map(|r| r.data.guarantee_id).collect()
}

#[tokio::test]
async fn query_edge_cases_match_embedded_store() {
    let db = MongoStore::open().await;
    let (_dir, local) = embedded().await;
    store_query_points(&db.store).await;
    store_query_points(&local).await;

    for filter in query_filters() {
        let expected = labels(&local, &filter).await;
        let actual = labels(&db.store, &filter).await;
        assert_eq!(actual, expected, "filter {filter}");
        let count = db.store.guarantee_points().count(&filter).await.unwrap();
        assert_eq!(count, expected.len() as u64, "count of {filter}");
    }
}

#[tokio::test]
async fn unreachable_server_names_host_without_password() {
    // A listener that never accepts: the driver connects but gets no reply.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = TempDir::new().unwrap();
    let config = StoreConfig {
        relational_url: format!("sqlite://{}", dir.path().join("r.db").display()),
        documents_url: format!("mongodb://admin:s3cret@127.0.0.1:{port}/audit"),
        pool: PoolOptions {
            acquire_timeout: Duration::from_secs(1),
            ..PoolOptions::default()
        },
        ..StoreConfig::default()
    };

    let started = std::time::Instant::now();
    let Err(error) = Store::open(config).await else {
        panic!("opening a store on an unreachable server succeeded");
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    assert!(matches!(error, Error::Unavailable { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("mongodb (127.0.0.1:{port}/audit)")),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
    assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
}

#[tokio::test]
async fn invalid_url_is_a_configuration_error() {
    let dir = TempDir::new().unwrap();
    for url in [
        "mongodb://127.0.0.1:57017/bad.name",
        "mongodb://user:s3cret@/x",
    ] {
        let config = StoreConfig {
            relational_url: format!("sqlite://{}", dir.path().join("r.db").display()),
            documents_url: url.to_string(),
            ..StoreConfig::default()
        };
        let Err(error) = Store::open(config).await else {
            panic!("opening a store with {url} succeeded");
        };
        assert!(
            matches!(error, Error::Configuration { .. }),
            "{url}: {error}"
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}

#[tokio::test]
async fn migrations_create_indexes() {
    let db = MongoStore::open().await;
    for (collection, index, unique) in [
        ("guarantee_points", "uniqueKey_1", true),
        ("guarantee_points", "agreementId_1", false),
        ("datasources", "owner_1_name_1", true),
        ("linkers", "name_1", true),
        ("computations", "controlId_1", false),
        ("mashups", "folderId_1", false),
        ("folders", "parentId_1", false),
    ] {
        let raw = db.raw(collection).await;
        let names = raw.list_index_names().await.unwrap();
        assert!(
            names.contains(&index.to_string()),
            "{collection}: {names:?}"
        );
        let models = raw.list_indexes().await.unwrap();
        let models: Vec<_> = futures::TryStreamExt::try_collect(models).await.unwrap();
        let model = models
            .iter()
            .find(|m| m.options.as_ref().and_then(|o| o.name.as_deref()) == Some(index))
            .unwrap();
        let is_unique = model
            .options
            .as_ref()
            .and_then(|o| o.unique)
            .unwrap_or(false);
        assert_eq!(is_unique, unique, "{collection}.{index}");
    }

    // A second open of the same database finds everything in place.
    let dir = TempDir::new().unwrap();
    let again = Store::open(StoreConfig {
        relational_url: format!("sqlite://{}", dir.path().join("r.db").display()),
        documents_url: db.url.clone(),
        ..StoreConfig::default()
    })
    .await;
    assert!(again.is_ok(), "{:?}", again.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_version_succeed_once() {
    let db = MongoStore::open().await;
    let folders = db.store.folders();
    let mut rounds = Vec::new();
    for round in 0..5 {
        let created = folders
            .create(Folder {
                name: format!("contended {round}"),
                parent_id: None,
            })
            .await
            .unwrap();
        let writers = (0..8).map(|writer| {
            let folders = folders.clone();
            let data = Folder {
                name: format!("writer {writer}"),
                parent_id: None,
            };
            tokio::spawn(async move { folders.update(created.id, 1, data).await })
        });
        let results = futures::future::join_all(writers).await;
        let won: Vec<_> = results
            .into_iter()
            .map(|joined| joined.expect("writer task"))
            .filter(|result| match result {
                Ok(_) => true,
                Err(Error::Conflict { .. }) => false,
                Err(other) => panic!("unexpected error {other}"),
            })
            .collect();
        let stored = folders.get(created.id).await.unwrap();
        rounds.push((won.len(), stored.version));
        // The next version is writable again after the contest.
        folders
            .update(created.id, stored.version, stored.data.clone())
            .await
            .expect("update after the contest");
    }
    for (won, version) in rounds {
        assert_eq!(won, 1, "exactly one writer of version 2 succeeds");
        assert_eq!(version, 2);
    }
}
