//! Python virtual environments under `target/` for the suites that run
//! Python: created on first use and filled with pip.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// A virtual environment that a suite needs.
pub struct Venv<'a> {
    /// Folder under `target/`, such as `bench-venv`.
    pub folder: &'a str,
    /// Requirements passed to `pip install`.
    pub packages: &'a [&'a str],
    /// Modules that must import for the environment to count as ready.
    pub imports: &'a str,
    /// Suite name that prefixes progress lines.
    pub suite: &'a str,
}

impl Venv<'_> {
    /// Returns the environment's interpreter, creating the environment and
    /// installing the packages when the imports fail.
    ///
    /// The environment is made by `POLYSTAT_BENCH_PYTHON`, or `python3` when
    /// it is unset, and pip needs network access to the package index.
    pub fn ensure(&self, repo_root: &Path) -> anyhow::Result<PathBuf> {
        let venv = repo_root.join("target").join(self.folder);
        let python = venv.join("bin/python");
        if python.exists() && self.imports_work(&python) {
            return Ok(python);
        }

        let base = std::env::var("POLYSTAT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!("{}: creating {} with {base}", self.suite, venv.display());
        run_setup(Command::new(&base).arg("-m").arg("venv").arg(&venv)).with_context(|| {
            format!(
                "creating the virtual environment {} failed; install Python 3 with its venv \
                 module, or set POLYSTAT_BENCH_PYTHON to an interpreter that has it",
                venv.display()
            )
        })?;

        let packages = self.packages.join(" ");
        eprintln!("{}: installing {packages} with pip", self.suite);
        run_setup(pip_install(&python).args(self.packages)).with_context(|| {
            format!(
                "installing {packages} with pip failed; the package index must be reachable, \
                 or install them into {} by hand",
                venv.display()
            )
        })?;
        anyhow::ensure!(
            self.imports_work(&python),
            "{} still cannot be imported by {}",
            self.imports,
            python.display()
        );
        Ok(python)
    }

    fn imports_work(&self, python: &Path) -> bool {
        Command::new(python)
            .args(["-c", &format!("import {}", self.imports)])
            .output()
            .is_ok_and(|output| output.status.success())
    }
}

/// Returns a quiet `pip install` command of `python`, for the caller to add
/// options and packages to.
pub fn pip_install(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    command
}

/// Runs a setup command and fails when it exits unsuccessfully.
pub fn run_setup(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    anyhow::ensure!(status.success(), "the command exited with {status}");
    Ok(())
}
