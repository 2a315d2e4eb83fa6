//! Storage backends. Each backend stores rows of JSON bodies with their
//! metadata; repositories above it are the same for every backend.

pub(crate) mod mongodb;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::CollectionSpec;
use crate::query::Filter;

/// One stored record at the backend level: metadata plus the JSON body.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Row {
    pub id: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub body: Value,
}

/// An equality condition on a key column, pushed into the database query.
#[derive(Debug, Clone)]
pub(crate) struct KeyEquals {
    pub column: &'static str,
    pub value: String,
}

/// The backends a store can use. An enum rather than a trait object keeps the
/// async methods free of boxing.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(sqlite::SqliteBackend),
    Postgres(postgres::PostgresBackend),
    Mongo(mongodb::MongoBackend),
}

/// Calls the same method on whichever backend `self` is.
macro_rules! dispatch {
    ($self:ident, $backend:ident => $call:expr) => {
        match $self {
            Backend::Sqlite($backend) => $call,
            Backend::Postgres($backend) => $call,
            Backend::Mongo($backend) => $call,
        }
    };
}

impl Backend {
    /// Opens the backend a URL names: `sqlite://FILE`, `postgres://…` or
    /// `mongodb://…`.
    pub async fn open(url: &str, options: &PoolOptions) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            return Ok(Backend::Sqlite(sqlite::SqliteBackend::open(url).await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(
                postgres::PostgresBackend::open(url, options).await?,
            ));
        }
        if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
            return Ok(Backend::Mongo(
                mongodb::MongoBackend::open(url, options).await?,
            ));
        }
        Err(Error::configuration(format!(
            "store URL {} has an unknown scheme; use sqlite://FILE, postgres://HOST/DB or mongodb://HOST/DB",
            crate::config::redact_url(url)
        )))
    }

    /// Short backend name for errors, logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
            Backend::Mongo(_) => "mongodb",
        }
    }

    /// Returns whether the backend enforces foreign keys and unique constraints
    /// across tables, as relational data needs.
    pub fn is_relational(&self) -> bool {
        !matches!(self, Backend::Mongo(_))
    }

    pub async fn close(&self) {
        dispatch!(self, b => b.close().await)
    }

    /// Inserts all rows in one transaction (or one ordered bulk write): either
    /// every row is stored or none.
    pub async fn insert(&self, spec: &CollectionSpec, rows: &[Row]) -> Result<()> {
        dispatch!(self, b => b.insert(spec, rows).await)
    }

    pub async fn get(&self, spec: &CollectionSpec, id: Uuid) -> Result<Option<Row>> {
        dispatch!(self, b => b.get(spec, id).await)
    }

    /// Replaces a row if its stored version is `expected_version`; returns
    /// false when no row with that id and version exists.
    pub async fn update(
        &self,
        spec: &CollectionSpec,
        row: &Row,
        expected_version: i64,
    ) -> Result<bool> {
        dispatch!(self, b => b.update(spec, row, expected_version).await)
    }

    /// Deletes a row, only at `expected_version` when given; returns whether a
    /// row was deleted.
    pub async fn delete(
        &self,
        spec: &CollectionSpec,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        dispatch!(self, b => b.delete(spec, id, expected_version).await)
    }

    /// Starts a read of the rows after `after` that match every key
    /// condition, in id order, handed out `batch_size` rows at a time.
    /// `filter` is the whole parsed filter: a backend may use it to narrow the
    /// read, and the caller still checks every row against it. Nothing is
    /// sent before the first [`Scan::next_batch`].
    pub fn scan<'a>(
        &'a self,
        spec: &'a CollectionSpec,
        keys: &'a [KeyEquals],
        filter: &'a Filter,
        after: Option<Uuid>,
        batch_size: usize,
    ) -> Result<Scan<'a>> {
        let batch_size = batch_size.max(1);
        let source = match self {
            Backend::Sqlite(backend) => ScanSource::Sqlite(backend, Keyset::after(after)),
            Backend::Postgres(backend) => ScanSource::Postgres(backend, Keyset::after(after)),
            Backend::Mongo(backend) => ScanSource::Cursor(Box::new(
                backend.scan(spec, keys, filter, after, batch_size)?,
            )),
        };
        Ok(Scan {
            spec,
            keys,
            filter,
            batch_size,
            source,
        })
    }

    /// Counts rows matching every key condition.
    pub async fn count(&self, spec: &CollectionSpec, keys: &[KeyEquals]) -> Result<u64> {
        dispatch!(self, b => b.count(spec, keys).await)
    }

    /// Deletes the rows with `delete_ids` and inserts `rows` atomically.
    pub async fn replace(
        &self,
        spec: &CollectionSpec,
        delete_ids: &[Uuid],
        rows: &[Row],
    ) -> Result<()> {
        dispatch!(self, b => b.replace(spec, delete_ids, rows).await)
    }
}

/// A read of rows in id order, batch by batch, that [`Backend::scan`]
/// starts. The MongoDB backend reads through one server cursor, so the
/// server runs the query once however many batches follow. The SQL
/// backends run one keyset query per batch (`id > last id ORDER BY id
/// LIMIT n`), which their primary key index serves.
pub(crate) struct Scan<'a> {
    spec: &'a CollectionSpec,
    keys: &'a [KeyEquals],
    filter: &'a Filter,
    batch_size: usize,
    source: ScanSource<'a>,
}

enum ScanSource<'a> {
    Sqlite(&'a sqlite::SqliteBackend, Keyset),
    Postgres(&'a postgres::PostgresBackend, Keyset),
    /// Boxed, because a driver cursor is large.
    Cursor(Box<mongodb::MongoScan<'a>>),
}

/// Position of a keyset scan.
struct Keyset {
    /// Id of the last row handed out.
    after: Option<Uuid>,
    finished: bool,
}

impl Keyset {
    fn after(after: Option<Uuid>) -> Keyset {
        Keyset {
            after,
            finished: false,
        }
    }

    /// Moves past `rows`, one batch of `limit` rows at most.
    fn advance(&mut self, rows: &[Row], limit: usize) {
        self.finished = rows.len() < limit;
        if let Some(last) = rows.last() {
            self.after = Some(last.id);
        }
    }
}

impl Scan<'_> {
    /// Reads the next rows, at most the batch size; an empty vector means
    /// that the scan is finished.
    pub async fn next_batch(&mut self) -> Result<Vec<Row>> {
        let (spec, keys, filter, limit) = (self.spec, self.keys, self.filter, self.batch_size);
        let (rows, keyset) = match &mut self.source {
            ScanSource::Cursor(cursor) => return cursor.next_batch().await,
            ScanSource::Sqlite(_, Keyset { finished: true, .. })
            | ScanSource::Postgres(_, Keyset { finished: true, .. }) => return Ok(Vec::new()),
            ScanSource::Sqlite(backend, keyset) => {
                let rows = backend
                    .scan(spec, keys, filter, keyset.after, limit)
                    .await?;
                (rows, keyset)
            }
            ScanSource::Postgres(backend, keyset) => {
                let rows = backend
                    .scan(spec, keys, filter, keyset.after, limit)
                    .await?;
                (rows, keyset)
            }
        };
        keyset.advance(&rows, limit);
        Ok(rows)
    }
}

/// Connection pool settings for the server backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Connections kept open at most.
    pub max_connections: u32,
    /// How long an operation waits for a free connection, and how long a
    /// new connection may take to establish.
    pub acquire_timeout: Duration,
    /// How long one statement or command may run.
    pub statement_timeout: Duration,
    /// Extra attempts for reads that fail with a transient error.
    pub retries: u32,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            retries: 2,
        }
    }
}
