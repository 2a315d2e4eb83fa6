//! The Python side of the `link` suite: a virtual environment with pandas and
//! polars, and the scripts that run the same job with each.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::Deserialize;

use super::scale::Inputs;
use crate::venv::Venv;

/// Report that each script prints as its last stdout line.
#[derive(Debug, Deserialize)]
pub struct ScriptReport {
    /// Seconds from before reading the inputs to after writing the output,
    /// measured inside the script, so interpreter start-up and imports are
    /// not counted.
    pub seconds: f64,
    pub pulls: usize,
    pub reviews: usize,
    pub output_records: usize,
}

/// Returns the interpreter of `target/bench-venv`, creating the environment
/// and installing pandas and polars with pip when they cannot be imported.
pub fn ensure_venv(repo_root: &Path) -> anyhow::Result<PathBuf> {
    Venv {
        folder: "bench-venv",
        packages: &["pandas", "polars"],
        imports: "pandas, polars",
        suite: "link",
    }
    .ensure(repo_root)
}

/// Runs `bench/scripts/SCRIPT` on the inputs and returns its report.
pub fn run_script(
    python: &Path,
    repo_root: &Path,
    script: &str,
    inputs: &Inputs,
    output: &Path,
) -> anyhow::Result<ScriptReport> {
    let path = repo_root.join("bench/scripts").join(script);
    let result = Command::new(python)
        .arg(&path)
        .arg(&inputs.pulls)
        .arg(&inputs.reviews)
        .arg(output)
        .output()
        .with_context(|| format!("cannot start {}", python.display()))?;
    anyhow::ensure!(
        result.status.success(),
        "{script} exited with {}: {}",
        result.status,
        String::from_utf8_lossy(&result.stderr).trim()
    );
    let stdout = String::from_utf8_lossy(&result.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .with_context(|| format!("{script} printed no JSON report as its last line: {last:?}"))
}
