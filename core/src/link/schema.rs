//! Validation of linker output against a JSON Schema.
//!
//! The `jsonschema` crate is built without its network and file resolvers, so
//! a schema can only `$ref` into itself. The draft comes from the schema's
//! `$schema` keyword and defaults to 2020-12.

use jsonschema::Validator;
use serde_json::Value;

use crate::error::{Error, Result};

const FIELD: &str = "linker.outputSchema";

/// Compiles `schema`, or returns a validation error that quotes the problem.
pub(crate) fn compile(schema: &Value) -> Result<Validator> {
    jsonschema::validator_for(schema).map_err(|error| {
        Error::validation(
            FIELD,
            format!("the schema does not compile: {error}; fix it or remove outputSchema"),
        )
    })
}

/// Checks every record and reports the first error of the first failing one,
/// with the record's 0-based index and the JSON Pointer of the failing value.
pub(crate) fn check_records(validator: &Validator, records: &[Value]) -> Result<()> {
    for (index, record) in records.iter().enumerate() {
        let mut errors = validator.iter_errors(record);
        let Some(first) = errors.next() else {
            continue;
        };
        let more = errors.count();
        let location = match first.instance_path().as_str() {
            "" => "/".to_string(),
            path => path.to_string(),
        };
        let mut reason = format!("record {index}: {location}: {first}");
        match more {
            0 => {}
            1 => reason.push_str(" (and 1 more error in this record)"),
            _ => reason.push_str(&format!(" (and {more} more errors in this record)")),
        }
        return Err(Error::validation(FIELD, reason));
    }
    Ok(())
}
