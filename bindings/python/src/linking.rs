//! Linkers, datasource tests, OSCAL import and job evaluation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use polystat::datasource::connection::ConnectionTest;
use polystat::job::{EvaluateOptions, TransformSet};
use polystat::link::LinkOutput;
use polystat::{Error, Store};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::convert;
use crate::operation::Operation;
use crate::records::{argument, parse_id};
use crate::store::NativeStore;

/// Compiles the transform modules named in `paths` with the store's engine
/// and default limits. Compiling is CPU work, so it runs on a blocking
/// thread.
async fn transform_set(
    store: &Store,
    paths: BTreeMap<String, PathBuf>,
) -> polystat::Result<TransformSet> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut set = TransformSet::new(store.config().transform_limits.clone());
        for (name, path) in &paths {
            set.load_file(store.transform_engine(), name, path)?;
        }
        Ok(set)
    })
    .await
    .map_err(|e| Error::validation("transforms", format!("compiling transforms failed: {e}")))?
}

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
                let set = transform_set(&store, transforms.unwrap_or_default()).await?;
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
                let set = transform_set(&store, transforms.unwrap_or_default()).await?;
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
                let set = transform_set(&store, transforms.unwrap_or_default()).await?;
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
