//! Per-call resource limits and the store state that enforces the memory cap.

use std::time::Duration;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Interval at which the engine's ticker thread advances the epoch. A deadline is
/// enforced to within about one interval.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Maximum wasm stack of one call, in bytes. Wasm runs on the calling thread's
/// native stack, so this must stay well below the 2 MiB that Rust gives spawned
/// threads (tokio's blocking pool included).
pub(crate) const MAX_WASM_STACK_BYTES: usize = 512 * 1024;

/// Maximum number of elements in one table. Each element takes a pointer's worth
/// of host memory, so 100 000 elements cost at most 800 KB per table.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Maximum number of tables in one instance. The reference-types proposal allows
/// several, and modules built by rustc use one.
pub(crate) const MAX_TABLES: usize = 16;

/// Largest memory cap a call may have, in bytes. Every slot of the instance
/// pool reserves address space for this much memory.
pub const MAX_MEMORY_BYTES: usize = 1024 * 1024 * 1024;

/// Caps that one [`CompiledTransform::call`](super::CompiledTransform::call)
/// runs under. Hitting any of them ends the call with
/// [`Error::Transform`](crate::error::Error::Transform) and the matching
/// [`TransformLimit`](crate::error::TransformLimit).
#[derive(Clone, Debug)]
pub struct TransformLimits {
    /// Instruction budget for the whole call, instantiation included. Wasmtime 48
    /// charges one unit for most wasm instructions and nothing for a few
    /// structural ones such as `nop`, `drop`, `block`, `loop` and `end`.
    pub fuel: u64,
    /// Wall-clock limit for running the module's code, enforced to within
    /// about 10 ms. Time spent by the host encoding the input and parsing the
    /// output is not counted.
    pub deadline: Duration,
    /// Cap on the size of the module's linear memory, in bytes. The encoded
    /// input must fit in it as well.
    pub memory_bytes: usize,
    /// Cap on the size of the JSON the module returns, in bytes.
    pub output_bytes: usize,
}

impl Default for TransformLimits {
    /// Returns caps sized for batches of a few thousand records: 10^9 fuel
    /// units, a 5 s deadline, 64 MiB of memory and 16 MiB of output.
    fn default() -> Self {
        TransformLimits {
            fuel: 1_000_000_000,
            deadline: Duration::from_secs(5),
            memory_bytes: 64 * 1024 * 1024,
            output_bytes: 16 * 1024 * 1024,
        }
    }
}

impl TransformLimits {
    /// Converts the deadline into epoch ticks for `Store::set_epoch_deadline`.
    ///
    /// The ticker may advance the epoch right after the deadline is set, so one
    /// tick is added to make sure the module gets at least `deadline`.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        let ticks = self.deadline.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }
}

/// A growth request that the limiter turned into a trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeniedGrowth {
    /// A linear memory asked for `desired` bytes, past the memory cap.
    Memory { desired: usize },
    /// A table asked for `desired` elements, past [`MAX_TABLE_ELEMENTS`].
    Table { desired: usize },
    /// The operating system could not provide memory that the caps allowed.
    HostAllocation,
}

/// Data of each store: the resource limiter and what it denied.
pub(crate) struct HostState {
    limits: StoreLimits,
    memory_cap: usize,
    denied: Option<DeniedGrowth>,
}

impl HostState {
    pub(crate) fn new(memory_cap: usize) -> Self {
        let limits = StoreLimitsBuilder::new()
            .memory_size(memory_cap)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .memories(1)
            .tables(MAX_TABLES)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            limits,
            memory_cap,
            denied: None,
        }
    }

    /// Returns the growth request that trapped, if any.
    pub(crate) fn denied(&self) -> Option<DeniedGrowth> {
        self.denied
    }

    pub(crate) fn memory_cap(&self) -> usize {
        self.memory_cap
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Growing past the module's own declared maximum is ordinary wasm
        // behaviour (`memory.grow` returns -1), not a host limit, so it does
        // not trap. `StoreLimits` would trap on it under trap_on_grow_failure.
        if desired <= self.memory_cap && maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let verdict = self.limits.memory_growing(current, desired, maximum);
        if verdict.is_err() {
            self.denied = Some(DeniedGrowth::Memory { desired });
        }
        verdict
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.denied = Some(DeniedGrowth::HostAllocation);
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired <= MAX_TABLE_ELEMENTS && maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let verdict = self.limits.table_growing(current, desired, maximum);
        if verdict.is_err() {
            self.denied = Some(DeniedGrowth::Table { desired });
        }
        verdict
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.denied = Some(DeniedGrowth::HostAllocation);
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
