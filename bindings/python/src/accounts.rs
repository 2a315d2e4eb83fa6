//! Operations of single repositories: user passwords, secret values,
//! service account keys and datasource usage.

use polystat::model::{NewSecret, NewServiceAccount, NewUser};
use polystat::Store;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde::de::DeserializeOwned;

use crate::errors;
use crate::operation::Operation;
use crate::records::{argument, parse_id, record_to_py};
use crate::repo::{Kind, NativeRepository};

impl NativeRepository {
    /// Returns the store when this repository is of `kind`.
    fn store_of(&self, py: Python<'_>, kind: Kind, method: &str) -> PyResult<Store> {
        if self.kind != kind {
            return Err(PyTypeError::new_err(format!(
                "{method}() exists only on the {kind:?} repository"
            )));
        }
        self.store(py)
    }
}

/// Parses an input such as `NewUser` from a dict.
fn input<T: DeserializeOwned>(py: Python<'_>, field: &str, data: &Bound<'_, PyAny>) -> PyResult<T> {
    let value = argument(py, field, data)?;
    serde_json::from_value(value)
        .map_err(|e| errors::validation(py, field, format!("{e}; check the field names and types")))
}

#[pymethods]
impl NativeRepository {
    fn register(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Users, "register")?;
        let new: NewUser = input(py, "user", data)?;
        Ok(Operation::new(
            async move { store.users().register(new).await },
            |py, record| record_to_py(py, &record),
        ))
    }

    fn verify_password(
        &self,
        py: Python<'_>,
        username: String,
        password: String,
    ) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Users, "verify_password")?;
        Ok(Operation::new(
            async move { store.users().verify_password(&username, &password).await },
            |py, record| record_to_py(py, &record),
        ))
    }

    fn enable_two_factor(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        expected_version: i64,
        totp_secret: String,
    ) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Users, "enable_two_factor")?;
        let id = parse_id(py, id)?;
        Ok(Operation::new(
            async move {
                store
                    .users()
                    .enable_two_factor(id, expected_version, &totp_secret)
                    .await
            },
            |py, record| record_to_py(py, &record),
        ))
    }

    fn create_secret(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Secrets, "create_secret")?;
        let new: NewSecret = input(py, "secret", data)?;
        Ok(Operation::new(
            async move { store.secrets().create_secret(new).await },
            |py, record| record_to_py(py, &record),
        ))
    }

    fn reveal(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Secrets, "reveal")?;
        let id = parse_id(py, id)?;
        Ok(Operation::new(
            async move { store.secrets().reveal(id).await },
            |py, value| Ok(value.into_pyobject(py)?.into_any().unbind()),
        ))
    }

    fn rotate(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        expected_version: i64,
        value: String,
    ) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Secrets, "rotate")?;
        let id = parse_id(py, id)?;
        Ok(Operation::new(
            async move { store.secrets().rotate(id, expected_version, &value).await },
            |py, record| record_to_py(py, &record),
        ))
    }

    /// Returns an operation whose result is `(record, api_key)`.
    fn create_account(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::ServiceAccounts, "create_account")?;
        let new: NewServiceAccount = input(py, "service_account", data)?;
        Ok(Operation::new(
            async move { store.service_accounts().create_account(new).await },
            |py, (record, key)| {
                let record = record_to_py(py, &record)?;
                let key = key.into_pyobject(py)?.into_any().unbind();
                Ok(PyTuple::new(py, [record, key])?.into_any().unbind())
            },
        ))
    }

    fn authenticate(&self, py: Python<'_>, api_key: String) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::ServiceAccounts, "authenticate")?;
        Ok(Operation::new(
            async move { store.service_accounts().authenticate(&api_key).await },
            |py, record| record_to_py(py, &record),
        ))
    }

    /// Returns an operation whose result is `{"linkers": [...], "mashups": [...]}`.
    fn usage(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let store = self.store_of(py, Kind::Datasources, "usage")?;
        let id = parse_id(py, id)?;
        Ok(Operation::new(
            async move { store.datasources().usage(id).await },
            |py, usage| {
                let dict = PyDict::new(py);
                let ids =
                    |list: &[uuid::Uuid]| list.iter().map(|i| i.to_string()).collect::<Vec<_>>();
                dict.set_item("linkers", ids(&usage.linkers))?;
                dict.set_item("mashups", ids(&usage.mashups))?;
                Ok(dict.into_any().unbind())
            },
        ))
    }
}
