//! The `python` suite: the Python binding's cached get and full listing, run
//! by `bindings/python/bench/bench.py` against pymongo. This module builds
//! the release wheel into a virtual environment of its own, installs pymongo
//! when it is missing, runs the script and returns its report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use serde_json::Value;

use crate::venv::{pip_install, run_setup, Venv};

/// Arguments of `bench.py` for each mode: computations listed and cached
/// gets timed, and listing runs per side.
const FULL: [&str; 6] = ["--count", "100000", "--gets", "200000", "--runs", "3"];
const QUICK: [&str; 6] = ["--count", "20000", "--gets", "50000", "--runs", "3"];

/// Statement timeout of the benchmark's stores. FerretDB 1.24 on SQLite
/// cannot push a sort down, so the first batch of a scan in id order waits
/// while the server reads and sorts the whole collection, which for 100,000
/// computations takes longer than the 30 s default.
const LIST_TIMEOUT_MS: &str = "600000";

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let url = std::env::var("POLYSTAT_DOCUMENTS_URL").context(
        "the python suite needs POLYSTAT_DOCUMENTS_URL, the mongodb:// URL of the server to list from",
    )?;
    anyhow::ensure!(
        url.starts_with("mongodb://") || url.starts_with("mongodb+srv://"),
        "POLYSTAT_DOCUMENTS_URL must be a mongodb:// URL for the python suite"
    );
    let root = repo_root()?;
    let python = ensure_venv(&root)?;
    install_wheel(&root, &python)?;
    let args = if quick { QUICK } else { FULL };
    eprintln!("python: running bench.py {}", args.join(" "));
    let output = Command::new(&python)
        .arg(root.join("bindings/python/bench/bench.py"))
        .args(["--mongodb-url", &url])
        .args(args)
        .env("POLYSTAT_STATEMENT_TIMEOUT_MS", LIST_TIMEOUT_MS)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "bench.py exited with {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .with_context(|| format!("bench.py printed no JSON report as its last line: {last:?}"))
}

fn repo_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("the bench crate has no parent folder")
}

/// Returns the interpreter of `target/bench-py-venv`, creating it and
/// installing maturin and pymongo with pip when they cannot be imported.
fn ensure_venv(root: &Path) -> anyhow::Result<PathBuf> {
    Venv {
        folder: "bench-py-venv",
        packages: &["maturin>=1.16,<2", "pymongo"],
        imports: "maturin, pymongo",
        suite: "python",
    }
    .ensure(root)
}

/// Builds the wheel in release mode and installs it over any earlier one.
/// Cargo rebuilds only what changed, so an up-to-date wheel costs seconds.
fn install_wheel(root: &Path, python: &Path) -> anyhow::Result<()> {
    let wheels = root.join("target/bench-wheels");
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels)
            .with_context(|| format!("cannot empty {}", wheels.display()))?;
    }
    eprintln!("python: building the release wheel");
    let maturin = python.with_file_name("maturin");
    run_setup(
        Command::new(&maturin)
            .args(["build", "--quiet", "--release", "--strip", "--out"])
            .arg(&wheels)
            .current_dir(root.join("bindings/python"))
            .stdout(std::io::stderr()),
    )
    .context("maturin build --release of bindings/python failed")?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .context("maturin built no wheel")?;
    run_setup(
        pip_install(python)
            .args(["--force-reinstall", "--no-deps"])
            .arg(&wheel),
    )
    .with_context(|| format!("installing {} failed", wheel.display()))
}
