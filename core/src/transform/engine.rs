//! The shared wasmtime engine and the thread that drives its epoch deadlines.

use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::{CompileStats, ModuleCache};
use super::compiled::{self, CompiledTransform};
use super::limits::MAX_WASM_STACK_BYTES;
use super::limits::{EPOCH_TICK, MAX_MEMORY_BYTES, MAX_TABLES, MAX_TABLE_ELEMENTS};
use crate::error::{Error, Result};

/// Maximum number of instances that one engine runs at the same time. Each
/// call uses one instance slot of the pool until it returns.
// NOTE: a call made while every slot is busy fails with a transform error
// that names the pool; callers that run more calls at once need more slots.
pub const MAX_CONCURRENT_CALLS: u32 = 128;

/// Bytes of each pool slot's linear memory that stay mapped between calls
/// and are reset in place. Every call runs in a fresh instance, and without
/// this each one page-faults its heap back in: WebAssembly ran a 1,000-record
/// batch at 0.49 of native speed without it and 0.65 with it. Memory beyond
/// this is returned to the operating system, so resident memory stays
/// bounded by this times the slots that calls at once have used.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Compiles transform modules. Cloning is cheap and every clone shares one
/// wasmtime engine and one epoch ticker thread.
///
/// The ticker thread advances the engine's epoch every 10 ms so that call
/// deadlines fire. It stops when the last clone of the engine and the last
/// [`CompiledTransform`] made by it are dropped.
#[derive(Clone)]
pub struct TransformEngine {
    inner: Arc<EngineInner>,
}

/// Engine state shared by the engine handles and every compiled transform, so
/// that the ticker runs as long as any of them can still start a call.
pub(crate) struct EngineInner {
    pub(crate) engine: Engine,
    pub(crate) cache: ModuleCache,
    _ticker: EpochTicker,
}

/// Instance pool usage of an engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Whether instances come from the pooling allocator. It is off only when
    /// the host could not reserve the pool's address space.
    pub pooled: bool,
    /// Instances alive now, that is calls in progress.
    pub live_instances: u64,
    /// Linear memory slots that are free and keep the state of their last
    /// use, ready for reuse.
    pub warm_memory_slots: u32,
}

impl TransformEngine {
    /// Creates the wasmtime engine with fuel metering, epoch interruption and
    /// the pooling instance allocator, and starts its ticker thread. Compiled
    /// modules are cached in memory only.
    ///
    /// Fails with [`Error::Configuration`] if wasmtime rejects the configuration
    /// on this host, or [`Error::Unavailable`] if the thread cannot be started.
    pub fn new() -> Result<Self> {
        TransformEngine::with_cache_dir(None)
    }

    /// Creates the engine like [`TransformEngine::new`], and also keeps
    /// compiled modules as files in `cache_dir` (created if missing) so that
    /// another process, or this one after a restart, loads them without
    /// compiling.
    pub fn with_cache_dir(cache_dir: Option<PathBuf>) -> Result<Self> {
        let engine = create_engine()?;
        let cache = ModuleCache::new(&engine, cache_dir);
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(TransformEngine {
            inner: Arc::new(EngineInner {
                engine,
                cache,
                _ticker: ticker,
            }),
        })
    }

    /// Counts modules found in the memory cache, loaded from the cache folder
    /// and compiled, since the engine was created.
    pub fn compile_stats(&self) -> CompileStats {
        self.inner.cache.stats()
    }

    /// Returns the instance pool's usage.
    pub fn pool_stats(&self) -> PoolStats {
        match self.inner.engine.pooling_allocator_metrics() {
            Some(metrics) => PoolStats {
                pooled: true,
                live_instances: metrics.core_instances(),
                warm_memory_slots: metrics.unused_warm_memories(),
            },
            None => PoolStats::default(),
        }
    }

    /// Validates and compiles a module, which can then be called any number of
    /// times.
    ///
    /// Fails with [`Error::Validation`], whose `field` is:
    /// - `name` for a name that is empty, longer than 128 bytes or contains
    ///   control characters;
    /// - `module.bytes` for bytes that are not a WebAssembly module or fail to
    ///   compile;
    /// - `module.imports` for any import at all, listing the imports;
    /// - `module.exports` for missing exports or exports of the wrong type;
    /// - `module.abi_version` for an ABI version other than
    ///   [`ABI_VERSION`](super::ABI_VERSION), or a module that traps before it
    ///   returns its version.
    pub fn compile(&self, name: &str, wasm: &[u8]) -> Result<CompiledTransform> {
        compiled::compile(Arc::clone(&self.inner), name, wasm)
    }
}

/// Builds the engine with the pooling allocator, falling back to on-demand
/// allocation when the host refuses the pool's virtual address reservation
/// (for example under a `ulimit -v`).
fn create_engine() -> Result<Engine> {
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config()));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(%error, "cannot reserve the transform instance pool; allocating instances on demand");
            Engine::new(&base_config()).map_err(|error| {
                Error::configuration(format!("could not create the WebAssembly engine: {error}"))
            })
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK_BYTES)
        // One memory per module keeps the memory cap a cap on the whole
        // instance, and the ABI addresses memory with 32-bit pointers.
        .wasm_multi_memory(false)
        .wasm_memory64(false);
    config
}

/// Sizes the pool for [`MAX_CONCURRENT_CALLS`] instances. Slots are reused
/// from call to call, and memory beyond [`KEEP_RESIDENT_BYTES`] per slot is
/// returned to the operating system, so an idle engine keeps at most that
/// much resident for each slot it has used.
fn pool_config() -> PoolingAllocationConfig {
    let tables_per_instance = MAX_TABLES as u32;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(MAX_CONCURRENT_CALLS)
        .total_memories(MAX_CONCURRENT_CALLS)
        .total_tables(MAX_CONCURRENT_CALLS * tables_per_instance)
        .max_memories_per_module(1)
        .max_tables_per_module(tables_per_instance)
        .max_memory_size(MAX_MEMORY_BYTES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        // Where the kernel has PAGEMAP_SCAN (Linux 6.7 and later), only the
        // pages a call wrote are reset. With 8 MiB resident, that took an
        // empty call from 195 to 108 µs against zeroing all of it.
        .pagemap_scan(Enabled::Auto);
    pool
}

impl fmt::Debug for TransformEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformEngine").finish_non_exhaustive()
    }
}

/// Thread that calls `Engine::increment_epoch` every [`EPOCH_TICK`]. Dropping it
/// stops and joins the thread.
struct EpochTicker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("polystat-epoch-ticker".to_string())
            .spawn(move || {
                // The sender is never used to send: dropping it disconnects the
                // channel, which wakes this thread at once and ends the loop.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .map_err(|error| Error::Unavailable {
                backend: "transform epoch ticker".to_string(),
                reason: format!("could not start the thread that enforces deadlines: {error}"),
                source: Some(Box::new(error)),
            })?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the transform epoch ticker thread panicked");
            }
        }
    }
}
