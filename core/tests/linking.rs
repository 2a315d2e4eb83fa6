//! Stored linkers run against file datasources, with WebAssembly transforms.

mod common;

use polystat::job::TransformSet;
use polystat::model::{Datasource, ExecutionStatus, Linker};
use polystat::Store;
use serde_json::{json, Value};
use tempfile::TempDir;

use common::{open_store, transforms_dist};

fn write(dir: &TempDir, name: &str, value: Value) {
    std::fs::write(dir.path().join(name), serde_json::to_vec(&value).unwrap()).unwrap();
}

async fn setup() -> (TempDir, Store, TransformSet, uuid::Uuid) {
    let (dir, store) = open_store().await;
    let pulls: Vec<Value> = (1..=30)
        .map(|n| json!({ "number": n, "user": { "login": format!("dev-{}", n % 3) }, "merged_at": "2024-01-01T00:00:00Z" }))
        .collect();
    write(&dir, "pulls.json", Value::Array(pulls));
    let reviews = json!([
        { "user": { "login": "dev-9" }, "pull_request_url": "https://api.github.com/repos/o/r/pulls/2" },
        { "user": { "login": "dev-8" }, "pull_request_url": "https://api.github.com/repos/o/r/pulls/2" },
        { "user": { "login": "dev-7" }, "pull_request_url": "https://api.github.com/repos/o/r/pulls/99" }
    ]);
    write(&dir, "reviews.json", reviews);
    store
        .datasources()
        .create(Datasource::file("pulls", "pulls.json"))
        .await
        .unwrap();
    store
        .datasources()
        .create(Datasource::file("reviews", "reviews.json"))
        .await
        .unwrap();
    let spec = serde_json::from_value(json!({
        "sources": [
            { "datasource": "pulls", "propertyMapping": { "number": "number", "user.login": "author" } },
            { "datasource": "reviews",
              "transforms": [{ "transform": "pr-number", "params": { "from": "pull_request_url", "to": "number" } }],
              "propertyMapping": { "number": "number", "user.login": "reviewer" } }
        ],
        "linkKeys": ["number"],
        "join": "full"
    }))
    .unwrap();
    let linker = Linker {
        name: "pulls-reviews".into(),
        spec,
        execution_status: Default::default(),
        last_run_at: None,
    };
    let linker = store.linkers().create(linker).await.unwrap();

    let mut transforms = TransformSet::new(Default::default());
    let path = transforms_dist().join("pr-number.wasm");
    assert!(
        path.exists(),
        "{} is missing; run transforms/build.sh first",
        path.display()
    );
    transforms
        .load_file(store.transform_engine(), "pr-number", &path)
        .unwrap();
    (dir, store, transforms, linker.id)
}

#[tokio::test]
async fn run_joins_and_records_status() {
    let (_dir, store, transforms, linker_id) = setup().await;
    let output = store.run_linker(linker_id, &transforms).await.unwrap();
    // 30 pull requests; number 2 has two reviews; review of 99 has no pull request.
    assert_eq!(output.records.len(), 32);
    let two: Vec<&Value> = output.records.iter().filter(|r| r["number"] == 2).collect();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0]["reviewer"], "dev-9");
    assert_eq!(two[1]["reviewer"], "dev-8");
    assert!(output
        .records
        .iter()
        .any(|r| r["number"] == 99 && r.get("author").is_none()));
    let linker = store.linkers().get(linker_id).await.unwrap();
    assert_eq!(linker.data.execution_status, ExecutionStatus::Succeeded);
    assert_eq!(linker.version, 2);
}

#[tokio::test]
async fn test_run_is_bounded_and_writes_nothing() {
    let (_dir, store, transforms, linker_id) = setup().await;
    let before = store.linkers().get(linker_id).await.unwrap();
    let output = store
        .test_linker(linker_id, &transforms, Some(5))
        .await
        .unwrap();
    let pulls = output
        .diagnostics
        .iter()
        .find(|d| d.source == "pulls")
        .unwrap();
    assert_eq!(pulls.fetched, 5);
    assert!(output.records.len() <= 5 + 3);
    let after = store.linkers().get(linker_id).await.unwrap();
    assert_eq!(after, before, "a test run must not update the linker");
}

#[tokio::test]
async fn missing_datasource_is_reported() {
    let (_dir, store, transforms, _) = setup().await;
    let spec = serde_json::from_value(json!({ "sources": [{ "datasource": "gone" }] })).unwrap();
    let linker = store
        .linkers()
        .create(Linker {
            name: "broken".into(),
            spec,
            execution_status: Default::default(),
            last_run_at: None,
        })
        .await
        .unwrap();
    let err = store.run_linker(linker.id, &transforms).await.unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
}

#[tokio::test]
async fn fields_link_the_same_records() {
    let (_dir, store, transforms, linker_id) = setup().await;
    let linker = store.linkers().get(linker_id).await.unwrap().data;
    let datasources = [
        Datasource::file("pulls", "pulls.json"),
        Datasource::file("reviews", "reviews.json"),
    ];
    let whole = store
        .link_datasources(&linker.spec, &datasources, &transforms, None)
        .await
        .unwrap();

    let mut narrowed = linker.spec.clone();
    narrowed.sources[1].fields = vec!["pull_request_url".into(), "user.login".into()];
    let projected = store
        .link_datasources(&narrowed, &datasources, &transforms, None)
        .await
        .unwrap();
    assert_eq!(projected.records, whole.records);

    // Without the URL the transform has nothing to read, which shows that the
    // reviews reached it with only the listed fields.
    narrowed.sources[1].fields = vec!["user.login".into()];
    let err = store
        .link_datasources(&narrowed, &datasources, &transforms, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no field"), "{err}");
}
