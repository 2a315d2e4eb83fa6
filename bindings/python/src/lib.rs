//! Native part of the `polystat` Python package. The public API lives in the
//! Python modules `polystat` and `polystat.aio`, which wrap these classes.

mod accounts;
mod convert;
mod errors;
mod linking;
mod operation;
mod records;
mod registry;
mod repo;
mod runtime;
mod state;
mod store;

use pyo3::prelude::*;

/// Allocator for the Rust side only; Python's own objects keep CPython's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<operation::Operation>()?;
    module.add_class::<store::NativeStore>()?;
    module.add_class::<repo::NativeRepository>()?;
    module.add_class::<state::NativeState>()?;
    module.add_class::<state::NativeSubscription>()?;
    Ok(())
}
