//! Records and entity bodies between Python dicts and the typed core.

use polystat::model::{Entity, Record, StoreKind};
use polystat::repo::Hooks;
use polystat::Repository;
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::Value;
use uuid::Uuid;

use crate::{convert, errors};

/// Paths of the fields that hold instants in the JSON of a record of `T`,
/// metadata included. Their strings become aware datetimes in Python.
pub fn instants<T: Entity>() -> &'static [&'static str] {
    match T::SPEC.name {
        "catalogs" | "controls" => &["created_at", "updated_at", "start_date", "end_date"],
        "secrets" => &["created_at", "updated_at", "rotated_at"],
        "service_accounts" => &["created_at", "updated_at", "expires_at"],
        "computations" => &[
            "createdAt",
            "updatedAt",
            "period.from",
            "period.to",
            "evidences[].from",
            "evidences[].to",
        ],
        "guarantee_points" => &["createdAt", "updatedAt", "timestamp"],
        "datasources" => &["createdAt", "updatedAt", "lastTestedAt"],
        "linkers" => &["createdAt", "updatedAt", "lastRunAt"],
        _ => match T::SPEC.kind {
            StoreKind::Relational => &["created_at", "updated_at"],
            StoreKind::Document => &["createdAt", "updatedAt"],
        },
    }
}

/// Converts a record into a dict: id, version, timestamps, then its fields.
pub fn record_to_py<T: Entity>(py: Python<'_>, record: &Record<T>) -> PyResult<Py<PyAny>> {
    Ok(convert::to_py(py, &record.to_json(), instants::<T>())?.unbind())
}

/// Converts the record of `id` into a dict when this process's tier-1 cache
/// contains it. The first hit on a cache entry converts the record and keeps
/// the dict with the entry. Later hits return a copy of it, which costs a
/// fraction of a conversion. A write drops the entry and the dict.
pub fn cached_to_py<T: Hooks>(
    py: Python<'_>,
    repo: &Repository<T>,
    id: Uuid,
) -> PyResult<Option<Py<PyAny>>> {
    let view = repo.cached_view(id, |record| {
        // A failed conversion keeps nothing: the full read reports it.
        convert::to_py(py, &record.to_json(), instants::<T>())
            .ok()
            .map(Bound::unbind)
    });
    view.map(|dict| Ok(convert::fresh_copy(dict.bind(py))?.unbind()))
        .transpose()
}

/// Converts records into a list of dicts.
pub fn records_to_py<'py, T: Entity>(
    py: Python<'py>,
    records: &[Record<T>],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    let paths = instants::<T>();
    for record in records {
        list.append(convert::to_py(py, &record.to_json(), paths)?)?;
    }
    Ok(list)
}

/// Parses an entity body from a Python dict. The metadata fields of a record
/// (id, version, timestamps) are dropped, so a dict read from the store can
/// be changed and passed back to `update`.
pub fn body_from_py<T: Entity>(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<T> {
    parse_body(py, data).map_err(|e| errors::to_py(py, e))
}

/// Parses the body at position `index` of a batch as [`body_from_py`] does,
/// naming the position in a validation error.
pub fn batch_body_from_py<T: Entity>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    index: usize,
) -> PyResult<T> {
    parse_body(py, data).map_err(|e| errors::to_py(py, e.at_item(index)))
}

fn parse_body<T: Entity>(py: Python<'_>, data: &Bound<'_, PyAny>) -> polystat::Result<T> {
    let value = argument_json(py, T::SPEC.entity, data)?;
    polystat::model::body_from_json(value, T::SPEC.entity)
}

/// Converts an argument to JSON, reporting a type that has no JSON form as a
/// validation error on `field`.
pub fn argument(py: Python<'_>, field: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    argument_json(py, field, value).map_err(|e| errors::to_py(py, e))
}

fn argument_json(py: Python<'_>, field: &str, value: &Bound<'_, PyAny>) -> polystat::Result<Value> {
    convert::to_json(value).map_err(|e| polystat::Error::validation(field, e.value(py).to_string()))
}

/// Parses a record id given as str or UUID.
pub fn parse_id(py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Uuid> {
    let text = id.str()?;
    let text = text.to_str()?;
    Uuid::parse_str(text).map_err(|e| {
        errors::validation(
            py,
            "id",
            format!("{text:?} is not a UUID ({e}); pass the id of a record"),
        )
    })
}
