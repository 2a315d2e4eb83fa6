//! Core errors as N-API errors whose message carries the structured error.
//!
//! The message is [`ERROR_PREFIX`] followed by a JSON object with the stable
//! `code` and the fields of the error kind; the JavaScript wrapper turns it
//! into a `PolystatError`.

use std::error::Error as _;

use polystat::Error;
use serde_json::{json, Map, Value};

/// Start of the message of every error raised by the addon.
pub const ERROR_PREFIX: &str = "POLYSTAT_ERROR ";

pub fn to_napi(error: Error) -> napi::Error {
    napi::Error::from_reason(format!("{ERROR_PREFIX}{}", describe(&error)))
}

fn describe(error: &Error) -> Value {
    let mut fields = Map::new();
    fields.insert("code".into(), json!(error.code()));
    fields.insert("message".into(), json!(error.to_string()));
    if let Some(cause) = cause(error) {
        fields.insert("cause".into(), json!(cause));
    }
    let details = match error {
        Error::NotFound { entity, id } => json!({ "entity": entity, "id": id }),
        Error::Conflict { entity, id, reason } | Error::Reference { entity, id, reason } => {
            json!({ "entity": entity, "id": id, "reason": reason })
        }
        Error::Validation { field, reason } => json!({ "field": field, "reason": reason }),
        Error::Unavailable {
            backend, reason, ..
        } => json!({ "backend": backend, "reason": reason }),
        Error::Timeout { operation, after } => {
            json!({ "operation": operation, "after": after.as_secs_f64() })
        }
        Error::Transform {
            module,
            limit,
            reason,
        } => json!({
            "module": module,
            "limit": limit.map(|limit| limit.to_string()),
            "reason": reason,
        }),
        Error::Unauthorized { reason } | Error::Configuration { reason } => {
            json!({ "reason": reason })
        }
        Error::RateLimited { retry_after } => json!({ "retryAfter": retry_after.as_secs_f64() }),
    };
    if let Value::Object(details) = details {
        fields.extend(details);
    }
    Value::Object(fields)
}

/// Joins the chain of underlying errors (driver, I/O) into one line, if any.
fn cause(error: &Error) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut source = error.source();
    while let Some(current) = source {
        let text = current.to_string();
        // Many errors print their source after their own words; a source
        // already at the end of the previous part adds nothing.
        if !parts
            .last()
            .is_some_and(|previous| previous.ends_with(&text))
        {
            parts.push(text);
        }
        source = current.source();
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}
