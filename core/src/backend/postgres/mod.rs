//! The PostgreSQL backend: one table per collection through a sqlx pool.

mod bulk;
mod connect;
mod errors;
mod retry;
mod rows;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::backend::PoolOptions;
use crate::error::{Error, Result};

use connect::Settings;

/// A pool over one PostgreSQL database (and schema) with the polystat tables.
#[derive(Clone, Debug)]
pub(crate) struct PostgresBackend {
    pool: PgPool,
    /// `postgres (HOST:PORT/DB)` for errors and logs, without user name or password.
    label: Arc<str>,
    /// Extra attempts after a transient failure, from [`PoolOptions::retries`].
    retries: u32,
    /// Statement timeout that the server enforces, kept to report in timeout errors.
    statement_timeout: Duration,
}

impl PostgresBackend {
    /// Connects to the database the URL names, creates the schema chosen with
    /// `?options[search_path]=NAME` when it is missing, and applies pending
    /// migrations. The pool reconnects on demand after that, so a server
    /// restart needs no new `open`.
    pub async fn open(url: &str, options: &PoolOptions) -> Result<Self> {
        let settings = Settings::parse(url, options)?;
        // sqlx pings an idle connection before handing it out (the default
        // `test_before_acquire`), so connections that a server restart
        // closed are replaced instead of failing the next write.
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(true)
            .connect_lazy_with(settings.connect.clone());
        let backend = PostgresBackend {
            pool,
            label: settings.label.clone().into(),
            retries: options.retries,
            statement_timeout: options.statement_timeout,
        };
        backend.prepare(&settings, options.acquire_timeout).await?;
        tracing::debug!(backend = %backend.label, "opened postgres store");
        Ok(backend)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates the schema and applies migrations over one direct connection,
    /// so a failure reports the driver's reason (connection refused, password
    /// authentication failed) instead of a pool timeout.
    async fn prepare(&self, settings: &Settings, connect_timeout: Duration) -> Result<()> {
        let mut conn = self
            .retry("connect", || connect_once(settings, connect_timeout))
            .await
            .map_err(|e| self.failed("connect", e))?;
        if let Some(schema) = &settings.schema {
            create_schema(&mut conn, schema)
                .await
                .map_err(|e| self.failed(&format!("create schema {schema}"), e))?;
        }
        sqlx::migrate!("../migrations/postgres")
            .run(&mut conn)
            .await
            .map_err(|e| self.unavailable("migration failed", e))?;
        // The migrations are committed, so an error while closing changes nothing.
        let _ = conn.close().await;
        Ok(())
    }

    /// Builds the error for a failed `operation`, naming this backend.
    fn failed(&self, operation: &str, error: sqlx::Error) -> Error {
        self.unavailable(&format!("{operation} failed"), error)
    }

    fn unavailable(
        &self,
        reason: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Unavailable {
            backend: self.label.to_string(),
            reason: format!("{reason}: {error}"),
            source: Some(Box::new(error)),
        }
    }
}

/// Opens one connection, giving up after `timeout` as a pool acquire would.
/// A timeout is reported as an I/O error, so it is retried like one.
async fn connect_once(settings: &Settings, timeout: Duration) -> Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(&settings.connect)).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection within {timeout:?}"),
        ))),
    }
}

/// Creates `schema` unless it exists. Checking first lets a role without the
/// CREATE privilege on the database use a schema that an administrator made.
async fn create_schema(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(());
    }
    // `connect::schema_name` lets through only lowercase letters, digits and
    // underscores, so quoting the name is enough to keep the SQL safe.
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(conn).await {
        Ok(_) => Ok(()),
        // Another process created it between the check and this statement.
        Err(e) if errors::sqlstate(&e).as_deref() == Some(errors::UNIQUE_VIOLATION) => Ok(()),
        Err(e) => Err(e),
    }
}
