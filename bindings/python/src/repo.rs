//! Repository operations for all twelve entities behind one Python class.
//!
//! Python classes cannot be generic, so a repository carries its entity as
//! a `Kind`, and `dispatch!` expands each operation into one arm per entity
//! type of the core.

use polystat::model::{Entity, Record};
use polystat::repo::Hooks;
use polystat::{ListOptions, Repository, Store};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde_json::Value;

use crate::operation::Operation;
use crate::records::{
    argument, batch_body_from_py, body_from_py, cached_to_py, parse_id, record_to_py, records_to_py,
};
use crate::store::NativeStore;

/// The entity of a repository, named as the store attribute is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Users,
    Catalogs,
    Controls,
    Scopes,
    Secrets,
    ServiceAccounts,
    Computations,
    GuaranteePoints,
    Mashups,
    Datasources,
    Linkers,
    Folders,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "users" => Kind::Users,
            "catalogs" => Kind::Catalogs,
            "controls" => Kind::Controls,
            "scopes" => Kind::Scopes,
            "secrets" => Kind::Secrets,
            "service_accounts" => Kind::ServiceAccounts,
            "computations" => Kind::Computations,
            "guarantee_points" => Kind::GuaranteePoints,
            "mashups" => Kind::Mashups,
            "datasources" => Kind::Datasources,
            "linkers" => Kind::Linkers,
            "folders" => Kind::Folders,
            _ => return None,
        })
    }
}

/// Runs `$body` with `$repo` bound to the typed repository of `$kind`.
macro_rules! dispatch {
    ($kind:expr, $store:expr, $repo:ident => $body:expr) => {
        match $kind {
            Kind::Users => {
                let $repo = $store.users();
                $body
            }
            Kind::Catalogs => {
                let $repo = $store.catalogs();
                $body
            }
            Kind::Controls => {
                let $repo = $store.controls();
                $body
            }
            Kind::Scopes => {
                let $repo = $store.scopes();
                $body
            }
            Kind::Secrets => {
                let $repo = $store.secrets();
                $body
            }
            Kind::ServiceAccounts => {
                let $repo = $store.service_accounts();
                $body
            }
            Kind::Computations => {
                let $repo = $store.computations();
                $body
            }
            Kind::GuaranteePoints => {
                let $repo = $store.guarantee_points();
                $body
            }
            Kind::Mashups => {
                let $repo = $store.mashups();
                $body
            }
            Kind::Datasources => {
                let $repo = $store.datasources();
                $body
            }
            Kind::Linkers => {
                let $repo = $store.linkers();
                $body
            }
            Kind::Folders => {
                let $repo = $store.folders();
                $body
            }
        }
    };
}

/// The repository of one entity in one store.
#[pyclass(module = "polystat._native", frozen)]
pub struct NativeRepository {
    pub(crate) store: Py<NativeStore>,
    pub(crate) kind: Kind,
}

impl NativeRepository {
    pub(crate) fn store(&self, py: Python<'_>) -> PyResult<Store> {
        self.store.get().handle(py)
    }
}

fn one<T: Entity>(py: Python<'_>, record: Record<T>) -> PyResult<Py<PyAny>> {
    record_to_py(py, &record)
}

fn many<T: Entity>(py: Python<'_>, records: Vec<Record<T>>) -> PyResult<Py<PyAny>> {
    Ok(records_to_py(py, &records)?.into_any().unbind())
}

fn optional<T: Entity>(py: Python<'_>, record: Option<Record<T>>) -> PyResult<Py<PyAny>> {
    match record {
        Some(record) => record_to_py(py, &record),
        None => Ok(py.None()),
    }
}

fn create<T: Hooks>(
    py: Python<'_>,
    repo: Repository<T>,
    data: &Bound<'_, PyAny>,
) -> PyResult<Operation> {
    let body: T = body_from_py(py, data)?;
    Ok(Operation::new(async move { repo.create(body).await }, one))
}

fn bulk_insert<T: Hooks>(
    py: Python<'_>,
    repo: Repository<T>,
    items: &Bound<'_, PyAny>,
) -> PyResult<Operation> {
    let bodies = items
        .try_iter()?
        .enumerate()
        .map(|(index, item)| batch_body_from_py::<T>(py, &item?, index))
        .collect::<PyResult<Vec<T>>>()?;
    Ok(Operation::new(
        async move { repo.bulk_insert(bodies).await },
        many,
    ))
}

fn update<T: Hooks>(
    py: Python<'_>,
    repo: Repository<T>,
    id: &Bound<'_, PyAny>,
    expected_version: i64,
    data: &Bound<'_, PyAny>,
) -> PyResult<Operation> {
    let id = parse_id(py, id)?;
    let body: T = body_from_py(py, data)?;
    Ok(Operation::new(
        async move { repo.update(id, expected_version, body).await },
        one,
    ))
}

fn list<T: Hooks>(repo: Repository<T>, options: ListOptions) -> Operation {
    Operation::new(async move { repo.list(&options).await }, |py, page| {
        let items = records_to_py(py, &page.items)?;
        let pair = PyTuple::new(py, [items.into_any(), page.next_cursor.into_pyobject(py)?])?;
        Ok(pair.into_any().unbind())
    })
}

/// Reads an optional filter or sort argument; `None` means none.
fn query(py: Python<'_>, field: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    match value {
        None => Ok(Value::Null),
        Some(value) => argument(py, field, value),
    }
}

#[pymethods]
impl NativeRepository {
    #[new]
    fn new(store: Py<NativeStore>, entity: &str) -> PyResult<NativeRepository> {
        let kind = Kind::parse(entity).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("unknown entity {entity:?}"))
        })?;
        Ok(NativeRepository { store, kind })
    }

    fn create(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store(py)?;
        dispatch!(self.kind, store, repo => create(py, repo, data))
    }

    fn bulk_insert(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store(py)?;
        dispatch!(self.kind, store, repo => bulk_insert(py, repo, items))
    }

    fn get(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store(py)?;
        let id = parse_id(py, id)?;
        dispatch!(self.kind, store, repo => Ok(Operation::new(async move { repo.get(id).await }, one)))
    }

    /// The record when this process's tier-1 cache holds it, else None,
    /// without releasing the GIL or waiting on the runtime: the fast path
    /// of `get` and `find`. Errors are left to the full read.
    fn cached(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let (Ok(store), Ok(id)) = (self.store(py), parse_id(py, id)) else {
            return Ok(None);
        };
        dispatch!(self.kind, store, repo => cached_to_py(py, &repo, id))
    }

    fn find(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store(py)?;
        let id = parse_id(py, id)?;
        dispatch!(self.kind, store, repo => Ok(Operation::new(async move { repo.find(id).await }, optional)))
    }

    fn update(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        expected_version: i64,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let store = self.store(py)?;
        dispatch!(self.kind, store, repo => update(py, repo, id, expected_version, data))
    }

    #[pyo3(signature = (id, expected_version=None))]
    fn delete(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        expected_version: Option<i64>,
    ) -> PyResult<Operation> {
        let store = self.store(py)?;
        let id = parse_id(py, id)?;
        dispatch!(self.kind, store, repo => Ok(Operation::new(
            async move { repo.delete(id, expected_version).await },
            |py, ()| Ok(py.None()),
        )))
    }

    /// Returns an operation whose result is `(items, next_cursor)`.
    #[pyo3(signature = (filter=None, sort=None, limit=None, cursor=None))]
    fn list(
        &self,
        py: Python<'_>,
        filter: Option<&Bound<'_, PyAny>>,
        sort: Option<&Bound<'_, PyAny>>,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> PyResult<Operation> {
        let store = self.store(py)?;
        let options = ListOptions {
            filter: query(py, "filter", filter)?,
            sort: query(py, "sort", sort)?,
            limit,
            cursor,
        };
        dispatch!(self.kind, store, repo => Ok(list(repo, options)))
    }

    /// Returns an operation whose result is the list of every matching
    /// record. Unsorted lists read through one server cursor.
    #[pyo3(signature = (filter=None, sort=None))]
    fn list_all(
        &self,
        py: Python<'_>,
        filter: Option<&Bound<'_, PyAny>>,
        sort: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Operation> {
        let store = self.store(py)?;
        let options = ListOptions {
            filter: query(py, "filter", filter)?,
            sort: query(py, "sort", sort)?,
            limit: None,
            cursor: None,
        };
        dispatch!(self.kind, store, repo => Ok(Operation::new(
            async move { repo.list_all(&options).await },
            |py, records| Ok(records_to_py(py, &records)?.into_any().unbind()),
        )))
    }

    #[pyo3(signature = (filter=None))]
    fn count(&self, py: Python<'_>, filter: Option<&Bound<'_, PyAny>>) -> PyResult<Operation> {
        let store = self.store(py)?;
        let filter = query(py, "filter", filter)?;
        dispatch!(self.kind, store, repo => Ok(Operation::new(
            async move { repo.count(&filter).await },
            |py, n| Ok(n.into_pyobject(py)?.into_any().unbind()),
        )))
    }

    #[pyo3(signature = (filter=None))]
    fn find_one(&self, py: Python<'_>, filter: Option<&Bound<'_, PyAny>>) -> PyResult<Operation> {
        let store = self.store(py)?;
        let filter = query(py, "filter", filter)?;
        dispatch!(self.kind, store, repo => Ok(Operation::new(
            async move { repo.find_one(filter).await },
            optional,
        )))
    }
}
