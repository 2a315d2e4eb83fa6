//! Turns what stopped a call (a trap, a denied growth, a host error) into
//! [`Error::Transform`] with the limit that was hit and its value.

use wasmtime::{Trap, WasmBacktrace};

use super::limits::MAX_WASM_STACK_BYTES;
use super::limits::{DeniedGrowth, HostState, TransformLimits, MAX_TABLE_ELEMENTS};
use crate::error::{Error, TransformLimit};

/// Cause of a failed call, before it becomes an [`Error`].
pub(crate) struct Failure {
    pub(crate) limit: Option<TransformLimit>,
    pub(crate) reason: String,
    /// The module trapped on its own (for example `unreachable` after a Rust
    /// panic), so its optional trap-message export may explain why.
    pub(crate) guest_trap: bool,
}

impl Failure {
    pub(crate) fn new(limit: Option<TransformLimit>, reason: String) -> Self {
        Failure {
            limit,
            reason,
            guest_trap: false,
        }
    }

    pub(crate) fn into_error(self, module: &str) -> Error {
        transform_error(module, self.limit, self.reason)
    }
}

pub(crate) fn transform_error(
    module: &str,
    limit: Option<TransformLimit>,
    reason: impl Into<String>,
) -> Error {
    Error::Transform {
        module: module.to_string(),
        limit,
        reason: reason.into(),
    }
}

/// Classifies an error raised while instantiating or running module `name`.
///
/// A growth that the limiter denied is checked first, because wasmtime reports
/// it as a plain error rather than a [`Trap`].
pub(crate) fn classify(
    name: &str,
    error: &wasmtime::Error,
    state: &HostState,
    limits: &TransformLimits,
) -> Failure {
    if let Some(denied) = state.denied() {
        return denied_growth(name, denied, state.memory_cap(), error);
    }
    let Some(trap) = error.downcast_ref::<Trap>() else {
        return Failure::new(None, format!("transform {name} failed: {error:#}"));
    };
    match trap {
        Trap::OutOfFuel => Failure::new(
            Some(TransformLimit::Fuel),
            format!(
                "transform {name} exhausted its fuel budget of {} instructions",
                limits.fuel
            ),
        ),
        Trap::Interrupt => Failure::new(
            Some(TransformLimit::Deadline),
            format!(
                "transform {name} ran past its deadline of {:?}",
                limits.deadline
            ),
        ),
        Trap::StackOverflow => Failure::new(
            None,
            format!(
                "transform {name} overflowed its call stack (maximum {MAX_WASM_STACK_BYTES} \
                 bytes), usually because of unbounded recursion"
            ),
        ),
        other => Failure {
            limit: None,
            reason: format!("transform {name} trapped{}: {other}", trap_location(error)),
            guest_trap: true,
        },
    }
}

fn denied_growth(
    name: &str,
    denied: DeniedGrowth,
    memory_cap: usize,
    error: &wasmtime::Error,
) -> Failure {
    let reason = match denied {
        DeniedGrowth::Memory { desired } => format!(
            "transform {name} tried to grow its memory to {desired} bytes, past the cap of \
             {memory_cap} bytes"
        ),
        DeniedGrowth::Table { desired } => format!(
            "transform {name} tried to grow a table to {desired} elements, past the cap of \
             {MAX_TABLE_ELEMENTS} elements"
        ),
        DeniedGrowth::HostAllocation => format!(
            "transform {name} could not grow its memory within the cap of {memory_cap} bytes \
             because the host is out of memory: {error:#}"
        ),
    };
    Failure::new(Some(TransformLimit::Memory), reason)
}

/// Names the function that trapped, from the wasm backtrace that wasmtime
/// attaches to traps, as " in function NAME" (or the function index when the
/// module carries no name section).
fn trap_location(error: &wasmtime::Error) -> String {
    let Some(frame) = error
        .downcast_ref::<WasmBacktrace>()
        .and_then(|backtrace| backtrace.frames().first())
    else {
        return String::new();
    };
    match frame.func_name() {
        Some(function) => format!(" in function {function}"),
        None => format!(" in function #{}", frame.func_index()),
    }
}
