//! An open store keeps working after the MongoDB server restarts: the
//! test restarts FerretDB with `tests/services.sh restart mongodb` and uses
//! the same store again. It runs in its own test binary because the restart
//! interrupts every other user of the server.

mod common;

use std::process::Command;

use polystat::model::Folder;
use polystat::{ListOptions, Store, StoreConfig};
use serde_json::json;
use tempfile::TempDir;

use common::{repo_root, server_url, unique_name};

fn restart_mongodb() {
    let script = repo_root().join("tests/services.sh");
    let output = Command::new(&script)
        .args(["restart", "mongodb"])
        .output()
        .expect("run tests/services.sh");
    assert!(
        output.status.success(),
        "tests/services.sh restart mongodb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn drop_database(url: &str, database: &str) {
    let client = mongodb::Client::with_uri_str(url).await.expect("client");
    if let Err(error) = client.database(database).drop().await {
        eprintln!("dropping test database {database} failed: {error}");
    }
}

#[tokio::test]
async fn store_recovers_after_server_restart() {
    let base = server_url("POLYSTAT_TEST_MONGODB_URL");
    let (prefix, _) = base.rsplit_once('/').expect("URL with a path");
    let database = unique_name();
    let url = format!("{prefix}/{database}");
    let dir = TempDir::new().unwrap();
    let store = Store::open(StoreConfig {
        relational_url: format!("sqlite://{}", dir.path().join("r.db").display()),
        documents_url: url.clone(),
        ..StoreConfig::default()
    })
    .await
    .expect("open store on MongoDB");
    let folders = store.folders();
    let before = folders
        .create(Folder {
            name: "before".into(),
            parent_id: None,
        })
        .await
        .unwrap();

    restart_mongodb();

    // A write first: its connection from before the restart is dead.
    let after = folders
        .create(Folder {
            name: "after".into(),
            parent_id: None,
        })
        .await
        .expect("create after the restart");
    let listed = folders
        .list_all(&ListOptions::new())
        .await
        .expect("list after the restart");
    let names: Vec<&str> = listed.iter().map(|f| f.data.name.as_str()).collect();
    assert_eq!(names, ["before", "after"]);
    let read = folders.get(before.id).await.expect("get after the restart");
    assert_eq!(read.id, before.id);
    assert_eq!(folders.count(&json!({})).await.unwrap(), 2);
    folders
        .delete(after.id, Some(1))
        .await
        .expect("delete after the restart");

    // A read first after a second restart.
    restart_mongodb();
    assert_eq!(
        folders
            .count(&json!({}))
            .await
            .expect("count after the restart"),
        1
    );

    store.close().await;
    drop_database(&url, &database).await;
}
