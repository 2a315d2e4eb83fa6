//! Compiled transforms and their calls.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::{ExternType, Linker, Module, ModuleExport};

use super::abi::{self, Output};
use super::abi::{EXPORT_ABI_VERSION, EXPORT_ALLOC, EXPORT_MEMORY, EXPORT_TRANSFORM};
use super::engine::EngineInner;
use super::failure::transform_error;
use super::limits::{HostState, TransformLimits};
use super::run::Run;
use super::validate;
use crate::error::{Error, Result, TransformLimit};

/// Limits for the call to `polystat_abi_version` made at compile time. The
/// memory cap is raised to the module's declared initial size when that is
/// larger, so the check does not depend on the caps of later calls.
const PROBE_FUEL: u64 = 10_000_000;
const PROBE_DEADLINE: Duration = Duration::from_secs(1);

/// A validated, compiled transform module. Cloning is cheap (the compiled code
/// is shared), and calls may run concurrently from any number of threads.
#[derive(Clone)]
pub struct CompiledTransform {
    inner: Arc<CompiledInner>,
}

pub(crate) struct CompiledInner {
    pub(crate) name: String,
    /// SHA-256 of the module bytes, in hex.
    pub(crate) digest: String,
    /// Keeps the epoch ticker running while this transform can still be called.
    _engine: Arc<EngineInner>,
    pub(crate) pre: wasmtime::InstancePre<HostState>,
    pub(crate) exports: ExportIndices,
}

/// Pre-resolved export indices, so each call looks exports up without hashing
/// their names.
pub(crate) struct ExportIndices {
    pub(crate) memory: ModuleExport,
    pub(crate) abi_version: ModuleExport,
    pub(crate) alloc: ModuleExport,
    pub(crate) transform: ModuleExport,
    pub(crate) trap_message: Option<ModuleExport>,
}

pub(crate) fn compile(
    engine: Arc<EngineInner>,
    name: &str,
    wasm: &[u8],
) -> Result<CompiledTransform> {
    validate::check_name(name)?;
    validate::check_header(name, wasm)?;

    let started = Instant::now();
    let digest = crate::crypto::sha256_hex(wasm);
    let (module, cached) = match engine.cache.get(&engine.engine, &digest) {
        Some(module) => (module, true),
        None => (compile_module(&engine, name, wasm)?, false),
    };
    let compiled = prepare(Arc::clone(&engine), name, digest, &module)?;
    engine.cache.put(compiled.digest(), &module);

    tracing::debug!(
        transform = name,
        wasm_bytes = wasm.len(),
        cached,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "compiled transform"
    );
    Ok(compiled)
}

fn compile_module(engine: &EngineInner, name: &str, wasm: &[u8]) -> Result<Module> {
    engine.cache.count_compiled();
    Module::from_binary(&engine.engine, wasm).map_err(|error| {
        Error::validation(
            "module.bytes",
            format!("transform {name} is not a valid WebAssembly module: {error:#}"),
        )
    })
}

/// Checks a compiled module against the ABI and prepares it for
/// instantiation. Runs for cached modules too, because a module that is
/// cached under one name may be loaded under another.
fn prepare(
    engine: Arc<EngineInner>,
    name: &str,
    digest: String,
    module: &Module,
) -> Result<CompiledTransform> {
    validate::check_imports(name, module)?;
    validate::check_exports(name, module)?;

    let exports = ExportIndices::resolve(name, module)?;
    let pre = Linker::<HostState>::new(&engine.engine)
        .instantiate_pre(module)
        .map_err(|error| {
            Error::validation(
                "module.imports",
                format!("transform {name} cannot be prepared for instantiation: {error:#}"),
            )
        })?;

    let compiled = CompiledTransform {
        inner: Arc::new(CompiledInner {
            name: name.to_string(),
            digest,
            _engine: engine,
            pre,
            exports,
        }),
    };
    compiled.check_abi_version(module)?;
    Ok(compiled)
}

impl ExportIndices {
    fn resolve(name: &str, module: &Module) -> Result<Self> {
        let index = |export: &str| {
            module.get_export_index(export).ok_or_else(|| {
                Error::validation(
                    "module.exports",
                    format!("transform {name} does not export \"{export}\""),
                )
            })
        };
        Ok(ExportIndices {
            memory: index(EXPORT_MEMORY)?,
            abi_version: index(EXPORT_ABI_VERSION)?,
            alloc: index(EXPORT_ALLOC)?,
            transform: index(EXPORT_TRANSFORM)?,
            trap_message: module.get_export_index(abi::EXPORT_TRAP_MESSAGE),
        })
    }
}

impl CompiledTransform {
    /// Name given at compile time; it appears in every error about the module.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// SHA-256 of the module bytes, in hex: two transforms with the same
    /// digest run the same code.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// Runs one batch: encodes `records` and `params` as the input document,
    /// instantiates the module afresh, calls `polystat_transform` and parses the
    /// records it returns.
    ///
    /// Blocks the calling thread for up to `limits.deadline` plus instantiation
    /// and JSON work, so async callers should use `spawn_blocking`. Every failure
    /// is [`Error::Transform`]: `limit` is `Some` when a cap of `limits` was hit
    /// (an input larger than the memory cap is reported as
    /// [`TransformLimit::Memory`]), and `None` for traps, invalid output and
    /// errors that the module reported itself.
    pub fn call(
        &self,
        records: &[Value],
        params: &Value,
        limits: &TransformLimits,
    ) -> Result<Vec<Value>> {
        let name = self.name();
        let input = abi::encode_input(records, params).map_err(|error| {
            transform_error(
                name,
                None,
                format!("could not encode the input for transform {name}: {error}"),
            )
        })?;
        self.check_input_size(input.len(), limits)?;
        let mut run = Run::start(&self.inner, limits)?;
        let pointer = run.write_input(&input)?;
        let packed = run.transform(pointer, input.len())?;
        match run.read_output(packed)? {
            Output::Records(records) => Ok(records),
            Output::GuestError(message) => Err(transform_error(
                name,
                None,
                format!("transform {name} reported an error: {message}"),
            )),
        }
    }

    fn check_input_size(&self, length: usize, limits: &TransformLimits) -> Result<()> {
        let name = self.name();
        if length > limits.memory_bytes {
            return Err(transform_error(
                name,
                Some(TransformLimit::Memory),
                format!(
                    "the input for transform {name} is {length} bytes, more than its memory cap of {} bytes",
                    limits.memory_bytes
                ),
            ));
        }
        if i32::try_from(length).is_err() {
            return Err(transform_error(
                name,
                None,
                format!(
                    "the input for transform {name} is {length} bytes, more than the ABI maximum of {} bytes",
                    i32::MAX
                ),
            ));
        }
        Ok(())
    }

    /// Instantiates the module once and checks that `polystat_abi_version`
    /// returns [`ABI_VERSION`](super::ABI_VERSION).
    fn check_abi_version(&self, module: &Module) -> Result<()> {
        let name = self.name();
        let probe = TransformLimits {
            fuel: PROBE_FUEL,
            deadline: PROBE_DEADLINE,
            memory_bytes: TransformLimits::default()
                .memory_bytes
                .max(initial_memory(module)),
            output_bytes: 0,
        };
        let invalid = |reason: String| Error::validation("module.abi_version", reason);
        let mut run = Run::start(&self.inner, &probe).map_err(|error| {
            invalid(format!(
                "instantiating transform {name} to read its ABI version failed: {}",
                reason_of(error)
            ))
        })?;
        let version = run.abi_version().map_err(|error| {
            invalid(format!(
                "calling {EXPORT_ABI_VERSION} failed: {}",
                reason_of(error)
            ))
        })?;
        if version != abi::ABI_VERSION {
            return Err(invalid(format!(
                "transform {name} implements ABI version {version}, but this host supports version {}",
                abi::ABI_VERSION
            )));
        }
        Ok(())
    }
}

/// Returns the reason of a transform error without the "transform NAME failed"
/// prefix of its `Display`, for wrapping into another error.
fn reason_of(error: Error) -> String {
    match error {
        Error::Transform { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Returns the initial size of the exported memory, in bytes.
fn initial_memory(module: &Module) -> usize {
    match module.get_export(EXPORT_MEMORY) {
        Some(ExternType::Memory(memory)) => {
            let bytes = memory.minimum().saturating_mul(memory.page_size());
            usize::try_from(bytes).unwrap_or(usize::MAX)
        }
        _ => 0,
    }
}

impl fmt::Debug for CompiledTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledTransform")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}
