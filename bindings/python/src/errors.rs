//! Conversion of `polystat::Error` into the exception classes of
//! `polystat._errors`, one class per error kind.

use std::error::Error as _;

use polystat::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// Exception classes by error code, read once from `polystat._errors`.
static CLASSES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn class_for<'py>(py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyAny>> {
    let classes = CLASSES.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let module = py.import("polystat._errors")?;
        let classes = module.getattr("CLASSES_BY_CODE")?.cast_into::<PyDict>()?;
        Ok(classes.unbind())
    })?;
    classes
        .bind(py)
        .get_item(code)?
        .ok_or_else(|| PyRuntimeError::new_err(format!("no exception class for code {code}")))
}

/// Builds the Python exception for `error`: the class of its kind, with
/// `code`, kind-specific attributes and the source chain as `cause`.
pub fn to_py(py: Python<'_>, error: Error) -> PyErr {
    match build(py, &error) {
        Ok(err) => err,
        Err(failure) => failure,
    }
}

fn build(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let class = class_for(py, error.code())?;
    let instance = class.call1((error.to_string(),))?;
    set_attributes(&instance, error)?;
    let chain = source_chain(error);
    instance.setattr("cause", chain.clone())?;
    let err = PyErr::from_value(instance);
    if let Some(text) = chain {
        // The Rust source becomes `__cause__`, so tracebacks show it the way
        // Python shows `raise ... from ...`.
        err.set_cause(py, Some(PyRuntimeError::new_err(text)));
    }
    Ok(err)
}

fn set_attributes(instance: &Bound<'_, PyAny>, error: &Error) -> PyResult<()> {
    match error {
        Error::NotFound { entity, id } => {
            instance.setattr("entity", *entity)?;
            instance.setattr("id", id)?;
        }
        Error::Conflict { entity, id, reason } | Error::Reference { entity, id, reason } => {
            instance.setattr("entity", *entity)?;
            instance.setattr("id", id)?;
            instance.setattr("reason", reason)?;
        }
        Error::Validation { field, reason } => {
            instance.setattr("field", field)?;
            instance.setattr("reason", reason)?;
        }
        Error::Unavailable {
            backend, reason, ..
        } => {
            instance.setattr("backend", backend)?;
            instance.setattr("reason", reason)?;
        }
        Error::Timeout { operation, after } => {
            instance.setattr("operation", operation)?;
            instance.setattr("after", after.as_secs_f64())?;
        }
        Error::Transform {
            module,
            limit,
            reason,
        } => {
            instance.setattr("module", module)?;
            instance.setattr("limit", limit.map(|l| l.to_string()))?;
            instance.setattr("reason", reason)?;
        }
        Error::Unauthorized { reason } | Error::Configuration { reason } => {
            instance.setattr("reason", reason)?;
        }
        Error::RateLimited { retry_after } => {
            instance.setattr("retry_after", retry_after.as_secs_f64())?;
        }
    }
    Ok(())
}

/// Joins the messages of the error's sources, or `None` when it has none.
fn source_chain(error: &Error) -> Option<String> {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// Builds a `polystat` error in Python from a binding-level condition such
/// as a closed store, with the class of `error`'s kind.
pub fn configuration(py: Python<'_>, reason: impl Into<String>) -> PyErr {
    to_py(py, Error::configuration(reason))
}

/// Builds a validation error for an argument the binding cannot convert.
pub fn validation(py: Python<'_>, field: &str, reason: impl Into<String>) -> PyErr {
    to_py(py, Error::validation(field, reason))
}
