//! Tests of the transform host against hostile modules written in WAT and against
//! the example modules built by `transforms/build.sh`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{CompiledTransform, TransformEngine, TransformLimits, ABI_VERSION};
use crate::error::{Error, TransformLimit};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// Returns the engine shared by most tests. Sharing it, as production does,
/// shows that hostile modules do not disturb the modules that run after them.
fn engine() -> TransformEngine {
    static ENGINE: OnceLock<TransformEngine> = OnceLock::new();
    ENGINE
        .get_or_init(|| TransformEngine::new().expect("engine starts"))
        .clone()
}

/// Builds an ABI module whose `polystat_transform` has `body` (locals `$ptr` and
/// `$len` hold the input), with `imports` placed first (the text format requires
/// imports before definitions) and `extra` fields appended.
fn abi_module_with(version: i32, imports: &str, body: &str, extra: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "polystat_abi_version") (result i32) (i32.const {version}))
  (func (export "polystat_alloc") (param $len i32) (result i32)
    (local $ptr i32) (local $end i32) (local $pages i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (global.set $heap (local.get $end))
    (local.set $pages
      (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
               (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
        (then unreachable))))
    (local.get $ptr))
  (func $transform (export "polystat_transform") (param $ptr i32) (param $len i32) (result i64)
    {body})
  {extra}
)"#
    );
    wat::parse_str(&text).expect("fixture WAT is valid")
}

fn abi_module(body: &str, extra: &str) -> Vec<u8> {
    abi_module_with(ABI_VERSION, "", body, extra)
}

/// Returns the input bytes unchanged: `{"params":...,"records":[...]}` is a
/// valid output whose records are the input records.
fn passthrough_module() -> Vec<u8> {
    abi_module(PACK_INPUT, "")
}

const PACK_INPUT: &str = "(i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) \
                          (i64.extend_i32_u (local.get $len)))";

fn pack(pointer: u32, length: u32) -> i64 {
    ((u64::from(pointer) << 32) | u64::from(length)) as i64
}

/// Escapes every byte for a WAT string literal.
fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("\\{byte:02x}")).collect()
}

/// Builds a module that ignores its input and returns `output` verbatim.
fn constant_output_module(output: &[u8]) -> Vec<u8> {
    let length = u32::try_from(output.len()).expect("fixture output is small");
    let body = format!("(i64.const {})", pack(16, length));
    let data = format!(r#"(data (i32.const 16) "{}")"#, wat_bytes(output));
    abi_module(&body, &data)
}

fn compile(wasm: &[u8]) -> CompiledTransform {
    engine().compile("fixture", wasm).expect("fixture compiles")
}

fn records() -> Vec<Value> {
    vec![json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b"})]
}

fn small_limits() -> TransformLimits {
    TransformLimits {
        fuel: 10_000_000,
        deadline: Duration::from_secs(5),
        memory_bytes: 1024 * 1024,
        output_bytes: 64 * 1024,
    }
}

/// Unwraps an [`Error::Transform`] into its limit and reason.
fn transform_failure<T: std::fmt::Debug>(
    result: crate::error::Result<T>,
) -> (Option<TransformLimit>, String) {
    match result {
        Err(Error::Transform {
            module,
            limit,
            reason,
        }) => {
            assert_eq!(module, "fixture", "error names the module");
            (limit, reason)
        }
        other => panic!("expected Error::Transform, got {other:?}"),
    }
}

/// Unwraps an [`Error::Validation`] into its field and reason.
fn validation_failure<T: std::fmt::Debug>(result: crate::error::Result<T>) -> (String, String) {
    match result {
        Err(Error::Validation { field, reason }) => (field, reason),
        other => panic!("expected Error::Validation, got {other:?}"),
    }
}

const INFINITE_LOOP: &str = "(loop $forever (br $forever)) (i64.const 0)";

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

#[test]
fn infinite_loop_exhausts_fuel() {
    let transform = compile(&abi_module(INFINITE_LOOP, ""));
    let limits = TransformLimits {
        fuel: 1_000_000,
        ..small_limits()
    };
    let (limit, reason) = transform_failure(transform.call(&records(), &json!({}), &limits));
    assert_eq!(limit, Some(TransformLimit::Fuel));
    assert!(reason.contains("fixture"), "{reason}");
    assert!(
        reason.contains("fuel budget of 1000000 instructions"),
        "{reason}"
    );
}

#[test]
fn infinite_loop_hits_deadline() {
    let transform = compile(&abi_module(INFINITE_LOOP, ""));
    let limits = TransformLimits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(100),
        ..small_limits()
    };
    let started = Instant::now();
    let (limit, reason) = transform_failure(transform.call(&records(), &json!({}), &limits));
    let elapsed = started.elapsed();
    assert_eq!(limit, Some(TransformLimit::Deadline));
    assert!(reason.contains("deadline of 100ms"), "{reason}");
    assert!(
        elapsed >= Duration::from_millis(100),
        "stopped early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "stopped late: {elapsed:?}"
    );
}

#[test]
fn unbounded_memory_grow_hits_memory_cap() {
    let body = "(loop $grow (drop (memory.grow (i32.const 16))) (br $grow)) (i64.const 0)";
    let transform = compile(&abi_module(body, ""));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, Some(TransformLimit::Memory));
    assert!(reason.contains("past the cap of 1048576 bytes"), "{reason}");
}

#[test]
fn initial_memory_over_cap_fails_at_instantiation() {
    let text = r#"(module
      (memory (export "memory") 32)
      (func (export "polystat_abi_version") (result i32) (i32.const 1))
      (func (export "polystat_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "polystat_transform") (param i32 i32) (result i64) (i64.const 0)))"#;
    let wasm = wat::parse_str(text).expect("fixture WAT is valid");
    let transform = compile(&wasm);
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, Some(TransformLimit::Memory));
    assert!(reason.contains("2097152 bytes"), "{reason}");
}

#[test]
fn growth_past_module_maximum_is_not_a_trap() {
    // memory.grow beyond the module's own declared maximum returns -1, as the
    // wasm specification requires; the module then reports it.
    let output = br#"{"error":"grow failed"}"#;
    let body = format!(
        "(if (result i64) (i32.eq (memory.grow (i32.const 5)) (i32.const -1)) \
         (then (i64.const {})) (else (i64.const 0)))",
        pack(16, output.len() as u32)
    );
    let text = format!(
        r#"(module
      (memory (export "memory") 1 2)
      (func (export "polystat_abi_version") (result i32) (i32.const 1))
      (func (export "polystat_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "polystat_transform") (param i32 i32) (result i64) {body})
      (data (i32.const 16) "{}"))"#,
        wat_bytes(output)
    );
    let transform = compile(&wat::parse_str(&text).expect("fixture WAT is valid"));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(
        reason.ends_with("reported an error: grow failed"),
        "{reason}"
    );
}

#[test]
fn input_larger_than_memory_cap_is_memory_limit() {
    let transform = compile(&passthrough_module());
    let big = vec![json!("x".repeat(2 * 1024 * 1024))];
    let (limit, reason) = transform_failure(transform.call(&big, &json!({}), &small_limits()));
    assert_eq!(limit, Some(TransformLimit::Memory));
    assert!(reason.contains("memory cap of 1048576 bytes"), "{reason}");
}

#[test]
fn deep_recursion_is_clean_stack_overflow() {
    let extra = "(func $recurse (param i32) (result i32) \
                 (call $recurse (i32.add (local.get 0) (i32.const 1))))";
    let body = "(drop (call $recurse (i32.const 0))) (i64.const 0)";
    let transform = compile(&abi_module(body, extra));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(reason.contains("overflowed its call stack"), "{reason}");
    assert!(reason.contains("524288 bytes"), "{reason}");
}

#[test]
fn huge_output_hits_output_cap() {
    // Grows memory to 3 MiB and returns a 2 MiB region: in bounds, but past
    // the 64 KiB output cap.
    let body = format!(
        "(drop (memory.grow (i32.const 47))) (i64.const {})",
        pack(0, 2 * 1024 * 1024)
    );
    let transform = compile(&abi_module(&body, ""));
    let limits = TransformLimits {
        memory_bytes: 4 * 1024 * 1024,
        ..small_limits()
    };
    let (limit, reason) = transform_failure(transform.call(&records(), &json!({}), &limits));
    assert_eq!(limit, Some(TransformLimit::Output));
    assert!(reason.contains("2097152 bytes of output"), "{reason}");
    assert!(reason.contains("cap of 65536 bytes"), "{reason}");
}

#[test]
fn output_cap_checked_before_bounds() {
    // A length past the cap is reported as the output limit even when the
    // region would also be out of bounds.
    let body = format!("(i64.const {})", pack(0, u32::MAX));
    let transform = compile(&abi_module(&body, ""));
    let (limit, _) = transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, Some(TransformLimit::Output));
}

// ---------------------------------------------------------------------------
// Invalid output and traps
// ---------------------------------------------------------------------------

#[test]
fn output_not_json_is_rejected() {
    let transform = compile(&constant_output_module(b"records: none"));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(reason.contains("is not valid JSON"), "{reason}");
    assert!(reason.contains("records: none"), "{reason}");
}

#[test]
fn output_not_utf8_is_rejected() {
    let transform = compile(&constant_output_module(b"{\"records\":[\"\xff\"]}"));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(reason.contains("not valid UTF-8"), "{reason}");
    assert!(reason.contains("offset 13"), "{reason}");
}

#[test]
fn output_of_wrong_shape_is_rejected() {
    let cases: [(&[u8], &str); 5] = [
        (b"[1, 2]", "is a JSON array instead of an object"),
        (b"{\"record\": []}", "has neither a \"records\" array"),
        (
            b"{\"records\": 5}",
            "\"records\" member that is a JSON number",
        ),
        (b"{\"error\": 5}", "\"error\" member that is a JSON number"),
        (b"", "is not valid JSON"),
    ];
    for (output, expected) in cases {
        let transform = compile(&constant_output_module(output));
        let (limit, reason) =
            transform_failure(transform.call(&records(), &json!({}), &small_limits()));
        assert_eq!(limit, None, "output {output:?}");
        assert!(reason.contains(expected), "output {output:?}: {reason}");
    }
}

#[test]
fn output_pointer_out_of_bounds_is_rejected() {
    let body = format!("(i64.const {})", pack(0xffff_0000, 16));
    let transform = compile(&abi_module(&body, ""));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(reason.contains("address 0xffff0000"), "{reason}");
    assert!(reason.contains("outside its 65536-byte memory"), "{reason}");
}

#[test]
fn alloc_pointer_out_of_bounds_is_rejected() {
    let text = r#"(module
      (memory (export "memory") 1)
      (func (export "polystat_abi_version") (result i32) (i32.const 1))
      (func (export "polystat_alloc") (param i32) (result i32) (i32.const 65530))
      (func (export "polystat_transform") (param i32 i32) (result i64) (i64.const 0)))"#;
    let transform = compile(&wat::parse_str(text).expect("fixture WAT is valid"));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(
        reason.contains("polystat_alloc returned address 0xfffa"),
        "{reason}"
    );
}

#[test]
fn unreachable_mid_batch_is_trap() {
    // Scans the input and traps at the first '!' byte, which sits in the
    // third of four records, after the first two were read.
    let extra = r#"(func $fail_on_bang (param $ptr i32) (param $len i32)
      (local $end i32)
      (local.set $end (i32.add (local.get $ptr) (local.get $len)))
      (block $done
        (loop $scan
          (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
          (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 33)) (then unreachable))
          (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
          (br $scan))))"#;
    let body = format!("(call $fail_on_bang (local.get $ptr) (local.get $len)) {PACK_INPUT}");
    let transform = compile(&abi_module(&body, extra));
    let batch = vec![json!("a"), json!("b"), json!("boom!"), json!("c")];
    let (limit, reason) = transform_failure(transform.call(&batch, &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(
        reason.contains("trapped in function fail_on_bang"),
        "{reason}"
    );
    assert!(reason.contains("unreachable"), "{reason}");
    let calm = vec![json!("a"), json!("b")];
    let output = transform
        .call(&calm, &json!({}), &small_limits())
        .expect("the same module succeeds on input without '!'");
    assert_eq!(output, calm);
}

#[test]
fn trap_message_export_is_appended() {
    let message = b"panicked at src/lib.rs:3:5: index out of bounds";
    let extra = format!(
        r#"(func (export "polystat_trap_message") (result i64) (i64.const {}))
           (data (i32.const 16) "{}")"#,
        pack(16, message.len() as u32),
        wat_bytes(message)
    );
    let transform = compile(&abi_module("unreachable", &extra));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(
        reason.ends_with(
            "the module's trap message: panicked at src/lib.rs:3:5: index out of bounds"
        ),
        "{reason}"
    );
}

#[test]
fn guest_error_is_reported() {
    let transform = compile(&constant_output_module(
        br#"{"error":"record 1 has no url"}"#,
    ));
    let (limit, reason) =
        transform_failure(transform.call(&records(), &json!({}), &small_limits()));
    assert_eq!(limit, None);
    assert_eq!(
        reason,
        "transform fixture reported an error: record 1 has no url"
    );
}

// ---------------------------------------------------------------------------
// Compile-time validation
// ---------------------------------------------------------------------------

#[test]
fn wasi_import_is_rejected() {
    let imports = r#"(import "wasi_snapshot_preview1" "fd_write"
                       (func (param i32 i32 i32 i32) (result i32)))"#;
    let wasm = abi_module_with(ABI_VERSION, imports, PACK_INPUT, "");
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.imports");
    assert!(
        reason.contains("wasi_snapshot_preview1::fd_write"),
        "{reason}"
    );
    assert!(reason.contains("wasm32-unknown-unknown"), "{reason}");
}

#[test]
fn unknown_import_is_rejected() {
    let imports = r#"(import "env" "now" (func (result i64)))
                     (import "env" "table" (table 1 funcref))"#;
    let wasm = abi_module_with(ABI_VERSION, imports, PACK_INPUT, "");
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.imports");
    assert!(reason.contains("env::now, env::table"), "{reason}");
    assert!(!reason.contains("WASI"), "{reason}");
}

#[test]
fn non_wasm_bytes_are_rejected() {
    let cases: [(&[u8], &str); 4] = [
        (b"", "do not start with the \\0asm header"),
        (b"hello, world", "do not start with the \\0asm header"),
        (b"(module)", "text-format .wat files must be converted"),
        (
            b"\0asm\x0d\x00\x01\x00",
            "unsupported version or a component",
        ),
    ];
    for (bytes, expected) in cases {
        let (field, reason) = validation_failure(engine().compile("fixture", bytes));
        assert_eq!(field, "module.bytes", "bytes {bytes:?}");
        assert!(reason.contains(expected), "bytes {bytes:?}: {reason}");
    }
}

#[test]
fn truncated_module_is_rejected() {
    let wasm = passthrough_module();
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm[..wasm.len() / 2]));
    assert_eq!(field, "module.bytes");
    assert!(
        reason.contains("not a valid WebAssembly module"),
        "{reason}"
    );
}

#[test]
fn missing_exports_are_rejected() {
    let text = r#"(module
      (memory 1)
      (func (export "polystat_abi_version") (result i32) (i32.const 1)))"#;
    let wasm = wat::parse_str(text).expect("fixture WAT is valid");
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.exports");
    assert!(
        reason.contains("does not export memory, polystat_alloc, polystat_transform"),
        "{reason}"
    );
}

#[test]
fn export_of_wrong_type_is_rejected() {
    let text = r#"(module
      (memory (export "memory") 1)
      (func (export "polystat_abi_version") (result i32) (i32.const 1))
      (func (export "polystat_alloc") (param i32) (result i32) (i32.const 0))
      (func (export "polystat_transform") (param i32 i32) (result i32) (i32.const 0)))"#;
    let wasm = wat::parse_str(text).expect("fixture WAT is valid");
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.exports");
    assert!(reason.contains("\"polystat_transform\""), "{reason}");
    assert!(
        reason.contains("expected (func (param i32 i32) (result i64))"),
        "{reason}"
    );
}

#[test]
fn memory_export_that_is_a_global_is_rejected() {
    let text = r#"(module
      (memory 1)
      (global (export "memory") i32 (i32.const 0))
      (func (export "polystat_abi_version") (result i32) (i32.const 1))
      (func (export "polystat_alloc") (param i32) (result i32) (i32.const 0))
      (func (export "polystat_transform") (param i32 i32) (result i64) (i64.const 0)))"#;
    let wasm = wat::parse_str(text).expect("fixture WAT is valid");
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.exports");
    assert!(reason.contains("is not a memory"), "{reason}");
}

#[test]
fn wrong_abi_version_is_rejected() {
    let wasm = abi_module_with(2, "", PACK_INPUT, "");
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.abi_version");
    assert!(reason.contains("implements ABI version 2"), "{reason}");
    assert!(reason.contains("supports version 1"), "{reason}");
}

#[test]
fn start_function_loop_is_rejected_at_compile() {
    let extra = "(func $spin (loop $forever (br $forever))) (start $spin)";
    let wasm = abi_module(PACK_INPUT, extra);
    let (field, reason) = validation_failure(engine().compile("fixture", &wasm));
    assert_eq!(field, "module.abi_version");
    assert!(reason.contains("fuel budget"), "{reason}");
}

#[test]
fn bad_names_are_rejected() {
    let wasm = passthrough_module();
    for name in ["", "tab\tname", &"n".repeat(129)] {
        let (field, _) = validation_failure(engine().compile(name, &wasm));
        assert_eq!(field, "name", "name {name:?}");
    }
}

// ---------------------------------------------------------------------------
// Good modules, lifecycle, concurrency
// ---------------------------------------------------------------------------

#[test]
fn passthrough_returns_input_records() {
    let transform = compile(&passthrough_module());
    assert_eq!(transform.name(), "fixture");
    let output = transform
        .call(&records(), &json!({"any": ["params"]}), &small_limits())
        .expect("passthrough succeeds");
    assert_eq!(output, records());
    let empty = transform
        .call(&[], &Value::Null, &small_limits())
        .expect("empty batch succeeds");
    assert!(empty.is_empty());
}

#[test]
fn engine_survives_hostile_modules() {
    let engine = TransformEngine::new().expect("engine starts");
    let limits = TransformLimits {
        fuel: 1_000_000,
        deadline: Duration::from_millis(200),
        ..small_limits()
    };
    let hostile = [
        abi_module(INFINITE_LOOP, ""),
        abi_module(
            "(loop $grow (drop (memory.grow (i32.const 16))) (br $grow)) (i64.const 0)",
            "",
        ),
        abi_module(
            "(drop (call $recurse (i32.const 0))) (i64.const 0)",
            "(func $recurse (param i32) (result i32) (call $recurse (local.get 0)))",
        ),
        abi_module("unreachable", ""),
        constant_output_module(b"not json"),
        abi_module(&format!("(i64.const {})", pack(0xffff_0000, 16)), ""),
    ];
    for wasm in &hostile {
        let transform = engine
            .compile("fixture", wasm)
            .expect("hostile module compiles");
        let result = transform.call(&records(), &json!({}), &limits);
        assert!(matches!(result, Err(Error::Transform { .. })), "{result:?}");
    }
    let good = engine
        .compile("fixture", &passthrough_module())
        .expect("compiles");
    let started = Instant::now();
    for index in 0..1000 {
        let batch = vec![json!({"index": index})];
        let output = good
            .call(&batch, &json!({}), &limits)
            .expect("good call succeeds");
        assert_eq!(output, batch);
    }
    eprintln!("1000 passthrough calls took {:?}", started.elapsed());
}

#[test]
fn compiled_transform_outlives_engine() {
    let engine = TransformEngine::new().expect("engine starts");
    let looping = engine
        .compile("fixture", &abi_module(INFINITE_LOOP, ""))
        .expect("compiles");
    drop(engine);
    // The deadline still fires, so the ticker thread is still running.
    let limits = TransformLimits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(50),
        ..small_limits()
    };
    let (limit, _) = transform_failure(looping.call(&records(), &json!({}), &limits));
    assert_eq!(limit, Some(TransformLimit::Deadline));
}

#[test]
fn dropping_last_engine_stops_ticker_promptly() {
    let engine = TransformEngine::new().expect("engine starts");
    let clone = engine.clone();
    drop(engine);
    let started = Instant::now();
    drop(clone);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn concurrent_calls_succeed() {
    let transform = compile(&passthrough_module());
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let transform = transform.clone();
            scope.spawn(move || {
                for index in 0..50 {
                    let batch = vec![json!({"thread": thread, "index": index})];
                    let output = transform
                        .call(&batch, &json!({}), &small_limits())
                        .expect("concurrent call succeeds");
                    assert_eq!(output, batch);
                }
            });
        }
    });
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TransformEngine>();
    assert_send_sync::<CompiledTransform>();
}

#[test]
fn default_limits_are_finite() {
    let limits = TransformLimits::default();
    assert_eq!(limits.fuel, 1_000_000_000);
    assert_eq!(limits.deadline, Duration::from_secs(5));
    assert_eq!(limits.memory_bytes, 64 * 1024 * 1024);
    assert_eq!(limits.output_bytes, 16 * 1024 * 1024);
    assert_eq!(limits.deadline_ticks(), 501);
}

// ---------------------------------------------------------------------------
// Example modules
// ---------------------------------------------------------------------------

/// Folder of the example modules built by `transforms/build.sh`.
fn dist_dir() -> PathBuf {
    match std::env::var_os("POLYSTAT_TRANSFORMS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../transforms/dist"),
    }
}

/// Compiles an example module once per test run, failing with build
/// instructions when it is missing.
fn example(name: &str) -> CompiledTransform {
    static COMPILED: Mutex<BTreeMap<String, CompiledTransform>> = Mutex::new(BTreeMap::new());
    let mut compiled = COMPILED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(transform) = compiled.get(name) {
        return transform.clone();
    }
    let path = dist_dir().join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read example module {}: {error}. Run transforms/build.sh to build the \
             example modules, or set POLYSTAT_TRANSFORMS_DIR to the folder that contains them",
            path.display()
        )
    });
    let transform = engine()
        .compile(name, &wasm)
        .expect("example module compiles");
    compiled.insert(name.to_string(), transform.clone());
    transform
}

#[test]
fn example_pr_number_extracts_numbers() {
    let transform = example("pr-number");
    let batch = vec![
        json!({"pull_request_url": "https://api.github.com/repos/dev-019/ants/pulls/41", "id": 7}),
        json!({"pull_request_url": "https://api.github.com/repos/dev-019/ants/pulls/1"}),
    ];
    let params = json!({"from": "pull_request_url", "to": "pr_number"});
    let output = transform
        .call(&batch, &params, &TransformLimits::default())
        .expect("pr-number succeeds");
    assert_eq!(output.len(), 2);
    assert_eq!(output[0]["pr_number"], json!(41));
    assert_eq!(output[0]["id"], json!(7));
    assert_eq!(output[1]["pr_number"], json!(1));
}

#[test]
fn example_pr_number_rejects_malformed_record() {
    let transform = example("pr-number");
    let batch = vec![
        json!({"pull_request_url": "https://api.github.com/repos/dev-019/ants/pulls/41"}),
        json!({"pull_request_url": "https://api.github.com/repos/dev-019/ants/pulls/"}),
    ];
    let params = json!({"from": "pull_request_url", "to": "pr_number"});
    match transform.call(&batch, &params, &TransformLimits::default()) {
        Err(Error::Transform { limit, reason, .. }) => {
            assert_eq!(limit, None);
            assert!(reason.contains("record 1"), "{reason}");
        }
        other => panic!("expected a guest error, got {other:?}"),
    }
    let missing = vec![json!({"url": "x"})];
    match transform.call(&missing, &params, &TransformLimits::default()) {
        Err(Error::Transform { reason, .. }) => {
            assert!(reason.contains("record 0"), "{reason}");
            assert!(reason.contains("pull_request_url"), "{reason}");
        }
        other => panic!("expected a guest error, got {other:?}"),
    }
}

#[test]
fn example_review_rule_groups_pull_requests() {
    let transform = example("review-rule");
    let rows = vec![
        json!({"number": 12, "author": "ann", "merged_at": "2024-05-01T10:00:00Z", "reviewer": "bob", "review_state": "APPROVED"}),
        json!({"number": 12, "author": "ann", "merged_at": "2024-05-01T10:00:00Z", "reviewer": "ann", "review_state": "COMMENTED"}),
        json!({"number": 12, "author": "ann", "merged_at": "2024-05-01T10:00:00Z", "reviewer": "bob", "review_state": "COMMENTED"}),
        json!({"number": 3, "author": "cid", "merged_at": "2024-04-01T10:00:00Z", "reviewer": null, "review_state": null}),
        json!({"number": 5, "author": "dee", "merged_at": null, "reviewer": "bob", "review_state": "APPROVED"}),
        json!({"number": 7, "author": "eve", "merged_at": "2024-04-02T10:00:00Z", "reviewer": "eve", "review_state": "APPROVED"}),
        json!({"number": 9, "author": "fay", "merged_at": "2024-04-03T10:00:00Z"}),
        json!({"number": 12, "author": "ann", "merged_at": "2024-05-01T10:00:00Z", "reviewer": "abe", "review_state": "APPROVED"}),
    ];
    let output = transform
        .call(&rows, &json!({}), &TransformLimits::default())
        .expect("review-rule succeeds");
    let expected = vec![
        json!({"key": "3", "value": {"number": 3, "author": "cid", "reviewers": []}, "result": false}),
        json!({"key": "7", "value": {"number": 7, "author": "eve", "reviewers": []}, "result": false}),
        json!({"key": "9", "value": {"number": 9, "author": "fay", "reviewers": []}, "result": false}),
        json!({"key": "12", "value": {"number": 12, "author": "ann", "reviewers": ["abe", "bob"]}, "result": true}),
    ];
    assert_eq!(output, expected);
}

#[test]
fn example_field_map_renames_fields() {
    let transform = example("field-map");
    let batch = vec![json!({"user": {"login": "ann", "id": 4}, "state": "open"})];
    let params = json!({"mapping": {"user.login": "author", "state": "status"}, "keep": false});
    let output = transform
        .call(&batch, &params, &TransformLimits::default())
        .expect("field-map succeeds");
    assert_eq!(output, vec![json!({"author": "ann", "status": "open"})]);
    let keep = json!({"mapping": {"user.login": "author"}, "keep": true});
    let output = transform
        .call(&batch, &keep, &TransformLimits::default())
        .expect("field-map with keep succeeds");
    assert_eq!(
        output,
        vec![json!({"user": {"id": 4}, "state": "open", "author": "ann"})]
    );
}

#[test]
fn example_wat_identity_round_trips() {
    let wasm = wat::parse_str(include_str!(
        "../../../transforms/examples/wat/identity.wat"
    ))
    .expect("identity.wat is valid WAT");
    let transform = engine()
        .compile("identity", &wasm)
        .expect("identity compiles");
    let batch = vec![json!({"a": 1}), json!("two"), json!([3])];
    let output = transform
        .call(
            &batch,
            &json!({"ignored": true}),
            &TransformLimits::default(),
        )
        .expect("identity succeeds");
    assert_eq!(output, batch);
}

#[test]
fn example_guest_panic_message_is_reported() {
    // The fixture panics with the message given in params, to show that the
    // guest crate's panic hook hands a Rust panic message to the host.
    let transform = example("fixture-panic");
    let params = json!({"message": "deliberate test panic"});
    match transform.call(&records(), &params, &TransformLimits::default()) {
        Err(Error::Transform { limit, reason, .. }) => {
            assert_eq!(limit, None);
            assert!(reason.contains("trapped"), "{reason}");
            assert!(reason.contains("deliberate test panic"), "{reason}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}
