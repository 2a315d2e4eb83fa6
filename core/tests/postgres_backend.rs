//! The PostgreSQL backend through the public repositories: CRUD, version and
//! unique conflicts, foreign keys, bulk inserts, pagination, counts and
//! connection errors. Needs the servers from `tests/services.sh up`. Each
//! test works in its own schema, which it drops when it ends.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use polystat::config::PoolOptions;
use polystat::model::{Catalog, Computation, Control, GuaranteePoint, Period, Scope};
use polystat::{Error, ListOptions, Record, Store, StoreConfig};
use serde_json::{json, Map, Value};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// URL of the test server, from `eval "$(tests/services.sh up)"`.
fn server_url() -> String {
    std::env::var("POLYSTAT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "POLYSTAT_TEST_POSTGRES_URL is not set; run `eval \"$(tests/services.sh up)\"` \
             from the repository root first"
        )
    })
}

/// A schema for one test. Dropping the value drops the schema, also after a
/// panic, so runs leave nothing behind.
struct TestSchema {
    name: String,
    url: String,
}

impl TestSchema {
    fn new() -> TestSchema {
        let name = format!("t_{}", Uuid::new_v4().simple());
        let base = server_url();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options[search_path]={name}");
        TestSchema { name, url }
    }

    async fn open(&self) -> Store {
        self.open_with(PoolOptions::default()).await
    }

    async fn open_with(&self, pool: PoolOptions) -> Store {
        Store::open(StoreConfig {
            relational_url: self.url.clone(),
            documents_url: self.url.clone(),
            pool,
            ..StoreConfig::default()
        })
        .await
        .expect("open store on PostgreSQL")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // Drop runs inside the test's runtime, which cannot block, so the
        // cleanup gets a thread and runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&server_url()).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        });
        if let Ok(Err(error)) = cleanup.join() {
            eprintln!("dropping test schema {} failed: {error}", self.name);
        }
    }
}

async fn create_catalog(store: &Store, name: &str) -> Record<Catalog> {
    store
        .catalogs()
        .create(Catalog::new(name))
        .await
        .expect("create catalog")
}

async fn create_control(store: &Store, catalog: Uuid, name: &str) -> Record<Control> {
    store
        .controls()
        .create(Control::new(catalog, name))
        .await
        .expect("create control")
}

fn computation(control_id: Uuid, index: u32, group: Uuid) -> Computation {
    let from = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::hours(i64::from(index));
    let mut scope = Map::new();
    scope.insert("team".into(), json!(format!("team-{}", index % 7)));
    Computation {
        computation_group: group,
        control_id,
        scope,
        period: Period {
            from,
            to: from + chrono::Duration::hours(1),
        },
        value: json!({"passed": index % 3, "total": 3}),
        evidences: Vec::new(),
    }
}

fn guarantee_point(agreement: &str, hour: u32) -> GuaranteePoint {
    GuaranteePoint {
        agreement_id: agreement.into(),
        guarantee_id: "uptime".into(),
        value: json!(99.5),
        result: true,
        timestamp: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::hours(i64::from(hour)),
        metrics: Map::new(),
        scope: Map::new(),
        computation_group: None,
        unique_key: String::new(),
    }
}

/// Returns a port on 127.0.0.1 that rejects connections, because this test
/// bound it and released it again.
fn closed_local_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("local address").port()
}

#[tokio::test]
async fn catalog_crud_round_trip() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let created = create_catalog(&store, "Baseline").await;
    assert_eq!(created.version, 1);

    let read = store.catalogs().get(created.id).await.expect("get");
    assert_eq!(read, created);

    let mut data = read.data.clone();
    data.description = "updated".into();
    let updated = store
        .catalogs()
        .update(created.id, 1, data)
        .await
        .expect("update");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created_at, created.created_at);
    let reread = store.catalogs().get(created.id).await.expect("get");
    assert_eq!(reread, updated);

    store
        .catalogs()
        .delete(created.id, Some(2))
        .await
        .expect("delete");
    let missing = store.catalogs().get(created.id).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    store.close().await;
}

#[tokio::test]
async fn stale_version_conflicts() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let created = create_catalog(&store, "Baseline").await;
    store
        .catalogs()
        .update(created.id, 1, created.data.clone())
        .await
        .expect("first update");

    let stale = store
        .catalogs()
        .update(created.id, 1, created.data.clone())
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Conflict { .. }), "{stale}");
    assert!(stale.to_string().contains("expected version 1"), "{stale}");

    let stale_delete = store
        .catalogs()
        .delete(created.id, Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(stale_delete, Error::Conflict { .. }),
        "{stale_delete}"
    );
    assert_eq!(
        store.catalogs().get(created.id).await.expect("get").version,
        2
    );
    store.close().await;
}

#[tokio::test]
async fn unique_keys_conflict_naming_columns() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let scope = Scope {
        name: "team".into(),
        description: String::new(),
        scope_type: "string".into(),
        default_value: Value::Null,
    };
    store
        .scopes()
        .create(scope.clone())
        .await
        .expect("first scope");
    let duplicate = store.scopes().create(scope).await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate}");
    assert!(duplicate.to_string().contains("same name"), "{duplicate}");
    assert!(!duplicate.to_string().contains("23505"), "{duplicate}");

    let catalog = create_catalog(&store, "NIST").await;
    let mut control = Control::new(catalog.id, "Configuration change control");
    control.external_id = Some("cm-3".into());
    store
        .controls()
        .create(control.clone())
        .await
        .expect("first control");
    let duplicate = store.controls().create(control).await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate}");
    assert!(
        duplicate.to_string().contains("catalog_id and external_id"),
        "{duplicate}"
    );
    store.close().await;
}

#[tokio::test]
async fn catalog_with_controls_cannot_be_deleted() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let catalog = create_catalog(&store, "NIST").await;
    let control = create_control(&store, catalog.id, "Access control").await;

    let error = store.catalogs().delete(catalog.id, None).await.unwrap_err();
    assert!(matches!(error, Error::Reference { .. }), "{error}");
    assert!(error.to_string().contains("controls"), "{error}");
    assert!(
        error.to_string().contains(&catalog.id.to_string()),
        "{error}"
    );
    store
        .catalogs()
        .get(catalog.id)
        .await
        .expect("catalog kept");

    store
        .controls()
        .delete(control.id, None)
        .await
        .expect("delete control");
    store
        .catalogs()
        .delete(catalog.id, None)
        .await
        .expect("delete empty catalog");
    store.close().await;
}

#[tokio::test]
async fn missing_parent_control_is_reference_error() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let catalog = create_catalog(&store, "NIST").await;
    let mut control = Control::new(catalog.id, "Enhancement");
    control.parent_id = Some(Uuid::now_v7());
    let error = store.controls().create(control).await.unwrap_err();
    assert!(matches!(error, Error::Reference { .. }), "{error}");
    assert!(error.to_string().contains("parent_id"), "{error}");
    assert_eq!(store.controls().count(&json!({})).await.expect("count"), 0);
    store.close().await;
}

#[tokio::test]
async fn bulk_insert_is_all_or_nothing() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    // 6,001 rows span two insert chunks; the duplicate is in the second.
    let mut points: Vec<_> = (0..6_000)
        .map(|hour| guarantee_point("sla-1", hour))
        .collect();
    points.push(guarantee_point("sla-1", 0));
    let error = store
        .guarantee_points()
        .bulk_insert(points)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error}");
    assert!(error.to_string().contains("unique_key"), "{error}");
    let stored = store
        .guarantee_points()
        .count(&json!({}))
        .await
        .expect("count");
    assert_eq!(stored, 0, "a failed bulk insert must store nothing");

    let points: Vec<_> = (0..6_000)
        .map(|hour| guarantee_point("sla-1", hour))
        .collect();
    let records = store
        .guarantee_points()
        .bulk_insert(points)
        .await
        .expect("bulk insert");
    assert_eq!(records.len(), 6_000);
    let stored = store
        .guarantee_points()
        .count(&json!({}))
        .await
        .expect("count");
    assert_eq!(stored, 6_000);
    let last = store
        .guarantee_points()
        .get(records[5_999].id)
        .await
        .expect("get last row");
    assert_eq!(last, records[5_999]);
    store.close().await;
}

#[tokio::test]
async fn list_pages_with_cursor_and_key_filter() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let first = create_catalog(&store, "First").await;
    let second = create_catalog(&store, "Second").await;
    let mut expected = Vec::new();
    for index in 0..25 {
        let control = create_control(&store, first.id, &format!("Control {index}")).await;
        expected.push(control.id);
    }
    create_control(&store, second.id, "Other catalog").await;

    let filter = json!({ "catalog_id": first.id.to_string() });
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let mut options = ListOptions::new().filter(filter.clone()).limit(10);
        if let Some(cursor) = cursor.take() {
            options = options.cursor(cursor);
        }
        let page = store.controls().list(&options).await.expect("list page");
        pages += 1;
        seen.extend(page.items.iter().map(|record| record.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected, "pages in id order without gaps or repeats");

    let count = store.controls().count(&filter).await.expect("count");
    assert_eq!(count, 25);
    let all = store.controls().count(&json!({})).await.expect("count all");
    assert_eq!(all, 26);
    let not_a_uuid = json!({ "catalog_id": "not-a-uuid" });
    let none = store.controls().count(&not_a_uuid).await.expect("count");
    assert_eq!(none, 0);
    let page = store
        .controls()
        .list(&ListOptions::new().filter(not_a_uuid))
        .await
        .expect("list");
    assert!(page.items.is_empty());
    store.close().await;
}

#[tokio::test]
async fn json_bodies_round_trip() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let catalog = create_catalog(&store, "Bodies").await;
    let mut control = Control::new(catalog.id, "Parameters");
    control.parameters = json!({
        "threshold": 0.1,
        "big": 9_007_199_254_740_993_u64,
        "nested": {"list": [1, "two", null, {"three": true}]},
        "text": "é ✓ \"quoted\" \\ backslash",
    });
    let created = store.controls().create(control).await.expect("create");
    // A second store has an empty cache, so this read comes from the table.
    let other = schema.open().await;
    let read = other.controls().get(created.id).await.expect("get");
    assert_eq!(read, created);
    assert_eq!(
        read.data.parameters["big"],
        json!(9_007_199_254_740_993_u64)
    );
    other.close().await;

    let mut bad = Catalog::new("With NUL");
    bad.description = "before\u{0}after".into();
    let error = store.catalogs().create(bad).await.unwrap_err();
    assert!(matches!(error, Error::Validation { .. }), "{error}");
    assert!(error.to_string().contains("NUL"), "{error}");
    store.close().await;
}

#[tokio::test]
async fn replace_swaps_computations_in_one_transaction() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let catalog = create_catalog(&store, "NIST").await;
    let control = create_control(&store, catalog.id, "Access control").await;
    let group = Uuid::now_v7();
    let old = store
        .computations()
        .bulk_insert((0..3).map(|i| computation(control.id, i, group)).collect())
        .await
        .expect("insert");
    let old_ids: Vec<Uuid> = old.iter().map(|record| record.id).collect();

    let new_id = store
        .computations()
        .replace(&old_ids, computation(control.id, 99, group))
        .await
        .expect("replace");
    let remaining = store
        .computations()
        .list(&ListOptions::new())
        .await
        .expect("list");
    let ids: Vec<Uuid> = remaining.items.iter().map(|record| record.id).collect();
    assert_eq!(ids, vec![new_id]);
    let filter = json!({ "controlId": control.id.to_string() });
    let count = store.computations().count(&filter).await.expect("count");
    assert_eq!(count, 1);
    store.close().await;
}

#[tokio::test]
async fn schemas_keep_rows_apart() {
    let first = TestSchema::new();
    let second = TestSchema::new();
    let first_store = first.open().await;
    let second_store = second.open().await;
    let catalog = create_catalog(&first_store, "Only here").await;

    let missing = second_store
        .catalogs()
        .find(catalog.id)
        .await
        .expect("find");
    assert!(missing.is_none());
    let count = second_store
        .catalogs()
        .count(&json!({}))
        .await
        .expect("count");
    assert_eq!(count, 0);
    first_store.close().await;
    second_store.close().await;
}

#[tokio::test]
async fn reopening_a_schema_keeps_its_rows() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let catalog = create_catalog(&store, "Kept").await;
    store.close().await;

    let reopened = schema.open().await;
    let read = reopened.catalogs().get(catalog.id).await.expect("get");
    assert_eq!(read, catalog);
    reopened.close().await;
}

#[tokio::test]
async fn statement_timeout_is_timeout_error() {
    let schema = TestSchema::new();
    let store = schema
        .open_with(PoolOptions {
            statement_timeout: Duration::from_millis(300),
            ..PoolOptions::default()
        })
        .await;
    let catalog = create_catalog(&store, "Locked").await;

    // Another session holds the row lock, so the update waits until the
    // server cancels it.
    let mut locker = PgConnection::connect(&schema.url).await.expect("connect");
    let mut tx = locker.begin().await.expect("begin");
    sqlx::query("SELECT id FROM catalogs WHERE id = $1 FOR UPDATE")
        .bind(catalog.id)
        .execute(&mut *tx)
        .await
        .expect("lock row");
    let error = store
        .catalogs()
        .update(catalog.id, 1, catalog.data.clone())
        .await
        .unwrap_err();
    let Error::Timeout { after, .. } = &error else {
        panic!("expected a timeout error, got {error}");
    };
    assert_eq!(*after, Duration::from_millis(300));

    sqlx::query("LOCK TABLE catalogs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock table");
    let error = store.catalogs().count(&json!({})).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    tx.rollback().await.expect("rollback");
    locker.close().await.expect("close");

    let read = store.catalogs().get(catalog.id).await.expect("get");
    assert_eq!(read.version, 1, "the timed-out update must not apply");
    store.close().await;
}

#[tokio::test]
async fn unreachable_port_is_unavailable_without_password() {
    let port = closed_local_port();
    let url = format!("postgres://polystat:hunter2-secret@127.0.0.1:{port}/polystat");
    let pool = PoolOptions {
        acquire_timeout: Duration::from_secs(2),
        retries: 1,
        ..PoolOptions::default()
    };
    let error = Store::open(StoreConfig {
        relational_url: url.clone(),
        documents_url: url,
        pool,
        ..StoreConfig::default()
    })
    .await
    .unwrap_err();
    let Error::Unavailable { backend, .. } = &error else {
        panic!("expected an unavailable error, got {error}");
    };
    assert_eq!(backend, &format!("postgres (127.0.0.1:{port}/polystat)"));
    let text = format!("{error} {error:?}");
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(text.contains("connect failed"), "{text}");
}

#[tokio::test]
async fn wrong_password_is_unavailable_without_password() {
    let url = server_url().replacen("polystat:polystat@", "polystat:wrong-secret-42@", 1);
    assert!(
        url.contains("wrong-secret-42"),
        "unexpected server URL {url}"
    );
    let error = Store::open(StoreConfig {
        relational_url: url.clone(),
        documents_url: url,
        ..StoreConfig::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("wrong-secret-42"), "{text}");
    assert!(text.contains("127.0.0.1:"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
}

#[tokio::test]
async fn invalid_search_path_is_configuration_error() {
    let url = format!("{}?options[search_path]=bad-name", server_url());
    let error = Store::open(StoreConfig {
        relational_url: url.clone(),
        documents_url: url,
        ..StoreConfig::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error}");
    assert!(error.to_string().contains("bad-name"), "{error}");
}

/// Rows for the raw sqlx insert, in the column order of the table.
struct RawRows {
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    times: Vec<chrono::DateTime<Utc>>,
    bodies: Vec<Json<Value>>,
    control_ids: Vec<String>,
    groups: Vec<String>,
}

fn raw_rows(items: &[Computation]) -> RawRows {
    let now = Utc::now();
    RawRows {
        ids: items.iter().map(|_| Uuid::now_v7()).collect(),
        versions: vec![1; items.len()],
        times: vec![now; items.len()],
        bodies: items
            .iter()
            .map(|item| Json(serde_json::to_value(item).expect("serialize")))
            .collect(),
        control_ids: items
            .iter()
            .map(|item| item.control_id.to_string())
            .collect(),
        groups: items
            .iter()
            .map(|item| item.computation_group.to_string())
            .collect(),
    }
}

/// Inserts `items` with one hand-written UNNEST statement and returns the
/// time from the items to the committed rows, serialization included.
async fn raw_unnest_insert(url: &str, items: &[Computation]) -> Duration {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let started = Instant::now();
    let rows = raw_rows(items);
    sqlx::query(
        "INSERT INTO computations (id, version, created_at, updated_at, data, control_id, computation_group) \
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::jsonb[], $6::text[], $7::text[])",
    )
    .bind(&rows.ids)
    .bind(&rows.versions)
    .bind(&rows.times)
    .bind(&rows.times)
    .bind(&rows.bodies)
    .bind(&rows.control_ids)
    .bind(&rows.groups)
    .execute(&mut conn)
    .await
    .expect("raw insert");
    let elapsed = started.elapsed();
    conn.close().await.expect("close");
    elapsed
}

/// Compares a 10,000-row bulk insert through the repository with one raw
/// sqlx UNNEST statement. Prints both times; run with `--nocapture`.
#[tokio::test]
async fn bulk_insert_speed_against_raw_unnest() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let catalog = create_catalog(&store, "NIST").await;
    let control = create_control(&store, catalog.id, "Access control").await;
    let group = Uuid::now_v7();
    let items: Vec<_> = (0..10_000)
        .map(|i| computation(control.id, i, group))
        .collect();

    let raw_schema = TestSchema::new();
    raw_schema.open().await.close().await;
    let raw = raw_unnest_insert(&raw_schema.url, &items).await;

    let started = Instant::now();
    let records = store
        .computations()
        .bulk_insert(items)
        .await
        .expect("bulk insert");
    let through_store = started.elapsed();
    assert_eq!(records.len(), 10_000);
    let filter = json!({ "computationGroup": group.to_string() });
    let count = store.computations().count(&filter).await.expect("count");
    assert_eq!(count, 10_000);
    println!(
        "10,000 computations: repository bulk_insert {:.1} ms, raw sqlx UNNEST {:.1} ms",
        through_store.as_secs_f64() * 1e3,
        raw.as_secs_f64() * 1e3
    );
    store.close().await;
}
