//! The transform registry on every backend: upload, versions, identical
//! re-uploads, get, delete while in use, linker pinning and stored limits.
//! The embedded store also tests the compiled-module cache across a restart.

mod common;

use polystat::error::{Error, TransformLimit};
use polystat::link::{link, LinkerSpec, SourceData};
use polystat::model::{LimitOverrides, Linker};
use polystat::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A module that ignores its input and returns `{"records": [{"v": TAG}]}`,
/// so that a test can tell versions apart by their output.
fn tagged_module(tag: u32) -> Vec<u8> {
    let output = format!(r#"{{"records":[{{"v":{tag}}}]}}"#);
    let length = output.len();
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "polystat_abi_version") (result i32) (i32.const 1))
  (func (export "polystat_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "polystat_transform") (param i32 i32) (result i64) (i64.const {length}))
  (data (i32.const 0) "{}"))"#,
        output.replace('"', "\\\"")
    ))
    .expect("tagged WAT is valid")
}

fn spinning_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (memory (export "memory") 1)
  (func (export "polystat_abi_version") (result i32) (i32.const 1))
  (func (export "polystat_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "polystat_transform") (param i32 i32) (result i64)
    (loop $spin (br $spin)) (i64.const 0)))"#,
    )
    .expect("spinning WAT is valid")
}

fn linker_spec(steps: Value) -> LinkerSpec {
    serde_json::from_value(json!({
        "sources": [{ "datasource": "input", "transforms": steps }]
    }))
    .expect("linker spec parses")
}

async fn create_linker(store: &Store, name: &str, steps: Value) -> uuid::Uuid {
    let linker = Linker {
        name: name.to_string(),
        spec: linker_spec(steps),
        execution_status: Default::default(),
        last_run_at: None,
    };
    store.linkers().create(linker).await.expect("linker").id
}

/// Runs a linker spec over one input record with transforms from the registry.
async fn run_spec(store: &Store, spec: &LinkerSpec) -> Vec<Value> {
    let set = store
        .transforms()
        .transform_set(spec)
        .await
        .expect("transforms load");
    let sources = vec![SourceData {
        name: "input".to_string(),
        records: vec![json!({"id": 1})],
    }];
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || link(&spec, sources, &set))
        .await
        .expect("link task")
        .expect("link succeeds")
        .records
}

async fn upload_assigns_versions(store: Store) {
    let registry = store.transforms();
    let first = registry
        .upload("tagger", &tagged_module(1))
        .await
        .expect("v1");
    assert_eq!(first.version, 1);
    assert_eq!(first.digest.len(), 64);
    assert_eq!(first.abi_version, 1);
    let again = registry
        .upload("tagger", &tagged_module(1))
        .await
        .expect("same");
    assert_eq!(again, first, "identical bytes return the existing version");
    let second = registry
        .upload("tagger", &tagged_module(2))
        .await
        .expect("v2");
    assert_eq!(second.version, 2);
    assert_ne!(second.digest, first.digest);
    let other = registry
        .upload("other", &tagged_module(1))
        .await
        .expect("other");
    assert_eq!(other.version, 1, "versions count per name");

    let listed = registry.list().await.expect("list");
    let labels: Vec<String> = listed.iter().map(|info| info.label()).collect();
    assert_eq!(labels, ["other@1", "tagger@1", "tagger@2"]);

    let latest = registry.get("tagger", None).await.expect("latest");
    assert_eq!(latest.info, second);
    assert_eq!(latest.wasm, tagged_module(2));
    let pinned = registry.get("tagger", Some(1)).await.expect("v1");
    assert_eq!(pinned.wasm, tagged_module(1));
    let missing = registry.get("tagger", Some(9)).await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
}

async fn invalid_uploads_are_rejected(store: Store) {
    let registry = store.transforms();
    let bad_name = registry.upload("no spaces", &tagged_module(1)).await;
    assert!(
        matches!(&bad_name, Err(Error::Validation { field, .. }) if field == "name"),
        "{bad_name:?}"
    );
    let bad_limits = LimitOverrides {
        deadline_ms: Some(0),
        ..LimitOverrides::default()
    };
    let result = registry
        .upload_with_limits("tagger", &tagged_module(1), bad_limits)
        .await;
    assert!(
        matches!(&result, Err(Error::Validation { field, .. }) if field == "limits.deadlineMs"),
        "{result:?}"
    );
    assert!(registry.list().await.expect("list").is_empty());
}

async fn delete_in_use_is_rejected(store: Store) {
    let registry = store.transforms();
    registry
        .upload("tagger", &tagged_module(1))
        .await
        .expect("v1");
    registry
        .upload("tagger", &tagged_module(2))
        .await
        .expect("v2");
    registry
        .upload("tagger", &tagged_module(3))
        .await
        .expect("v3");
    let pinned = create_linker(
        &store,
        "pinned",
        json!([{ "transform": "tagger", "version": 1 }]),
    )
    .await;
    let latest = create_linker(&store, "latest", json!([{ "transform": "tagger" }])).await;

    let in_use = registry.delete("tagger", Some(1)).await;
    match &in_use {
        Err(Error::Reference { reason, .. }) => {
            assert!(reason.contains(&pinned.to_string()), "{reason}")
        }
        other => panic!("pinned version deleted: {other:?}"),
    }
    let latest_in_use = registry.delete("tagger", Some(3)).await;
    match &latest_in_use {
        Err(Error::Reference { reason, .. }) => {
            assert!(reason.contains(&latest.to_string()), "{reason}")
        }
        other => panic!("latest version deleted: {other:?}"),
    }
    let all = registry.delete("tagger", None).await;
    assert!(matches!(all, Err(Error::Reference { .. })), "{all:?}");
    assert_eq!(
        registry.versions("tagger").await.expect("versions").len(),
        3
    );

    let unused = registry
        .delete("tagger", Some(2))
        .await
        .expect("v2 is unused");
    assert_eq!(unused[0].version, 2);
    let usage = registry.usage("tagger", None).await.expect("usage");
    assert_eq!(usage.len(), 2);

    store
        .linkers()
        .delete(pinned, None)
        .await
        .expect("delete pinned");
    store
        .linkers()
        .delete(latest, None)
        .await
        .expect("delete latest");
    let deleted = registry.delete("tagger", None).await.expect("now unused");
    let versions: Vec<i64> = deleted.iter().map(|info| info.version).collect();
    assert_eq!(versions, [3, 1]);
    let gone = registry.get("tagger", None).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
}

async fn linkers_run_pinned_or_latest(store: Store) {
    let registry = store.transforms();
    registry
        .upload("tagger", &tagged_module(1))
        .await
        .expect("v1");
    registry
        .upload("tagger", &tagged_module(2))
        .await
        .expect("v2");
    let pinned = linker_spec(json!([{ "transform": "tagger", "version": 1 }]));
    let latest = linker_spec(json!([{ "transform": "tagger" }]));
    assert_eq!(run_spec(&store, &pinned).await, vec![json!({"v": 1})]);
    assert_eq!(run_spec(&store, &latest).await, vec![json!({"v": 2})]);
    registry
        .upload("tagger", &tagged_module(3))
        .await
        .expect("v3");
    assert_eq!(run_spec(&store, &latest).await, vec![json!({"v": 3})]);
    assert_eq!(run_spec(&store, &pinned).await, vec![json!({"v": 1})]);
}

async fn stored_limits_apply_to_calls(store: Store) {
    let limits = LimitOverrides {
        fuel: Some(50_000),
        ..LimitOverrides::default()
    };
    let info = store
        .transforms()
        .upload_with_limits("spin", &spinning_module(), limits.clone())
        .await
        .expect("upload");
    assert_eq!(info.limits, limits);
    let result = store
        .transforms()
        .call("spin", None, vec![], Value::Null)
        .await;
    match result {
        Err(Error::Transform {
            module,
            limit,
            reason,
        }) => {
            assert_eq!(module, "spin@1");
            assert_eq!(limit, Some(TransformLimit::Fuel));
            assert!(reason.contains("fuel budget of 50000"), "{reason}");
        }
        other => panic!("expected a fuel error, got {other:?}"),
    }
    let stored = store.transforms().get("spin", Some(1)).await.expect("get");
    assert_eq!(stored.info.limits, limits);
}

conformance!(
    upload_assigns_versions,
    invalid_uploads_are_rejected,
    delete_in_use_is_rejected,
    linkers_run_pinned_or_latest,
    stored_limits_apply_to_calls,
);

fn cached_config(dir: &TempDir) -> StoreConfig {
    StoreConfig {
        transform_cache_dir: Some(dir.path().join("compiled")),
        ..StoreConfig::embedded(dir.path().join("polystat.db"))
    }
}

#[tokio::test]
async fn restart_loads_compiled_module_from_disk() {
    let dir = TempDir::new().expect("temp dir");
    let store = Store::open(cached_config(&dir)).await.expect("open");
    store
        .transforms()
        .upload("tagger", &tagged_module(7))
        .await
        .expect("upload");
    let compiled = store.transform_engine().compile_stats().compiled;
    assert_eq!(compiled, 1, "the upload compiles once");
    store.transforms().load("tagger", None).await.expect("load");
    let stats = store.transform_engine().compile_stats();
    assert_eq!(stats.compiled, 1, "a second load does not compile");
    assert_eq!(stats.memory_hits, 1);
    store.close().await;
    drop(store);

    let reopened = Store::open(cached_config(&dir)).await.expect("reopen");
    let output = reopened
        .transforms()
        .call("tagger", None, vec![], Value::Null)
        .await
        .expect("call after restart");
    assert_eq!(output, vec![json!({"v": 7})]);
    let stats = reopened.transform_engine().compile_stats();
    assert_eq!(stats.compiled, 0, "the restart does not compile: {stats:?}");
    assert_eq!(stats.disk_hits, 1, "{stats:?}");
}

#[tokio::test]
async fn corrupt_cache_file_is_compiled_again() {
    let dir = TempDir::new().expect("temp dir");
    let store = Store::open(cached_config(&dir)).await.expect("open");
    store
        .transforms()
        .upload("tagger", &tagged_module(8))
        .await
        .expect("upload");
    store.close().await;
    drop(store);
    for entry in std::fs::read_dir(dir.path().join("compiled")).expect("cache folder") {
        let path = entry.expect("entry").path();
        let mut bytes = std::fs::read(&path).expect("read cache file");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).expect("damage cache file");
    }
    let reopened = Store::open(cached_config(&dir)).await.expect("reopen");
    let output = reopened
        .transforms()
        .call("tagger", None, vec![], Value::Null)
        .await
        .expect("call compiles again");
    assert_eq!(output, vec![json!({"v": 8})]);
    assert_eq!(reopened.transform_engine().compile_stats().compiled, 1);
}

#[tokio::test]
async fn pooled_instances_are_reused() {
    let dir = TempDir::new().expect("temp dir");
    let store = Store::open(cached_config(&dir)).await.expect("open");
    store
        .transforms()
        .upload("tagger", &tagged_module(9))
        .await
        .expect("upload");
    let (transform, limits) = store.transforms().load("tagger", None).await.expect("load");
    let engine = store.transform_engine().clone();
    let calls = 2000;
    let elapsed = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        for _ in 0..calls {
            transform.call(&[], &Value::Null, &limits).expect("call");
        }
        started.elapsed()
    })
    .await
    .expect("calls run");
    let pool = engine.pool_stats();
    eprintln!(
        "{calls} calls (instantiate, call, drop) took {elapsed:?}, {:?} per call; pool {pool:?}",
        elapsed / calls
    );
    assert!(pool.pooled, "instances come from the pooling allocator");
    assert_eq!(
        pool.live_instances, 0,
        "every instance went back to the pool"
    );
    assert!(
        pool.warm_memory_slots >= 1,
        "freed memory slots stay warm for reuse: {pool:?}"
    );
}

#[tokio::test]
async fn example_modules_run_from_the_registry() {
    let (_dir, store) = common::open_store().await;
    let registry = store.transforms();
    let redact = std::fs::read(common::transforms_dist().join("redact.wasm"))
        .expect("redact.wasm is built by transforms/build.sh");
    registry
        .upload("redact", &redact)
        .await
        .expect("upload redact");
    let records = vec![json!({"user": {"email": "ada@example.org"}, "phone": "555", "id": 1})];
    let params = json!({"drop": ["phone"], "salt": "s1"});
    let output = registry
        .call("redact", None, records, params)
        .await
        .expect("redact runs");
    let email = output[0]["user"]["email"].as_str().expect("hashed email");
    assert!(email.starts_with("sha256:") && email.len() == 71, "{email}");
    assert!(output[0].get("phone").is_none(), "{:?}", output[0]);
    assert_eq!(output[0]["id"], 1);

    let identity = common::repo_root().join("transforms/examples/wat/identity.wat");
    let identity = wat::parse_file(identity).expect("identity.wat parses");
    registry
        .upload("identity", &identity)
        .await
        .expect("upload identity");
    let batch = vec![json!({"a": 1}), json!([2])];
    let output = registry
        .call("identity", Some(1), batch.clone(), Value::Null)
        .await
        .expect("identity runs");
    assert_eq!(output, batch);
}
