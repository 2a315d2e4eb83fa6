//! Opening stores, migrations, configuration and the tier-1 cache.

mod common;

use polystat::model::Catalog;
use polystat::{Error, Store, StoreConfig};
use serde_json::Value;
use tempfile::TempDir;

use common::{catalog, open_store};
use polystat::model::NewSecret;
use polystat::ListOptions;

#[tokio::test]
async fn get_by_id_is_served_from_cache() {
    let (_dir, store) = open_store().await;
    let created = catalog(&store, "cached").await;
    let before = store.cache_stats();
    store.catalogs().get(created.id).await.unwrap();
    store.catalogs().get(created.id).await.unwrap();
    store.catalogs().get(created.id).await.unwrap();
    let after = store.cache_stats();
    assert_eq!(after.tier1.misses - before.tier1.misses, 1);
    assert_eq!(after.tier1.hits - before.tier1.hits, 2);
    assert_eq!(after.tier1.fills - before.tier1.fills, 1);
}

#[tokio::test]
async fn writes_invalidate_cached_records() {
    let (_dir, store) = open_store().await;
    let created = catalog(&store, "v1").await;
    store.catalogs().get(created.id).await.unwrap();

    let mut data = created.data.clone();
    data.name = "v2".into();
    store.catalogs().update(created.id, 1, data).await.unwrap();
    let read = store.catalogs().get(created.id).await.unwrap();
    assert_eq!(read.data.name, "v2");
    assert_eq!(read.version, 2);

    store.catalogs().delete(created.id, None).await.unwrap();
    assert!(matches!(
        store.catalogs().get(created.id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[tokio::test]
async fn concurrent_reads_never_see_old_versions_after_write() {
    let (_dir, store) = open_store().await;
    let created = catalog(&store, "v1").await;
    let mut version = created.version;
    for round in 0..20 {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.catalogs().get(created.id).await.unwrap().version })
            })
            .collect();
        let mut data = created.data.clone();
        data.name = format!("round {round}");
        version = store
            .catalogs()
            .update(created.id, version, data)
            .await
            .unwrap()
            .version;
        // Reads that start after the write returned must see it.
        assert_eq!(
            store.catalogs().get(created.id).await.unwrap().version,
            version
        );
        for reader in readers {
            assert!(reader.await.unwrap() <= version);
        }
    }
}

#[tokio::test]
async fn reopening_keeps_data() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("polystat.db");
    let store = Store::open(StoreConfig::embedded(&path)).await.unwrap();
    let created = store.catalogs().create(Catalog::new("kept")).await.unwrap();
    store.close().await;
    let store = Store::open(StoreConfig::embedded(&path)).await.unwrap();
    assert_eq!(
        store.catalogs().get(created.id).await.unwrap().data.name,
        "kept"
    );
}

#[tokio::test]
async fn opening_an_older_file_migrates_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("old.db");
    // A file from before any migration: a foreign table only.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE host_notes (note TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO host_notes VALUES ('kept')")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let store = Store::open(StoreConfig::embedded(&path)).await.unwrap();
    store.catalogs().create(Catalog::new("new")).await.unwrap();
    assert_eq!(store.catalogs().count(&Value::Null).await.unwrap(), 1);
    store.close().await;

    use sqlx::Connection;
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let note: String = sqlx::query_scalar("SELECT note FROM host_notes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(note, "kept");
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(applied >= 1);
}

#[tokio::test]
async fn unsupported_urls_are_configuration_errors() {
    let config = StoreConfig {
        relational_url: "mysql://user:hunter2@localhost/db".into(),
        ..StoreConfig::default()
    };
    let err = Store::open(config).await.unwrap_err();
    assert!(matches!(err, Error::Configuration { .. }), "{err}");
    assert!(
        !err.to_string().contains("hunter2"),
        "password leaked: {err}"
    );

    let config = StoreConfig {
        relational_url: "sqlite://".into(),
        ..StoreConfig::default()
    };
    assert!(matches!(
        Store::open(config).await.unwrap_err(),
        Error::Configuration { .. }
    ));

    let bad_key = StoreConfig::default().with_master_key("too-short");
    assert!(matches!(bad_key.unwrap_err(), Error::Configuration { .. }));
}

#[tokio::test]
async fn unreachable_server_names_host_not_password() {
    let mut config = StoreConfig {
        relational_url: "postgres://user:hunter2@127.0.0.1:1/db".into(),
        ..StoreConfig::default()
    };
    config.pool.acquire_timeout = std::time::Duration::from_secs(2);
    let err = Store::open(config).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("hunter2"), "password leaked: {text}");
}

#[tokio::test]
async fn config_file_sets_urls() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("polystat.json");
    let db = dir.path().join("from-file.db");
    std::fs::write(
        &file,
        format!(
            r#"{{"relationalUrl": "sqlite://{0}", "documentsUrl": "sqlite://{0}"}}"#,
            db.display()
        ),
    )
    .unwrap();
    let config = StoreConfig::from_file(&file).unwrap();
    let store = Store::open(config).await.unwrap();
    store.catalogs().create(Catalog::new("x")).await.unwrap();
    assert!(db.exists());

    std::fs::write(&file, r#"{"relationalURL": "sqlite://typo.db"}"#).unwrap();
    let err = StoreConfig::from_file(&file).unwrap_err();
    assert!(err.to_string().contains("relationalURL"), "{err}");
}

#[tokio::test]
async fn separate_document_file_is_supported() {
    let dir = TempDir::new().unwrap();
    let config = StoreConfig {
        relational_url: format!("sqlite://{}", dir.path().join("rel.db").display()),
        documents_url: format!("sqlite://{}", dir.path().join("doc.db").display()),
        ..StoreConfig::default()
    };
    let store = Store::open(config).await.unwrap();
    let cat = catalog(&store, "c").await;
    let ctl = common::control(&store, &cat, "x").await;
    let folder = store
        .folders()
        .create(polystat::model::Folder {
            name: "f".into(),
            parent_id: None,
        })
        .await
        .unwrap();
    assert!(dir.path().join("doc.db").exists());
    assert_eq!(store.folders().get(folder.id).await.unwrap().data.name, "f");
    assert_eq!(store.controls().get(ctl.id).await.unwrap().data.name, "x");
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    let (dir, store) = open_store().await;
    let secret = store
        .secrets()
        .create_secret(NewSecret::new("github-token", "ghp_super_secret_value"))
        .await
        .unwrap();
    assert_eq!(
        store.secrets().reveal(secret.id).await.unwrap(),
        "ghp_super_secret_value"
    );
    assert!(!format!("{:?}", secret).contains("ghp_super_secret_value"));
    let listed = store.secrets().list(&ListOptions::new()).await.unwrap();
    assert!(!serde_json::to_string(&listed.items[0].to_json())
        .unwrap()
        .contains("ghp_super"));

    store.close().await;
    let raw = std::fs::read(dir.path().join("polystat.db")).unwrap();
    let wal = std::fs::read(dir.path().join("polystat.db-wal")).unwrap_or_default();
    let needle = b"ghp_super_secret_value";
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "plaintext in database file"
    );
    assert!(
        !wal.windows(needle.len()).any(|w| w == needle),
        "plaintext in WAL file"
    );

    let store = common::open_in(&dir).await;
    let rotated = store
        .secrets()
        .rotate(secret.id, 1, "ghp_new_value")
        .await
        .unwrap();
    assert!(rotated.data.rotated_at.is_some());
    assert_eq!(
        store.secrets().reveal(secret.id).await.unwrap(),
        "ghp_new_value"
    );
}

#[tokio::test]
async fn secrets_need_the_right_master_key() {
    let (dir, store) = open_store().await;
    let secret = store
        .secrets()
        .create_secret(NewSecret::new("token", "value-1"))
        .await
        .unwrap();
    store.close().await;
    let other_key = polystat::StoreConfig::embedded(dir.path().join("polystat.db"))
        .with_master_key("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
        .unwrap();
    let store = polystat::Store::open(other_key).await.unwrap();
    let err = store.secrets().reveal(secret.id).await.unwrap_err();
    assert!(matches!(err, Error::Configuration { .. }), "{err}");

    let no_key = polystat::Store::open(polystat::StoreConfig::embedded(
        dir.path().join("polystat.db"),
    ))
    .await
    .unwrap();
    let err = no_key
        .secrets()
        .create_secret(NewSecret::new("t2", "v"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("POLYSTAT_MASTER_KEY"), "{err}");
}
