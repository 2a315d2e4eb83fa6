//! Classification of driver errors, retries with backoff, and the mapping to
//! polystat's error kinds.

use std::future::IntoFuture;
use std::time::Duration;

use mongodb::error::{ErrorKind, WriteFailure};

use super::MongoBackend;
use crate::error::Error;
use crate::model::CollectionSpec;

/// Delay before the first retry; each further retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Upper bound of the delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Server error codes after which a new attempt may succeed: the server was
/// shutting down, stepping down or unreachable from a router.
const TRANSIENT_CODES: [i32; 12] = [
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

/// The server's code for a write that broke a unique index.
const DUPLICATE_KEY: i32 = 11000;
/// FerretDB's code for an internal error, which is what its SQLite handler
/// returns for an update that breaks a unique index.
const INTERNAL_ERROR: i32 = 1;
/// The server's code for a command or option it does not implement (FerretDB).
pub(super) const NOT_IMPLEMENTED: i32 = 238;
/// Codes of writes rejected for their content: bad value (FerretDB's code
/// for names and values it cannot store), document validation failure,
/// and a document over the 16 MiB limit.
const INVALID_DOCUMENT_CODES: [i32; 3] = [2, 121, 10334];

/// Cause of a failed attempt.
#[derive(Debug)]
pub(super) enum Failure {
    Driver(mongodb::error::Error),
    /// The operation ran past the statement timeout.
    Timeout(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Driver(error) => write!(f, "{error}"),
            Failure::Timeout(after) => write!(f, "timed out after {after:?}"),
        }
    }
}

impl From<mongodb::error::Error> for Failure {
    fn from(error: mongodb::error::Error) -> Self {
        Failure::Driver(error)
    }
}

/// Failures that an operation retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Every transient failure: the operation changes nothing, so running it
    /// twice is harmless.
    Read,
    /// Only failures before the command was sent (no server selected, or the
    /// pool was cleared during checkout), so a write never runs twice.
    Unsent,
    /// No failure: used while opening, so an unreachable server fails
    /// within one server selection timeout.
    Never,
}

/// Returns whether a new attempt may succeed.
fn is_transient(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. } => true,
        ErrorKind::Command(command) => TRANSIENT_CODES.contains(&command.code),
        _ => false,
    }
}

/// Returns whether the connection or server failed, so that a write may or may not
/// have been applied.
pub(super) fn is_transient_failure(failure: &Failure) -> bool {
    matches!(failure, Failure::Driver(error) if is_transient(error))
}

fn is_unsent(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::ServerSelection { .. }
    )
}

pub(super) fn may_retry(failure: &Failure, retry: Retry) -> bool {
    match (failure, retry) {
        (Failure::Driver(error), Retry::Read) => is_transient(error),
        (Failure::Driver(error), Retry::Unsent) => is_unsent(error),
        (Failure::Timeout(_), _) | (_, Retry::Never) => false,
    }
}

/// Delay before retry number `attempt` (starting at 1).
fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Returns the server error code of a failed command or write, if any.
pub(super) fn server_code(failure: &Failure) -> Option<i32> {
    let Failure::Driver(error) = failure else {
        return None;
    };
    match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        ErrorKind::Write(WriteFailure::WriteError(write)) => Some(write.code),
        ErrorKind::InsertMany(insert) => insert
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first())
            .map(|error| error.code),
        _ => None,
    }
}

/// Returns whether a write broke a unique index.
// NOTE: FerretDB 1.24 reports an update that breaks a unique index as
// InternalError (code 1) with SQLite's "UNIQUE constraint failed" message,
// and inserts as the usual code 11000.
pub(super) fn is_duplicate_key(failure: &Failure) -> bool {
    match server_code(failure) {
        Some(DUPLICATE_KEY) => true,
        Some(INTERNAL_ERROR) => driver_message(failure).contains("UNIQUE constraint failed"),
        _ => false,
    }
}

/// Position in an `insert_many` batch of the document that failed, if known.
pub(super) fn failed_position(failure: &Failure) -> Option<usize> {
    let Failure::Driver(error) = failure else {
        return None;
    };
    match error.kind.as_ref() {
        ErrorKind::InsertMany(insert) => insert
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first())
            .map(|error| error.index),
        _ => None,
    }
}

impl MongoBackend {
    /// Runs `attempt` under the statement timeout until it succeeds, fails
    /// with an error that `retry` does not cover, or has been retried
    /// `options.retries` times. Each retry is logged with the error.
    pub(super) async fn attempt<T, F, Fut>(
        &self,
        operation: &str,
        retry: Retry,
        mut attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: IntoFuture<Output = mongodb::error::Result<T>>,
    {
        let timeout = self.options.statement_timeout;
        let mut retried = 0;
        loop {
            let result = match tokio::time::timeout(timeout, attempt()).await {
                Ok(result) => result.map_err(Failure::Driver),
                Err(_) => Err(Failure::Timeout(timeout)),
            };
            match result {
                Err(failure) if retried < self.options.retries && may_retry(&failure, retry) => {
                    retried += 1;
                    self.pause_before_retry(operation, retried, &failure).await;
                }
                result => return result,
            }
        }
    }

    /// Logs a retry with the error that caused it and waits the backoff.
    pub(super) async fn pause_before_retry(
        &self,
        operation: &str,
        attempt: u32,
        failure: &Failure,
    ) {
        let delay = backoff(attempt);
        tracing::warn!(
            backend = %self.label,
            operation,
            attempt,
            max_retries = self.options.retries,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %failure,
            "transient MongoDB error, retrying"
        );
        tokio::time::sleep(delay).await;
    }

    /// Maps a failure that needs no write context: timeouts to
    /// [`Error::Timeout`], everything else to [`Error::Unavailable`].
    pub(super) fn failed(&self, operation: &str, spec: &CollectionSpec, failure: Failure) -> Error {
        match failure {
            Failure::Timeout(after) => Error::Timeout {
                operation: format!("mongodb {operation} on {}", spec.name),
                after,
            },
            Failure::Driver(error) => {
                self.unavailable(&format!("{operation} on {}", spec.name), error)
            }
        }
    }

    pub(super) fn unavailable(&self, action: &str, error: mongodb::error::Error) -> Error {
        Error::Unavailable {
            backend: self.label.to_string(),
            reason: format!("{action} failed: {error}"),
            source: Some(Box::new(error)),
        }
    }

    /// Maps a failed write: content errors to [`Error::Validation`], the rest
    /// as [`MongoBackend::failed`] does. Duplicate keys are handled by the
    /// caller, which has the row.
    pub(super) fn write_failed(
        &self,
        operation: &str,
        spec: &CollectionSpec,
        failure: Failure,
    ) -> Error {
        match server_code(&failure) {
            Some(code) if INVALID_DOCUMENT_CODES.contains(&code) => Error::validation(
                spec.entity,
                format!(
                    "the MongoDB server rejected the document: {}",
                    driver_message(&failure)
                ),
            ),
            _ => self.failed(operation, spec, failure),
        }
    }
}

/// Returns the server's message of a failed write, without the driver's wrapping.
fn driver_message(failure: &Failure) -> String {
    let Failure::Driver(error) = failure else {
        return "timed out".to_string();
    };
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.message.clone(),
        ErrorKind::InsertMany(insert) => insert
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first())
            .map(|error| error.message.clone())
            .unwrap_or_else(|| error.to_string()),
        ErrorKind::Command(command) => command.message.clone(),
        _ => error.to_string(),
    }
}
