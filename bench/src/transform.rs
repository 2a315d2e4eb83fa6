//! The `transform` suite: the example transforms run as WebAssembly through
//! polystat against the same Rust logic compiled natively, and the fixed cost
//! of one call.
//!
//! Both sides of a comparison do the same JSON work per batch: they encode
//! the input document `{"params": ..., "records": [...]}`, the transform
//! decodes it, runs and encodes `{"records": [...]}`, and the caller parses
//! that back into records. The WebAssembly side also pays for a fresh
//! instance per call and the copies in and out of its memory, which is the
//! cost this suite measures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use polystat::transform::{CompiledTransform, TransformEngine, TransformLimits};
use serde_json::{json, Value};

use crate::fixtures::throughput;

/// Timed runs per measurement; the fastest counts, which filters out noise
/// from other processes on the machine.
const RUNS: usize = 5;

/// Records per call, within the few thousand that `TransformLimits::default`
/// is sized for.
const BATCH: usize = 1_000;

/// Module that returns its input unchanged, so a call costs little more than
/// instantiation.
const IDENTITY_WAT: &str = include_str!("../../transforms/examples/wat/identity.wat");

struct Sizes {
    /// Batches per timed run of each side.
    batches: usize,
    /// Empty-batch calls timed for the fixed cost of a call.
    empty_calls: usize,
}

/// Native implementation of a transform: the logic function of its guest
/// crate.
type Logic = fn(Vec<Value>, &Value) -> Result<Vec<Value>, String>;

/// One transform compared in both forms, on one batch of records.
struct Case {
    ratio: &'static str,
    module: &'static str,
    logic: Logic,
    records: Vec<Value>,
    params: Value,
}

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let sizes = Sizes {
        batches: if quick { 20 } else { 200 },
        empty_calls: if quick { 2_000 } else { 20_000 },
    };
    // Transform calls block their thread, as `CompiledTransform::call`
    // documents, so the whole suite runs off the async runtime.
    tokio::task::spawn_blocking(move || measure(&sizes)).await?
}

fn measure(sizes: &Sizes) -> anyhow::Result<Value> {
    let engine = TransformEngine::new()?;
    let dist = dist_dir();
    let cases = [
        Case {
            ratio: "wasm_vs_native_rule",
            module: "review-rule",
            logic: review_rule::evaluate,
            records: review_rows(BATCH),
            params: Value::Null,
        },
        Case {
            ratio: "wasm_vs_native_mapping",
            module: "field-map",
            logic: field_map::map_fields,
            records: pull_requests(BATCH),
            params: json!({
                "mapping": {"number": "number", "user.login": "author", "merged_at": "merged_at"}
            }),
        },
    ];

    let mut results = serde_json::Map::new();
    let mut ratios = serde_json::Map::new();
    for case in &cases {
        let transform = load(&engine, &dist, case.module)?;
        let (wasm, native) = compare(case, &transform, sizes)?;
        results.insert(
            case.module.to_string(),
            json!({
                "wasm_records_per_s": wasm.round(),
                "native_records_per_s": native.round(),
            }),
        );
        ratios.insert(case.ratio.to_string(), json!(round3(wasm / native)));
    }

    let identity = engine.compile("identity", &wat::parse_str(IDENTITY_WAT)?)?;
    let identity_us = empty_call_times(&identity, sizes.empty_calls)?;
    let rule = load(&engine, &dist, "review-rule")?;
    let rule_us = empty_call_times(&rule, sizes.empty_calls)?;
    let pool = engine.pool_stats();
    Ok(json!({
        "suite": "transform",
        "records_per_call": BATCH,
        "calls_per_run": sizes.batches,
        "runs": RUNS,
        "results": results,
        "ratios": ratios,
        "instantiate_us": round1(percentile(&identity_us, 0.5)),
        "empty_call_us": {
            "identity": summary(&identity_us),
            "review-rule": summary(&rule_us),
        },
        "pooled_instances": pool.pooled,
    }))
}

/// Folder of the modules that `transforms/build.sh` builds.
fn dist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../transforms/dist")
}

fn load(engine: &TransformEngine, dist: &Path, module: &str) -> anyhow::Result<CompiledTransform> {
    let path = dist.join(format!("{module}.wasm"));
    let wasm = std::fs::read(&path).with_context(|| {
        format!(
            "could not read {}; build the modules with transforms/build.sh",
            path.display()
        )
    })?;
    Ok(engine.compile(module, &wasm)?)
}

/// Returns the throughput in records per second of the WebAssembly and the
/// native form, after checking that both return the same records. Runs
/// alternate between the two, so a burst of load slows both alike.
fn compare(
    case: &Case,
    transform: &CompiledTransform,
    sizes: &Sizes,
) -> anyhow::Result<(f64, f64)> {
    let limits = TransformLimits::default();
    let from_wasm = transform.call(&case.records, &case.params, &limits)?;
    let from_native = call_native(case)?;
    anyhow::ensure!(
        from_wasm == from_native,
        "{} returned different records as WebAssembly and natively",
        case.module
    );

    let mut best_wasm = Duration::MAX;
    let mut best_native = Duration::MAX;
    for run in 0..RUNS {
        eprintln!("transform: {} run {} of {RUNS}", case.module, run + 1);
        let started = Instant::now();
        for _ in 0..sizes.batches {
            let output = transform.call(&case.records, &case.params, &limits)?;
            std::hint::black_box(output);
        }
        best_wasm = best_wasm.min(started.elapsed());

        let started = Instant::now();
        for _ in 0..sizes.batches {
            std::hint::black_box(call_native(case)?);
        }
        best_native = best_native.min(started.elapsed());
    }
    let records = case.records.len() * sizes.batches;
    Ok((
        throughput(records, best_wasm),
        throughput(records, best_native),
    ))
}

/// Input document of a call, serialized from borrowed values as the host
/// does, so that neither side copies the records before encoding them.
#[derive(serde::Serialize)]
struct Input<'a> {
    params: &'a Value,
    records: &'a [Value],
}

/// Runs the logic natively with the JSON steps of a WebAssembly call: the
/// host's input encoding, the guest crate's decoding and output encoding,
/// and the host's output parsing.
fn call_native(case: &Case) -> anyhow::Result<Vec<Value>> {
    let input = serde_json::to_vec(&Input {
        params: &case.params,
        records: &case.records,
    })?;
    let output = polystat_guest::run_json(&input, case.logic);
    let mut document: Value = serde_json::from_slice(&output)?;
    match document.get_mut("records").map(Value::take) {
        Some(Value::Array(records)) => Ok(records),
        _ => anyhow::bail!("{} failed natively: {document}", case.module),
    }
}

/// Times `calls` calls with no records, in microseconds each. An empty batch
/// leaves the fixed cost: a fresh instance from the pool, the input and
/// output copies and the limits' setup.
fn empty_call_times(transform: &CompiledTransform, calls: usize) -> anyhow::Result<Vec<f64>> {
    let limits = TransformLimits::default();
    eprintln!("transform: {calls} empty calls of {}", transform.name());
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        std::hint::black_box(transform.call(&[], &Value::Null, &limits)?);
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn summary(sorted_us: &[f64]) -> Value {
    json!({
        "calls": sorted_us.len(),
        "median": round1(percentile(sorted_us, 0.5)),
        "p99": round1(percentile(sorted_us, 0.99)),
    })
}

/// Returns the value at fraction `q` of a sorted, non-empty slice.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Rows of the left join of pull requests with their reviews that the
/// review rule reads, in the shape the `cm-3` job's linker produces:
/// `count` rows over `count / 2` pull requests. Every tenth pull request is
/// unmerged, and one in seven has only a review by its own author.
fn review_rows(count: usize) -> Vec<Value> {
    (0..count)
        .map(|row| {
            let number = row / 2 + 1;
            let author = format!("dev-{:03}", number % 17);
            let merged_at = (number % 10 != 0).then(|| "2026-01-03T10:00:00Z".to_string());
            let reviewer = if number % 7 == 0 {
                author.clone()
            } else {
                format!("dev-{:03}", (number + row % 2 + 1) % 17)
            };
            json!({
                "number": number,
                "author": author,
                "merged_at": merged_at,
                "reviewer": reviewer,
                "review_state": if row % 2 == 0 { "APPROVED" } else { "COMMENTED" },
            })
        })
        .collect()
}

/// Pull requests as the GitHub API lists them, the source records of the
/// `cm-3` job's property mapping.
fn pull_requests(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let number = i + 1;
            let merged_at = (number % 10 != 0).then(|| "2026-01-03T10:00:00Z".to_string());
            json!({
                "number": number,
                "title": format!("Change number {number} of the configuration loader"),
                "state": "closed",
                "user": {"login": format!("dev-{:03}", number % 17)},
                "created_at": "2026-01-02T09:00:00Z",
                "merged_at": merged_at,
            })
        })
        .collect()
}
