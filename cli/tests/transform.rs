//! `polystat transform upload|list|test` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use tempfile::TempDir;

fn dist(module: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../transforms/dist")
        .join(module)
        .display()
        .to_string()
}

/// Runs the command on an embedded store in `dir`, with compiled modules
/// cached inside `dir` too.
fn polystat(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polystat"))
        .args(args)
        .current_dir(dir)
        .env_remove("POLYSTAT_RELATIONAL_URL")
        .env_remove("POLYSTAT_DOCUMENTS_URL")
        .env_remove("POLYSTAT_CACHE_URL")
        .env("POLYSTAT_TRANSFORM_CACHE_DIR", dir.join("compiled"))
        .output()
        .expect("run polystat")
}

/// Runs a command that must succeed and parses its stdout as JSON.
fn json_output(dir: &Path, args: &[&str]) -> Value {
    let output = polystat(dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Returns the one `error:` line of a failed command.
fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "the command succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "stderr: {stderr}");
    errors[0].to_string()
}

fn write_records(dir: &Path, records: Value) -> String {
    let path = dir.join("records.json");
    std::fs::write(&path, serde_json::to_vec(&records).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn upload_list_and_test_stored_transform() {
    let dir = TempDir::new().unwrap();
    let module = dist("redact.wasm");
    let first = json_output(dir.path(), &["transform", "upload", "redact", &module]);
    assert_eq!(first["name"], "redact");
    assert_eq!(first["version"], 1);
    assert_eq!(first["digest"].as_str().map(str::len), Some(64));
    let again = json_output(dir.path(), &["transform", "upload", "redact", &module]);
    assert_eq!(again, first, "identical bytes keep version 1");

    let listed = json_output(dir.path(), &["transform", "list"]);
    assert_eq!(listed, json!([first]));

    let records = write_records(
        dir.path(),
        json!([{ "login": "octocat", "email": "octo@example.org" }]),
    );
    let output = json_output(dir.path(), &["transform", "test", "redact@1", &records]);
    let email = output[0]["email"].as_str().expect("email is a string");
    assert!(email.starts_with("sha256:"), "{email}");
    assert_eq!(output[0]["login"], "octocat");
    assert!(
        dir.path()
            .join("compiled")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "the compiled module is cached on disk"
    );
}

#[test]
fn test_runs_module_file_with_params() {
    let dir = TempDir::new().unwrap();
    let records = write_records(
        dir.path(),
        json!({ "records": [{ "url": "https://api.github.com/repos/o/r/pulls/17" }] }),
    );
    let output = json_output(
        dir.path(),
        &[
            "transform",
            "test",
            &dist("pr-number.wasm"),
            &records,
            "--params",
            r#"{"from": "url", "to": "pr"}"#,
        ],
    );
    assert_eq!(output[0]["pr"], 17);
}

#[test]
fn upload_rejects_bytes_that_are_not_wasm() {
    let dir = TempDir::new().unwrap();
    let module = dir.path().join("script.wasm");
    std::fs::write(&module, "#!/bin/sh\n").unwrap();
    let output = polystat(
        dir.path(),
        &["transform", "upload", "script", module.to_str().unwrap()],
    );
    let error = error_line(&output);
    assert!(error.contains("invalid module.bytes"), "{error}");
    assert!(error.contains("not a WebAssembly binary module"), "{error}");
    let listed = json_output(dir.path(), &["transform", "list"]);
    assert_eq!(listed, json!([]));
}

#[test]
fn stored_limits_apply_to_test_runs() {
    let dir = TempDir::new().unwrap();
    let module = dist("pr-number.wasm");
    let info = json_output(
        dir.path(),
        &[
            "transform",
            "upload",
            "pr-number",
            &module,
            "--fuel",
            "1000",
        ],
    );
    assert_eq!(info["limits"], json!({ "fuel": 1000 }));
    let records = write_records(dir.path(), json!([{ "url": "x" }]));
    let output = polystat(dir.path(), &["transform", "test", "pr-number", &records]);
    let error = error_line(&output);
    assert!(error.contains("transform pr-number@1"), "{error}");
    assert!(error.contains("fuel budget of 1000"), "{error}");
}

#[test]
fn test_names_a_missing_transform() {
    let dir = TempDir::new().unwrap();
    let records = write_records(dir.path(), json!([]));
    let output = polystat(dir.path(), &["transform", "test", "absent@2", &records]);
    let error = error_line(&output);
    assert!(error.contains("transform absent@2 not found"), "{error}");
}
