//! Conformance suite for the main job: OSCAL import, file datasources, a join
//! with a WebAssembly transform, the evidence rule and stored computations,
//! with the same results on every backend.

mod common;

use std::path::{Path, PathBuf};

use polystat::job::{EvaluateOptions, JobReport};
use polystat::{Error, Store};
use serde_json::{json, Value};
use tempfile::TempDir;

use common::{repo_root, shared_data};

fn require_transforms() {
    let dist = common::transforms_dist();
    for name in ["pr-number", "review-rule"] {
        let path = dist.join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing; run transforms/build.sh first",
            path.display()
        );
    }
}

async fn evaluate(
    store: &Store,
    job: &Path,
    data_dir: Option<PathBuf>,
) -> polystat::Result<JobReport> {
    store
        .evaluate_job(&EvaluateOptions {
            job_path: job.to_path_buf(),
            data_dir,
        })
        .await
}

fn sample_job() -> PathBuf {
    repo_root().join("examples/jobs/sample-pull-request-review.json")
}

async fn sample_job_counts(store: Store) {
    require_transforms();
    let report = evaluate(&store, &sample_job(), None).await.unwrap();
    // The sample catalog has cm-2, cm-3, its enhancement cm-3.2, and ac-2.
    assert_eq!(report.controls_imported, 4);
    assert_eq!(report.totals.controls, 4);
    assert_eq!(report.totals.computations, 1);
    assert_eq!(report.evaluations.len(), 1);
    let cm3 = &report.evaluations[0];
    assert_eq!(cm3.control, "cm-3");
    // Merged pull requests 1, 2 and 3; only 1 has a review by someone else.
    assert_eq!(cm3.evidences, 3);
    assert_eq!(cm3.passing, 1);
    assert!(!cm3.value);

    let stored = store.computations().get(cm3.computation_id).await.unwrap();
    let keys: Vec<&str> = stored
        .data
        .evidences
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(keys, ["1", "2", "3"]);
    assert_eq!(stored.data.evidences[0].value["reviewers"], json!(["bob"]));
    assert_eq!(stored.data.value, Value::Bool(false));

    let enhancement = store
        .controls()
        .find_one(json!({ "external_id": "cm-3.2" }))
        .await
        .unwrap()
        .unwrap();
    let parent = store
        .controls()
        .find_one(json!({ "external_id": "cm-3" }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enhancement.data.parent_id, Some(parent.id));
}

async fn rerun_replaces_the_computation(store: Store) {
    require_transforms();
    let first = evaluate(&store, &sample_job(), None).await.unwrap();
    let second = evaluate(&store, &sample_job(), None).await.unwrap();
    assert_eq!(first.totals, second.totals);
    assert_eq!(second.totals.computations, 1);
    assert_ne!(
        first.evaluations[0].computation_id,
        second.evaluations[0].computation_id
    );
    assert!(store
        .computations()
        .find(first.evaluations[0].computation_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.datasources().count(&Value::Null).await.unwrap(), 2);
    assert_eq!(store.linkers().count(&Value::Null).await.unwrap(), 1);
    assert_eq!(store.catalogs().count(&Value::Null).await.unwrap(), 1);
}

/// Writes a variant of the sample job into `dir`, changed by `edit`.
fn job_variant(dir: &TempDir, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut job: Value =
        serde_json::from_str(&std::fs::read_to_string(sample_job()).unwrap()).unwrap();
    let examples = repo_root().join("examples");
    job["dataDir"] = json!(examples.join("data"));
    let dist = common::transforms_dist();
    job["transforms"] = json!({
        "pr-number": dist.join("pr-number.wasm"),
        "review-rule": dist.join("review-rule.wasm"),
    });
    edit(&mut job);
    let path = dir.path().join("job.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&job).unwrap()).unwrap();
    path
}

async fn assert_store_empty(store: &Store) {
    assert_eq!(store.catalogs().count(&Value::Null).await.unwrap(), 0);
    assert_eq!(store.controls().count(&Value::Null).await.unwrap(), 0);
    assert_eq!(store.computations().count(&Value::Null).await.unwrap(), 0);
    assert_eq!(store.datasources().count(&Value::Null).await.unwrap(), 0);
    assert_eq!(store.linkers().count(&Value::Null).await.unwrap(), 0);
}

async fn malformed_job_fails_cleanly(store: Store) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{ \"name\": ").unwrap();
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");
    assert_store_empty(&store).await;

    let typo = job_variant(&dir, |job| job["contrls"] = json!([]));
    let err = evaluate(&store, &typo, None).await.unwrap_err();
    assert!(err.to_string().contains("contrls"), "{err}");
    assert_store_empty(&store).await;
}

async fn missing_file_fails_cleanly(store: Store) {
    require_transforms();
    let dir = TempDir::new().unwrap();
    let path = job_variant(&dir, |job| {
        job["datasources"][1]["config"]["path"] = json!("github/sample/nope.json")
    });
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");
    assert_store_empty(&store).await;
}

async fn unknown_control_fails_cleanly(store: Store) {
    require_transforms();
    let dir = TempDir::new().unwrap();
    let path = job_variant(&dir, |job| job["controls"][0]["control"] = json!("zz-99"));
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(err.to_string().contains("zz-99"), "{err}");
    assert_store_empty(&store).await;
}

async fn path_escaping_data_root_is_rejected(store: Store) {
    require_transforms();
    let dir = TempDir::new().unwrap();
    let path = job_variant(&dir, |job| {
        job["datasources"][0]["config"]["path"] = json!("../../Cargo.toml")
    });
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");
    assert_store_empty(&store).await;
}

/// A module following the ABI whose transform export never returns.
const LOOPING_WAT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "polystat_abi_version") (result i32) i32.const 1)
  (func (export "polystat_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "polystat_transform") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    i64.const 0))"#;

/// A module that grows its memory until the cap stops it.
const GROWING_WAT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "polystat_abi_version") (result i32) i32.const 1)
  (func (export "polystat_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "polystat_transform") (param i32 i32) (result i64)
    (loop $grow
      (drop (memory.grow (i32.const 16)))
      (br $grow))
    i64.const 0))"#;

async fn looping_transform_fails_cleanly(store: Store) {
    let dir = TempDir::new().unwrap();
    let wasm = dir.path().join("loop.wasm");
    std::fs::write(&wasm, wat::parse_str(LOOPING_WAT).unwrap()).unwrap();
    let path = job_variant(&dir, |job| {
        job["transforms"]["review-rule"] = json!(wasm);
        job["limits"] = json!({ "fuel": 50_000_000u64 });
    });
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(matches!(err, Error::Transform { .. }), "{err}");
    assert!(err.to_string().contains("fuel"), "{err}");
    assert_store_empty(&store).await;
}

async fn looping_transform_hits_deadline(store: Store) {
    let dir = TempDir::new().unwrap();
    let wasm = dir.path().join("loop.wasm");
    std::fs::write(&wasm, wat::parse_str(LOOPING_WAT).unwrap()).unwrap();
    let path = job_variant(&dir, |job| {
        job["transforms"]["review-rule"] = json!(wasm);
        job["limits"] = json!({ "fuel": u64::MAX / 2, "deadlineMs": 200 });
    });
    let started = std::time::Instant::now();
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transform {
                limit: Some(polystat::error::TransformLimit::Deadline),
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_store_empty(&store).await;
}

async fn memory_hungry_transform_fails_cleanly(store: Store) {
    let dir = TempDir::new().unwrap();
    let wasm = dir.path().join("grow.wasm");
    std::fs::write(&wasm, wat::parse_str(GROWING_WAT).unwrap()).unwrap();
    let path = job_variant(&dir, |job| {
        job["transforms"]["review-rule"] = json!(wasm);
        job["limits"] = json!({ "memoryBytes": 8 * 1024 * 1024 });
    });
    let err = evaluate(&store, &path, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transform {
                limit: Some(polystat::error::TransformLimit::Memory),
                ..
            }
        ),
        "{err}"
    );
    assert_store_empty(&store).await;
}

async fn failed_rerun_keeps_previous_results(store: Store) {
    require_transforms();
    let dir = TempDir::new().unwrap();
    let good = job_variant(&dir, |_| {});
    let first = evaluate(&store, &good, None).await.unwrap();
    let wasm = dir.path().join("loop.wasm");
    std::fs::write(&wasm, wat::parse_str(LOOPING_WAT).unwrap()).unwrap();
    let bad = job_variant(&dir, |job| {
        job["transforms"]["review-rule"] = json!(wasm);
        job["limits"] = json!({ "fuel": 10_000_000u64 });
    });
    assert!(evaluate(&store, &bad, None).await.is_err());
    let kept = store
        .computations()
        .get(first.evaluations[0].computation_id)
        .await
        .unwrap();
    assert_eq!(kept.data.evidences.len(), 3);
    assert_eq!(store.computations().count(&Value::Null).await.unwrap(), 1);
}

/// The cm-3 job on the recorded GitHub data of the `ants` repository:
/// 26 merged pull requests, of which only 41, 51 and 53 have a review by
/// someone other than their author.
async fn cm3_job_on_real_data(store: Store) {
    let Some(data) = shared_data() else {
        eprintln!("POLYSTAT_SHARED_DATA is not set; the real-data job runs from tests/run.sh");
        return;
    };
    require_transforms();
    let job = repo_root().join("examples/jobs/cm3-pull-request-review.json");
    let report = evaluate(&store, &job, Some(data.clone())).await.unwrap();
    assert_eq!(report.controls_imported, 287);
    assert_eq!(report.totals.controls, 287);
    assert_eq!(report.totals.computations, 1);
    let cm3 = &report.evaluations[0];
    assert_eq!(cm3.control, "cm-3");
    assert_eq!(cm3.evidences, 26);
    assert_eq!(cm3.passing, 3);
    assert!(!cm3.value);
    let stored = store.computations().get(cm3.computation_id).await.unwrap();
    let passing: Vec<&str> = stored
        .data
        .evidences
        .iter()
        .filter(|e| e.result)
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(passing, ["41", "51", "53"]);

    let again = evaluate(&store, &job, Some(data)).await.unwrap();
    assert_eq!(again.totals, report.totals);
    let enhancements = store
        .controls()
        .count(&json!({ "parent_id": { "$ne": null } }))
        .await
        .unwrap();
    assert_eq!(enhancements, 110);
}

conformance!(
    sample_job_counts,
    rerun_replaces_the_computation,
    missing_file_fails_cleanly,
    unknown_control_fails_cleanly,
    path_escaping_data_root_is_rejected,
    failed_rerun_keeps_previous_results,
    malformed_job_fails_cleanly,
    looping_transform_fails_cleanly,
    looping_transform_hits_deadline,
    memory_hungry_transform_fails_cleanly,
    cm3_job_on_real_data,
);
