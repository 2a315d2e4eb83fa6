//! Retries of operations that failed because a connection or the server went
//! away, such as the first call after a server restart.

use std::future::Future;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Transaction};

use super::errors::sqlstate;
use super::PostgresBackend;
use crate::error::Result;

/// Delay before the first retry. Each further retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Upper bound of the delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Returns whether a new attempt on another connection may succeed, which is
/// the case for I/O errors, pool timeouts, and the SQLSTATE codes PostgreSQL
/// sends when it closes or rejects connections.
pub(super) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(_) => sqlstate(error).is_some_and(|code| is_transient_code(&code)),
        _ => false,
    }
}

/// Class 08 is connection exceptions. 57P01, 57P02 and 57P03 are sent when
/// the server shuts down, crashes or is still starting. 53300 is
/// too_many_connections.
fn is_transient_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Delay before retry number `attempt` (starting at 1).
fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

impl PostgresBackend {
    /// Runs `attempt` until it succeeds, fails with an error that is not
    /// transient, or has been retried `self.retries` times. Only safe for
    /// steps that change nothing when they fail: reads, opening a connection
    /// and starting a transaction.
    pub(super) async fn retry<T, F, Fut>(
        &self,
        operation: &str,
        mut attempt: F,
    ) -> Result<T, sqlx::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut retried = 0;
        loop {
            match attempt().await {
                Err(error) if retried < self.retries && is_transient(&error) => {
                    retried += 1;
                    let delay = backoff(retried);
                    tracing::warn!(
                        backend = %self.label,
                        operation,
                        attempt = retried,
                        max_retries = self.retries,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "transient PostgreSQL error, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                result => return result,
            }
        }
    }

    /// Acquires a pooled connection for a write. A failure here means nothing
    /// was sent, so it is retried. The write itself is never retried, because
    /// its outcome is unknown when the connection breaks during it.
    pub(super) async fn acquire_for_write(&self) -> Result<PoolConnection<Postgres>> {
        self.retry("acquire connection", || self.pool.acquire())
            .await
            .map_err(|e| self.failed("acquire connection", e))
    }

    /// Acquires a connection and starts a transaction on it, retrying like
    /// [`Self::acquire_for_write`]: until COMMIT is sent, a failure leaves
    /// nothing behind.
    pub(super) async fn begin_for_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.retry("begin transaction", || self.pool.begin())
            .await
            .map_err(|e| self.failed("begin transaction", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(200));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn connection_errors_are_transient() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_transient(&io));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::PoolClosed));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(is_transient_code("08006"));
        assert!(is_transient_code("57P01"));
        assert!(!is_transient_code("23505"));
    }
}
