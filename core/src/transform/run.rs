//! One call of a transform: a fresh store and instance, the input copied in, the
//! transform function run, the output read back.

use std::time::Duration;

use wasmtime::{Instance, Memory, Store, TypedFunc};

use super::abi::{self, Output};
use super::compiled::CompiledInner;
use super::failure::{self, transform_error, Failure};
use super::limits::{HostState, TransformLimits};
use crate::error::{Error, Result, TransformLimit};

/// Budget for calling `polystat_trap_message` after a trap. It is separate from
/// the call's own budget, which the trap may have left empty.
const TRAP_MESSAGE_FUEL: u64 = 10_000_000;
const TRAP_MESSAGE_DEADLINE: Duration = Duration::from_millis(100);

/// Maximum length of a trap message read from the module, in bytes.
const MAX_TRAP_MESSAGE_BYTES: u32 = 64 * 1024;

pub(crate) struct Run<'a> {
    compiled: &'a CompiledInner,
    limits: &'a TransformLimits,
    store: Store<HostState>,
    instance: Instance,
    memory: Memory,
}

impl<'a> Run<'a> {
    /// Creates a store with the call's fuel, deadline and memory cap, then
    /// instantiates the module in it, so a start function runs under the same
    /// limits as the call.
    pub(crate) fn start(compiled: &'a CompiledInner, limits: &'a TransformLimits) -> Result<Self> {
        let engine = compiled.pre.module().engine();
        let mut store = Store::new(engine, HostState::new(limits.memory_bytes));
        store.limiter(|state| state);
        store.set_fuel(limits.fuel).map_err(|error| {
            let name = &compiled.name;
            transform_error(
                name,
                None,
                format!("could not set the fuel budget of transform {name}: {error:#}"),
            )
        })?;
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();
        let instance = match compiled.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) => {
                let failure = failure::classify(&compiled.name, &error, store.data(), limits);
                return Err(failure.into_error(&compiled.name));
            }
        };
        let memory = instance
            .get_module_export(&mut store, &compiled.exports.memory)
            .and_then(|export| export.into_memory())
            .ok_or_else(|| missing_export(compiled, abi::EXPORT_MEMORY))?;
        Ok(Run {
            compiled,
            limits,
            store,
            instance,
            memory,
        })
    }

    /// Calls `polystat_abi_version`.
    pub(crate) fn abi_version(&mut self) -> Result<i32> {
        let compiled = self.compiled;
        let function =
            self.function::<(), i32>(&compiled.exports.abi_version, abi::EXPORT_ABI_VERSION)?;
        function
            .call(&mut self.store, ())
            .map_err(|error| self.fail(&error))
    }

    /// Asks the module for a buffer with `polystat_alloc` and copies `input` into
    /// it. Returns the buffer's address.
    pub(crate) fn write_input(&mut self, input: &[u8]) -> Result<u32> {
        let name = &self.compiled.name;
        let length = i32::try_from(input.len()).map_err(|_| {
            transform_error(
                name,
                None,
                format!("input of {} bytes is too large", input.len()),
            )
        })?;
        let compiled = self.compiled;
        let alloc = self.function::<i32, i32>(&compiled.exports.alloc, abi::EXPORT_ALLOC)?;
        let pointer = alloc
            .call(&mut self.store, length)
            .map_err(|error| self.fail(&error))? as u32;
        let memory_size = self.memory.data_size(&self.store);
        let Some((start, end)) = abi::region(pointer, length as u32, memory_size) else {
            return Err(transform_error(
                name,
                None,
                format!(
                    "transform {name}'s {} returned address {pointer:#x} for {length} bytes, \
                     outside its {memory_size}-byte memory",
                    abi::EXPORT_ALLOC
                ),
            ));
        };
        self.memory.data_mut(&mut self.store)[start..end].copy_from_slice(input);
        Ok(pointer)
    }

    /// Calls `polystat_transform` on the input at `pointer` and returns its
    /// packed result.
    pub(crate) fn transform(&mut self, pointer: u32, length: usize) -> Result<i64> {
        let compiled = self.compiled;
        let function =
            self.function::<(i32, i32), i64>(&compiled.exports.transform, abi::EXPORT_TRANSFORM)?;
        // Both values were checked to fit the ABI's 32-bit unsigned range. Wasm
        // passes them as i32 bit patterns.
        let arguments = (pointer as i32, length as i32);
        function
            .call(&mut self.store, arguments)
            .map_err(|error| self.fail(&error))
    }

    /// Checks the output size against the cap, then parses the output in place.
    pub(crate) fn read_output(&self, packed: i64) -> Result<Output> {
        let name = &self.compiled.name;
        let (pointer, length) = abi::unpack(packed);
        let cap = self.limits.output_bytes;
        if usize::try_from(length).map_or(true, |length| length > cap) {
            return Err(transform_error(
                name,
                Some(TransformLimit::Output),
                format!("transform {name} returned {length} bytes of output, more than the cap of {cap} bytes"),
            ));
        }
        let data = self.memory.data(&self.store);
        let Some((start, end)) = abi::region(pointer, length, data.len()) else {
            return Err(transform_error(
                name,
                None,
                format!(
                    "transform {name} returned an output region of {length} bytes at address \
                     {pointer:#x}, outside its {}-byte memory",
                    data.len()
                ),
            ));
        };
        abi::decode_output(&data[start..end]).map_err(|reason| {
            transform_error(
                name,
                None,
                format!("transform {name} returned output that {reason}"),
            )
        })
    }

    fn function<Params, Results>(
        &mut self,
        index: &wasmtime::ModuleExport,
        export: &str,
    ) -> Result<TypedFunc<Params, Results>>
    where
        Params: wasmtime::WasmParams,
        Results: wasmtime::WasmResults,
    {
        self.instance
            .get_module_export(&mut self.store, index)
            .and_then(|export| export.into_func())
            .and_then(|function| function.typed::<Params, Results>(&self.store).ok())
            .ok_or_else(|| missing_export(self.compiled, export))
    }

    /// Converts an error from wasm into [`Error::Transform`], adding the module's
    /// trap message when it trapped on its own and exports one.
    fn fail(&mut self, error: &wasmtime::Error) -> Error {
        let name = &self.compiled.name;
        let Failure {
            limit,
            mut reason,
            guest_trap,
        } = failure::classify(name, error, self.store.data(), self.limits);
        if guest_trap {
            if let Some(message) = self.trap_message() {
                reason.push_str(&format!("; the module's trap message: {message}"));
            }
        }
        transform_error(name, limit, reason)
    }

    /// Calls the optional `polystat_trap_message` export with a fresh small
    /// budget. Returns `None` when it is absent, fails or returns nothing.
    fn trap_message(&mut self) -> Option<String> {
        let compiled = self.compiled;
        let index = compiled.exports.trap_message.as_ref()?;
        let function = self
            .function::<(), i64>(index, abi::EXPORT_TRAP_MESSAGE)
            .ok()?;
        self.store.set_fuel(TRAP_MESSAGE_FUEL).ok()?;
        let ticks = TransformLimits {
            deadline: TRAP_MESSAGE_DEADLINE,
            ..self.limits.clone()
        }
        .deadline_ticks();
        self.store.set_epoch_deadline(ticks);
        let packed = match function.call(&mut self.store, ()) {
            Ok(packed) => packed,
            Err(error) => {
                tracing::debug!(transform = %self.compiled.name, error = %error, "trap message export failed");
                return None;
            }
        };
        let (pointer, length) = abi::unpack(packed);
        if length == 0 {
            return None;
        }
        let data = self.memory.data(&self.store);
        let (start, end) = abi::region(pointer, length.min(MAX_TRAP_MESSAGE_BYTES), data.len())?;
        let text = String::from_utf8_lossy(&data[start..end]);
        Some(abi::truncate_message(&text))
    }
}

fn missing_export(compiled: &CompiledInner, export: &str) -> Error {
    let name = &compiled.name;
    transform_error(
        name,
        None,
        format!("transform {name} instance has no usable export \"{export}\""),
    )
}
