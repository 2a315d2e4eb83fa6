//! Hash joins of record batches on link keys.
//!
//! Keys compare by canonical JSON: object fields sorted by name, and numbers
//! written so that equal values match. Integers compare exactly, and a float
//! with no fractional part matches the equal integer when its magnitude is at
//! most 2^53, so `41` and `41.0` are the same key. Other floats use Rust's
//! shortest round-trip form. A string never matches a number.

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::{Map, Value};

use super::spec::JoinKind;
use super::SourceDiagnostic;

/// Largest integer magnitude (2^53) up to which every integer is an exact f64.
const MAX_EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Row counts of one side of a join step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SideCounts {
    unmatched: usize,
    missing_key: usize,
}

/// Joins `sources` left to right, `((s0 ⋈ s1) ⋈ s2) ...`, and records the
/// counts in `diagnostics`, which has one entry per source.
///
/// The first source's counts come from its join with the second. Every later
/// source's counts come from its join with the rows joined so far.
pub(crate) fn join_all(
    kind: JoinKind,
    keys: &[String],
    sources: Vec<Vec<Value>>,
    diagnostics: &mut [SourceDiagnostic],
) -> Vec<Value> {
    let mut sources = sources.into_iter();
    let mut joined = sources.next().unwrap_or_default();
    for (offset, right) in sources.enumerate() {
        let (rows, left_counts, right_counts) = join_step(kind, keys, joined, right);
        joined = rows;
        if offset == 0 {
            apply_counts(&mut diagnostics[0], left_counts);
        }
        apply_counts(&mut diagnostics[offset + 1], right_counts);
    }
    joined
}

fn apply_counts(diagnostic: &mut SourceDiagnostic, counts: SideCounts) {
    diagnostic.unmatched = counts.unmatched;
    diagnostic.missing_key = counts.missing_key;
}

/// Joins two batches with a hash table on the right side.
///
/// Each left row comes in order, followed by its partners in right order. An
/// unmatched left row stays in place when the join keeps it. A full join then
/// appends the unmatched right rows in order.
fn join_step(
    kind: JoinKind,
    keys: &[String],
    left: Vec<Value>,
    right: Vec<Value>,
) -> (Vec<Value>, SideCounts, SideCounts) {
    let (table, right_missing) = build_table(keys, &right);
    let mut right_matched = vec![false; right.len()];
    let mut left_counts = SideCounts::default();
    let mut rows = Vec::with_capacity(left.len());
    for left_row in left {
        let key = key_of(&left_row, keys);
        let partners = match &key {
            Some(key) => table.get(key).map_or(&[][..], Vec::as_slice),
            None => &[],
        };
        if key.is_none() {
            left_counts.missing_key += 1;
        } else if partners.is_empty() {
            left_counts.unmatched += 1;
        }
        if partners.is_empty() {
            if kind != JoinKind::Inner {
                rows.push(left_row);
            }
            continue;
        }
        for &index in partners {
            right_matched[index] = true;
            rows.push(combine(&left_row, &right[index], keys));
        }
    }
    let right_counts = SideCounts {
        unmatched: right_matched.iter().filter(|matched| !**matched).count() - right_missing,
        missing_key: right_missing,
    };
    if kind == JoinKind::Full {
        append_unmatched(&mut rows, right, &right_matched);
    }
    (rows, left_counts, right_counts)
}

fn append_unmatched(rows: &mut Vec<Value>, right: Vec<Value>, matched: &[bool]) {
    let unmatched = right
        .into_iter()
        .zip(matched)
        .filter(|(_, matched)| !**matched);
    rows.extend(unmatched.map(|(row, _)| row));
}

/// Indexes the right rows by key and counts those without a key.
fn build_table(keys: &[String], right: &[Value]) -> (HashMap<String, Vec<usize>>, usize) {
    let mut table: HashMap<String, Vec<usize>> = HashMap::new();
    let mut missing = 0;
    for (index, row) in right.iter().enumerate() {
        match key_of(row, keys) {
            Some(key) => table.entry(key).or_default().push(index),
            None => missing += 1,
        }
    }
    (table, missing)
}

/// Builds the output row: left fields, then right fields, where a right field
/// replaces a left field of the same name. Link keys keep the left value, so a
/// key of `41` on the left stays `41` even when the right has `41.0`.
fn combine(left: &Value, right: &Value, keys: &[String]) -> Value {
    let mut row = match left {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    if let Value::Object(fields) = right {
        for (name, value) in fields {
            if !keys.iter().any(|key| key == name) {
                row.insert(name.clone(), value.clone());
            }
        }
    }
    Value::Object(row)
}

/// Returns the canonical key of `row`, or `None` when the row is not an object
/// or a link key is missing or null.
pub(crate) fn key_of(row: &Value, keys: &[String]) -> Option<String> {
    let fields = row.as_object()?;
    let mut key = String::new();
    for name in keys {
        let value = fields.get(name).filter(|value| !value.is_null())?;
        write_canonical(&mut key, value);
        key.push('\u{1f}');
    }
    Some(key)
}

/// Writes `value` as canonical JSON: sorted object fields, normalized numbers.
fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Number(number) => write_number(out, number),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            out.push('{');
            for (index, name) in names.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(out, &fields[name]);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn write_number(out: &mut String, number: &serde_json::Number) {
    // `fmt::Write` for `String` never returns an error, so the results are ignored.
    if let Some(integer) = number.as_i64() {
        let _ = write!(out, "{integer}");
    } else if let Some(integer) = number.as_u64() {
        let _ = write!(out, "{integer}");
    } else if let Some(float) = number.as_f64() {
        if float.fract() == 0.0 && float.abs() <= MAX_EXACT_FLOAT_INTEGER {
            // The range check makes the cast exact, and the cast maps -0.0 to 0.
            let _ = write!(out, "{}", float as i64);
        } else {
            let _ = write!(out, "{float:?}");
        }
    }
}
