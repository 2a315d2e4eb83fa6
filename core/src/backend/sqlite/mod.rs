//! The embedded backend: one SQLite file in WAL mode through sqlx.

mod rows;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::{Error, Result};

/// Connections in the pool. SQLite allows one writer at a time, so more
/// connections only help concurrent readers.
const MAX_CONNECTIONS: u32 = 8;

/// Tries at opening a file that another process is creating at the same time.
const OPEN_ATTEMPTS: u32 = 5;

/// How long a writer waits for the file lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool over one SQLite file with the polystat schema applied.
#[derive(Clone, Debug)]
pub(crate) struct SqliteBackend {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteBackend {
    /// Opens (creating if missing) the SQLite file named by `url` and applies
    /// pending migrations, so an older file is brought up to date.
    pub async fn open(url: &str) -> Result<Self> {
        let path = path_from_url(url)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| Error::configuration(e.to_string()))?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = connect(options, &path).await?;
        migrate(&pool, &path).await?;
        tracing::debug!(path = %path.display(), "opened sqlite store");
        Ok(SqliteBackend { pool, path })
    }

    /// The connection pool, shared with the embedded state tables.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens the pool. Switching a new file to WAL mode needs a short exclusive
/// lock, which a concurrent opener may hold, so a locked file is retried.
async fn connect(options: SqliteConnectOptions, path: &std::path::Path) -> Result<SqlitePool> {
    let mut attempt = 1;
    loop {
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match pool {
            Ok(pool) => return Ok(pool),
            Err(error) if attempt < OPEN_ATTEMPTS && error.to_string().contains("locked") => {
                tracing::warn!(path = %path.display(), attempt, %error, "sqlite file is locked, retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => return Err(unavailable(path, "open failed", error)),
        }
    }
}

/// Applies pending migrations. Two processes that open a new file at once
/// race to create the schema, and the loser gets "table already exists" or a
/// lock error. A failed run is therefore retried after the winner finishes.
async fn migrate(pool: &SqlitePool, path: &std::path::Path) -> Result<()> {
    let mut attempt = 1;
    loop {
        match sqlx::migrate!("../migrations/sqlite").run(pool).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < OPEN_ATTEMPTS => {
                tracing::warn!(path = %path.display(), attempt, %error, "sqlite migration failed, retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => return Err(unavailable(path, "migration failed", error)),
        }
    }
}

/// Accepts `sqlite://PATH`, `sqlite:PATH` and `sqlite::memory:`-free file paths.
fn path_from_url(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            Error::configuration(format!(
                "{url:?} is not a SQLite URL; use sqlite://path/to/file.db"
            ))
        })?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() || rest == ":memory:" {
        return Err(Error::configuration(
            "a SQLite store needs a file path (sqlite://polystat.db); in-memory databases are not shared between connections",
        ));
    }
    Ok(PathBuf::from(rest))
}

fn unavailable(
    path: &std::path::Path,
    what: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Unavailable {
        backend: format!("sqlite ({})", path.display()),
        reason: format!("{what}: {error}"),
        source: Some(Box::new(error)),
    }
}
