//! The transform registry: versioned WebAssembly modules by name.

use polystat::model::LimitOverrides;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde::Serialize;
use serde_json::Value;

use crate::convert::plain_to_py;
use crate::errors;
use crate::operation::Operation;
use crate::records::argument;
use crate::store::NativeStore;

fn serialized<T: Serialize>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
    let json = serde_json::to_value(&value).unwrap_or(Value::Null);
    Ok(plain_to_py(py, &json)?.unbind())
}

#[pymethods]
impl NativeStore {
    /// Returns an operation that validates and stores a module.
    #[pyo3(signature = (name, wasm, limits=None))]
    fn transform_upload(
        &self,
        py: Python<'_>,
        name: String,
        wasm: Vec<u8>,
        limits: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        let limits: LimitOverrides = match limits {
            None => LimitOverrides::default(),
            Some(limits) => {
                serde_json::from_value(argument(py, "limits", limits)?).map_err(|e| {
                    errors::validation(
                        py,
                        "limits",
                        format!(
                            "{e}; the limits are fuel, deadlineMs, memoryBytes and outputBytes"
                        ),
                    )
                })?
            }
        };
        Ok(Operation::new(
            async move { registry.upload_with_limits(&name, &wasm, limits).await },
            serialized,
        ))
    }

    fn transform_list(&self, py: Python<'_>) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        Ok(Operation::new(
            async move { registry.list().await },
            serialized,
        ))
    }

    fn transform_versions(&self, py: Python<'_>, name: String) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        Ok(Operation::new(
            async move { registry.versions(&name).await },
            serialized,
        ))
    }

    /// Returns an operation whose result is `{"info": ..., "wasm": bytes}`.
    #[pyo3(signature = (name, version=None))]
    fn transform_get(
        &self,
        py: Python<'_>,
        name: String,
        version: Option<i64>,
    ) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        Ok(Operation::new(
            async move { registry.get(&name, version).await },
            |py, stored| {
                let dict = PyDict::new(py);
                dict.set_item("info", serialized(py, stored.info)?)?;
                dict.set_item("wasm", PyBytes::new(py, &stored.wasm))?;
                Ok(dict.into_any().unbind())
            },
        ))
    }

    #[pyo3(signature = (name, version=None))]
    fn transform_delete(
        &self,
        py: Python<'_>,
        name: String,
        version: Option<i64>,
    ) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        Ok(Operation::new(
            async move { registry.delete(&name, version).await },
            serialized,
        ))
    }

    #[pyo3(signature = (name, version=None))]
    fn transform_usage(
        &self,
        py: Python<'_>,
        name: String,
        version: Option<i64>,
    ) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        Ok(Operation::new(
            async move { registry.usage(&name, version).await },
            serialized,
        ))
    }

    #[pyo3(signature = (name, records, params=None, version=None))]
    fn transform_call(
        &self,
        py: Python<'_>,
        name: String,
        records: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        version: Option<i64>,
    ) -> PyResult<Operation> {
        let registry = self.handle(py)?.transforms();
        let Value::Array(records) = argument(py, "records", records)? else {
            return Err(errors::validation(
                py,
                "records",
                "must be a list of records",
            ));
        };
        let params = match params {
            None => Value::Null,
            Some(params) => argument(py, "params", params)?,
        };
        Ok(Operation::new(
            async move { registry.call(&name, version, records, params).await },
            serialized,
        ))
    }
}
