//! The `link` suite: the main job's pull request review linker, end to end
//! on scaled GitHub data, in polystat against the same job in pandas and in
//! polars.
//!
//! Each side reads the same two JSON array files and takes each review's PR
//! number from the end of its `pull_request_url`. It then left-joins the
//! reviews to the pull requests on that number and writes the joined rows as
//! JSON lines to a file of its own in one temporary folder. polystat reads through its
//! file datasource, which keeps only the fields the linker reads, and extracts
//! the number with the `pr-number` WebAssembly transform while preparing the
//! reviews source (`link::prepare`).

mod python;
mod scale;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use polystat::datasource::file::{read_projected, FileConfig};
use polystat::job::TransformSet;
use polystat::link::{combine, prepare, LinkerSpec, PreparedSource, SourceData, TransformRunner};
use polystat::transform::{TransformEngine, TransformLimits};
use serde::Serialize;
use serde_json::{json, Value};

use python::ScriptReport;
use scale::Inputs;

/// Records handed to one transform call. 10,000 scaled reviews are a few MB
/// of JSON, well inside the default caps of 64 MiB of memory and 16 MiB of
/// output.
const TRANSFORM_CHUNK: usize = 10_000;

struct Sizes {
    min_records: usize,
    /// Timed runs per side. The fastest counts, and the sides alternate so
    /// that load from other processes slows them alike.
    runs: usize,
}

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let sizes = if quick {
        Sizes {
            min_records: 100_000,
            runs: 3,
        }
    } else {
        Sizes {
            min_records: 1_000_000,
            runs: 2,
        }
    };
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate has no parent folder")?
        .to_path_buf();
    let python = python::ensure_venv(&repo_root)?;
    let transforms = Arc::new(load_transforms(&repo_root)?);
    let spec = Arc::new(linker_spec()?);

    let dir = tempfile::tempdir()?;
    let data_dir = scale::shared_data_dir(&repo_root);
    eprintln!("link: writing at least {} records", sizes.min_records);
    let inputs = scale::write_inputs(&data_dir, dir.path(), sizes.min_records)?;

    let mut best = Best::default();
    for round in 1..=sizes.runs {
        eprintln!("link: round {round} of {}", sizes.runs);
        let output = dir.path().join("polystat.jsonl");
        let polystat = run_polystat(&inputs, &spec, &transforms, &output).await?;
        best.polystat = best.polystat.min(polystat.seconds);
        let pandas_output = dir.path().join("pandas.jsonl");
        let script = "link_pandas.py";
        let pandas = python::run_script(&python, &repo_root, script, &inputs, &pandas_output)?;
        best.pandas = best.pandas.min(pandas.seconds);
        let polars_output = dir.path().join("polars.jsonl");
        let script = "link_polars.py";
        let polars = python::run_script(&python, &repo_root, script, &inputs, &polars_output)?;
        best.polars = best.polars.min(polars.seconds);
        check_counts(&inputs, &polystat, &pandas, &polars)?;
        check_lines(
            &[&output, &pandas_output, &polars_output],
            polystat.output_records,
        )?;
        best.reports = Some((polystat, pandas, polars));
    }
    best.report(&inputs, sizes.runs, dir.path())
}

/// Fastest seconds per side, and the reports of the last round.
struct Best {
    polystat: f64,
    pandas: f64,
    polars: f64,
    reports: Option<(ScriptReport, ScriptReport, ScriptReport)>,
}

impl Default for Best {
    fn default() -> Self {
        Best {
            polystat: f64::MAX,
            pandas: f64::MAX,
            polars: f64::MAX,
            reports: None,
        }
    }
}

impl Best {
    fn report(&self, inputs: &Inputs, runs: usize, dir: &Path) -> anyhow::Result<Value> {
        let (polystat, pandas, polars) = self.reports.as_ref().context("no round ran")?;
        let side = |seconds: f64, report: &ScriptReport, file: &str| {
            json!({
                "seconds": round3(seconds),
                "pulls": report.pulls,
                "reviews": report.reviews,
                "output_records": report.output_records,
                "output_bytes": std::fs::metadata(dir.join(file)).map(|m| m.len()).ok(),
            })
        };
        Ok(json!({
            "suite": "link",
            "input_records": inputs.pull_count + inputs.review_count,
            "input_bytes": file_size(&inputs.pulls) + file_size(&inputs.reviews),
            "runs": runs,
            "results": {
                "polystat": side(self.polystat, polystat, "polystat.jsonl"),
                "pandas": side(self.pandas, pandas, "pandas.jsonl"),
                "polars": side(self.polars, polars, "polars.jsonl"),
            },
            "ratios": {
                "link_vs_pandas": round3(self.pandas / self.polystat),
                "link_vs_polars": round3(self.polars / self.polystat),
            },
        }))
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Fails unless every side read all the input records and wrote the same
/// number of output records.
fn check_counts(
    inputs: &Inputs,
    polystat: &ScriptReport,
    pandas: &ScriptReport,
    polars: &ScriptReport,
) -> anyhow::Result<()> {
    for (side, report) in [
        ("polystat", polystat),
        ("pandas", pandas),
        ("polars", polars),
    ] {
        anyhow::ensure!(
            report.pulls == inputs.pull_count && report.reviews == inputs.review_count,
            "{side} read {} pulls and {} reviews, but the inputs contain {} and {}",
            report.pulls,
            report.reviews,
            inputs.pull_count,
            inputs.review_count
        );
    }
    let counts = [
        polystat.output_records,
        pandas.output_records,
        polars.output_records,
    ];
    anyhow::ensure!(
        counts.iter().all(|&count| count == counts[0]),
        "the sides wrote different numbers of records: polystat {}, pandas {}, polars {}",
        counts[0],
        counts[1],
        counts[2]
    );
    Ok(())
}

/// Fails unless every output file has `expected` lines, so the counts the
/// sides report are the records they wrote.
fn check_lines(outputs: &[&Path], expected: usize) -> anyhow::Result<()> {
    for path in outputs {
        let lines = count_lines(path);
        anyhow::ensure!(
            lines == expected,
            "{} has {lines} lines, but {expected} records were linked",
            path.display()
        );
    }
    Ok(())
}

/// The linker of the main job's cm-3 control, reading the scaled files.
fn linker_spec() -> anyhow::Result<LinkerSpec> {
    let spec = json!({
        "sources": [
            {
                "datasource": "pulls",
                "propertyMapping": {
                    "number": "number",
                    "user.login": "author",
                    "merged_at": "merged_at"
                }
            },
            {
                "datasource": "reviews",
                "fields": ["pull_request_url", "user.login", "state"],
                "transforms": [{
                    "transform": "pr-number",
                    "params": { "from": "pull_request_url", "to": "number" }
                }],
                "propertyMapping": {
                    "number": "number",
                    "user.login": "reviewer",
                    "state": "review_state"
                }
            }
        ],
        "linkKeys": ["number"],
        "join": "left"
    });
    Ok(serde_json::from_value(spec)?)
}

/// Compiles `pr-number.wasm` from `POLYSTAT_TRANSFORMS_DIR`, or from
/// `transforms/dist` where `transforms/build.sh` puts it.
fn load_transforms(repo_root: &Path) -> anyhow::Result<ChunkedTransforms> {
    let dir = match std::env::var_os("POLYSTAT_TRANSFORMS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root.join("transforms/dist"),
    };
    let engine = TransformEngine::new()?;
    let mut set = TransformSet::new(TransformLimits::default());
    set.load_file(&engine, "pr-number", &dir.join("pr-number.wasm"))?;
    Ok(ChunkedTransforms { set })
}

/// Runs each transform call on at most [`TRANSFORM_CHUNK`] records.
///
/// `link::link` hands a source's whole batch to one call, and the
/// instance memory of a call is capped at 1 GiB, so a batch of several
/// hundred thousand reviews cannot go through one call. Splitting is only
/// correct for transforms that treat each record on its own, as `pr-number`
/// does.
struct ChunkedTransforms {
    set: TransformSet,
}

impl TransformRunner for ChunkedTransforms {
    fn run(&self, name: &str, params: &Value, records: Vec<Value>) -> polystat::Result<Vec<Value>> {
        let mut output = Vec::with_capacity(records.len());
        let mut records = records.into_iter();
        loop {
            let chunk: Vec<Value> = records.by_ref().take(TRANSFORM_CHUNK).collect();
            if chunk.is_empty() {
                return Ok(output);
            }
            output.extend(self.set.run(name, params, chunk)?);
        }
    }
}

/// Runs the job in polystat and times it from reading the first file to
/// flushing the output, the same span the scripts time.
///
/// As `Store::link_datasources` does, both files are read at once, and each
/// keeps only the fields its source uses. Each source is prepared as soon as
/// its records are in, so the reviews go through the transform while the
/// larger pull request file may still be parsing.
async fn run_polystat(
    inputs: &Inputs,
    spec: &Arc<LinkerSpec>,
    transforms: &Arc<ChunkedTransforms>,
    output: &Path,
) -> anyhow::Result<ScriptReport> {
    let started = Instant::now();
    let (pulls, reviews) = tokio::try_join!(
        read_and_prepare(&inputs.pulls, "pulls", 0, spec, transforms),
        read_and_prepare(&inputs.reviews, "reviews", 1, spec, transforms),
    )?;
    let (pull_count, review_count) = (pulls.diagnostic().fetched, reviews.diagnostic().fetched);
    let linked = combine(spec, vec![pulls, reviews], transforms.as_ref())?;
    write_rows(&linked.records, output)?;
    let seconds = started.elapsed().as_secs_f64();
    let output_records = linked.records.len();
    // Freed after the clock stops, as the scripts leave their frames to the
    // interpreter's exit.
    drop(linked);
    Ok(ScriptReport {
        seconds,
        pulls: pull_count,
        reviews: review_count,
        output_records,
    })
}

/// Reads the file of source `index` through the file datasource and prepares
/// the records on the blocking thread pool.
async fn read_and_prepare(
    path: &Path,
    name: &str,
    index: usize,
    spec: &Arc<LinkerSpec>,
    transforms: &Arc<ChunkedTransforms>,
) -> anyhow::Result<PreparedSource> {
    let root = path.parent().context("input file has no folder")?;
    let file_name = path.file_name().context("input path has no file name")?;
    let config = FileConfig {
        path: file_name.to_string_lossy().into_owned(),
        format: None,
        records_path: None,
    };
    let projection = spec.sources[index].read_projection();
    let records = read_projected(root, &config, None, projection).await?;
    let data = SourceData {
        name: name.to_string(),
        records,
    };
    let (spec, transforms) = (Arc::clone(spec), Arc::clone(transforms));
    let prepared =
        tokio::task::spawn_blocking(move || prepare(&spec, index, data, transforms.as_ref()))
            .await??;
    Ok(prepared)
}

/// Writes one JSON object per record with the fields of [`Row`] in the order
/// pandas and polars write them, and `null` for a field the record lacks. A pull request without
/// reviews has no review fields after the join, and pandas and polars write
/// `null` for them, so the three files come out with the same lines.
fn write_rows(records: &[Value], path: &Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for record in records {
        let row = Row {
            number: field(record, "number"),
            author: field(record, "author"),
            merged_at: field(record, "merged_at"),
            reviewer: field(record, "reviewer"),
            review_state: field(record, "review_state"),
        };
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct Row<'a> {
    number: &'a Value,
    author: &'a Value,
    merged_at: &'a Value,
    reviewer: &'a Value,
    review_state: &'a Value,
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    record.get(name).unwrap_or(&Value::Null)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0)
}
