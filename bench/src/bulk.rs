//! The `bulk` suite: inserting computations through polystat's bulk insert
//! versus the raw driver doing the same inserts the fastest way it can.

use std::time::{Duration, Instant};

use chrono::Utc;
use polystat::model::Computation;
use polystat::{Store, StoreConfig};
use serde_json::{json, Map, Value};
use sqlx::Connection;
use uuid::Uuid;

use crate::fixtures::{computations, control, throughput, with_schema};

/// Timed runs per side and measurement. The fastest counts, because that
/// filters out noise from other processes and from the servers' background
/// work (checkpoints, autovacuum) that lands in one run and not the next.
const RUNS: usize = 9;
const QUICK_RUNS: usize = 5;

struct Sizes {
    rows: usize,
    runs: usize,
}

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let sizes = Sizes {
        rows: if quick { 2_000 } else { 20_000 },
        runs: if quick { QUICK_RUNS } else { RUNS },
    };
    let mut results = Map::new();
    let mut ratios = Map::new();
    let mut skipped = Vec::new();

    let sqlite = measure_sqlite(&sizes).await?;
    record(&mut results, &mut ratios, "sqlite", sqlite);

    match server_url("POLYSTAT_RELATIONAL_URL", "postgres") {
        Some(url) => record(
            &mut results,
            &mut ratios,
            "postgres",
            measure_postgres(&sizes, &url).await?,
        ),
        None => skipped.push("postgres: set POLYSTAT_RELATIONAL_URL to a postgres:// URL"),
    }
    match server_url("POLYSTAT_DOCUMENTS_URL", "mongodb") {
        Some(url) => record(
            &mut results,
            &mut ratios,
            "mongodb",
            measure_mongodb(&sizes, &url).await?,
        ),
        None => skipped.push("mongodb: set POLYSTAT_DOCUMENTS_URL to a mongodb:// URL"),
    }
    Ok(json!({
        "suite": "bulk",
        "rows": sizes.rows,
        "runs": sizes.runs,
        "results": results,
        "ratios": ratios,
        "skipped": skipped,
    }))
}

/// Throughput in rows per second of polystat and of the raw driver, from
/// the fastest run of each, and the median over rounds of the ratio of the
/// two runs of one round.
struct Measurement {
    polystat: f64,
    raw: f64,
    median_round_ratio: f64,
}

fn record(
    results: &mut Map<String, Value>,
    ratios: &mut Map<String, Value>,
    backend: &str,
    m: Measurement,
) {
    results.insert(
        backend.to_string(),
        json!({
            "polystat_rows_per_s": m.polystat.round(),
            "raw_rows_per_s": m.raw.round(),
            "median_round_ratio": round3(m.median_round_ratio),
        }),
    );
    ratios.insert(format!("bulk_{backend}"), json!(round3(m.polystat / m.raw)));
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn server_url(variable: &str, scheme: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|url| url.starts_with(scheme))
}

/// Times one polystat bulk insert of fresh rows.
async fn time_polystat(store: &Store, control_id: Uuid, rows: usize) -> anyhow::Result<Duration> {
    let items = computations(control_id, rows);
    let started = Instant::now();
    store.computations().bulk_insert(items).await?;
    Ok(started.elapsed())
}

/// Every polystat and raw run of a measurement, one pair per round. Rounds
/// alternate which side goes first, so neither side always runs right after
/// the other's writes, and a burst of load on the machine slows both alike.
#[derive(Default)]
struct Rounds {
    pairs: Vec<(Duration, Duration)>,
}

impl Rounds {
    /// Returns whether polystat runs first in the next round.
    fn polystat_first(&self) -> bool {
        self.pairs.len().is_multiple_of(2)
    }

    fn push(&mut self, polystat: Duration, raw: Duration) {
        self.pairs.push((polystat, raw));
    }

    fn measurement(&self, rows: usize) -> Measurement {
        let fastest = |side: fn(&(Duration, Duration)) -> Duration| {
            self.pairs.iter().map(side).min().unwrap_or(Duration::MAX)
        };
        let mut ratios: Vec<f64> = self
            .pairs
            .iter()
            .map(|(polystat, raw)| raw.as_secs_f64() / polystat.as_secs_f64().max(f64::EPSILON))
            .collect();
        ratios.sort_by(f64::total_cmp);
        Measurement {
            polystat: throughput(rows, fastest(|pair| pair.0)),
            raw: throughput(rows, fastest(|pair| pair.1)),
            median_round_ratio: ratios.get(ratios.len() / 2).copied().unwrap_or(0.0),
        }
    }
}

/// The columns polystat writes for one computation, prepared the same way:
/// a new id, timestamps and the body serialized to JSON.
struct RawRow {
    id: Uuid,
    body: Value,
    control_id: String,
    group: String,
}

fn raw_rows(items: Vec<Computation>) -> anyhow::Result<Vec<RawRow>> {
    items
        .into_iter()
        .map(|c| {
            Ok(RawRow {
                id: Uuid::now_v7(),
                control_id: c.control_id.to_string(),
                group: c.computation_group.to_string(),
                body: serde_json::to_value(&c)?,
            })
        })
        .collect()
}

async fn measure_sqlite(sizes: &Sizes) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::embedded(dir.path().join("polystat.db"))).await?;
    let control_id = control(&store).await?;

    // The raw driver writes into the same schema and file, in one
    // transaction with one cached prepared statement.
    let url = format!("sqlite://{}", dir.path().join("polystat.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut conn)
        .await?;
    sqlx::query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .await?;
    let mut rounds = Rounds::default();
    for _ in 0..sizes.runs {
        let (polystat, raw) = if rounds.polystat_first() {
            checkpoint(&mut conn).await?;
            let polystat = time_polystat(&store, control_id, sizes.rows).await?;
            checkpoint(&mut conn).await?;
            (
                polystat,
                raw_sqlite(&mut conn, control_id, sizes.rows).await?,
            )
        } else {
            checkpoint(&mut conn).await?;
            let raw = raw_sqlite(&mut conn, control_id, sizes.rows).await?;
            checkpoint(&mut conn).await?;
            (time_polystat(&store, control_id, sizes.rows).await?, raw)
        };
        rounds.push(polystat, raw);
    }
    store.close().await;
    Ok(rounds.measurement(sizes.rows))
}

/// Copies the write-ahead log into the database file and empties it, untimed.
///
/// SQLite checkpoints automatically in the commit that grows the log past
/// 1,000 pages, and that commit waits for the copy and its fsync. Otherwise
/// whichever side's commit crosses the mark pays for pages the other side
/// wrote, which made single runs of the same work differ by up to 2 times.
async fn checkpoint(conn: &mut sqlx::SqliteConnection) -> anyhow::Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(conn)
        .await?;
    Ok(())
}

/// Times the raw SQLite insert of fresh rows.
async fn raw_sqlite(
    conn: &mut sqlx::SqliteConnection,
    control_id: Uuid,
    count: usize,
) -> anyhow::Result<Duration> {
    let items = computations(control_id, count);
    let started = Instant::now();
    let rows = raw_rows(items)?;
    let now = Utc::now().to_rfc3339();
    let mut tx = conn.begin().await?;
    for row in &rows {
        sqlx::query(
            "INSERT INTO computations (id, version, created_at, updated_at, data, control_id, computation_group) \
             VALUES (?, 1, ?, ?, ?, ?, ?)",
        )
        .bind(row.id.to_string())
        .bind(&now)
        .bind(&now)
        .bind(row.body.to_string())
        .bind(&row.control_id)
        .bind(&row.group)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // polystat's timing includes freeing its rows, so this one does too.
    drop(rows);
    Ok(started.elapsed())
}

async fn measure_postgres(sizes: &Sizes, base_url: &str) -> anyhow::Result<Measurement> {
    let schema = format!("bench_{}", Uuid::now_v7().simple());
    let url = with_schema(base_url, &schema);
    let config = StoreConfig {
        relational_url: url.clone(),
        documents_url: url.clone(),
        ..StoreConfig::default()
    };
    let store = Store::open(config).await?;
    let control_id = control(&store).await?;

    let mut conn = sqlx::PgConnection::connect(&url).await?;
    let mut rounds = Rounds::default();
    for _ in 0..sizes.runs {
        let (polystat, raw) = if rounds.polystat_first() {
            let polystat = time_polystat(&store, control_id, sizes.rows).await?;
            (
                polystat,
                raw_postgres(&mut conn, control_id, sizes.rows).await?,
            )
        } else {
            let raw = raw_postgres(&mut conn, control_id, sizes.rows).await?;
            (time_polystat(&store, control_id, sizes.rows).await?, raw)
        };
        rounds.push(polystat, raw);
    }
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await?;
    Ok(rounds.measurement(sizes.rows))
}

/// Times the raw driver's fastest path on PostgreSQL: one INSERT … SELECT
/// FROM UNNEST of column arrays, in one transaction.
async fn raw_postgres(
    conn: &mut sqlx::PgConnection,
    control_id: Uuid,
    count: usize,
) -> anyhow::Result<Duration> {
    let items = computations(control_id, count);
    let started = Instant::now();
    let rows = raw_rows(items)?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let bodies: Vec<sqlx::types::Json<&Value>> =
        rows.iter().map(|r| sqlx::types::Json(&r.body)).collect();
    let controls: Vec<String> = rows.iter().map(|r| r.control_id.clone()).collect();
    let groups: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
    let now = Utc::now();
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO computations (id, version, created_at, updated_at, data, control_id, computation_group) \
         SELECT id, 1, $2, $2, data, control_id, computation_group \
         FROM UNNEST($1::uuid[], $3::jsonb[], $4::text[], $5::text[]) AS t(id, data, control_id, computation_group)",
    )
    .bind(&ids)
    .bind(now)
    .bind(&bodies)
    .bind(&controls)
    .bind(&groups)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    drop((bodies, ids, controls, groups));
    drop(rows);
    Ok(started.elapsed())
}

async fn measure_mongodb(sizes: &Sizes, base_url: &str) -> anyhow::Result<Measurement> {
    let database = format!("bench_{}", Uuid::now_v7().simple());
    let base = base_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(base_url);
    let url = format!("{base}/{database}");
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        relational_url: format!("sqlite://{}", dir.path().join("relational.db").display()),
        documents_url: url.clone(),
        ..StoreConfig::default()
    };
    let store = Store::open(config).await?;
    let control_id = control(&store).await?;

    // The raw driver's fastest path: one ordered insert_many per batch, into
    // the same collection, so both sides maintain the same indexes.
    let client = mongodb::Client::with_uri_str(&url).await?;
    let collection = client
        .database(&database)
        .collection::<bson::Document>("computations");
    let mut rounds = Rounds::default();
    for _ in 0..sizes.runs {
        let (polystat, raw) = if rounds.polystat_first() {
            let polystat = time_polystat(&store, control_id, sizes.rows).await?;
            (
                polystat,
                raw_mongodb(&collection, control_id, sizes.rows).await?,
            )
        } else {
            let raw = raw_mongodb(&collection, control_id, sizes.rows).await?;
            (time_polystat(&store, control_id, sizes.rows).await?, raw)
        };
        rounds.push(polystat, raw);
    }
    store.close().await;
    client.database(&database).drop().await?;
    Ok(rounds.measurement(sizes.rows))
}

/// Times the raw driver's fastest path on MongoDB: one ordered
/// `insert_many`.
async fn raw_mongodb(
    collection: &mongodb::Collection<bson::Document>,
    control_id: Uuid,
    count: usize,
) -> anyhow::Result<Duration> {
    let items = computations(control_id, count);
    let started = Instant::now();
    let now = bson::DateTime::now();
    let mut documents = Vec::with_capacity(items.len());
    for item in items {
        let mut document = bson::to_document(&item)?;
        document.insert("_id", Uuid::now_v7().to_string());
        document.insert("version", 1i64);
        document.insert("createdAt", now);
        document.insert("updatedAt", now);
        documents.push(document);
    }
    collection.insert_many(&documents).await?;
    drop(documents);
    Ok(started.elapsed())
}
