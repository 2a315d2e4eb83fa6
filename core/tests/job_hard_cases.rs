//! Hard cases of `Store::evaluate_job`: failures found only late in a run,
//! job options that must be rejected, and concurrent opens.

mod common;

use std::path::{Path, PathBuf};

use polystat::job::{EvaluateOptions, JobReport};
use polystat::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use common::{open_target, repo_root, transforms_dist, Target};

/// Returns the sample job with absolute paths, so it can be written to any folder.
fn sample_job() -> Value {
    let path = repo_root().join("examples/jobs/sample-pull-request-review.json");
    let mut job: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dist = transforms_dist();
    job["transforms"] = json!({
        "pr-number": dist.join("pr-number.wasm"),
        "review-rule": dist.join("review-rule.wasm"),
    });
    job["dataDir"] = json!(repo_root().join("examples/data"));
    job
}

fn write_job(dir: &Path, name: &str, job: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(job).unwrap()).unwrap();
    path
}

async fn evaluate(store: &Store, job: &Path) -> polystat::Result<JobReport> {
    store
        .evaluate_job(&EvaluateOptions {
            job_path: job.to_path_buf(),
            data_dir: None,
        })
        .await
}

/// Returns the row counts of every collection the job writes.
async fn counts(store: &Store) -> [u64; 5] {
    [
        store.catalogs().count(&Value::Null).await.unwrap(),
        store.controls().count(&Value::Null).await.unwrap(),
        store.datasources().count(&Value::Null).await.unwrap(),
        store.linkers().count(&Value::Null).await.unwrap(),
        store.computations().count(&Value::Null).await.unwrap(),
    ]
}

/// A rule module that returns one evidence with an empty key, which the
/// computation's own validation rejects only when it is stored.
fn empty_key_rule(dir: &Path) -> PathBuf {
    let output = r#"{"records": [{"key": "", "result": true}]}"#;
    let escaped: String = output.bytes().map(|b| format!("\\{b:02x}")).collect();
    let wat = format!(
        r#"(module
  (memory (export "memory") 2)
  (data (i32.const 16) "{escaped}")
  (func (export "polystat_abi_version") (result i32) (i32.const 1))
  (func (export "polystat_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "polystat_transform") (param i32 i32) (result i64)
    (i64.const {packed})))"#,
        packed = (16u64 << 32) | output.len() as u64
    );
    let path = dir.join("empty-key.wasm");
    std::fs::write(&path, wat::parse_str(&wat).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn reversed_period_leaves_store_unchanged() {
    let (dir, store) = open_target(Target::Embedded).await;
    let mut job = sample_job();
    job["controls"][0]["period"] =
        json!({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"});
    let path = write_job(dir.path(), "job.json", &job);
    let error = evaluate(&store, &path)
        .await
        .expect_err("period ends before it starts");
    assert!(error.to_string().contains("period"), "{error}");
    assert_eq!(
        counts(&store).await,
        [0, 0, 0, 0, 0],
        "a failed job wrote to the store"
    );
}

#[tokio::test]
async fn empty_evidence_key_leaves_store_unchanged() {
    let (dir, store) = open_target(Target::Embedded).await;
    let mut job = sample_job();
    job["transforms"]["review-rule"] = json!(empty_key_rule(dir.path()));
    let path = write_job(dir.path(), "job.json", &job);
    evaluate(&store, &path)
        .await
        .expect_err("empty evidence key");
    assert_eq!(
        counts(&store).await,
        [0, 0, 0, 0, 0],
        "a failed job wrote to the store"
    );
}

#[tokio::test]
async fn failing_second_control_keeps_first_computation() {
    let (dir, store) = open_target(Target::Embedded).await;
    let first = evaluate(&store, &write_job(dir.path(), "ok.json", &sample_job()))
        .await
        .unwrap();
    let first_id = first.evaluations[0].computation_id;

    let mut job = sample_job();
    job["transforms"]["bad"] = json!(empty_key_rule(dir.path()));
    let mut second = job["controls"][0].clone();
    second["control"] = json!("cm-2");
    second["transform"] = json!("bad");
    job["controls"].as_array_mut().unwrap().push(second);
    let path = write_job(dir.path(), "two.json", &job);
    evaluate(&store, &path)
        .await
        .expect_err("cm-2 rule returns an empty key");

    let kept_computation = store.computations().find(first_id).await.unwrap();
    assert!(
        kept_computation.is_some(),
        "the failed job replaced the cm-3 computation of the earlier run"
    );
}

#[tokio::test]
async fn repeated_control_reports_stored_ids() {
    let (dir, store) = open_target(Target::Embedded).await;
    let mut job = sample_job();
    let control = job["controls"][0].clone();
    job["controls"].as_array_mut().unwrap().push(control);
    let report = evaluate(&store, &write_job(dir.path(), "job.json", &job)).await;
    let Ok(report) = report else {
        return; // Rejecting a repeated control and period is also acceptable.
    };
    for evaluation in &report.evaluations {
        let stored = store
            .computations()
            .find(evaluation.computation_id)
            .await
            .unwrap();
        assert!(
            stored.is_some(),
            "summary names deleted computation {}",
            evaluation.computation_id
        );
    }
}

#[tokio::test]
async fn unknown_file_config_field_is_rejected() {
    let (dir, store) = open_target(Target::Embedded).await;
    let mut job = sample_job();
    job["datasources"][0]["config"]["fromat"] = json!("csv");
    let path = write_job(dir.path(), "job.json", &job);
    let result = evaluate(&store, &path).await;
    assert!(
        result.is_err(),
        "a misspelt datasource config key was ignored"
    );
}

#[tokio::test]
async fn duplicate_datasource_name_is_rejected() {
    let (dir, store) = open_target(Target::Embedded).await;
    let mut job = sample_job();
    let mut copy = job["datasources"][0].clone();
    copy["config"]["path"] = json!("github/sample/pull_reviews.json");
    job["datasources"].as_array_mut().unwrap().push(copy);
    let path = write_job(dir.path(), "job.json", &job);
    let result = evaluate(&store, &path).await;
    assert!(
        result.is_err(),
        "two datasources named sample-pulls were accepted"
    );
}

/// The configured data root (POLYSTAT_DATA_ROOT) is documented as the folder
/// that file datasource paths stay inside; a job's dataDir must not leave it.
#[tokio::test]
async fn job_data_dir_stays_inside_configured_root() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let config = StoreConfig::embedded(dir.path().join("polystat.db")).with_data_root(&root);
    let store = Store::open(config).await.unwrap();
    let path = write_job(dir.path(), "job.json", &sample_job());
    let result = evaluate(&store, &path).await;
    assert!(
        result.is_err(),
        "the job read files outside the configured data root"
    );
}

#[tokio::test]
async fn fresh_store_opens_concurrently() {
    for round in 0..20 {
        let dir = TempDir::new().unwrap();
        let db = dir.path().join("polystat.db");
        let (a, b) = tokio::join!(
            Store::open(StoreConfig::embedded(&db)),
            Store::open(StoreConfig::embedded(&db))
        );
        assert!(a.is_ok(), "round {round}: {:?}", a.err());
        assert!(b.is_ok(), "round {round}: {:?}", b.err());
    }
}
