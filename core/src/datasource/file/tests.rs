use std::path::Path;

use serde_json::{json, Value};
use tempfile::TempDir;

use super::*;

fn root_with(files: &[(&str, &[u8])]) -> TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    for (name, contents) in files {
        let path = root.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(path, contents).expect("write file");
    }
    root
}

fn config(path: &str) -> FileConfig {
    FileConfig {
        path: path.to_string(),
        format: None,
        records_path: None,
    }
}

async fn read(root: &Path, config: &FileConfig) -> Result<Vec<Value>> {
    read_records(root, config, None).await
}

fn validation_parts(error: Error) -> (String, String) {
    match error {
        Error::Validation { field, reason } => (field, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

// ---- JSON ----

#[tokio::test]
async fn json_reads_top_level_array() {
    let root = root_with(&[("items.json", br#"[{"id": 1}, {"id": 2}]"#)]);
    let records = read(root.path(), &config("items.json"))
        .await
        .expect("read");
    assert_eq!(records, vec![json!({ "id": 1 }), json!({ "id": 2 })]);
}

#[tokio::test]
async fn json_reads_array_at_records_path() {
    let document = br#"{"data": {"items": [{"id": 1}], "total": 1}}"#;
    let root = root_with(&[("nested/doc.json", document)]);
    let mut file = config("nested/doc.json");
    file.records_path = Some("data.items".to_string());
    let records = read(root.path(), &file).await.expect("read");
    assert_eq!(records, vec![json!({ "id": 1 })]);
}

#[tokio::test]
async fn json_records_path_indexes_arrays() {
    let document = br#"{"pages": [{"rows": [1]}, {"rows": [2, 3]}]}"#;
    let root = root_with(&[("doc.json", document)]);
    let mut file = config("doc.json");
    file.records_path = Some("pages.1.rows".to_string());
    let records = read(root.path(), &file).await.expect("read");
    assert_eq!(records, vec![json!(2), json!(3)]);
}

#[tokio::test]
async fn json_non_array_is_rejected() {
    let root = root_with(&[("doc.json", br#"{"data": {"items": {"id": 1}}}"#)]);
    let (field, reason) = validation_parts(
        read(root.path(), &config("doc.json"))
            .await
            .expect_err("not an array"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(reason.contains("found object"), "{reason}");

    let mut file = config("doc.json");
    file.records_path = Some("data.items".to_string());
    let (field, reason) =
        validation_parts(read(root.path(), &file).await.expect_err("not an array"));
    assert_eq!(field, "datasource.config.recordsPath");
    assert!(reason.contains("at data.items"), "{reason}");
}

#[tokio::test]
async fn json_missing_records_path_is_rejected() {
    let root = root_with(&[("doc.json", br#"{"data": {}}"#)]);
    let mut file = config("doc.json");
    file.records_path = Some("data.items".to_string());
    let (field, reason) = validation_parts(read(root.path(), &file).await.expect_err("missing"));
    assert_eq!(field, "datasource.config.recordsPath");
    assert!(reason.contains("no value at data.items"), "{reason}");
}

#[tokio::test]
async fn json_invalid_document_is_rejected() {
    let root = root_with(&[("doc.json", b"[{\"id\": 1},")]);
    let (field, reason) = validation_parts(
        read(root.path(), &config("doc.json"))
            .await
            .expect_err("invalid"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(reason.starts_with("invalid JSON in doc.json"), "{reason}");
}

#[tokio::test]
async fn json_skips_byte_order_mark() {
    let root = root_with(&[("doc.json", b"\xEF\xBB\xBF[1]")]);
    let records = read(root.path(), &config("doc.json")).await.expect("read");
    assert_eq!(records, vec![json!(1)]);
}

#[tokio::test]
async fn json_limit_truncates() {
    let root = root_with(&[("doc.json", b"[1, 2, 3]")]);
    let records = read_records(root.path(), &config("doc.json"), Some(2))
        .await
        .expect("read");
    assert_eq!(records, vec![json!(1), json!(2)]);
}

// ---- NDJSON ----

#[tokio::test]
async fn ndjson_reads_lines_and_skips_blank_ones() {
    let root = root_with(&[("events.jsonl", b"{\"n\": 1}\r\n\n  \n{\"n\": 2}\n")]);
    let records = read(root.path(), &config("events.jsonl"))
        .await
        .expect("read");
    assert_eq!(records, vec![json!({ "n": 1 }), json!({ "n": 2 })]);
}

#[tokio::test]
async fn ndjson_bad_line_names_line_number() {
    let root = root_with(&[("events.ndjson", b"{\"n\": 1}\n\n{\"n\": }\n{\"n\": 3}\n")]);
    let (field, reason) = validation_parts(
        read(root.path(), &config("events.ndjson"))
            .await
            .expect_err("bad line"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(
        reason.starts_with("invalid JSON on line 3, column 7 of events.ndjson: "),
        "{reason}"
    );
    assert!(!reason.contains(" at line "), "{reason}");
}

#[tokio::test]
async fn ndjson_limit_stops_before_bad_lines() {
    let root = root_with(&[("events.ndjson", b"1\n2\nnot json\n")]);
    let records = read_records(root.path(), &config("events.ndjson"), Some(2))
        .await
        .expect("read");
    assert_eq!(records, vec![json!(1), json!(2)]);
}

#[tokio::test]
async fn ndjson_invalid_utf8_names_line() {
    let root = root_with(&[("events.ndjson", b"1\n\"\xFF\"\n")]);
    let (_, reason) = validation_parts(
        read(root.path(), &config("events.ndjson"))
            .await
            .expect_err("bad bytes"),
    );
    assert!(reason.contains("line 2"), "{reason}");
    assert!(reason.contains("UTF-8"), "{reason}");
}

// ---- CSV ----

#[tokio::test]
async fn csv_empty_cells_become_null() {
    let root = root_with(&[("people.csv", b"name,age,team\nada,36,\n\"lin, b\",,core\n")]);
    let records = read(root.path(), &config("people.csv"))
        .await
        .expect("read");
    assert_eq!(
        records,
        vec![
            json!({ "name": "ada", "age": "36", "team": null }),
            json!({ "name": "lin, b", "age": null, "team": "core" })
        ]
    );
}

#[tokio::test]
async fn csv_short_row_names_row() {
    let root = root_with(&[("people.csv", b"name,age\nada,36\nlin\n")]);
    let (field, reason) = validation_parts(
        read(root.path(), &config("people.csv"))
            .await
            .expect_err("short row"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(reason.contains("data row 2 (line 3)"), "{reason}");
    assert!(reason.contains("1 fields but the header has 2"), "{reason}");
}

#[tokio::test]
async fn csv_duplicate_header_is_rejected() {
    let root = root_with(&[("people.csv", b"name,name\na,b\n")]);
    let (_, reason) = validation_parts(
        read(root.path(), &config("people.csv"))
            .await
            .expect_err("duplicate"),
    );
    assert!(reason.contains("repeats the column \"name\""), "{reason}");
}

#[tokio::test]
async fn csv_skips_byte_order_mark_and_honors_limit() {
    let root = root_with(&[("people.csv", b"\xEF\xBB\xBFname\na\nb\nc\n")]);
    let records = read_records(root.path(), &config("people.csv"), Some(2))
        .await
        .expect("read");
    assert_eq!(
        records,
        vec![json!({ "name": "a" }), json!({ "name": "b" })]
    );
}

#[tokio::test]
async fn explicit_format_overrides_extension() {
    let root = root_with(&[("export.txt", b"a\n1\n")]);
    let mut file = config("export.txt");
    file.format = Some(FileFormat::Csv);
    let records = read(root.path(), &file).await.expect("read");
    assert_eq!(records, vec![json!({ "a": "1" })]);
}

// ---- paths ----

#[tokio::test]
async fn parent_escape_is_rejected() {
    let outer = root_with(&[("secret.json", b"[1]"), ("data/ok.json", b"[2]")]);
    let root = outer.path().join("data");
    let (field, reason) = validation_parts(
        read(&root, &config("../secret.json"))
            .await
            .expect_err("escape"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(reason.contains("leaves the data root"), "{reason}");
}

#[tokio::test]
async fn parent_inside_root_is_allowed() {
    let root = root_with(&[("a/ok.json", b"[2]"), ("b/.keep", b"")]);
    let records = read(root.path(), &config("b/../a/ok.json"))
        .await
        .expect("read");
    assert_eq!(records, vec![json!(2)]);
}

#[tokio::test]
async fn absolute_path_is_rejected() {
    let root = root_with(&[("ok.json", b"[1]")]);
    let absolute = root.path().join("ok.json");
    let absolute = absolute.to_str().expect("UTF-8 temp path");
    let (field, reason) = validation_parts(
        read(root.path(), &config(absolute))
            .await
            .expect_err("absolute"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(
        reason.starts_with("absolute paths are not allowed"),
        "{reason}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_outside_root_is_rejected() {
    let outer = root_with(&[("secret.json", b"[1]"), ("data/.keep", b"")]);
    let root = outer.path().join("data");
    std::os::unix::fs::symlink(outer.path().join("secret.json"), root.join("link.json"))
        .expect("symlink");
    let (field, reason) =
        validation_parts(read(&root, &config("link.json")).await.expect_err("escape"));
    assert_eq!(field, "datasource.config.path");
    assert!(reason.contains("outside the data root"), "{reason}");
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_inside_root_is_followed() {
    let root = root_with(&[("real/items.json", b"[1]")]);
    std::os::unix::fs::symlink(root.path().join("real"), root.path().join("alias"))
        .expect("symlink");
    let records = read(root.path(), &config("alias/items.json"))
        .await
        .expect("read");
    assert_eq!(records, vec![json!(1)]);
}

#[tokio::test]
async fn missing_file_names_relative_path() {
    let root = root_with(&[]);
    let (field, reason) = validation_parts(
        read(root.path(), &config("nope/items.json"))
            .await
            .expect_err("missing"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(
        reason.starts_with("file not found: nope/items.json"),
        "{reason}"
    );
}

#[tokio::test]
async fn directory_is_rejected() {
    let root = root_with(&[("dir.json/inner", b"")]);
    let (_, reason) = validation_parts(
        read(root.path(), &config("dir.json"))
            .await
            .expect_err("directory"),
    );
    assert!(reason.contains("not a regular file"), "{reason}");
}

#[test]
fn missing_root_is_configuration_error() {
    let root = root_with(&[]);
    let missing = root.path().join("absent");
    let error = resolve_path(&missing, "a.json").expect_err("missing root");
    assert_eq!(error.code(), "CONFIGURATION");
}

// ---- config validation ----

#[test]
fn validate_infers_format_from_extension() {
    let cases = [
        ("a.json", FileFormat::Json),
        ("a.NDJSON", FileFormat::Ndjson),
        ("dir/a.jsonl", FileFormat::Ndjson),
        ("a.Csv", FileFormat::Csv),
    ];
    for (path, expected) in cases {
        assert_eq!(
            config(path).resolved_format().expect(path),
            expected,
            "{path}"
        );
    }
}

#[test]
fn validate_rejects_bad_configs() {
    let mut records_path_on_csv = config("a.csv");
    records_path_on_csv.records_path = Some("data".to_string());
    let mut empty_segment = config("a.json");
    empty_segment.records_path = Some("data..items".to_string());
    let cases = [
        (config(""), "datasource.config.path"),
        (config("a.txt"), "datasource.config.format"),
        (config("/etc/passwd.json"), "datasource.config.path"),
        (config("a/../../b.json"), "datasource.config.path"),
        (records_path_on_csv, "datasource.config.recordsPath"),
        (empty_segment, "datasource.config.recordsPath"),
    ];
    for (file, expected) in cases {
        let (field, reason) = validation_parts(file.validate().expect_err(&file.path));
        assert_eq!(field, expected, "{}: {reason}", file.path);
    }
}

#[test]
fn config_deserializes_camel_case() {
    let file: FileConfig = serde_json::from_value(json!({
        "path": "a.json",
        "format": "ndjson",
        "recordsPath": "data"
    }))
    .expect("config");
    assert_eq!(file.format, Some(FileFormat::Ndjson));
    assert_eq!(file.records_path.as_deref(), Some("data"));
    let defaults: FileConfig = serde_json::from_value(json!({ "path": "a.csv" })).expect("config");
    assert_eq!(defaults, config("a.csv"));
}

// ---- projection ----

async fn read_keeping(root: &Path, file: &FileConfig, paths: &[&str]) -> Result<Vec<Value>> {
    let projection = Projection::new(paths.iter().copied());
    read_projected(root, file, None, Some(projection)).await
}

#[tokio::test]
async fn projection_applies_to_every_format() {
    let root = root_with(&[
        (
            "items.json",
            br#"[{"id": 1, "user": {"login": "ana", "id": 7}, "body": "x"}]"#,
        ),
        (
            "doc.json",
            br#"{"data": [{"id": 1, "user": {"login": "ana", "id": 7}, "body": "x"}]}"#,
        ),
        (
            "items.ndjson",
            b"{\"id\": 1, \"user\": {\"login\": \"ana\", \"id\": 7}, \"body\": \"x\"}\n",
        ),
        ("items.csv", b"id,body\n1,x\n"),
    ]);
    let mut nested = config("doc.json");
    nested.records_path = Some("data".to_string());
    let expected = json!({ "id": 1, "user": { "login": "ana" } });
    for file in [config("items.json"), nested, config("items.ndjson")] {
        let records = read_keeping(root.path(), &file, &["id", "user.login"])
            .await
            .expect("read");
        assert_eq!(records, vec![expected.clone()], "{}", file.path);
    }
    let rows = read_keeping(root.path(), &config("items.csv"), &["id"])
        .await
        .expect("read");
    assert_eq!(rows, vec![json!({ "id": "1" })]);
}

#[tokio::test]
async fn projection_rejects_invalid_dropped_json() {
    let root = root_with(&[
        ("doc.json", br#"[{"id": 1, "body": [1, }]"#),
        ("events.ndjson", b"{\"id\": 1}\n{\"id\": 2, \"body\": }\n"),
    ]);
    let (field, reason) = validation_parts(
        read_keeping(root.path(), &config("doc.json"), &["id"])
            .await
            .expect_err("invalid"),
    );
    assert_eq!(field, "datasource.config.path");
    assert!(reason.starts_with("invalid JSON in doc.json"), "{reason}");
    let (_, reason) = validation_parts(
        read_keeping(root.path(), &config("events.ndjson"), &["id"])
            .await
            .expect_err("invalid"),
    );
    assert!(reason.starts_with("invalid JSON on line 2"), "{reason}");
}

#[tokio::test]
async fn projection_keeps_non_array_error() {
    let root = root_with(&[("doc.json", br#"{"id": 1}"#)]);
    let (_, reason) = validation_parts(
        read_keeping(root.path(), &config("doc.json"), &["id"])
            .await
            .expect_err("not an array"),
    );
    assert!(reason.contains("expected an array of records"), "{reason}");
}
