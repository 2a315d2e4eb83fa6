//! Merge strategies for linkers without link keys.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::mapping::json_type_name;
use super::spec::MergeStrategy;
use crate::error::{Error, Result};

const FIELD: &str = "linker.mergeStrategy";

/// Combines the mapped sources with `strategy`. `names` contains one source
/// name per entry of `sources`.
pub(crate) fn merge(
    strategy: MergeStrategy,
    names: &[String],
    sources: Vec<Vec<Value>>,
) -> Result<Vec<Value>> {
    match strategy {
        MergeStrategy::Concat => Ok(sources.into_iter().flatten().collect()),
        MergeStrategy::Merge => merge_by_index(names, sources, false),
        MergeStrategy::Override => merge_by_index(names, sources, true),
        MergeStrategy::Indexed => indexed(names, sources),
    }
}

/// Merges record `i` of every source into one object. A later source fills
/// only fields that are absent so far, or, with `overwrite`, replaces them.
/// A field present with a `null` value counts as present.
fn merge_by_index(
    names: &[String],
    sources: Vec<Vec<Value>>,
    overwrite: bool,
) -> Result<Vec<Value>> {
    let length = sources.iter().map(Vec::len).max().unwrap_or(0);
    let mut merged = vec![Map::new(); length];
    for (name, records) in names.iter().zip(sources) {
        for (index, record) in records.into_iter().enumerate() {
            let Value::Object(fields) = record else {
                return Err(Error::validation(
                    FIELD,
                    format!(
                        "record {index} of source {name:?} is a {}, but merge and override \
                         combine JSON objects; map it to an object or use concat or indexed",
                        json_type_name(&record)
                    ),
                ));
            };
            let target = &mut merged[index];
            for (field, value) in fields {
                if overwrite || !target.contains_key(&field) {
                    target.insert(field, value);
                }
            }
        }
    }
    Ok(merged.into_iter().map(Value::Object).collect())
}

/// Builds one object per index `i` that maps each source name to its record
/// `i`, or to `null` where that source has fewer records.
fn indexed(names: &[String], sources: Vec<Vec<Value>>) -> Result<Vec<Value>> {
    let mut seen = HashSet::new();
    for (index, name) in names.iter().enumerate() {
        if !seen.insert(name.as_str()) {
            return Err(Error::validation(
                format!("linker.sources[{index}].datasource"),
                format!(
                    "source name {name:?} appears twice, but indexed merge keys records by \
                     source name; give each source a unique name"
                ),
            ));
        }
    }
    let length = sources.iter().map(Vec::len).max().unwrap_or(0);
    let mut rows = vec![Map::new(); length];
    for (name, records) in names.iter().zip(sources) {
        let mut records = records.into_iter();
        for row in rows.iter_mut() {
            row.insert(name.clone(), records.next().unwrap_or(Value::Null));
        }
    }
    Ok(rows.into_iter().map(Value::Object).collect())
}
