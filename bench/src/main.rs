//! `polystat-bench SUITE [--quick]`: runs one benchmark suite and prints one
//! JSON object on stdout. Its `ratios` member maps each comparison to a
//! number where higher is better for polystat.

mod bulk;
mod cache;
mod coherence;
mod fixtures;
mod link;
mod node;
mod python;
mod transform;
mod venv;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: polystat-bench SUITE [--quick]\nsuites: bulk, cache, coherence, transform, link, node, python";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let suite = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    let outcome = match suite {
        Some("bulk") => bulk::run(quick).await,
        Some("cache") => cache::run(quick).await,
        Some("coherence") => coherence::run(quick).await,
        Some("link") => link::run(quick).await,
        Some("node") => node::run(quick).await,
        Some("python") => python::run(quick).await,
        Some("transform") => transform::run(quick).await,
        // Not in the usage text: the coherence suite starts its worker
        // processes this way.
        Some("coherence-worker") => coherence::work(&args[1..]).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
