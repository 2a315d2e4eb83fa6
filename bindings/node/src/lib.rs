//! Native part of the `polystat` Node package. The public API lives in
//! `index.js`, which wraps these classes in Promises, repositories and
//! `PolystatError`s; values cross as JSON text (see `json`).

mod args;
mod errors;
mod events;
mod json;
mod ops;
mod repo;

use std::path::PathBuf;
use std::sync::RwLock;

use napi_derive::napi;
use polystat::{Error, Store, StoreConfig};
use serde::Deserialize;

use args::Args;
pub use events::NativeSubscription;

/// Options of `Store.open`; unset ones come from `POLYSTAT_*` or defaults.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpenOptions {
    relational_url: Option<String>,
    documents_url: Option<String>,
    cache_url: Option<String>,
    master_key: Option<String>,
    data_root: Option<PathBuf>,
}

impl OpenOptions {
    fn config(self) -> polystat::Result<StoreConfig> {
        let mut config = StoreConfig::from_env()?;
        if let Some(url) = self.relational_url {
            // With no documents URL given or set in the environment, the
            // documents go to the same database as the relational data.
            if self.documents_url.is_none() && std::env::var_os("POLYSTAT_DOCUMENTS_URL").is_none()
            {
                config.documents_url = url.clone();
            }
            config.relational_url = url;
        }
        if let Some(url) = self.documents_url {
            config.documents_url = url;
        }
        if let Some(url) = self.cache_url {
            config.cache_url = url;
        }
        if let Some(key) = self.master_key {
            config.master_key = Some(polystat::crypto::MasterKey::from_base64(&key)?);
        }
        if let Some(root) = self.data_root {
            config.data_root = Some(root);
        }
        Ok(config)
    }
}

/// Opens a store; `options` is the JSON of `OpenOptions`.
#[napi]
pub async fn open_store(options: String) -> napi::Result<NativeStore> {
    let options: OpenOptions = match json::decode("options", &options).map_err(errors::to_napi)? {
        serde_json::Value::Null => OpenOptions::default(),
        value => serde_json::from_value(value).map_err(|e| {
            errors::to_napi(Error::validation(
                "options",
                format!("{e}; the options are relationalUrl, documentsUrl, cacheUrl, masterKey and dataRoot"),
            ))
        })?,
    };
    let config = options.config().map_err(errors::to_napi)?;
    let store = Store::open_detached(config)
        .await
        .map_err(errors::to_napi)?;
    Ok(NativeStore {
        store: RwLock::new(Some(store)),
    })
}

/// An open store.
#[napi]
pub struct NativeStore {
    store: RwLock<Option<Store>>,
}

impl NativeStore {
    fn handle(&self) -> napi::Result<Store> {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| {
                errors::to_napi(Error::configuration("the store is closed; open it again"))
            })
    }
}

#[napi]
impl NativeStore {
    /// Runs operation `op` on the JSON argument object `args`; resolves to
    /// the JSON of the result.
    #[napi]
    pub async fn call(&self, op: String, args: String) -> napi::Result<String> {
        let store = self.handle()?;
        let result = async {
            let args = Args::new(json::decode("arguments", &args)?)?;
            ops::call(&store, &op, &args).await
        }
        .await;
        result.map(|value| json::encode(&value)).map_err(|error| {
            // `close` empties the pools under a running call, whose driver
            // then reports the backend unavailable: report the closed store.
            let error = match error {
                Error::Unavailable { .. } if self.closed() => {
                    Error::configuration("the store was closed while this call ran; open it again")
                }
                other => other,
            };
            errors::to_napi(error)
        })
    }

    /// Returns the JSON of a record in this process's tier-1 cache, or null,
    /// without I/O, so a cached read needs no trip to a worker thread.
    #[napi]
    pub fn cached(&self, entity: String, id: String) -> napi::Result<Option<String>> {
        let store = self.handle()?;
        let Ok(id) = uuid::Uuid::parse_str(&id) else {
            // The full read reports the malformed id.
            return Ok(None);
        };
        let record = repo::cached(&store, &entity, id).map_err(errors::to_napi)?;
        Ok(record.map(|text| text.as_str().to_owned()))
    }

    /// Returns the cache counters as JSON.
    #[napi]
    pub fn cache_stats(&self) -> napi::Result<String> {
        let stats = self.handle()?.cache_stats();
        Ok(serde_json::to_string(&stats).unwrap_or_else(|_| "{}".into()))
    }

    #[napi]
    pub fn describe(&self) -> String {
        match self.handle() {
            Ok(store) => format!("{store:?}"),
            Err(_) => "Store (closed)".into(),
        }
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_none()
    }

    /// Closes the pools; later calls fail with a configuration error.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let store = self
            .store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(store) = store {
            store.close().await;
        }
        Ok(())
    }

    /// Calls `listener` with the JSON of each change event.
    #[napi]
    pub fn changes(
        &self,
        entities: Option<Vec<String>>,
        listener: events::ChangeListener,
    ) -> napi::Result<NativeSubscription> {
        let store = self.handle()?;
        let names: Option<Vec<&str>> = entities
            .as_ref()
            .map(|list| list.iter().map(String::as_str).collect());
        let changes = store.changes(names.as_deref()).map_err(errors::to_napi)?;
        Ok(events::forward_changes(changes, listener))
    }

    /// Calls `listener` with the JSON of each message on `channel`.
    #[napi]
    pub async fn subscribe(
        &self,
        channel: String,
        listener: events::Listener,
    ) -> napi::Result<NativeSubscription> {
        let store = self.handle()?;
        let subscription = store
            .state()
            .subscribe(&channel)
            .await
            .map_err(errors::to_napi)?;
        Ok(events::forward_messages(subscription, listener))
    }
}
