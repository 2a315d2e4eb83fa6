//! field-map: renames and moves record fields.
//!
//! Params: `{"mapping": {"old.dotted.path": "new_name", ...}, "keep": false}`.
//! Each key of `mapping` is a source path and each value a target path. A dot
//! separates the levels of nested objects, so a key that itself contains a dot
//! cannot be addressed. Sources missing from a record are skipped.
//!
//! With `keep: false` (the default) each output record contains only the mapped
//! fields. With `keep: true` it is the input record with every mapped source
//! removed and its value placed at the target path. Records must be JSON
//! objects.

use polystat_guest::serde_json::{Map, Value};

// The ABI exports only on wasm: their unmangled names would clash when a
// native binary links several transform crates.
#[cfg(target_arch = "wasm32")]
polystat_guest::transform!(map_fields);

/// One source path and its target path, split into segments.
struct Rename {
    source: Vec<String>,
    target: Vec<String>,
}

/// Maps the fields of a batch of records. It is public so that a host can run
/// the same logic natively, as the transform benchmark does.
pub fn map_fields(records: Vec<Value>, params: &Value) -> Result<Vec<Value>, String> {
    let renames = parse_mapping(params)?;
    let keep = match params.get("keep") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(keep)) => *keep,
        Some(other) => return Err(format!("param \"keep\" must be a boolean, got {other}")),
    };
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            map_record(record, &renames, keep).map_err(|reason| format!("record {index}: {reason}"))
        })
        .collect()
}

fn parse_mapping(params: &Value) -> Result<Vec<Rename>, String> {
    let Some(mapping) = params.get("mapping").and_then(Value::as_object) else {
        return Err(
            "param \"mapping\" must be an object of source path to target path".to_string(),
        );
    };
    mapping
        .iter()
        .map(|(source, target)| {
            let Some(target) = target.as_str() else {
                return Err(format!(
                    "param \"mapping\": target of {source:?} must be a string, got {target}"
                ));
            };
            Ok(Rename {
                source: split_path(source)?,
                target: split_path(target)?,
            })
        })
        .collect()
}

fn split_path(path: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = path.split('.').map(str::to_string).collect();
    if segments.iter().any(String::is_empty) {
        return Err(format!(
            "param \"mapping\": path {path:?} has an empty segment"
        ));
    }
    Ok(segments)
}

fn map_record(record: Value, renames: &[Rename], keep: bool) -> Result<Value, String> {
    let Value::Object(object) = record else {
        return Err("is not a JSON object".to_string());
    };
    // Read every source before removing any, so two targets can share a source.
    let values: Vec<Option<Value>> = renames
        .iter()
        .map(|rename| get_path(&object, &rename.source).cloned())
        .collect();
    let mut output = if keep { object } else { Map::new() };
    if keep {
        for rename in renames {
            remove_path(&mut output, &rename.source);
        }
    }
    for (rename, value) in renames.iter().zip(values) {
        if let Some(value) = value {
            set_path(&mut output, &rename.target, value)?;
        }
    }
    Ok(Value::Object(output))
}

fn get_path<'a>(object: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for segment in parents {
        current = current.get(segment)?.as_object()?;
    }
    current.get(last)
}

fn remove_path(object: &mut Map<String, Value>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for segment in parents {
        match current.get_mut(segment).and_then(Value::as_object_mut) {
            Some(child) => current = child,
            None => return,
        }
    }
    current.shift_remove(last);
}

fn set_path(object: &mut Map<String, Value>, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut current = object;
    for segment in parents {
        let child = current
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        current = child.as_object_mut().ok_or_else(|| {
            format!(
                "cannot set {:?} because {segment:?} is not an object",
                path.join(".")
            )
        })?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use polystat_guest::serde_json::json;

    #[test]
    fn nested_target_is_created() {
        let records = vec![json!({"a": 1})];
        let params = json!({"mapping": {"a": "x.y"}});
        let output = map_fields(records, &params).expect("valid params");
        assert_eq!(output, vec![json!({"x": {"y": 1}})]);
    }

    #[test]
    fn shared_source_feeds_two_targets() {
        let records = vec![json!({"a": 1, "b": 2})];
        let params = json!({"mapping": {"a": "x"}, "keep": true});
        let output = map_fields(records.clone(), &params).expect("valid params");
        assert_eq!(output, vec![json!({"b": 2, "x": 1})]);
        let params = json!({"mapping": {"missing": "x", "b": "y"}});
        let output = map_fields(records, &params).expect("valid params");
        assert_eq!(output, vec![json!({"y": 2})]);
    }

    #[test]
    fn invalid_params_and_records_are_reported() {
        let no_mapping = map_fields(vec![], &Value::Null).expect_err("mapping is required");
        assert!(no_mapping.contains("\"mapping\""), "{no_mapping}");
        let empty_segment =
            map_fields(vec![], &json!({"mapping": {"a..b": "c"}})).expect_err("bad path");
        assert!(empty_segment.contains("empty segment"), "{empty_segment}");
        let not_object =
            map_fields(vec![json!(1)], &json!({"mapping": {}})).expect_err("bad record");
        assert_eq!(not_object, "record 0: is not a JSON object");
        let conflict = map_fields(
            vec![json!({"a": 1, "x": 2})],
            &json!({"mapping": {"a": "x.y"}, "keep": true}),
        )
        .expect_err("x is a number");
        assert!(conflict.contains("\"x\" is not an object"), "{conflict}");
    }
}
