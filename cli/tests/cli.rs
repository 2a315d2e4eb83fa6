//! The `polystat` command as a user runs it: exit codes, stdout JSON and
//! one-line errors on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn polystat(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polystat"))
        .args(args)
        .current_dir(dir)
        .env_remove("POLYSTAT_RELATIONAL_URL")
        .env_remove("POLYSTAT_DOCUMENTS_URL")
        .env_remove("POLYSTAT_CACHE_URL")
        .output()
        .expect("run polystat")
}

fn sample_job() -> String {
    repo_root()
        .join("examples/jobs/sample-pull-request-review.json")
        .display()
        .to_string()
}

#[test]
fn evaluate_prints_json_summary() {
    let dir = TempDir::new().unwrap();
    let output = polystat(dir.path(), &["evaluate", &sample_job()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(report["controls_imported"], 4);
    assert_eq!(report["totals"]["controls"], 4);
    assert_eq!(report["totals"]["computations"], 1);
    assert_eq!(report["evaluations"][0]["control"], "cm-3");
    assert_eq!(report["evaluations"][0]["evidences"], 3);
    assert_eq!(report["evaluations"][0]["passing"], 1);
    assert_eq!(report["evaluations"][0]["value"], false);
    assert!(report["evaluations"][0]["computation_id"].is_string());
    assert!(
        dir.path().join("polystat.db").exists(),
        "default store is polystat.db in the working directory"
    );
    assert!(
        stderr.contains("evaluating job"),
        "progress goes to stderr: {stderr}"
    );
}

#[test]
fn evaluate_twice_keeps_totals() {
    let dir = TempDir::new().unwrap();
    let first = polystat(dir.path(), &["evaluate", &sample_job()]);
    let second = polystat(dir.path(), &["evaluate", &sample_job()]);
    assert!(first.status.success());
    assert!(second.status.success());
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(first["totals"], second["totals"]);
}

#[test]
fn malformed_job_exits_nonzero_with_one_line() {
    let dir = TempDir::new().unwrap();
    let job = dir.path().join("job.json");
    std::fs::write(&job, "[1, 2").unwrap();
    let output = polystat(dir.path(), &["evaluate", job.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "stderr: {stderr}");
    assert!(errors[0].contains("job.json"), "{}", errors[0]);
}

#[test]
fn missing_job_file_exits_nonzero() {
    let dir = TempDir::new().unwrap();
    let output = polystat(dir.path(), &["evaluate", "does-not-exist.json"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does-not-exist.json"), "{stderr}");
}

#[test]
fn failed_job_leaves_store_unchanged() {
    let dir = TempDir::new().unwrap();
    let mut job: Value =
        serde_json::from_str(&std::fs::read_to_string(sample_job()).unwrap()).unwrap();
    job["dataDir"] = Value::String(repo_root().join("examples/data").display().to_string());
    job["transforms"]["pr-number"] = Value::String(
        repo_root()
            .join("transforms/dist/pr-number.wasm")
            .display()
            .to_string(),
    );
    job["transforms"]["review-rule"] =
        Value::String(dir.path().join("missing.wasm").display().to_string());
    let path = dir.path().join("job.json");
    std::fs::write(&path, serde_json::to_vec(&job).unwrap()).unwrap();
    let output = polystat(dir.path(), &["evaluate", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.wasm"), "{stderr}");

    // The store file may exist (opening migrates it) but contains no records.
    let migrate = polystat(
        dir.path(),
        &[
            "import",
            repo_root()
                .join("examples/data/oscal/sample-catalog.json")
                .to_str()
                .unwrap(),
        ],
    );
    let summary: Value = serde_json::from_slice(&migrate.stdout).unwrap();
    assert_eq!(
        summary["created"], 4,
        "nothing was imported by the failed job"
    );
}

#[test]
fn import_is_idempotent() {
    let dir = TempDir::new().unwrap();
    let catalog = repo_root().join("examples/data/oscal/sample-catalog.json");
    let first = polystat(dir.path(), &["import", catalog.to_str().unwrap()]);
    let second = polystat(dir.path(), &["import", catalog.to_str().unwrap()]);
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(first["created"], 4);
    assert_eq!(second["created"], 0);
    assert_eq!(second["unchanged"], 4);
    assert_eq!(first["catalog_id"], second["catalog_id"]);
}

/// Removes ids, which differ between stores, from a job summary.
fn without_ids(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("catalog_id");
    for evaluation in report["evaluations"].as_array_mut().unwrap() {
        let evaluation = evaluation.as_object_mut().unwrap();
        evaluation.remove("control_id");
        evaluation.remove("computation_id");
    }
    report
}

fn server_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; start the test servers with: eval \"$(tests/services.sh up)\"")
    })
}

#[test]
fn summary_is_the_same_on_servers() {
    let dir = TempDir::new().unwrap();
    let embedded = polystat(dir.path(), &["evaluate", &sample_job()]);
    assert!(
        embedded.status.success(),
        "{}",
        String::from_utf8_lossy(&embedded.stderr)
    );

    // The same job, selected onto PostgreSQL, MongoDB and Redis by the
    // environment alone, each in a fresh schema, database and key prefix.
    let name = format!("cli_{}", std::process::id());
    let postgres = format!(
        "{}?options[search_path]={name}",
        server_url("POLYSTAT_TEST_POSTGRES_URL")
    );
    let mongo = server_url("POLYSTAT_TEST_MONGODB_URL");
    let mongo = format!("{}/{name}", mongo.rsplit_once('/').unwrap().0);
    let redis = format!("{}/?prefix={name}:", server_url("POLYSTAT_TEST_REDIS_URL"));
    let servers = Command::new(env!("CARGO_BIN_EXE_polystat"))
        .args(["evaluate", &sample_job()])
        .current_dir(dir.path())
        .env("POLYSTAT_RELATIONAL_URL", &postgres)
        .env("POLYSTAT_DOCUMENTS_URL", &mongo)
        .env("POLYSTAT_CACHE_URL", &redis)
        .output()
        .unwrap();
    assert!(
        servers.status.success(),
        "{}",
        String::from_utf8_lossy(&servers.stderr)
    );
    let embedded: Value = serde_json::from_slice(&embedded.stdout).unwrap();
    let servers: Value = serde_json::from_slice(&servers.stdout).unwrap();
    assert_eq!(without_ids(embedded), without_ids(servers));
}
