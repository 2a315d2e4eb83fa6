//! The store: backends, cache and repositories behind one handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::Backend;
use crate::cache::{Cache, CacheStats};
use crate::changes::Changes;
use crate::config::{redact_url, StoreConfig};
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::model::{
    Catalog, Computation, Control, Datasource, Entity, Folder, GuaranteePoint, Linker, Mashup,
    Scope, Secret, ServiceAccount, StoreKind, User,
};
use crate::repo::{Hooks, Repository};
use crate::state::{State, StateConfig};
use crate::transform::TransformEngine;

/// A handle on an open store. Cheap to clone; clones share pools and cache.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    data_root: Arc<PathBuf>,
}

pub(crate) struct Inner {
    pub relational: Backend,
    pub documents: Backend,
    pub cache: Cache,
    pub config: StoreConfig,
    pub transforms: TransformEngine,
    pub state: State,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field(
                "relational_url",
                &redact_url(&self.inner.config.relational_url),
            )
            .field(
                "documents_url",
                &redact_url(&self.inner.config.documents_url),
            )
            .field("cache_url", &redact_url(&self.inner.config.cache_url))
            .finish()
    }
}

impl Store {
    /// Opens a store, applying migrations. Relational and document URLs that
    /// name the same SQLite file share one connection pool.
    pub async fn open(config: StoreConfig) -> Result<Store> {
        let state_config = StateConfig::from_url(&config.cache_url)?;
        let relational = Backend::open(&config.relational_url, &config.pool).await?;
        if !relational.is_relational() {
            return Err(Error::configuration(format!(
                "relational URL {} names a document database; use sqlite://FILE or postgres://HOST/DB",
                redact_url(&config.relational_url)
            )));
        }
        let documents = if config.documents_url == config.relational_url {
            relational.clone()
        } else {
            Backend::open(&config.documents_url, &config.pool).await?
        };
        let cache = Cache::open(&config.cache, &state_config).await?;
        let state = State::open(state_config, &relational, &config.pool).await?;
        let transforms = TransformEngine::with_cache_dir(config.transform_cache_dir.clone())?;
        let data_root = Arc::new(
            config
                .data_root
                .clone()
                .unwrap_or_else(|| PathBuf::from(".")),
        );
        let inner = Inner {
            relational,
            documents,
            cache,
            config,
            transforms,
            state,
        };
        Ok(Store {
            inner: Arc::new(inner),
            data_root,
        })
    }

    /// [`Store::open`], driven on a blocking thread of the current tokio
    /// runtime. The future of `Store::open` is `Send`, but rustc cannot
    /// prove it for every lifetime once a binding layer boxes it as
    /// `dyn Future + Send`; this one holds no borrow across an await.
    pub async fn open_detached(config: StoreConfig) -> Result<Store> {
        tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current().block_on(Store::open(config))
        })
        .await
        .map_err(|e| Error::configuration(format!("opening the store failed: {e}")))?
    }

    /// Opens the store that the `POLYSTAT_*` environment variables describe,
    /// or `polystat.db` in the working directory when none is set.
    pub async fn open_default() -> Result<Store> {
        Store::open(StoreConfig::from_env()?).await
    }

    /// Subscribes to change events of the named repositories, or of all
    /// of them with `None`. See [`crate::changes`] for what arrives.
    pub fn changes(&self, entities: Option<&[&str]>) -> Result<Changes> {
        self.inner.cache.changes().subscribe(entities)
    }

    /// Stops the cache's invalidation listener and closes the connection
    /// pools.
    pub async fn close(&self) {
        self.inner.cache.stop();
        self.inner.relational.close().await;
        self.inner.documents.close().await;
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Folder that `file` datasource paths resolve against.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// Returns a handle on the same store (pools and cache shared) whose `file`
    /// datasources resolve against `root`.
    pub fn with_data_root(&self, root: impl Into<PathBuf>) -> Store {
        Store {
            inner: self.inner.clone(),
            data_root: Arc::new(root.into()),
        }
    }

    /// Counters of both cache tiers and of the database loads behind them.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Tokens, sessions, rate limits, pub/sub and temporary values.
    pub fn state(&self) -> State {
        self.inner.state.clone()
    }

    /// Returns the WebAssembly engine that compiles and runs transforms.
    pub fn transform_engine(&self) -> &TransformEngine {
        &self.inner.transforms
    }

    pub(crate) fn backend_for<T: Entity>(&self) -> &Backend {
        match T::SPEC.kind {
            StoreKind::Relational => &self.inner.relational,
            StoreKind::Document => &self.inner.documents,
        }
    }

    pub(crate) fn master_key(&self) -> Result<&MasterKey> {
        self.inner.config.master_key.as_ref().ok_or_else(|| {
            Error::configuration(
                "no master key configured; set POLYSTAT_MASTER_KEY to 32 random bytes in base64 (openssl rand -base64 32)",
            )
        })
    }

    /// Repository of any entity type.
    pub fn repository<T: Hooks>(&self) -> Repository<T> {
        Repository::new(self.clone())
    }

    pub fn users(&self) -> Repository<User> {
        self.repository()
    }
    pub fn catalogs(&self) -> Repository<Catalog> {
        self.repository()
    }
    pub fn controls(&self) -> Repository<Control> {
        self.repository()
    }
    pub fn scopes(&self) -> Repository<Scope> {
        self.repository()
    }
    pub fn secrets(&self) -> Repository<Secret> {
        self.repository()
    }
    pub fn service_accounts(&self) -> Repository<ServiceAccount> {
        self.repository()
    }
    pub fn computations(&self) -> Repository<Computation> {
        self.repository()
    }
    pub fn guarantee_points(&self) -> Repository<GuaranteePoint> {
        self.repository()
    }
    pub fn mashups(&self) -> Repository<Mashup> {
        self.repository()
    }
    pub fn datasources(&self) -> Repository<Datasource> {
        self.repository()
    }
    pub fn linkers(&self) -> Repository<Linker> {
        self.repository()
    }
    pub fn folders(&self) -> Repository<Folder> {
        self.repository()
    }
}
