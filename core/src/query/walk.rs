//! Path traversal with MongoDB's array rules.
//!
//! A path such as `a.b` can reach many values in one document: `{"a": [{"b": 1}, {"b": 2}]}`
//! yields both `1` and `2`. The rules follow MongoDB's matcher:
//!
//! - Embedded objects are followed by field name. A path that continues past a scalar, or names
//!   an absent field, yields one missing value (`None`).
//! - An array met before the path ends is traversed: each object element continues the rest of
//!   the path, and the element whose position equals the next segment (`a.0.b`) also continues
//!   positionally. Scalars and nested arrays inside it yield nothing unless selected by position.
//! - An array at the end of the path is handled as the caller's [`LeafArrays`] mode selects.

use serde_json::Value;

use super::path::{child, Segment};

/// Treatment of an array at the end of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafArrays {
    /// Each element, then the array itself, for equality and comparison operators.
    Expand,
    /// The array itself only, for `$size`, `$elemMatch` and `$exists`.
    Whole,
    /// Each element, or the array itself when it is empty, for sort keys.
    ElementsOnly,
}

/// Calls `visit` with each value `path` reaches in `root`, and `None` for each missing one.
///
/// Stops at, and returns true for, the first value for which `visit` returns true. `root` is
/// normally an object. An array root is read as an object whose field names are positions, which
/// is how `$elemMatch` reads array elements.
pub(crate) fn any_value<'a, F>(
    root: &'a Value,
    path: &[Segment],
    leaf: LeafArrays,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Value>) -> bool,
{
    walk_document(root, path, leaf, visit)
}

/// Follows `path` through embedded objects until it ends, a value is missing, or an array
/// interrupts it.
fn walk_document<'a, F>(doc: &'a Value, path: &[Segment], leaf: LeafArrays, visit: &mut F) -> bool
where
    F: FnMut(Option<&'a Value>) -> bool,
{
    let mut current = doc;
    for (position, segment) in path.iter().enumerate() {
        let Some(next) = child(current, segment) else {
            return visit(None);
        };
        let rest = &path[position + 1..];
        match next {
            Value::Array(items) => return walk_array(next, items, rest, leaf, visit),
            _ if rest.is_empty() => return visit(Some(next)),
            Value::Object(_) => current = next,
            // The path continues past a scalar, so nothing is there.
            _ => return visit(None),
        }
    }
    visit(Some(current))
}

/// Applies the rest of a path to `array`, whose elements are `items`.
fn walk_array<'a, F>(
    array: &'a Value,
    items: &'a [Value],
    rest: &[Segment],
    leaf: LeafArrays,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Value>) -> bool,
{
    let Some((head, tail)) = rest.split_first() else {
        return visit_leaf_array(array, items, leaf, visit);
    };
    for (position, item) in items.iter().enumerate() {
        let positional = head.index == Some(position);
        let found = match item {
            Value::Object(_) => {
                // An object element is searched by field name, and also by position when the
                // next segment selects it, so `a.0` reaches both `{"a": [{"0": 5}]}` and
                // `{"a": [5]}`.
                walk_document(item, rest, leaf, visit)
                    || (positional && walk_selected(item, tail, leaf, visit))
            }
            Value::Array(inner) if positional && !tail.is_empty() => {
                walk_array(item, inner, tail, leaf, visit)
            }
            // A positionally selected element at the end of the path is yielded as it is; an
            // array there is not expanded.
            _ if positional && tail.is_empty() => visit(Some(item)),
            _ => false,
        };
        if found {
            return true;
        }
    }
    false
}

fn walk_selected<'a, F>(item: &'a Value, tail: &[Segment], leaf: LeafArrays, visit: &mut F) -> bool
where
    F: FnMut(Option<&'a Value>) -> bool,
{
    if tail.is_empty() {
        visit(Some(item))
    } else {
        walk_document(item, tail, leaf, visit)
    }
}

fn visit_leaf_array<'a, F>(
    array: &'a Value,
    items: &'a [Value],
    leaf: LeafArrays,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Value>) -> bool,
{
    match leaf {
        LeafArrays::Whole => visit(Some(array)),
        LeafArrays::Expand => items.iter().any(|item| visit(Some(item))) || visit(Some(array)),
        LeafArrays::ElementsOnly if items.is_empty() => visit(Some(array)),
        LeafArrays::ElementsOnly => items.iter().any(|item| visit(Some(item))),
    }
}
