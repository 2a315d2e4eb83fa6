//! Tests of the query module: each table row names its case so a failure points to it.

mod combinations;
mod equalities;
mod matching;
mod operators;
mod ordering;
mod validation;

use serde_json::Value;

use super::Filter;
use crate::error::Error;

/// Asserts each `(label, filter, document, expected)` row.
fn assert_cases(cases: &[(&str, Value, Value, bool)]) {
    for (label, filter, doc, expected) in cases {
        let parsed = match Filter::parse(filter) {
            Ok(parsed) => parsed,
            Err(error) => panic!("{label}: filter {filter} failed to parse: {error}"),
        };
        assert_eq!(
            parsed.matches(doc),
            *expected,
            "{label}: filter {filter} on document {doc}"
        );
    }
}

/// Asserts that `filter` is rejected with a validation error at `field` whose reason contains
/// every fragment.
fn assert_invalid(label: &str, filter: Value, field: &str, fragments: &[&str]) {
    match Filter::parse(&filter) {
        Ok(parsed) => panic!("{label}: filter {filter} parsed to {parsed:?}, expected an error"),
        Err(Error::Validation {
            field: actual_field,
            reason,
        }) => {
            assert_eq!(actual_field, field, "{label}: error field ({reason})");
            for fragment in fragments {
                assert!(
                    reason.contains(fragment),
                    "{label}: reason {reason:?} lacks {fragment:?}"
                );
            }
        }
        Err(other) => panic!("{label}: expected a validation error, got {other:?}"),
    }
}
