//! The `node` suite: the Node binding's cached get and full listing, run by
//! `bindings/node/bench/bench.js` against the official MongoDB driver for
//! Node. This module builds the release addon, installs the script's npm
//! dependencies when they are missing, runs it and returns its report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use serde_json::Value;

/// Arguments of `bench.js` for each mode: computations listed, cached gets
/// timed and listing runs per side.
const FULL: [&str; 6] = ["--count", "100000", "--gets", "100000", "--runs", "3"];
const QUICK: [&str; 6] = ["--count", "10000", "--gets", "20000", "--runs", "3"];

/// Statement timeout of the benchmark's stores. FerretDB 1.24 on SQLite
/// cannot push a sort down, so the first batch of a scan in id order waits
/// while the server reads and sorts the whole collection, which for 100,000
/// computations takes longer than the 30 s default.
const LIST_TIMEOUT_MS: &str = "600000";

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let url = std::env::var("POLYSTAT_DOCUMENTS_URL").context(
        "the node suite needs POLYSTAT_DOCUMENTS_URL, the mongodb:// URL of the server to list from",
    )?;
    anyhow::ensure!(
        url.starts_with("mongodb://") || url.starts_with("mongodb+srv://"),
        "POLYSTAT_DOCUMENTS_URL must be a mongodb:// URL for the node suite"
    );
    let node_dir = repo_root()?.join("bindings/node");
    build_addon(&node_dir)?;
    let bench_dir = node_dir.join("bench");
    install_driver(&bench_dir)?;
    let args = if quick { QUICK } else { FULL };
    eprintln!("node: running bench.js {}", args.join(" "));
    let output = Command::new("node")
        .arg("bench.js")
        .args(["--mongodb-url", &url])
        .args(args)
        .env("POLYSTAT_STATEMENT_TIMEOUT_MS", LIST_TIMEOUT_MS)
        .current_dir(&bench_dir)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start node; install Node.js 20 or later")?;
    anyhow::ensure!(
        output.status.success(),
        "bench.js exited with {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .with_context(|| format!("bench.js printed no JSON report as its last line: {last:?}"))
}

fn repo_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("the bench crate has no parent folder")
}

/// Builds the addon in release mode into `bindings/node/polystat.node`.
/// Cargo rebuilds only what changed, so an up-to-date addon costs a few
/// seconds.
fn build_addon(node_dir: &Path) -> anyhow::Result<()> {
    eprintln!("node: building the release addon");
    let status = Command::new("bash")
        .arg(node_dir.join("build.sh"))
        .arg("--release")
        .stdout(std::io::stderr())
        .status()
        .context("cannot start bash to run bindings/node/build.sh")?;
    anyhow::ensure!(
        status.success(),
        "bindings/node/build.sh --release exited with {status}"
    );
    Ok(())
}

/// Runs `npm ci` in the bench folder when its `node_modules` is missing.
fn install_driver(bench_dir: &Path) -> anyhow::Result<()> {
    if bench_dir.join("node_modules").is_dir() {
        return Ok(());
    }
    eprintln!("node: installing the MongoDB driver with npm ci");
    let status = Command::new("npm")
        .arg("ci")
        .current_dir(bench_dir)
        .stdout(std::io::stderr())
        .status()
        .context("cannot start npm; install Node.js 20 or later with npm")?;
    anyhow::ensure!(
        status.success(),
        "npm ci in bindings/node/bench exited with {status}; the package registry must be \
         reachable, or run npm ci there by hand"
    );
    Ok(())
}
