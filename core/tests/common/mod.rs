//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod http;

use polystat::model::{Catalog, Control};
use polystat::{Record, Store, StoreConfig};
use tempfile::TempDir;

/// 32 zero bytes in base64: a fixed master key for tests.
pub const TEST_MASTER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// Opens an embedded store in a fresh temporary folder.
pub async fn open_store() -> (TempDir, Store) {
    let dir = TempDir::new().expect("temp dir");
    let store = open_in(&dir).await;
    (dir, store)
}

/// The backend combinations the conformance suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One SQLite file and the in-process cache.
    Embedded,
    /// PostgreSQL, MongoDB and Redis.
    Servers,
    /// PostgreSQL with documents in SQLite and the in-process cache.
    Mixed,
}

/// Reads a server URL exported by `tests/services.sh up`.
pub fn server_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; start the test servers with: eval \"$(tests/services.sh up)\"")
    })
}

/// Returns a fresh, unique name for a schema, database or key prefix.
pub fn unique_name() -> String {
    format!("t_{}", uuid::Uuid::now_v7().simple())
}

/// Builds the configuration of a fresh, isolated store on `target`: its own PostgreSQL
/// schema, MongoDB database, Redis key prefix and SQLite file.
pub fn target_config(target: Target, dir: &TempDir) -> StoreConfig {
    let sqlite = format!("sqlite://{}", dir.path().join("polystat.db").display());
    let name = unique_name();
    let postgres = || {
        format!(
            "{}?options[search_path]={name}",
            server_url("POLYSTAT_TEST_POSTGRES_URL")
        )
    };
    let (relational_url, documents_url, cache_url) = match target {
        Target::Embedded => (sqlite.clone(), sqlite, "memory".to_string()),
        Target::Servers => {
            let mongo = server_url("POLYSTAT_TEST_MONGODB_URL");
            let base = mongo
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(mongo);
            let redis = server_url("POLYSTAT_TEST_REDIS_URL");
            (
                postgres(),
                format!("{base}/{name}"),
                format!("{}/?prefix={name}:", redis.trim_end_matches('/')),
            )
        }
        Target::Mixed => (postgres(), sqlite, "memory".to_string()),
    };
    StoreConfig {
        relational_url,
        documents_url,
        cache_url,
        ..StoreConfig::default()
    }
    .with_master_key(TEST_MASTER_KEY)
    .expect("master key")
}

/// Opens a fresh store on `target`.
pub async fn open_target(target: Target) -> (TempDir, Store) {
    let dir = TempDir::new().expect("temp dir");
    let store = Store::open(target_config(target, &dir))
        .await
        .expect("open store");
    (dir, store)
}

/// Instantiates each named case, an `async fn(Store)`, once per target, as
/// `embedded::case`, `servers::case` and `mixed::case`.
#[macro_export]
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test]
            async fn $case() {
                let (_dir, store) = $crate::common::open_target($crate::common::Target::Embedded).await;
                super::$case(store).await;
            })*
        }
        mod servers {
            $(#[tokio::test]
            async fn $case() {
                let (_dir, store) = $crate::common::open_target($crate::common::Target::Servers).await;
                super::$case(store).await;
            })*
        }
        mod mixed {
            $(#[tokio::test]
            async fn $case() {
                let (_dir, store) = $crate::common::open_target($crate::common::Target::Mixed).await;
                super::$case(store).await;
            })*
        }
    };
}

pub async fn open_in(dir: &TempDir) -> Store {
    let config = StoreConfig::embedded(dir.path().join("polystat.db"))
        .with_master_key(TEST_MASTER_KEY)
        .expect("master key")
        .with_data_root(dir.path());
    Store::open(config).await.expect("open store")
}

pub async fn catalog(store: &Store, name: &str) -> Record<Catalog> {
    store
        .catalogs()
        .create(Catalog::new(name))
        .await
        .expect("create catalog")
}

pub async fn control(store: &Store, catalog: &Record<Catalog>, name: &str) -> Record<Control> {
    store
        .controls()
        .create(Control::new(catalog.id, name))
        .await
        .expect("create control")
}

/// Root of the real public data set, when the test script provides it.
pub fn shared_data() -> Option<PathBuf> {
    std::env::var_os("POLYSTAT_SHARED_DATA").map(PathBuf::from)
}

/// Folder of the example transforms built by transforms/build.sh.
pub fn transforms_dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../transforms/dist")
}

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
