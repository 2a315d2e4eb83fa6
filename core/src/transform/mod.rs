//! WebAssembly transforms: sandboxed modules that turn a batch of JSON records into
//! another batch of records.
//!
//! A module implements the polystat transform ABI (version 1, described in
//! `docs/transform-abi.md`): it exports `memory`, `polystat_abi_version`,
//! `polystat_alloc` and `polystat_transform`, and imports nothing at all, so it
//! has no access to files, clocks, the network or the host. Every call runs in a
//! fresh instance, taken from the engine's instance pool, under the fuel,
//! deadline, memory and output caps of [`TransformLimits`]. Compiled modules
//! are cached by content hash in memory and, when the engine has a cache
//! folder, on disk.
//!
//! ```no_run
//! # fn main() -> polystat::error::Result<()> {
//! use polystat::transform::{TransformEngine, TransformLimits};
//!
//! let engine = TransformEngine::new()?;
//! let wasm = std::fs::read("transforms/dist/pr-number.wasm").expect("built by transforms/build.sh");
//! let transform = engine.compile("pr-number", &wasm)?;
//! let records = vec![serde_json::json!({
//!     "pull_request_url": "https://api.github.com/repos/dev-019/ants/pulls/41"
//! })];
//! let params = serde_json::json!({"from": "pull_request_url", "to": "pr_number"});
//! let output = transform.call(&records, &params, &TransformLimits::default())?;
//! assert_eq!(output[0]["pr_number"], 41);
//! # Ok(())
//! # }
//! ```

mod abi;
mod cache;
mod compiled;
mod engine;
mod failure;
mod limits;
mod run;
mod validate;

pub use abi::ABI_VERSION;
pub use cache::{default_cache_dir, CompileStats};
pub use compiled::CompiledTransform;
pub use engine::{PoolStats, TransformEngine, MAX_CONCURRENT_CALLS};
pub use limits::{TransformLimits, MAX_MEMORY_BYTES};

#[cfg(test)]
mod tests;
