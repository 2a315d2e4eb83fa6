use serde_json::{json, Value};

use super::Projection;

/// Records with the shapes a projection meets: nested objects, arrays,
/// escaped text, the integer extremes, floats and a field name given twice.
const DOCUMENT: &str = r#"[
    {"number": 18446744073709551615, "title": "a \"quoted\" title", "user": {"login": "ana", "id": -9223372036854775808, "site_admin": false}, "labels": [{"name": "bug"}, {"name": "ui"}], "merged_at": null, "score": 0.25},
    {"number": 2, "user": "ghost", "labels": [], "title": "first", "title": "second", "score": 1e300},
    {"number": 3},
    "not an object",
    [1, 2]
]"#;

fn parse_projected(projection: &Projection, text: &str) -> Value {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = projection.parse_records(&mut deserializer).unwrap();
    deserializer.end().unwrap();
    value
}

fn parse_then_prune(projection: &Projection, text: &str) -> Value {
    let mut document: Value = serde_json::from_str(text).unwrap();
    for record in document.as_array_mut().unwrap() {
        projection.prune(record);
    }
    document
}

#[test]
fn projected_parse_equals_parse_then_prune() {
    let paths = ["number", "user.login", "labels.0.name", "title", "score"];
    let projection = Projection::new(paths);
    assert_eq!(
        parse_projected(&projection, DOCUMENT),
        parse_then_prune(&projection, DOCUMENT)
    );
}

#[test]
fn keeps_named_fields_in_document_order() {
    let projection = Projection::new(["user.login", "number"]);
    let records = parse_projected(&projection, DOCUMENT);
    assert_eq!(
        records,
        json!([
            {"number": 18446744073709551615u64, "user": {"login": "ana"}},
            {"number": 2, "user": "ghost"},
            {"number": 3},
            "not an object",
            [1, 2]
        ])
    );
    let first = records[0].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["number", "user"]);
}

#[test]
fn path_into_array_keeps_whole_array() {
    let projection = Projection::new(["labels.0.name"]);
    let records = parse_projected(&projection, DOCUMENT);
    assert_eq!(
        records[0],
        json!({"labels": [{"name": "bug"}, {"name": "ui"}]})
    );
}

#[test]
fn later_duplicate_field_wins() {
    let projection = Projection::new(["title"]);
    assert_eq!(
        parse_projected(&projection, DOCUMENT)[1],
        json!({"title": "second"})
    );
}

#[test]
fn shorter_nested_path_wins() {
    let whole_user = json!({"login": "ana", "id": 7});
    for paths in [["user", "user.login"], ["user.login", "user"]] {
        let projection = Projection::new(paths);
        let mut record = json!({"user": whole_user.clone(), "other": 1});
        projection.prune(&mut record);
        assert_eq!(record, json!({"user": whole_user.clone()}));
    }
}

#[test]
fn non_array_document_stays_whole() {
    let projection = Projection::new(["number"]);
    let text = r#"{"data": {"number": 1, "title": "kept"}}"#;
    let value = parse_projected(&projection, text);
    assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
}

#[test]
fn single_record_parses_projected() {
    let projection = Projection::new(["a.b"]);
    let mut deserializer = serde_json::Deserializer::from_str(r#"{"a": {"b": 1, "c": 2}, "d": 3}"#);
    let record = projection.parse_record(&mut deserializer).unwrap();
    assert_eq!(record, json!({"a": {"b": 1}}));
}

#[test]
fn invalid_dropped_field_still_fails() {
    let projection = Projection::new(["kept"]);
    let mut deserializer = serde_json::Deserializer::from_str(r#"[{"kept": 1, "dropped": [1, }]"#);
    assert!(projection.parse_records(&mut deserializer).is_err());
}

#[test]
fn keeps_reports_whole_paths() {
    let projection = Projection::new(["user.login", "number"]);
    assert!(projection.keeps("number"));
    assert!(projection.keeps("user.login"));
    assert!(projection.keeps("user.login.first"));
    assert!(!projection.keeps("user"));
    assert!(!projection.keeps("user.id"));
    assert!(!projection.keeps("title"));
}

/// Documents whose only fault lies in a field that the projection drops.
fn faulty_documents() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!(
        r#"[{{"keep": 1, "drop": {}{}}}]"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    vec![
        (
            "number out of range",
            br#"[{"keep": 1, "drop": 1e400}]"#.to_vec(),
        ),
        (
            "nested number out of range",
            br#"[{"keep": 1, "drop": {"a": [-1e400]}}]"#.to_vec(),
        ),
        ("nesting past the limit", deep.into_bytes()),
        (
            "lone surrogate",
            br#"[{"keep": 1, "drop": "\ud800"}]"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            b"[{\"keep\": 1, \"drop\": \"\xff\xfe\"}]".to_vec(),
        ),
        ("trailing comma", br#"[{"keep": 1, "drop": [1,]}]"#.to_vec()),
        (
            "control character",
            b"[{\"keep\": 1, \"drop\": \"a\x01\"}]".to_vec(),
        ),
        ("invalid escape", br#"[{"keep": 1, "drop": "\q"}]"#.to_vec()),
        ("bad field name", br#"[{"keep": 1, "\ud800": 2}]"#.to_vec()),
    ]
}

#[test]
fn dropped_fields_fail_as_in_a_whole_parse() {
    let projection = Projection::new(["keep"]);
    for (case, bytes) in faulty_documents() {
        let whole = serde_json::from_slice::<Value>(&bytes).expect_err(case);
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let projected = projection
            .parse_records(&mut deserializer)
            .and_then(|value| deserializer.end().map(|()| value))
            .expect_err(case);
        assert_eq!(projected.to_string(), whole.to_string(), "{case}");
    }
}
