//! The native store handle: opening, closing, cache counters, and the guard
//! that keeps a store from running in a process forked after it was opened.

use std::path::PathBuf;
use std::sync::Mutex;

use polystat::cache::{CacheStats, TierStats};
use polystat::{Store, StoreConfig};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::operation::Operation;
use crate::{errors, runtime};

/// An open store, owned by the process that opened it.
#[pyclass(module = "polystat._native", frozen)]
pub struct NativeStore {
    store: Mutex<Option<Store>>,
    pid: u32,
}

impl NativeStore {
    /// Returns a handle on the store for one operation, or the error to
    /// raise when the store is closed or was opened before a fork.
    pub fn handle(&self, py: Python<'_>) -> PyResult<Store> {
        let pid = std::process::id();
        if pid != self.pid {
            return Err(errors::configuration(
                py,
                format!(
                    "this store was opened in process {} and cannot be used after os.fork(); open a new store in the child process (pid {pid})",
                    self.pid
                ),
            ));
        }
        self.lock()
            .clone()
            .ok_or_else(|| errors::configuration(py, "the store is closed; open it again"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Store>> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for NativeStore {
    fn drop(&mut self) {
        let Some(store) = self.lock().take() else {
            return;
        };
        if std::process::id() != self.pid {
            // Pools and tasks of the store belong to the parent's runtime,
            // whose threads do not exist in this process.
            std::mem::forget(store);
            return;
        }
        // Some pool internals need a runtime context when they drop.
        match runtime::get() {
            Ok(runtime) => {
                let _context = runtime.enter();
                drop(store);
            }
            Err(_) => std::mem::forget(store),
        }
    }
}

/// Builds the configuration: environment variables and defaults first, then
/// the arguments that were given.
fn config(
    py: Python<'_>,
    relational_url: Option<String>,
    documents_url: Option<String>,
    cache_url: Option<String>,
    master_key: Option<String>,
    data_root: Option<PathBuf>,
) -> PyResult<StoreConfig> {
    let mut config = StoreConfig::from_env().map_err(|e| errors::to_py(py, e))?;
    if let Some(url) = relational_url {
        config.relational_url = url;
    }
    if let Some(url) = documents_url {
        config.documents_url = url;
    }
    if let Some(url) = cache_url {
        config.cache_url = url;
    }
    if let Some(key) = master_key {
        config = config
            .with_master_key(&key)
            .map_err(|e| errors::to_py(py, e))?;
    }
    if let Some(root) = data_root {
        config = config.with_data_root(root);
    }
    Ok(config)
}

#[pymethods]
impl NativeStore {
    /// Returns an operation that opens a store and applies migrations.
    #[staticmethod]
    #[pyo3(signature = (relational_url=None, documents_url=None, cache_url=None, master_key=None, data_root=None))]
    fn open(
        py: Python<'_>,
        relational_url: Option<String>,
        documents_url: Option<String>,
        cache_url: Option<String>,
        master_key: Option<String>,
        data_root: Option<PathBuf>,
    ) -> PyResult<Operation> {
        let config = config(
            py,
            relational_url,
            documents_url,
            cache_url,
            master_key,
            data_root,
        )?;
        Ok(Operation::new(Store::open_detached(config), |py, store| {
            let native = NativeStore {
                store: Mutex::new(Some(store)),
                pid: std::process::id(),
            };
            Ok(Py::new(py, native)?.into_any())
        }))
    }

    /// Returns an operation that closes the pools; later calls fail.
    fn close(&self, py: Python<'_>) -> PyResult<Operation> {
        let store = self.handle(py)?;
        self.lock().take();
        Ok(Operation::new(
            async move {
                store.close().await;
                Ok(())
            },
            |py, ()| Ok(py.None()),
        ))
    }

    /// Subscribes to change events of the named repositories (all when
    /// None); the messages are the events as dicts.
    #[pyo3(signature = (entities=None))]
    fn changes(
        &self,
        py: Python<'_>,
        entities: Option<Vec<String>>,
    ) -> PyResult<crate::state::NativeSubscription> {
        let store = self.handle(py)?;
        let names: Option<Vec<&str>> = entities
            .as_ref()
            .map(|list| list.iter().map(String::as_str).collect());
        // The receiver exists from here on, so no later write is missed.
        let changes = store
            .changes(names.as_deref())
            .map_err(|e| errors::to_py(py, e))?;
        Ok(crate::state::NativeSubscription::new(
            changes.into_subscription(),
        ))
    }

    /// True once `close()` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }

    /// Counters of both cache tiers, as a dict.
    fn cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.handle(py)?.cache_stats();
        stats_to_py(py, &stats)
    }

    /// Redacted description of the backends, for logs and reprs.
    fn describe(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("{:?}", self.handle(py)?))
    }
}

fn stats_to_py<'py>(py: Python<'py>, stats: &CacheStats) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("tier1", tier_to_py(py, &stats.tier1)?)?;
    dict.set_item("tier2", tier_to_py(py, &stats.tier2)?)?;
    let loads = PyDict::new(py);
    loads.set_item("count", stats.loads.count)?;
    loads.set_item("mean_micros", stats.loads.mean_micros)?;
    loads.set_item("p99_micros", stats.loads.p99_micros)?;
    loads.set_item("max_micros", stats.loads.max_micros)?;
    dict.set_item("loads", loads)?;
    dict.set_item("invalidations", stats.invalidations)?;
    dict.set_item("stale_fills_dropped", stats.stale_fills_dropped)?;
    dict.set_item("flushes", stats.flushes)?;
    dict.set_item("coalesced_loads", stats.coalesced_loads)?;
    dict.set_item("lease_waits", stats.lease_waits)?;
    dict.set_item("redis_errors", stats.redis_errors)?;
    dict.set_item("tier2_available", stats.tier2_available)?;
    Ok(dict)
}

fn tier_to_py<'py>(py: Python<'py>, tier: &TierStats) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("hits", tier.hits)?;
    dict.set_item("misses", tier.misses)?;
    dict.set_item("fills", tier.fills)?;
    dict.set_item("evictions", tier.evictions)?;
    dict.set_item("hit_ratio", tier.hit_ratio())?;
    Ok(dict)
}
