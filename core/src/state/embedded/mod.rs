//! The embedded state backend: tokens and sessions in SQLite, rate limits,
//! pub/sub channels and temporary values in this process.

mod local;
mod sessions;
mod tokens;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

pub(crate) use local::LocalState;

use crate::error::{Error, Result};

/// The statements that create the state tables, also run on the
/// process-local database.
const STATE_SCHEMA: &str = include_str!("../../../../migrations/sqlite/0002_state.sql");

/// Minimum time between two sweeps of expired rows.
const CLEANUP_INTERVAL_MS: i64 = 60_000;

/// Token and session tables in SQLite.
pub(crate) struct SqlState {
    pool: SqlitePool,
    /// `sqlite` or `sqlite (in-memory state)`, for errors.
    label: &'static str,
    /// When expired rows were last deleted, in Unix milliseconds.
    last_cleanup: AtomicI64,
}

impl SqlState {
    /// Uses the tables that migrations created in the store's SQLite file.
    pub fn durable(pool: SqlitePool) -> SqlState {
        SqlState {
            pool,
            label: "sqlite",
            last_cleanup: AtomicI64::new(0),
        }
    }

    /// Creates the tables in a private in-memory database. It lives as long as
    /// its single connection, so the pool never closes idle connections.
    pub async fn process_local() -> Result<SqlState> {
        let label = "sqlite (in-memory state)";
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| Error::configuration(e.to_string()))?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| failed(label, "open", e))?;
        sqlx::raw_sql(STATE_SCHEMA)
            .execute(&pool)
            .await
            .map_err(|e| failed(label, "create the state tables", e))?;
        Ok(SqlState {
            pool,
            label,
            last_cleanup: AtomicI64::new(0),
        })
    }

    fn failed(&self, operation: &str, error: sqlx::Error) -> Error {
        failed(self.label, operation, error)
    }

    /// Deletes expired tokens, families and sessions at most once per
    /// minute. A failure is logged and not returned, because the caller's
    /// own write does not depend on it.
    async fn cleanup_expired(&self, now: i64) {
        let last = self.last_cleanup.load(Ordering::Relaxed);
        if now - last < CLEANUP_INTERVAL_MS {
            return;
        }
        let claimed =
            self.last_cleanup
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed);
        if claimed.is_err() {
            return;
        }
        let statements = [
            "DELETE FROM state_tokens WHERE expires_at <= ?",
            "DELETE FROM state_token_families WHERE expires_at <= ?",
            "DELETE FROM state_sessions WHERE expires_at <= ?",
        ];
        for statement in statements {
            if let Err(error) = sqlx::query(statement).bind(now).execute(&self.pool).await {
                tracing::warn!(backend = self.label, %error, "deleting expired state rows failed");
            }
        }
    }
}

fn failed(label: &str, operation: &str, error: sqlx::Error) -> Error {
    Error::Unavailable {
        backend: label.to_string(),
        reason: format!("{operation} failed: {error}"),
        source: Some(Box::new(error)),
    }
}

/// The embedded backend as a whole.
pub(crate) struct EmbeddedState {
    pub tables: SqlState,
    pub local: LocalState,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::{SqlState, CLEANUP_INTERVAL_MS};
    use crate::state::input::{now_millis, Grant};

    #[tokio::test]
    async fn process_local_tables_rotate_tokens() {
        let tables = SqlState::process_local().await.expect("in-memory tables");
        let minute = Duration::from_secs(60);
        let grant = Grant::new("user-1", json!({"role": "admin"}), minute, minute).unwrap();
        let pair = tables.issue_tokens(&grant, now_millis()).await.unwrap();
        let claims = tables
            .verify_access(&pair.access_token, now_millis())
            .await
            .unwrap();
        assert_eq!(claims.claims, json!({"role": "admin"}));

        let next = tables.refresh(&pair.refresh_token, now_millis()).await;
        assert_eq!(next.unwrap().family_id, pair.family_id);
        let reused = tables.refresh(&pair.refresh_token, now_millis()).await;
        assert!(matches!(reused, Err(crate::Error::Unauthorized { .. })));
    }

    #[tokio::test]
    async fn cleanup_deletes_expired_rows() {
        let tables = SqlState::process_local().await.expect("in-memory tables");
        let short = Duration::from_millis(1);
        let grant = Grant::new("user-1", json!(null), short, short).unwrap();
        let now = now_millis();
        tables.issue_tokens(&grant, now).await.unwrap();
        tables
            .create_session(serde_json::Map::new(), 1, now)
            .await
            .unwrap();

        tables.cleanup_expired(now + CLEANUP_INTERVAL_MS + 1).await;
        for table in ["state_tokens", "state_token_families", "state_sessions"] {
            let query = format!("SELECT COUNT(*) FROM {table}");
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
                .fetch_one(&tables.pool)
                .await
                .unwrap();
            assert_eq!(count, 0, "{table} still has expired rows");
        }
    }
}
