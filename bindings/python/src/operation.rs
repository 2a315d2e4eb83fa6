//! A pending store operation that Python either waits for (the synchronous
//! API, with the GIL released) or awaits (the asyncio API).
//!
//! Every native method checks and converts its arguments while it holds the
//! GIL and returns an `Operation` holding a Rust future that has not started.
//! The output is converted back to Python objects only once the GIL is held
//! again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tokio::task::AbortHandle;

use crate::{errors, runtime};

/// Turns the Rust output of an operation into a Python object.
pub type Output = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;
type Pending = Pin<Box<dyn Future<Output = polystat::Result<Output>> + Send>>;

/// An operation that has not run yet. Run it once with `wait()` or
/// `awaitable()`.
#[pyclass(module = "polystat._native", frozen)]
pub struct Operation {
    future: Mutex<Option<Pending>>,
}

impl Operation {
    /// Wraps a future whose output `convert` turns into a Python object.
    pub fn new<T, F, C>(future: F, convert: C) -> Operation
    where
        T: Send + 'static,
        F: Future<Output = polystat::Result<T>> + Send + 'static,
        C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        let pending = async move {
            let value = future.await?;
            let output: Output = Box::new(move |py| convert(py, value));
            Ok(output)
        };
        Operation {
            future: Mutex::new(Some(Box::pin(pending))),
        }
    }

    fn take(&self) -> PyResult<Pending> {
        self.future
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this operation has already run"))
    }
}

#[pymethods]
impl Operation {
    /// Runs the operation to completion on the module's runtime, with the GIL
    /// released, and returns its result.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let future = self.take()?;
        let runtime = runtime::get()?;
        match py.detach(|| runtime.block_on(future)) {
            Ok(output) => output(py),
            Err(error) => Err(errors::to_py(py, error)),
        }
    }

    /// Starts the operation on the module's runtime and returns an asyncio
    /// future of the running event loop that completes with its result.
    /// Cancelling the asyncio future aborts the operation.
    fn awaitable(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let future = self.take()?;
        let runtime = runtime::get()?;
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let result = event_loop.call_method0("create_future")?;
        let event_loop = event_loop.unbind();
        let target = result.clone().unbind();
        let task = runtime.spawn(async move {
            let outcome = future.await;
            Python::attach(|py| settle(py, event_loop, target, outcome));
        });
        let canceller = Canceller {
            handle: task.abort_handle(),
        };
        result.call_method1("add_done_callback", (canceller,))?;
        Ok(result.unbind())
    }
}

/// Hands the outcome to the event loop thread, which sets it on the future
/// unless the future was cancelled meanwhile.
fn settle(
    py: Python<'_>,
    event_loop: Py<PyAny>,
    target: Py<PyAny>,
    outcome: polystat::Result<Output>,
) {
    let (ok, value) = match outcome.map(|output| output(py)) {
        Ok(Ok(value)) => (true, value),
        Ok(Err(err)) => (false, err.into_value(py).into_any()),
        Err(error) => (false, errors::to_py(py, error).into_value(py).into_any()),
    };
    let delivered = settle_function(py).and_then(|function| {
        event_loop.call_method1(py, "call_soon_threadsafe", (function, target, ok, value))
    });
    // The loop is closed when its program ended without awaiting this
    // operation; no caller is left to receive the result.
    if let Err(err) = delivered {
        err.print(py);
    }
}

static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn settle_function(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    SETTLE.get_or_try_init(py, || {
        Ok(py
            .import("polystat._bridge")?
            .getattr("settle_future")?
            .unbind())
    })
}

/// Done-callback of an asyncio future that aborts the Rust task when the
/// future was cancelled.
#[pyclass(module = "polystat._native", frozen)]
struct Canceller {
    handle: AbortHandle,
}

#[pymethods]
impl Canceller {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}
