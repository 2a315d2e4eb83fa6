//! `polystat transform`: the transform registry from the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use polystat::model::LimitOverrides;
use polystat::registry::read_module_file;
use polystat::Store;
use serde_json::Value;

use crate::print_json;

#[derive(Subcommand)]
pub(crate) enum TransformCommand {
    /// Validate a .wasm module and store it as the next version of NAME, and
    /// print the stored version. Identical bytes return the existing version.
    Upload {
        /// Transform name: ASCII letters, digits, '-', '_' or '.'.
        name: String,
        /// Path of the compiled module (.wasm).
        module: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print every stored version as a JSON array, without the module bytes.
    List {
        /// Only the versions of this transform.
        #[arg(long)]
        name: Option<String>,
    },
    /// Run a module over the records of a JSON file and print the output records.
    Test {
        /// A .wasm file, or a stored transform as NAME or NAME@VERSION.
        module: String,
        /// JSON file with an array of records, or an object with a "records" array.
        records: PathBuf,
        /// Params passed to the transform, as JSON text.
        #[arg(long, default_value = "null")]
        params: String,
    },
}

/// Per-call limits stored with an upload; unset ones use the store's defaults.
#[derive(Args)]
pub(crate) struct LimitArgs {
    /// Instruction budget of one call, in fuel units.
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-clock deadline of one call, in milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Memory cap of one call, in bytes.
    #[arg(long)]
    memory_bytes: Option<u64>,
    /// Cap on the JSON output of one call, in bytes.
    #[arg(long)]
    output_bytes: Option<u64>,
}

pub(crate) async fn execute(store: &Store, command: TransformCommand) -> anyhow::Result<()> {
    match command {
        TransformCommand::Upload {
            name,
            module,
            limits,
        } => {
            let wasm = read_module_file(&name, &module, "module")?;
            let overrides = LimitOverrides {
                fuel: limits.fuel,
                deadline_ms: limits.deadline_ms,
                memory_bytes: limits.memory_bytes,
                output_bytes: limits.output_bytes,
            };
            let info = store
                .transforms()
                .upload_with_limits(&name, &wasm, overrides)
                .await?;
            print_json(&info)?;
        }
        TransformCommand::List { name } => {
            let infos = match name {
                Some(name) => store.transforms().versions(&name).await?,
                None => store.transforms().list().await?,
            };
            print_json(&infos)?;
        }
        TransformCommand::Test {
            module,
            records,
            params,
        } => {
            let records = read_records(&records)?;
            let params: Value = serde_json::from_str(&params)
                .with_context(|| format!("--params is not valid JSON: {params}"))?;
            let output = run_test(store, &module, records, params).await?;
            print_json(&output)?;
        }
    }
    Ok(())
}

/// Runs a module file under the store's default limits, or a stored
/// transform under its own limits.
async fn run_test(
    store: &Store,
    module: &str,
    records: Vec<Value>,
    params: Value,
) -> anyhow::Result<Vec<Value>> {
    let path = Path::new(module);
    if path.is_file() {
        let name = path.file_stem().map_or_else(
            || module.to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let wasm = read_module_file(&name, path, "module")?;
        let engine = store.transform_engine().clone();
        let limits = store.config().transform_limits.clone();
        let output = tokio::task::spawn_blocking(move || {
            engine
                .compile(&name, &wasm)
                .and_then(|transform| transform.call(&records, &params, &limits))
        })
        .await??;
        return Ok(output);
    }
    let (name, version) = parse_reference(module)?;
    Ok(store
        .transforms()
        .call(name, version, records, params)
        .await?)
}

/// Splits `NAME@VERSION` into its parts; a bare name means the latest.
fn parse_reference(text: &str) -> anyhow::Result<(&str, Option<i64>)> {
    match text.split_once('@') {
        None => Ok((text, None)),
        Some((name, version)) => {
            let version = version.parse().with_context(|| {
                format!("{text:?} is neither a file nor NAME@VERSION with a numeric version")
            })?;
            Ok((name, Some(version)))
        }
    }
}

fn read_records(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read records file {}", path.display()))?;
    let document: Value = serde_json::from_str(&text)
        .with_context(|| format!("records file {} is not valid JSON", path.display()))?;
    match document {
        Value::Array(records) => Ok(records),
        Value::Object(mut object) => match object.remove("records") {
            Some(Value::Array(records)) => Ok(records),
            _ => anyhow::bail!(
                "records file {} is an object without a \"records\" array",
                path.display()
            ),
        },
        _ => anyhow::bail!(
            "records file {} must hold an array of records or {{\"records\": [...]}}",
            path.display()
        ),
    }
}
