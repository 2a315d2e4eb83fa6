//! Sort specifications in MongoDB's syntax, such as `{"priority": -1, "created_at": 1}`.

use std::cmp::Ordering;

use serde_json::Value;

use super::compare::compare_values;
use super::path::FieldPath;
use super::walk::{any_value, LeafArrays};
use crate::error::{Error, Result};

/// Direction of one sort field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortDirection {
    Ascending,
    Descending,
}

/// An ordered list of sort fields, where earlier fields take precedence.
#[derive(Clone, Debug, Default)]
pub struct SortSpec {
    fields: Vec<(String, SortDirection)>,
    paths: Vec<FieldPath>,
}

static NULL: Value = Value::Null;

impl SortSpec {
    /// Parses `{"a": 1, "b.c": -1}`, keeping the key order of the object.
    ///
    /// `null` and `{}` give an empty specification. Each direction must be `1` (ascending) or
    /// `-1` (descending). Anything else, or a malformed path, is a validation error.
    pub fn parse(value: &Value) -> Result<SortSpec> {
        let map = match value {
            Value::Null => return Ok(SortSpec::default()),
            Value::Object(map) => map,
            _ => {
                return Err(Error::validation(
                    "sort",
                    "a sort specification must be a JSON object such as {\"created_at\": -1}",
                ))
            }
        };
        let mut spec = SortSpec::default();
        for (key, direction) in map {
            let location = format!("sort.{key}");
            let path =
                FieldPath::parse(key).map_err(|reason| Error::validation(&location, reason))?;
            let direction = parse_direction(direction)
                .ok_or_else(|| Error::validation(&location, direction_reason(key, direction)))?;
            spec.fields.push((key.clone(), direction));
            spec.paths.push(path);
        }
        Ok(spec)
    }

    /// Returns the sort fields in precedence order.
    pub fn fields(&self) -> &[(String, SortDirection)] {
        &self.fields
    }

    /// Returns true when the specification has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Computes the key MongoDB sorts `doc` by, one value per field.
    ///
    /// A missing field gives `null`. A field that reaches several values, such as an array or
    /// a dotted path through an array of objects, gives its smallest value for an ascending
    /// field and its largest for a descending one. An empty array gives `[]`, which
    /// [`SortSpec::compare_keys`] places before `null` as MongoDB does.
    pub fn sort_key(&self, doc: &Value) -> Vec<Value> {
        self.paths
            .iter()
            .zip(&self.fields)
            .map(|(path, (_, direction))| field_key(doc, path, *direction))
            .collect()
    }

    /// Compares two keys from [`SortSpec::sort_key`], applying each field's direction.
    pub fn compare_keys(&self, a: &[Value], b: &[Value]) -> Ordering {
        for ((x, y), (_, direction)) in a.iter().zip(b).zip(&self.fields) {
            let ordering = match direction {
                SortDirection::Ascending => compare_key_values(x, y),
                SortDirection::Descending => compare_key_values(y, x),
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }

    /// Compares two documents by this specification.
    ///
    /// This computes both keys on every call. When sorting many documents, compute each
    /// document's [`SortSpec::sort_key`] once and use [`SortSpec::compare_keys`].
    pub fn compare_documents(&self, a: &Value, b: &Value) -> Ordering {
        self.compare_keys(&self.sort_key(a), &self.sort_key(b))
    }
}

fn parse_direction(value: &Value) -> Option<SortDirection> {
    let number = value.as_f64()?;
    if number == 1.0 {
        Some(SortDirection::Ascending)
    } else if number == -1.0 {
        Some(SortDirection::Descending)
    } else {
        None
    }
}

fn direction_reason(key: &str, direction: &Value) -> String {
    format!(
        "sort direction for \"{key}\" must be 1 (ascending) or -1 (descending), got {direction}"
    )
}

/// Picks the smallest (ascending) or largest (descending) value `path` reaches in `doc`.
fn field_key(doc: &Value, path: &FieldPath, direction: SortDirection) -> Value {
    let preferred = match direction {
        SortDirection::Ascending => Ordering::Less,
        SortDirection::Descending => Ordering::Greater,
    };
    let mut best: Option<&Value> = None;
    any_value(
        doc,
        &path.segments,
        LeafArrays::ElementsOnly,
        &mut |candidate| {
            let candidate = candidate.unwrap_or(&NULL);
            let better =
                best.is_none_or(|current| compare_key_values(candidate, current) == preferred);
            if better {
                best = Some(candidate);
            }
            false
        },
    );
    best.unwrap_or(&NULL).clone()
}

/// Orders sort-key values: an empty array first, then MongoDB's value order.
///
/// NOTE: an empty array nested inside an array (`{"a": [[], 5]}`) also sorts first here, while
/// MongoDB orders it as an array.
fn compare_key_values(a: &Value, b: &Value) -> Ordering {
    let empty = |value: &Value| matches!(value, Value::Array(items) if items.is_empty());
    match (empty(a), empty(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare_values(a, b),
    }
}
