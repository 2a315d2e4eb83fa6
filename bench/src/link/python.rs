//! The Python side of the `link` suite: a virtual environment with pandas and
//! polars, and the scripts that run the same job with each.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::Deserialize;

use super::scale::Inputs;

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
///
/// The environment is made by `POLYSTAT_BENCH_PYTHON`, or `python3` when it
/// is unset, and pip needs network access to the package index.
pub fn ensure_venv(repo_root: &Path) -> anyhow::Result<PathBuf> {
    let venv = repo_root.join("target/bench-venv");
    let python = venv.join("bin/python");
    if python.exists() && imports_work(&python) {
        return Ok(python);
    }
    let base = std::env::var("POLYSTAT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("link: creating {} with {base}", venv.display());
    run_setup(Command::new(&base).arg("-m").arg("venv").arg(&venv)).with_context(|| {
        format!(
            "creating the virtual environment {} failed; install Python 3 with its venv \
             module, or set POLYSTAT_BENCH_PYTHON to an interpreter that has it",
            venv.display()
        )
    })?;
    eprintln!("link: installing pandas and polars with pip");
    run_setup(Command::new(&python).args(["-m", "pip", "install", "--quiet", "pandas", "polars"]))
        .context(
            "installing pandas and polars with pip failed; the package index must be \
             reachable, or install both into target/bench-venv by hand",
        )?;
    anyhow::ensure!(
        imports_work(&python),
        "pandas or polars still cannot be imported by {}",
        python.display()
    );
    Ok(python)
}

fn imports_work(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import pandas, polars"])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn run_setup(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    anyhow::ensure!(status.success(), "the command exited with {status}");
    Ok(())
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
