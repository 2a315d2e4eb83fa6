use std::sync::Mutex;

use serde_json::{json, Value};

use super::*;
use crate::error::{Error, Result};

/// Test double for the WebAssembly runtime: runs plain Rust closures by name
/// and records each call.
struct FakeRunner {
    transforms: Vec<(&'static str, TransformFn)>,
    calls: Mutex<Vec<(String, Value, usize)>>,
}

type TransformFn = Box<dyn Fn(&Value, Vec<Value>) -> Result<Vec<Value>> + Send + Sync>;

impl FakeRunner {
    fn new() -> Self {
        FakeRunner {
            transforms: Vec::new(),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn with(
        mut self,
        name: &'static str,
        transform: impl Fn(&Value, Vec<Value>) -> Result<Vec<Value>> + Send + Sync + 'static,
    ) -> Self {
        self.transforms.push((name, Box::new(transform)));
        self
    }

    fn calls(&self) -> Vec<(String, Value, usize)> {
        self.calls.lock().expect("calls lock").clone()
    }
}

impl TransformRunner for FakeRunner {
    fn run(&self, name: &str, params: &Value, records: Vec<Value>) -> Result<Vec<Value>> {
        self.calls.lock().expect("calls lock").push((
            name.to_string(),
            params.clone(),
            records.len(),
        ));
        let (_, transform) = self
            .transforms
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| Error::validation("transform", format!("unknown {name}")))?;
        transform(params, records)
    }
}

fn spec(value: Value) -> LinkerSpec {
    serde_json::from_value(value).expect("valid linker spec")
}

fn data(name: &str, records: Value) -> SourceData {
    let Value::Array(records) = records else {
        panic!("records must be an array");
    };
    SourceData {
        name: name.to_string(),
        records,
    }
}

fn run(spec_json: Value, sources: Vec<SourceData>) -> LinkOutput {
    link(&spec(spec_json), sources, &FakeRunner::new()).expect("link succeeds")
}

fn run_err(spec_json: Value, sources: Vec<SourceData>) -> Error {
    match link(&spec(spec_json), sources, &FakeRunner::new()) {
        Ok(output) => panic!("expected an error, got {:?}", output.records),
        Err(error) => error,
    }
}

fn validation_parts(error: Error) -> (String, String) {
    match error {
        Error::Validation { field, reason } => (field, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn join_spec(kind: &str, keys: Value, source_count: usize) -> Value {
    let sources: Vec<Value> = (0..source_count)
        .map(|index| json!({ "datasource": format!("s{index}") }))
        .collect();
    json!({ "sources": sources, "linkKeys": keys, "join": kind })
}

// ---- mapping ----

#[test]
fn mapping_reads_dotted_paths_and_array_indexes() {
    let output = run(
        json!({ "sources": [{
            "datasource": "github",
            "propertyMapping": {
                "user.login": "author",
                "labels.1.name": "second_label",
                "missing.path": "absent",
                "title": "title"
            }
        }]}),
        vec![data(
            "github",
            json!([{
                "title": "Fix",
                "user": { "login": "ada", "id": 7 },
                "labels": [{ "name": "bug" }, { "name": "p1" }],
                "state": "open"
            }]),
        )],
    );
    assert_eq!(
        output.records,
        vec![json!({ "author": "ada", "second_label": "p1", "absent": null, "title": "Fix" })]
    );
}

#[test]
fn mapping_preserves_configured_field_order() {
    let output = run(
        json!({ "sources": [{
            "datasource": "a",
            "propertyMapping": { "z": "last", "a": "first" }
        }]}),
        vec![data("a", json!([{ "a": 1, "z": 2 }]))],
    );
    let names: Vec<&String> = output.records[0]
        .as_object()
        .expect("object")
        .keys()
        .collect();
    assert_eq!(names, vec!["last", "first"]);
}

#[test]
fn mapping_keep_unmapped_copies_other_fields() {
    let output = run(
        json!({ "sources": [{
            "datasource": "a",
            "propertyMapping": { "user.login": "author", "id": "key" },
            "keepUnmapped": true
        }]}),
        vec![data(
            "a",
            json!([{ "id": 1, "user": { "login": "ada" }, "state": "open", "author": "x" }]),
        )],
    );
    // `user` and `id` are read by the mapping, and the mapped `author` wins
    // over the original field of the same name.
    assert_eq!(
        output.records,
        vec![json!({ "author": "ada", "key": 1, "state": "open" })]
    );
}

#[test]
fn mapping_empty_keeps_records_unchanged() {
    let records = json!([{ "a": 1, "b": { "c": 2 } }, "not an object"]);
    let output = run(
        json!({ "sources": [{ "datasource": "a" }] }),
        vec![data("a", records.clone())],
    );
    assert_eq!(Value::Array(output.records), records);
}

#[test]
fn mapping_field_with_escaped_characters() {
    let output = run(
        json!({ "sources": [{
            "datasource": "a",
            "propertyMapping": { "a/b.c~d": "value" }
        }]}),
        vec![data("a", json!([{ "a/b": { "c~d": 5 } }]))],
    );
    assert_eq!(output.records, vec![json!({ "value": 5 })]);
}

// ---- joins ----

#[test]
fn inner_join_keeps_matched_pairs() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1, "a": "x" }, { "id": 2, "a": "y" }])),
            data("s1", json!([{ "id": 2, "b": "q" }, { "id": 3, "b": "r" }])),
        ],
    );
    assert_eq!(output.records, vec![json!({ "id": 2, "a": "y", "b": "q" })]);
    assert_eq!(output.diagnostics[0].unmatched, 1);
    assert_eq!(output.diagnostics[1].unmatched, 1);
}

#[test]
fn left_join_keeps_unmatched_left_rows_in_place() {
    let output = run(
        join_spec("left", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1, "a": "x" }, { "id": 2, "a": "y" }])),
            data("s1", json!([{ "id": 2, "b": "q" }, { "id": 3, "b": "r" }])),
        ],
    );
    assert_eq!(
        output.records,
        vec![
            json!({ "id": 1, "a": "x" }),
            json!({ "id": 2, "a": "y", "b": "q" })
        ]
    );
}

#[test]
fn full_join_appends_unmatched_right_rows() {
    let output = run(
        join_spec("full", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1, "a": "x" }, { "id": 2, "a": "y" }])),
            data(
                "s1",
                json!([{ "id": 4, "b": "s" }, { "id": 2, "b": "q" }, { "id": 3, "b": "r" }]),
            ),
        ],
    );
    assert_eq!(
        output.records,
        vec![
            json!({ "id": 1, "a": "x" }),
            json!({ "id": 2, "a": "y", "b": "q" }),
            json!({ "id": 4, "b": "s" }),
            json!({ "id": 3, "b": "r" })
        ]
    );
    assert_eq!(output.diagnostics[0].unmatched, 1);
    assert_eq!(output.diagnostics[1].unmatched, 2);
}

#[test]
fn join_one_to_many_keeps_right_order() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1, "a": "x" }])),
            data(
                "s1",
                json!([{ "id": 1, "b": 1 }, { "id": 9, "b": 0 }, { "id": 1, "b": 2 }]),
            ),
        ],
    );
    assert_eq!(
        output.records,
        vec![
            json!({ "id": 1, "a": "x", "b": 1 }),
            json!({ "id": 1, "a": "x", "b": 2 })
        ]
    );
}

#[test]
fn join_many_to_many_produces_every_pair() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1, "a": 1 }, { "id": 1, "a": 2 }])),
            data("s1", json!([{ "id": 1, "b": 1 }, { "id": 1, "b": 2 }])),
        ],
    );
    let pairs: Vec<(i64, i64)> = output
        .records
        .iter()
        .map(|row| (row["a"].as_i64().expect("a"), row["b"].as_i64().expect("b")))
        .collect();
    assert_eq!(pairs, vec![(1, 1), (1, 2), (2, 1), (2, 2)]);
}

#[test]
fn join_null_and_missing_keys_never_match() {
    let output = run(
        join_spec("full", json!(["id"]), 2),
        vec![
            data(
                "s0",
                json!([{ "id": null, "a": 1 }, { "a": 2 }, { "id": 5, "a": 3 }]),
            ),
            data("s1", json!([{ "id": null, "b": 1 }, { "id": 5, "b": 2 }])),
        ],
    );
    assert_eq!(
        output.records,
        vec![
            json!({ "id": null, "a": 1 }),
            json!({ "a": 2 }),
            json!({ "id": 5, "a": 3, "b": 2 }),
            json!({ "id": null, "b": 1 })
        ]
    );
    assert_eq!(output.diagnostics[0].missing_key, 2);
    assert_eq!(output.diagnostics[0].unmatched, 0);
    assert_eq!(output.diagnostics[1].missing_key, 1);
    assert_eq!(output.diagnostics[1].unmatched, 0);
}

#[test]
fn inner_join_drops_rows_with_null_keys() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": null }, { "id": 1 }])),
            data("s1", json!([{ "id": null }, { "id": 1, "b": true }])),
        ],
    );
    assert_eq!(output.records, vec![json!({ "id": 1, "b": true })]);
}

#[test]
fn join_normalizes_numbers() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data(
                "s0",
                json!([{ "id": 41, "a": 1 }, { "id": 0.5, "a": 2 }, { "id": "7", "a": 3 }]),
            ),
            data(
                "s1",
                json!([{ "id": 41.0, "b": 1 }, { "id": 0.5, "b": 2 }, { "id": 7, "b": 3 }]),
            ),
        ],
    );
    // The link key keeps the left value, and the string "7" never matches 7.
    assert_eq!(
        output.records,
        vec![
            json!({ "id": 41, "a": 1, "b": 1 }),
            json!({ "id": 0.5, "a": 2, "b": 2 })
        ]
    );
}

#[test]
fn join_key_objects_ignore_field_order() {
    let output = run(
        join_spec("inner", json!(["ref"]), 2),
        vec![
            data("s0", json!([{ "ref": { "org": "acme", "n": 3 }, "a": 1 }])),
            data(
                "s1",
                json!([{ "ref": { "n": 3.0, "org": "acme" }, "b": 2 }]),
            ),
        ],
    );
    assert_eq!(output.records.len(), 1);
    assert_eq!(output.records[0]["b"], json!(2));
}

#[test]
fn join_on_multiple_keys() {
    let output = run(
        join_spec("inner", json!(["org", "repo"]), 2),
        vec![
            data(
                "s0",
                json!([
                    { "org": "a", "repo": "x", "stars": 1 },
                    { "org": "a", "repo": "y", "stars": 2 }
                ]),
            ),
            data(
                "s1",
                json!([
                    { "org": "a", "repo": "y", "issues": 5 },
                    { "org": "b", "repo": "x", "issues": 6 }
                ]),
            ),
        ],
    );
    assert_eq!(
        output.records,
        vec![json!({ "org": "a", "repo": "y", "stars": 2, "issues": 5 })]
    );
}

#[test]
fn join_three_sources_left_to_right() {
    let output = run(
        join_spec("left", json!(["id"]), 3),
        vec![
            data("s0", json!([{ "id": 1, "a": 1 }, { "id": 2, "a": 2 }])),
            data("s1", json!([{ "id": 1, "b": 1 }, { "id": 3, "b": 3 }])),
            data("s2", json!([{ "id": 2, "c": 2 }, { "id": 1, "c": 1 }])),
        ],
    );
    assert_eq!(
        output.records,
        vec![
            json!({ "id": 1, "a": 1, "b": 1, "c": 1 }),
            json!({ "id": 2, "a": 2, "c": 2 })
        ]
    );
    let unmatched: Vec<usize> = output.diagnostics.iter().map(|d| d.unmatched).collect();
    assert_eq!(unmatched, vec![1, 1, 0]);
}

#[test]
fn join_right_fields_overwrite_except_keys() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1, "name": "left", "a": 1 }])),
            data("s1", json!([{ "name": "right", "id": 1.0 }])),
        ],
    );
    assert_eq!(
        output.records,
        vec![json!({ "id": 1, "name": "right", "a": 1 })]
    );
}

#[test]
fn join_uses_mapped_field_names() {
    let output = run(
        json!({
            "sources": [
                { "datasource": "issues", "propertyMapping": { "user.login": "login", "title": "title" } },
                { "datasource": "people", "propertyMapping": { "handle": "login", "team": "team" } }
            ],
            "linkKeys": ["login"]
        }),
        vec![
            data(
                "issues",
                json!([{ "title": "Fix", "user": { "login": "ada" } }]),
            ),
            data("people", json!([{ "handle": "ada", "team": "core" }])),
        ],
    );
    assert_eq!(
        output.records,
        vec![json!({ "login": "ada", "title": "Fix", "team": "core" })]
    );
}

// ---- merge strategies ----

fn merge_sources() -> Vec<SourceData> {
    vec![
        data("first", json!([{ "a": 1, "b": 1 }, { "a": 2 }])),
        data("second", json!([{ "b": 9, "c": 9 }])),
    ]
}

fn merge_spec(strategy: Option<&str>) -> Value {
    let mut value = json!({ "sources": [{ "datasource": "first" }, { "datasource": "second" }] });
    if let Some(strategy) = strategy {
        value["mergeStrategy"] = json!(strategy);
    }
    value
}

#[test]
fn merge_concat_is_default() {
    let output = run(merge_spec(None), merge_sources());
    assert_eq!(
        output.records,
        vec![
            json!({ "a": 1, "b": 1 }),
            json!({ "a": 2 }),
            json!({ "b": 9, "c": 9 })
        ]
    );
    assert_eq!(output.diagnostics[0].unmatched, 0);
}

#[test]
fn merge_keeps_existing_fields() {
    let output = run(merge_spec(Some("merge")), merge_sources());
    assert_eq!(
        output.records,
        vec![json!({ "a": 1, "b": 1, "c": 9 }), json!({ "a": 2 })]
    );
}

#[test]
fn merge_override_prefers_later_sources() {
    let output = run(merge_spec(Some("override")), merge_sources());
    assert_eq!(
        output.records,
        vec![json!({ "a": 1, "b": 9, "c": 9 }), json!({ "a": 2 })]
    );
}

#[test]
fn merge_indexed_keys_by_source_name() {
    let output = run(merge_spec(Some("indexed")), merge_sources());
    assert_eq!(
        output.records,
        vec![
            json!({ "first": { "a": 1, "b": 1 }, "second": { "b": 9, "c": 9 } }),
            json!({ "first": { "a": 2 }, "second": null })
        ]
    );
}

#[test]
fn merge_indexed_rejects_duplicate_names() {
    let error = run_err(
        merge_spec(Some("indexed")),
        vec![data("same", json!([])), data("same", json!([]))],
    );
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.sources[1].datasource");
    assert!(reason.contains("\"same\" appears twice"), "{reason}");
}

#[test]
fn merge_rejects_non_object_records() {
    let error = run_err(
        merge_spec(Some("merge")),
        vec![
            data("first", json!([{ "a": 1 }])),
            data("second", json!([3])),
        ],
    );
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.mergeStrategy");
    assert!(
        reason.contains("record 0 of source \"second\" is a number"),
        "{reason}"
    );
}

// ---- output schema ----

#[test]
fn schema_failure_names_record_and_path() {
    let error = run_err(
        json!({
            "sources": [{ "datasource": "a" }],
            "outputSchema": {
                "type": "object",
                "properties": { "value": { "type": "integer" } }
            }
        }),
        vec![data(
            "a",
            json!([{ "value": 1 }, { "value": 2 }, { "value": 3 }, { "value": "four" }]),
        )],
    );
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.outputSchema");
    assert!(reason.starts_with("record 3: /value: "), "{reason}");
    assert!(reason.contains("integer"), "{reason}");
}

#[test]
fn schema_failure_at_root_uses_slash() {
    let error = run_err(
        json!({
            "sources": [{ "datasource": "a" }],
            "outputSchema": { "type": "object", "required": ["id"] }
        }),
        vec![data("a", json!([{ "other": 1 }]))],
    );
    let (_, reason) = validation_parts(error);
    assert!(reason.starts_with("record 0: /: "), "{reason}");
    assert!(reason.contains("\"id\""), "{reason}");
}

#[test]
fn schema_passing_records_are_returned() {
    let output = run(
        json!({
            "sources": [{ "datasource": "a" }],
            "outputSchema": { "type": "object", "required": ["id"] }
        }),
        vec![data("a", json!([{ "id": 1 }]))],
    );
    assert_eq!(output.records, vec![json!({ "id": 1 })]);
}

#[test]
fn schema_that_does_not_compile_is_rejected() {
    let linker = spec(json!({
        "sources": [{ "datasource": "a" }],
        "outputSchema": { "type": "not-a-type" }
    }));
    let (field, reason) = validation_parts(linker.validate().expect_err("invalid schema"));
    assert_eq!(field, "linker.outputSchema");
    assert!(reason.contains("does not compile"), "{reason}");
}

#[test]
fn schema_unresolvable_ref_is_rejected() {
    let linker = spec(json!({
        "sources": [{ "datasource": "a" }],
        "outputSchema": { "$ref": "urn:polystat:missing-schema" }
    }));
    let (field, _) = validation_parts(linker.validate().expect_err("unresolvable ref"));
    assert_eq!(field, "linker.outputSchema");
}

// ---- transforms ----

fn tag_transform(params: &Value, records: Vec<Value>) -> Result<Vec<Value>> {
    let tag = params["tag"].clone();
    Ok(records
        .into_iter()
        .map(|mut record| {
            record["tag"] = tag.clone();
            record
        })
        .collect())
}

fn keep_open(_: &Value, records: Vec<Value>) -> Result<Vec<Value>> {
    Ok(records
        .into_iter()
        .filter(|record| record["state"] == "open")
        .collect())
}

#[test]
fn source_transforms_run_before_mapping() {
    let runner = FakeRunner::new()
        .with("keep-open", keep_open)
        .with("tag", tag_transform);
    let linker = spec(json!({ "sources": [{
        "datasource": "a",
        "transforms": [
            { "transform": "keep-open" },
            { "transform": "tag", "params": { "tag": "t1" } }
        ],
        "propertyMapping": { "tag": "label", "id": "id" }
    }]}));
    let output = link(
        &linker,
        vec![data(
            "a",
            json!([{ "id": 1, "state": "open" }, { "id": 2, "state": "closed" }]),
        )],
        &runner,
    )
    .expect("link succeeds");
    assert_eq!(output.records, vec![json!({ "label": "t1", "id": 1 })]);
    assert_eq!(output.diagnostics[0].fetched, 2);
    assert_eq!(output.diagnostics[0].after_transforms, 1);
    let calls = runner.calls();
    assert_eq!(calls[0], ("keep-open".to_string(), Value::Null, 2));
    assert_eq!(calls[1], ("tag".to_string(), json!({ "tag": "t1" }), 1));
}

#[test]
fn post_join_transforms_see_joined_rows() {
    let runner = FakeRunner::new().with("count", |_, records: Vec<Value>| {
        Ok(vec![json!({ "rows": records.len() })])
    });
    let mut linker = spec(join_spec("inner", json!(["id"]), 2));
    linker.transforms = vec![TransformStep::new("count")];
    let output = link(
        &linker,
        vec![
            data("s0", json!([{ "id": 1 }, { "id": 2 }, { "id": 3 }])),
            data("s1", json!([{ "id": 1 }, { "id": 2 }])),
        ],
        &runner,
    )
    .expect("link succeeds");
    assert_eq!(output.records, vec![json!({ "rows": 2 })]);
    assert_eq!(runner.calls().len(), 1);
}

#[test]
fn transform_error_is_returned_unchanged() {
    let runner = FakeRunner::new().with("fail", |_, _| {
        Err(Error::Transform {
            module: "fail".to_string(),
            limit: None,
            reason: "trapped".to_string(),
        })
    });
    let linker = spec(json!({ "sources": [{
        "datasource": "a",
        "transforms": [{ "transform": "fail" }]
    }]}));
    let error = link(&linker, vec![data("a", json!([{}]))], &runner).expect_err("fails");
    assert_eq!(error.code(), "TRANSFORM");
}

// ---- fields ----

#[test]
fn fields_prune_before_transforms() {
    let runner = FakeRunner::new().with("echo-fields", |_, records: Vec<Value>| {
        Ok(records
            .into_iter()
            .map(|record| {
                let names: Vec<&String> = record.as_object().expect("object").keys().collect();
                json!({ "seen": names })
            })
            .collect())
    });
    let linker = spec(json!({ "sources": [{
        "datasource": "a",
        "fields": ["url", "user.login"],
        "transforms": [{ "transform": "echo-fields" }]
    }]}));
    let record = json!({ "url": "u", "user": { "login": "ana", "id": 7 }, "body": "long" });
    let output = link(&linker, vec![data("a", json!([record]))], &runner).expect("link succeeds");
    assert_eq!(output.records, vec![json!({ "seen": ["url", "user"] })]);
}

#[test]
fn fields_keep_mapping_output() {
    let record = json!({ "number": 4, "user": { "login": "ana", "id": 7 }, "body": "long" });
    let mapping = json!({ "number": "number", "user.login": "author" });
    let without = run(
        json!({ "sources": [{ "datasource": "a", "propertyMapping": mapping }] }),
        vec![data("a", json!([record.clone()]))],
    );
    let with = run(
        json!({ "sources": [{
            "datasource": "a",
            "fields": ["number", "user.login"],
            "propertyMapping": mapping
        }]}),
        vec![data("a", json!([record]))],
    );
    assert_eq!(with.records, without.records);
    assert_eq!(with.records, vec![json!({ "number": 4, "author": "ana" })]);
}

#[test]
fn read_projection_uses_fields_or_mapping() {
    let with_fields = spec(json!({ "sources": [{
        "datasource": "a",
        "fields": ["url"],
        "transforms": [{ "transform": "t" }]
    }]}));
    let projection = with_fields.sources[0].read_projection().expect("fields");
    assert!(projection.keeps("url"));
    assert!(!projection.keeps("title"));

    let mapped = spec(json!({ "sources": [{
        "datasource": "a",
        "propertyMapping": { "user.login": "author" }
    }]}));
    let projection = mapped.sources[0].read_projection().expect("mapped paths");
    assert!(projection.keeps("user.login"));
    assert!(!projection.keeps("user.id"));
}

#[test]
fn read_projection_none_for_open_sources() {
    for source in [
        json!({ "datasource": "a" }),
        json!({ "datasource": "a", "propertyMapping": { "x": "y" }, "keepUnmapped": true }),
        json!({
            "datasource": "a",
            "propertyMapping": { "x": "y" },
            "transforms": [{ "transform": "t" }]
        }),
    ] {
        let linker = spec(json!({ "sources": [source] }));
        assert_eq!(linker.sources[0].read_projection(), None, "{source}");
    }
}

#[test]
fn spec_rejects_empty_field_segment() {
    let linker =
        spec(json!({ "sources": [{ "datasource": "a", "fields": ["url", "user..login"] }] }));
    let (field, reason) = validation_parts(linker.validate().expect_err("empty segment"));
    assert_eq!(field, "linker.sources[0].fields[1]");
    assert!(reason.contains("empty segment"), "{reason}");
}

#[test]
fn spec_rejects_fields_missing_mapped_path() {
    for fields in [json!(["number"]), json!(["number", "user.id"])] {
        let linker = spec(json!({ "sources": [{
            "datasource": "a",
            "fields": fields,
            "propertyMapping": { "number": "number", "user.login": "author" }
        }]}));
        let (field, reason) = validation_parts(linker.validate().expect_err("left out"));
        assert_eq!(field, "linker.sources[0].fields");
        assert!(reason.contains("add \"user.login\" to fields"), "{reason}");
    }
}

#[test]
fn spec_accepts_fields_with_transforms() {
    // `number` is added by the transform, so fields need not keep it.
    let linker = spec(json!({ "sources": [{
        "datasource": "a",
        "fields": ["url"],
        "transforms": [{ "transform": "pr-number" }],
        "propertyMapping": { "number": "number" }
    }]}));
    assert!(linker.validate().is_ok());
}

// ---- prepare and combine ----

#[test]
fn prepare_then_combine_equals_link() {
    let runner = FakeRunner::new().with("tag", tag_transform);
    let linker = spec(json!({
        "sources": [
            { "datasource": "s0", "propertyMapping": { "id": "id", "user.login": "author" } },
            {
                "datasource": "s1",
                "fields": ["id"],
                "transforms": [{ "transform": "tag", "params": { "tag": "t" } }]
            }
        ],
        "linkKeys": ["id"],
        "join": "full"
    }));
    let sources = || {
        vec![
            data(
                "s0",
                json!([{ "id": 1, "user": { "login": "ana" } }, { "id": 2 }]),
            ),
            data("s1", json!([{ "id": 2, "body": "x" }, { "id": 3 }])),
        ]
    };
    let whole = link(&linker, sources(), &runner).expect("link succeeds");
    // Prepared in reverse order, as sources that arrive out of order would be.
    let mut prepared: Vec<PreparedSource> = sources()
        .into_iter()
        .enumerate()
        .rev()
        .map(|(index, source)| prepare(&linker, index, source, &runner).expect("prepared"))
        .collect();
    prepared.reverse();
    assert_eq!(prepared[1].diagnostic().fetched, 2);
    let parts = combine(&linker, prepared, &runner).expect("combined");
    assert_eq!(parts, whole);
    assert_eq!(parts.records.len(), 3);
}

#[test]
fn prepare_rejects_unknown_source_index() {
    let linker = spec(json!({ "sources": [{ "datasource": "a" }] }));
    let error =
        prepare(&linker, 1, data("a", json!([])), &FakeRunner::new()).expect_err("no source 1");
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.sources");
    assert!(reason.contains("no source 1"), "{reason}");
}

#[test]
fn combine_rejects_sources_out_of_order() {
    let linker = spec(join_spec("inner", json!(["id"]), 2));
    let runner = FakeRunner::new();
    let first = prepare(&linker, 0, data("s0", json!([{ "id": 1 }])), &runner).expect("prepared");
    let second = prepare(&linker, 1, data("s1", json!([{ "id": 1 }])), &runner).expect("prepared");
    let error = combine(&linker, vec![second, first], &runner).expect_err("swapped");
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.sources");
    assert!(
        reason.contains("prepared source 0 was prepared as source 1"),
        "{reason}"
    );
}

#[test]
fn prepare_checks_the_spec() {
    let linker = spec(json!({ "sources": [{ "datasource": "a", "fields": ["a..b"] }] }));
    let error = prepare(&linker, 0, data("a", json!([])), &FakeRunner::new()).expect_err("bad");
    let (field, _) = validation_parts(error);
    assert_eq!(field, "linker.sources[0].fields[0]");
}

#[test]
fn combine_rejects_wrong_source_count() {
    let linker = spec(json!({ "sources": [{ "datasource": "a" }, { "datasource": "b" }] }));
    let runner = FakeRunner::new();
    let prepared = prepare(&linker, 0, data("a", json!([])), &runner).expect("prepared");
    let error = combine(&linker, vec![prepared], &runner).expect_err("one of two");
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.sources");
    assert!(reason.contains("2 sources but 1"), "{reason}");
}

// ---- spec validation ----

#[test]
fn spec_rejects_unknown_fields() {
    for value in [
        json!({ "sources": [], "linkKey": ["id"] }),
        json!({ "sources": [{ "datasource": "a", "mapping": {} }] }),
        json!({ "sources": [{ "datasource": "a", "transforms": [{ "transfrom": "x" }] }] }),
    ] {
        let error = serde_json::from_value::<LinkerSpec>(value.clone()).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field"),
            "{value}: {error}"
        );
    }
}

#[test]
fn spec_rejects_unknown_join_kind() {
    let value = json!({ "sources": [{ "datasource": "a" }], "join": "outer" });
    assert!(serde_json::from_value::<LinkerSpec>(value).is_err());
}

#[test]
fn spec_rejects_duplicate_mapping_path() {
    let text = r#"{"sources":[{"datasource":"a","propertyMapping":{"x":"a","x":"b"}}]}"#;
    let error = serde_json::from_str::<LinkerSpec>(text).expect_err("duplicate path");
    assert!(
        error.to_string().contains("duplicate source path"),
        "{error}"
    );
}

fn validation_field(value: Value) -> (String, String) {
    let error = spec(value).validate().expect_err("invalid spec");
    validation_parts(error)
}

#[test]
fn spec_validation_errors_name_fields() {
    let cases = [
        (json!({ "sources": [] }), "linker.sources"),
        (
            json!({ "sources": [{ "datasource": " " }] }),
            "linker.sources[0].datasource",
        ),
        (
            json!({ "sources": [{ "datasource": "a" }, { "datasource": "b" }], "linkKeys": ["id", ""] }),
            "linker.linkKeys[1]",
        ),
        (
            json!({ "sources": [{ "datasource": "a" }, { "datasource": "b" }], "linkKeys": ["id", "id"] }),
            "linker.linkKeys[1]",
        ),
        (
            json!({ "sources": [{ "datasource": "a" }], "linkKeys": ["id"] }),
            "linker.linkKeys",
        ),
        (
            json!({ "sources": [{ "datasource": "a" }, { "datasource": "b" }], "linkKeys": ["id"], "mergeStrategy": "merge" }),
            "linker.mergeStrategy",
        ),
        (
            json!({ "sources": [{ "datasource": "a", "propertyMapping": { "a..b": "x" } }] }),
            "linker.sources[0].propertyMapping",
        ),
        (
            json!({ "sources": [{ "datasource": "a", "propertyMapping": { "a": "x", "b": "x" } }] }),
            "linker.sources[0].propertyMapping",
        ),
        (
            json!({ "sources": [{ "datasource": "a" }, { "datasource": "b", "propertyMapping": { "a": "x" } }], "linkKeys": ["id"] }),
            "linker.sources[1].propertyMapping",
        ),
        (
            json!({ "sources": [{ "datasource": "a", "options": [1] }] }),
            "linker.sources[0].options",
        ),
        (
            json!({ "sources": [{ "datasource": "a", "transforms": [{ "transform": "" }] }] }),
            "linker.sources[0].transforms[0].transform",
        ),
        (
            json!({ "sources": [{ "datasource": "a" }], "transforms": [{ "transform": "ok" }, { "transform": "" }] }),
            "linker.transforms[1].transform",
        ),
    ];
    for (value, expected) in cases {
        let (field, reason) = validation_field(value.clone());
        assert_eq!(field, expected, "{value}: {reason}");
    }
}

#[test]
fn spec_allows_link_key_from_unmapped_fields() {
    let linker = spec(json!({
        "sources": [
            { "datasource": "a", "propertyMapping": { "x": "y" }, "keepUnmapped": true },
            { "datasource": "b" }
        ],
        "linkKeys": ["id"]
    }));
    assert!(linker.validate().is_ok());
}

#[test]
fn spec_round_trips_camel_case() {
    let value = json!({
        "sources": [{
            "datasource": "a",
            "method": "list",
            "options": { "page": 1 },
            "propertyMapping": { "user.login": "author" },
            "keepUnmapped": true,
            "transforms": [{ "transform": "t", "params": { "n": 1 } }]
        }, { "datasource": "b" }],
        "linkKeys": ["author"],
        "join": "full",
        "transforms": [],
        "outputSchema": { "type": "object" },
        "mergeStrategy": null
    });
    let linker = spec(value.clone());
    assert_eq!(linker.join, JoinKind::Full);
    let serialized = serde_json::to_value(&linker).expect("serialize");
    assert_eq!(serialized["sources"][0], value["sources"][0]);
    assert_eq!(serialized["linkKeys"], value["linkKeys"]);
    assert_eq!(serialized["outputSchema"], value["outputSchema"]);
    assert_eq!(spec(serialized), linker);
}

#[test]
fn link_rejects_wrong_batch_count() {
    let error = run_err(
        json!({ "sources": [{ "datasource": "a" }, { "datasource": "b" }] }),
        vec![data("a", json!([]))],
    );
    let (field, reason) = validation_parts(error);
    assert_eq!(field, "linker.sources");
    assert!(reason.contains("2 sources but 1"), "{reason}");
}

// ---- sampling and diagnostics ----

#[test]
fn sample_truncates_each_source() {
    let sampled = sample(
        vec![
            data("a", json!([1, 2, 3])),
            data("b", json!([1])),
            data("c", json!([])),
        ],
        2,
    );
    let lengths: Vec<usize> = sampled.iter().map(|s| s.records.len()).collect();
    assert_eq!(lengths, vec![2, 1, 0]);
    assert_eq!(sampled[0].records, vec![json!(1), json!(2)]);
}

#[test]
fn diagnostics_serialize_in_camel_case() {
    let output = run(
        join_spec("inner", json!(["id"]), 2),
        vec![
            data("s0", json!([{ "id": 1 }, {}])),
            data("s1", json!([{ "id": 1 }])),
        ],
    );
    let value = serde_json::to_value(&output.diagnostics[0]).expect("serialize");
    assert_eq!(
        value,
        json!({ "source": "s0", "fetched": 2, "afterTransforms": 2, "unmatched": 0, "missingKey": 1 })
    );
}

#[test]
fn default_spec_fails_validation() {
    let (field, _) = validation_parts(LinkerSpec::default().validate().expect_err("no sources"));
    assert_eq!(field, "linker.sources");
}
