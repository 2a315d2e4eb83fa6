//! A PostgreSQL restart under an open store: the pool reconnects and reads
//! retry, so no call fails and the store needs no reopening. Restarts the
//! server of `tests/services.sh`, so it lives in a test binary of its own
//! (cargo runs test binaries one after another) with a single test.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polystat::config::PoolOptions;
use polystat::model::Catalog;
use polystat::{ListOptions, Store, StoreConfig};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

fn server_url() -> String {
    std::env::var("POLYSTAT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "POLYSTAT_TEST_POSTGRES_URL is not set; run `eval \"$(tests/services.sh up)\"` \
             from the repository root first"
        )
    })
}

/// Collects the warnings polystat logs, one line of `name=value` fields each.
#[derive(Clone, Default)]
struct WarningLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl WarningLog {
    fn retries(&self) -> Vec<String> {
        let lines = self.lines.lock().expect("warning log lock");
        lines
            .iter()
            .filter(|line| line.contains("retrying"))
            .cloned()
            .collect()
    }
}

struct FieldText(String);

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for WarningLog {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN && metadata.target().starts_with("polystat")
    }

    fn new_span(&self, _span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _span: &tracing::span::Id, _values: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = FieldText(String::new());
        event.record(&mut text);
        self.lines.lock().expect("warning log lock").push(text.0);
    }

    fn enter(&self, _span: &tracing::span::Id) {}

    fn exit(&self, _span: &tracing::span::Id) {}
}

fn services_command(action: &str) -> Command {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = Command::new("bash");
    command
        .arg(root.join("tests/services.sh"))
        .args([action, "postgres"])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run_services(action: &str) {
    let output = services_command(action)
        .output()
        .expect("run tests/services.sh");
    check_restart(&output);
}

fn check_restart(output: &Output) {
    assert!(
        output.status.success(),
        "tests/services.sh failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn drop_schema(name: &str) {
    let mut conn = PgConnection::connect(&server_url())
        .await
        .expect("connect for cleanup");
    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("drop test schema");
    conn.close().await.expect("close");
}

/// Reads that always reach the database: `count` and `list` bypass the cache.
async fn read_all(store: &Store, expected: u64) {
    let count = store.catalogs().count(&json!({})).await.expect("count");
    assert_eq!(count, expected);
    let page = store
        .catalogs()
        .list(&ListOptions::new().limit(1_000))
        .await
        .expect("list");
    assert_eq!(page.items.len() as u64, expected);
}

#[tokio::test]
async fn store_recovers_after_server_restart() {
    let warnings = WarningLog::default();
    tracing::subscriber::set_global_default(warnings.clone()).expect("install log collector");
    let schema = format!("t_{}", Uuid::new_v4().simple());
    let url = format!("{}?options[search_path]={schema}", server_url());
    // A short acquire timeout makes reads give up on the stopped server
    // quickly, so the retries with backoff carry them over the restart.
    let pool = PoolOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_millis(200),
        statement_timeout: Duration::from_secs(10),
        retries: 10,
    };
    let store = Store::open(StoreConfig {
        relational_url: url.clone(),
        documents_url: url,
        pool,
        ..StoreConfig::default()
    })
    .await
    .expect("open store");
    let first = store
        .catalogs()
        .create(Catalog::new("Before restart"))
        .await
        .expect("create");
    read_all(&store, 1).await;

    // The pool now contains connections that the restart closes. The first
    // write afterwards must get a new connection rather than a dead one.
    run_services("restart");
    store
        .catalogs()
        .create(Catalog::new("After restart"))
        .await
        .expect("first write after restart");
    read_all(&store, 2).await;

    // A read issued while the server is down waits and retries until the
    // server is back. The server stays down for longer than one acquire
    // timeout, so at least one retry must be logged.
    run_services("stop");
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { read_all(&store, 2).await })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    run_services("start");
    reader.await.expect("read while the server was down");
    let retries = warnings.retries();
    assert!(
        !retries.is_empty(),
        "no read was retried while the server was down"
    );
    for line in &retries {
        assert!(line.contains("backend=postgres (127.0.0.1:"), "{line}");
        assert!(line.contains("operation="), "{line}");
        assert!(line.contains("attempt="), "{line}");
        assert!(!line.contains(":polystat@"), "{line}");
    }
    read_all(&store, 2).await;
    let updated = store
        .catalogs()
        .update(first.id, 1, first.data.clone())
        .await
        .expect("update after restart");
    assert_eq!(updated.version, 2);

    store.close().await;
    drop_schema(&schema).await;
}
