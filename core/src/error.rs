//! The one error type of polystat, with kinds that callers act on.

use std::time::Duration;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Limit that stopped a WebAssembly transform call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformLimit {
    /// The instruction budget (fuel) ran out.
    Fuel,
    /// The wall-clock deadline passed (epoch interruption).
    Deadline,
    /// The module tried to grow its memory past the cap.
    Memory,
    /// The module returned more bytes than the output cap allows.
    Output,
}

impl std::fmt::Display for TransformLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            TransformLimit::Fuel => "fuel",
            TransformLimit::Deadline => "deadline",
            TransformLimit::Memory => "memory",
            TransformLimit::Output => "output size",
        };
        f.write_str(name)
    }
}

/// Errors returned by every polystat operation.
///
/// Each variant is a kind a caller can act on; the bindings map each one to a
/// Python exception class and a Node error code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record does not exist.
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },

    /// A write lost a race (stale version) or broke a uniqueness rule.
    #[error("conflict on {entity} {id}: {reason}")]
    Conflict {
        entity: &'static str,
        id: String,
        reason: String,
    },

    /// Input failed validation; `field` names the offending field or path.
    #[error("invalid {field}: {reason}")]
    Validation { field: String, reason: String },

    /// A reference across records is missing, or a record is still in use.
    #[error("reference error on {entity} {id}: {reason}")]
    Reference {
        entity: &'static str,
        id: String,
        reason: String,
    },

    /// A backend could not be reached or failed; never carries a password.
    #[error("{backend} unavailable: {reason}")]
    Unavailable {
        backend: String,
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// An operation ran past its time limit.
    #[error("{operation} timed out after {after:?}")]
    Timeout { operation: String, after: Duration },

    /// A WebAssembly transform trapped or hit a limit.
    #[error("transform {module} failed: {reason}")]
    Transform {
        module: String,
        limit: Option<TransformLimit>,
        reason: String,
    },

    /// Credentials were missing or wrong.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },

    /// A rate limit was hit; retry after the given delay.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },

    /// The store configuration is invalid (bad URL, missing key).
    #[error("invalid configuration: {reason}")]
    Configuration { reason: String },
}

impl Error {
    /// Builds a validation error for `field`.
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Names the 0-based position of the failing item of a batch in a
    /// validation error's reason, keeping its field. Other errors are
    /// returned unchanged.
    pub fn at_item(self, index: usize) -> Self {
        match self {
            Error::Validation { field, reason } => Error::Validation {
                field,
                reason: format!("item {index}: {reason}"),
            },
            other => other,
        }
    }

    /// Builds a configuration error.
    pub fn configuration(reason: impl Into<String>) -> Self {
        Error::Configuration {
            reason: reason.into(),
        }
    }

    /// Stable machine-readable code of the error kind, shared with the bindings.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "NOT_FOUND",
            Error::Conflict { .. } => "CONFLICT",
            Error::Validation { .. } => "VALIDATION",
            Error::Reference { .. } => "REFERENCE",
            Error::Unavailable { .. } => "UNAVAILABLE",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Transform { .. } => "TRANSFORM",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Configuration { .. } => "CONFIGURATION",
        }
    }
}
