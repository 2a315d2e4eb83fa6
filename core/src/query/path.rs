//! Dotted field paths and their plain lookup.

use serde_json::Value;

/// One component of a dotted path.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    pub(crate) name: String,
    /// The array position this component names, when it is a canonical decimal such as `0` or
    /// `12`. `01` and `+1` are field names only, as in MongoDB.
    pub(crate) index: Option<usize>,
}

impl Segment {
    fn new(name: &str) -> Segment {
        Segment {
            name: name.to_owned(),
            index: array_index(name),
        }
    }
}

/// Returns the array position `name` denotes, if it is a canonical decimal.
fn array_index(name: &str) -> Option<usize> {
    let canonical = !name.is_empty()
        && name.bytes().all(|byte| byte.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'));
    if canonical {
        name.parse().ok()
    } else {
        None
    }
}

/// A validated dotted path such as `address.city` or `items.0.sku`.
#[derive(Clone, Debug)]
pub(crate) struct FieldPath {
    pub(crate) dotted: String,
    pub(crate) segments: Vec<Segment>,
}

impl FieldPath {
    /// Splits `dotted` at dots, or returns the reason it is not a usable path.
    pub(crate) fn parse(dotted: &str) -> Result<FieldPath, String> {
        if dotted.is_empty() {
            return Err("the field path is empty; name a field such as \"status\"".to_owned());
        }
        if dotted.split('.').any(str::is_empty) {
            return Err(format!(
                "field path \"{dotted}\" has an empty segment; write dotted paths such as \"address.city\""
            ));
        }
        Ok(FieldPath {
            dotted: dotted.to_owned(),
            segments: dotted.split('.').map(Segment::new).collect(),
        })
    }
}

/// Returns the child of an object by name, or of an array by position.
pub(crate) fn child<'a>(container: &'a Value, segment: &Segment) -> Option<&'a Value> {
    match container {
        Value::Object(map) => map.get(&segment.name),
        Value::Array(items) => segment.index.and_then(|index| items.get(index)),
        _ => None,
    }
}

/// Looks up a dotted path without MongoDB's array traversal.
///
/// Each segment selects a field of an object, or an element of an array when the segment is a
/// decimal position. Returns `None` when any step is missing, and `doc` itself for an empty path.
/// Unlike filter matching, `{"a": [{"b": 1}]}` has no value at `a.b` here, only at `a.0.b`.
pub fn get_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(doc);
    }
    path.split('.')
        .try_fold(doc, |current, name| match current {
            Value::Object(map) => map.get(name),
            Value::Array(items) => array_index(name).and_then(|index| items.get(index)),
            _ => None,
        })
}
