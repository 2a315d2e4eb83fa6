//! Linkers, datasource tests, OSCAL import and job evaluation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use polystat::datasource::connection::ConnectionTest;
use polystat::job::{ControlInput, EvaluateOptions};
use polystat::link::LinkOutput;
use polystat::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::operation::Operation;
use crate::records::{argument, parse_id};
use crate::store::NativeStore;
use crate::{convert, errors};

/// Converts any serializable report into Python values.
fn serialized<T: Serialize>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
    let json = serde_json::to_value(&value).unwrap_or(Value::Null);
    Ok(convert::plain_to_py(py, &json)?.unbind())
}

fn link_output(py: Python<'_>, output: LinkOutput) -> PyResult<Py<PyAny>> {
    serialized(py, output)
}

fn connection_test(py: Python<'_>, test: ConnectionTest) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item(
        "status",
        serde_json::to_value(test.status)
            .unwrap_or(Value::Null)
            .as_str(),
    )?;
    dict.set_item("message", test.message)?;
    dict.set_item("code", test.code)?;
    dict.set_item("tested_at", test.tested_at)?;
    dict.set_item("elapsed", test.elapsed.as_secs_f64())?;
    Ok(dict.into_any().unbind())
}

type Transforms = Option<BTreeMap<String, PathBuf>>;

#[pymethods]
impl NativeStore {
    /// Returns an operation that runs a stored linker and records its
    /// execution status.
    #[pyo3(signature = (linker_id, transforms=None))]
    fn run_linker(
        &self,
        py: Python<'_>,
        linker_id: &Bound<'_, PyAny>,
        transforms: Transforms,
    ) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let id = parse_id(py, linker_id)?;
        Ok(Operation::new(
            async move {
                let set = store
                    .load_transforms(transforms.unwrap_or_default())
                    .await?;
                store.run_linker(id, &set).await
            },
            link_output,
        ))
    }

    /// Returns an operation that runs a linker on a sample and writes nothing.
    #[pyo3(signature = (linker_id, transforms=None, sample_size=None))]
    fn test_linker(
        &self,
        py: Python<'_>,
        linker_id: &Bound<'_, PyAny>,
        transforms: Transforms,
        sample_size: Option<usize>,
    ) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let id = parse_id(py, linker_id)?;
        Ok(Operation::new(
            async move {
                let set = store
                    .load_transforms(transforms.unwrap_or_default())
                    .await?;
                store.test_linker(id, &set, sample_size).await
            },
            link_output,
        ))
    }

    /// Returns an operation that reads a linker's output through the cache.
    #[pyo3(signature = (linker_id, transforms=None, sample_size=None))]
    fn linker_result(
        &self,
        py: Python<'_>,
        linker_id: &Bound<'_, PyAny>,
        transforms: Transforms,
        sample_size: Option<usize>,
    ) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let id = parse_id(py, linker_id)?;
        Ok(Operation::new(
            async move {
                let set = store
                    .load_transforms(transforms.unwrap_or_default())
                    .await?;
                store.linker_result(id, &set, sample_size).await
            },
            link_output,
        ))
    }

    /// Returns an operation that tests a stored datasource's connection.
    fn test_datasource(
        &self,
        py: Python<'_>,
        datasource_id: &Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let id: Uuid = parse_id(py, datasource_id)?;
        Ok(Operation::new(
            async move { store.test_datasource(id).await },
            connection_test,
        ))
    }

    /// Returns an operation that imports an OSCAL catalog, given as a path
    /// or as the parsed JSON document.
    fn import_oscal(&self, py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let document = if source.is_instance_of::<PyDict>() {
            Some(argument(py, "catalog", source)?)
        } else {
            None
        };
        let path: Option<PathBuf> = match document {
            Some(_) => None,
            None => Some(source.extract()?),
        };
        Ok(Operation::new(
            async move {
                let catalog = match (document, path) {
                    (Some(document), _) => polystat::oscal::parse_catalog(&document)?,
                    (None, Some(path)) => polystat::oscal::read_catalog(&path)?,
                    (None, None) => return Err(Error::validation("catalog", "missing")),
                };
                store.import_oscal(&catalog).await
            },
            serialized,
        ))
    }

    /// Returns an operation that evaluates one control over linked records
    /// and returns the computation, not stored.
    #[pyo3(signature = (control_id, records, transforms, transform, period, params=None, scope=None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate_control(
        &self,
        py: Python<'_>,
        control_id: &Bound<'_, PyAny>,
        records: &Bound<'_, PyAny>,
        transforms: BTreeMap<String, PathBuf>,
        transform: String,
        period: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        scope: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let mut input = serde_json::Map::new();
        input.insert(
            "controlId".into(),
            Value::String(parse_id(py, control_id)?.to_string()),
        );
        input.insert("records".into(), argument(py, "records", records)?);
        input.insert("transform".into(), Value::String(transform));
        input.insert("period".into(), argument(py, "period", period)?);
        if let Some(params) = params {
            input.insert("params".into(), argument(py, "params", params)?);
        }
        if let Some(scope) = scope {
            input.insert("scope".into(), argument(py, "scope", scope)?);
        }
        let input: ControlInput = serde_json::from_value(Value::Object(input)).map_err(|e| {
            errors::validation(py, "input", format!("{e}; check the field names and types"))
        })?;
        Ok(Operation::new(
            async move {
                let set = store.load_transforms(transforms).await?;
                store.evaluate_control(input, &set).await
            },
            serialized,
        ))
    }

    /// Returns an operation that evaluates a job file, as `polystat evaluate`
    /// does.
    #[pyo3(signature = (job_path, data_dir=None))]
    fn evaluate_job(
        &self,
        py: Python<'_>,
        job_path: PathBuf,
        data_dir: Option<PathBuf>,
    ) -> PyResult<Operation> {
        let store = self.handle(py)?;
        let options = EvaluateOptions { job_path, data_dir };
        Ok(Operation::new(
            async move { store.evaluate_job(&options).await },
            serialized,
        ))
    }
}
