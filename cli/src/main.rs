//! The `polystat` command: open a store, apply migrations, import catalogs
//! and evaluate compliance jobs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use polystat::job::EvaluateOptions;
use polystat::{Store, StoreConfig};

mod transform;

/// Embedded persistence for compliance monitoring.
///
/// The store is configured by POLYSTAT_RELATIONAL_URL, POLYSTAT_DOCUMENTS_URL,
/// POLYSTAT_CACHE_URL and POLYSTAT_MASTER_KEY, or by --config; with none set it
/// is polystat.db in the working directory.
#[derive(Parser)]
#[command(name = "polystat", version)]
struct Cli {
    /// JSON config file with relationalUrl, documentsUrl, cacheUrl, masterKey.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open the store and apply pending migrations.
    Migrate,
    /// Import an OSCAL JSON catalog (idempotent).
    Import {
        /// Path of the OSCAL catalog file.
        catalog: PathBuf,
    },
    /// Run a job file and print its JSON summary on stdout.
    Evaluate {
        /// Path of the job file.
        job: PathBuf,
        /// Folder that the job's datasource and catalog paths are relative to.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Upload, list and try out WebAssembly transforms.
    #[command(subcommand)]
    Transform(transform::TransformCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = match &cli.config {
        Some(path) => StoreConfig::from_file(path)?,
        None => StoreConfig::from_env()?,
    };
    let store = Store::open(config).await?;
    let outcome = execute(&store, cli.command).await;
    store.close().await;
    outcome
}

async fn execute(store: &Store, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            tracing::info!("store is open and migrated");
            print_json(&serde_json::json!({ "migrated": true }))?;
        }
        Command::Import { catalog } => {
            let parsed = polystat::oscal::read_catalog(&catalog)?;
            let summary = store.import_oscal(&parsed).await?;
            print_json(&summary)?;
        }
        Command::Evaluate { job, data_dir } => {
            let options = EvaluateOptions {
                job_path: job,
                data_dir,
            };
            let report = store.evaluate_job(&options).await?;
            print_json(&report)?;
        }
        Command::Transform(command) => transform::execute(store, command).await?,
    }
    Ok(())
}

/// Prints a value as pretty JSON on stdout. A closed pipe (as in
/// `polystat evaluate job.json | head`) is not an error.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Progress and errors go to stderr; `POLYSTAT_LOG` sets the filter (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POLYSTAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .compact()
        .init();
}

/// Formats the error and its causes as one line.
fn one_line(error: &anyhow::Error) -> String {
    let text = error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": caused by: ");
    text.replace('\n', " ")
}
