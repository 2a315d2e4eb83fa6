//! Hostile modules against the transform registry: each is rejected at upload
//! when its problem shows in the bytes, or fails its call with its own error
//! within the deadline, and the store keeps serving good calls afterwards
//! with flat memory.

mod common;

use std::time::{Duration, Instant};

use polystat::error::{Error, TransformLimit};
use polystat::job::TransformSet;
use polystat::model::LimitOverrides;
use polystat::registry::{read_module_file, MAX_MODULE_BYTES};
use polystat::transform::{TransformEngine, TransformLimits};
use polystat::Store;
use serde_json::{json, Value};

/// Builds a module that implements the ABI with a bump allocator, whose
/// `polystat_transform` runs `body` with the input in `$ptr` and `$len`.
fn abi_module(imports: &str, body: &str, extra: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "polystat_abi_version") (result i32) (i32.const 1))
  (func (export "polystat_alloc") (param $size i32) (result i32)
    (local $start i32) (local $needed i32)
    (local.set $start (global.get $next))
    (global.set $next (i32.add (local.get $start) (local.get $size)))
    (local.set $needed
      (i32.sub (i32.shr_u (i32.add (global.get $next) (i32.const 65535)) (i32.const 16))
               (memory.size)))
    (if (i32.gt_s (local.get $needed) (i32.const 0))
      (then (drop (memory.grow (local.get $needed)))))
    (local.get $start))
  (func $transform (export "polystat_transform") (param $ptr i32) (param $len i32) (result i64)
    {body})
  {extra}
)"#
    );
    wat::parse_str(&text).expect("test WAT is valid")
}

/// Returns the input document as the output: its `records` are the input's.
const ECHO: &str = "(i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) \
                    (i64.extend_i32_u (local.get $len)))";

fn packed(pointer: u32, length: u32) -> i64 {
    ((u64::from(pointer) << 32) | u64::from(length)) as i64
}

fn echo_module() -> Vec<u8> {
    abi_module("", ECHO, "")
}

/// Resident set size of this process in bytes, from /proc/self/statm.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}

fn limits(
    fuel: Option<u64>,
    deadline_ms: Option<u64>,
    memory_bytes: Option<u64>,
) -> LimitOverrides {
    LimitOverrides {
        fuel,
        deadline_ms,
        memory_bytes,
        output_bytes: Some(64 * 1024),
    }
}

/// One module that uploads fine and fails when called.
struct RuntimeCase {
    name: &'static str,
    wasm: Vec<u8>,
    limits: LimitOverrides,
    batch: Vec<Value>,
    limit: Option<TransformLimit>,
    reason: &'static str,
}

fn runtime_cases() -> Vec<RuntimeCase> {
    let records = vec![json!({"id": 1}), json!({"id": 2})];
    let recurse = "(func $recurse (param i32) (result i32) \
                   (call $recurse (i32.add (local.get 0) (i32.const 1))))";
    // Traps at the first '~' byte of the input, which is in the third record.
    let scan = r#"(func $trap_on_tilde (param $at i32) (param $end i32)
      (block $done
        (loop $next
          (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
          (if (i32.eq (i32.load8_u (local.get $at)) (i32.const 126)) (then unreachable))
          (local.set $at (i32.add (local.get $at) (i32.const 1)))
          (br $next))))"#;
    let invalid_utf8 = b"{\"records\":[\"\xc3\x28\"]}";
    let invalid_output = format!(
        r#"(data (i32.const 16) "{}")"#,
        invalid_utf8
            .iter()
            .map(|byte| format!("\\{byte:02x}"))
            .collect::<String>()
    );
    vec![
        RuntimeCase {
            name: "spin-fuel",
            wasm: abi_module("", "(loop $spin (br $spin)) (i64.const 0)", ""),
            limits: limits(Some(2_000_000), None, None),
            batch: records.clone(),
            limit: Some(TransformLimit::Fuel),
            reason: "exhausted its fuel budget of 2000000 instructions",
        },
        RuntimeCase {
            name: "spin-deadline",
            wasm: abi_module("", "(loop $spin (br $spin)) (i64.const 0)", ""),
            limits: limits(Some(polystat::model::MAX_FUEL), Some(200), None),
            batch: records.clone(),
            limit: Some(TransformLimit::Deadline),
            reason: "ran past its deadline of 200ms",
        },
        RuntimeCase {
            name: "grow-forever",
            wasm: abi_module(
                "",
                "(loop $grow (drop (memory.grow (i32.const 8))) (br $grow)) (i64.const 0)",
                "",
            ),
            limits: limits(None, None, Some(16 * 1024 * 1024)),
            batch: records.clone(),
            limit: Some(TransformLimit::Memory),
            reason: "past the cap of 16777216 bytes",
        },
        RuntimeCase {
            name: "recurse",
            wasm: abi_module(
                "",
                "(drop (call $recurse (i32.const 0))) (i64.const 0)",
                recurse,
            ),
            limits: LimitOverrides::default(),
            batch: records.clone(),
            limit: None,
            reason: "overflowed its call stack",
        },
        RuntimeCase {
            name: "huge-output",
            wasm: abi_module(
                "",
                &format!(
                    "(drop (memory.grow (i32.const 40))) (i64.const {})",
                    packed(0, 2 * 1024 * 1024)
                ),
                "",
            ),
            limits: limits(None, None, Some(4 * 1024 * 1024)),
            batch: records.clone(),
            limit: Some(TransformLimit::Output),
            reason: "returned 2097152 bytes of output, more than the cap of 65536 bytes",
        },
        RuntimeCase {
            name: "bad-utf8",
            wasm: abi_module(
                "",
                &format!("(i64.const {})", packed(16, invalid_utf8.len() as u32)),
                &invalid_output,
            ),
            limits: LimitOverrides::default(),
            batch: records.clone(),
            limit: None,
            reason: "returned output that is not valid UTF-8",
        },
        RuntimeCase {
            name: "trap-mid-batch",
            wasm: abi_module(
                "",
                &format!(
                    "(call $trap_on_tilde (local.get $ptr) \
                     (i32.add (local.get $ptr) (local.get $len))) {ECHO}"
                ),
                scan,
            ),
            limits: LimitOverrides::default(),
            batch: vec![json!("one"), json!("two"), json!("th~ree"), json!("four")],
            limit: None,
            reason: "trapped in function trap_on_tilde",
        },
    ]
}

/// Calls `name@1` and checks that it fails with the expected limit and
/// reason, naming the module and version, within its deadline.
async fn expect_runtime_failure(store: &Store, case: &RuntimeCase) {
    let deadline = case
        .limits
        .resolve(&store.config().transform_limits)
        .deadline;
    let started = Instant::now();
    let result = store
        .transforms()
        .call(case.name, None, case.batch.clone(), Value::Null)
        .await;
    let elapsed = started.elapsed();
    let label = format!("{}@1", case.name);
    match result {
        Err(Error::Transform {
            module,
            limit,
            reason,
        }) => {
            assert_eq!(module, label, "{reason}");
            assert_eq!(limit, case.limit, "{label}: {reason}");
            assert!(reason.contains(case.reason), "{label}: {reason}");
            assert!(reason.contains(&label), "{label}: {reason}");
        }
        other => panic!("{label}: expected a transform error, got {other:?}"),
    }
    assert!(
        elapsed < deadline + Duration::from_secs(2),
        "{label} took {elapsed:?}, past its deadline of {deadline:?}"
    );
}

/// Checks that an upload fails validation on `field` with `reason`.
async fn expect_upload_rejected(store: &Store, name: &str, wasm: &[u8], field: &str, reason: &str) {
    match store.transforms().upload(name, wasm).await {
        Err(Error::Validation {
            field: actual_field,
            reason: actual_reason,
        }) => {
            assert_eq!(actual_field, field, "{name}: {actual_reason}");
            assert!(actual_reason.contains(reason), "{name}: {actual_reason}");
        }
        other => panic!("{name}: expected a validation error, got {other:?}"),
    }
    let listed = store.transforms().versions(name).await.expect("versions");
    assert!(listed.is_empty(), "{name} was stored: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_modules_are_rejected_at_upload() {
    let (_dir, store) = common::open_store().await;
    let wasi = abi_module(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        ECHO,
        "",
    );
    expect_upload_rejected(
        &store,
        "wasi",
        &wasi,
        "module.imports",
        "imports wasi_snapshot_preview1::fd_write",
    )
    .await;
    let unknown = abi_module(r#"(import "host" "secrets" (func (result i32)))"#, ECHO, "");
    expect_upload_rejected(
        &store,
        "unknown",
        &unknown,
        "module.imports",
        "host::secrets",
    )
    .await;
    expect_upload_rejected(
        &store,
        "not-wasm",
        b"#!/bin/sh\necho hello\n",
        "module.bytes",
        "not a WebAssembly binary module",
    )
    .await;
    let filler = "a".repeat(MAX_MODULE_BYTES + 1);
    let oversized = wat::parse_str(format!(
        r#"(module (memory (export "memory") 80) (data (i32.const 0) "{filler}"))"#
    ))
    .expect("oversized WAT is valid");
    expect_upload_rejected(
        &store,
        "oversized",
        &oversized,
        "module.bytes",
        "more than the registry maximum of 4194304 bytes",
    )
    .await;
    let wrong_abi = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "polystat_abi_version") (result i32) (i32.const 2))
             (func (export "polystat_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "polystat_transform") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("WAT is valid");
    expect_upload_rejected(
        &store,
        "future-abi",
        &wrong_abi,
        "module.abi_version",
        "implements ABI version 2",
    )
    .await;
}

#[test]
fn oversized_module_file_is_rejected_unread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.wasm");
    // A sparse file: 64 times the cap on disk would take 256 MiB if read.
    let size = 64 * MAX_MODULE_BYTES as u64;
    std::fs::File::create(&path)
        .and_then(|file| file.set_len(size))
        .expect("sparse file");

    let error = read_module_file("huge", &path, "job.transforms.huge").expect_err("too large");
    let Error::Validation { field, reason } = error else {
        panic!("expected a validation error, got {error:?}");
    };
    assert_eq!(field, "module.bytes");
    assert!(reason.contains(&size.to_string()), "{reason}");

    let engine = TransformEngine::new().expect("engine");
    let mut set = TransformSet::new(TransformLimits::default());
    let error = set
        .load_file(&engine, "huge", &path)
        .expect_err("too large");
    assert!(error.to_string().contains("registry maximum"), "{error}");
}

#[test]
fn missing_module_file_names_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.wasm");
    let error = read_module_file("missing", &path, "job.transforms.missing").expect_err("missing");
    let Error::Validation { field, reason } = error else {
        panic!("expected a validation error, got {error:?}");
    };
    assert_eq!(field, "job.transforms.missing");
    assert!(reason.starts_with("cannot read"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_fail_cleanly_and_memory_stays_flat() {
    let (_dir, store) = common::open_store().await;
    let registry = store.transforms();
    let cases = runtime_cases();
    for case in &cases {
        registry
            .upload_with_limits(case.name, &case.wasm, case.limits.clone())
            .await
            .unwrap_or_else(|error| panic!("{} uploads: {error}", case.name));
    }
    registry
        .upload("echo", &echo_module())
        .await
        .expect("echo uploads");
    let (echo, echo_limits) = registry.load("echo", None).await.expect("echo loads");

    // One round first, so that the pool and allocator reach their steady size.
    for case in &cases {
        expect_runtime_failure(&store, case).await;
    }
    let before = resident_bytes();
    for _ in 0..3 {
        for case in &cases {
            expect_runtime_failure(&store, case).await;
        }
    }
    let good = tokio::task::spawn_blocking(move || {
        for index in 0..1000 {
            let batch = vec![json!({"index": index, "email": "a@example.org"})];
            let output = echo
                .call(&batch, &Value::Null, &echo_limits)
                .unwrap_or_else(|error| panic!("call {index} after the hostile modules: {error}"));
            assert_eq!(output, batch);
        }
    });
    good.await.expect("good calls run");
    let after = resident_bytes();
    let growth = after.saturating_sub(before);
    eprintln!("resident memory before {before} bytes, after {after} bytes");
    assert!(
        growth < 64 * 1024 * 1024,
        "resident memory grew by {growth} bytes ({before} -> {after})"
    );
    assert_eq!(store.transform_engine().pool_stats().live_instances, 0);
}
