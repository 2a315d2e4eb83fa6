//! Runs the language-neutral cases in `tests/cases/*.json`, which the Python
//! suite runs as well, on every backend combination. `tests/cases/README.md`
//! describes the format.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use polystat::changes::Changes;
use polystat::job::ControlInput;
use polystat::model::Entity;
use polystat::repo::Hooks;
use polystat::{Error, ListOptions, Record, Repository, Store};
use serde_json::{json, Map, Value};
use tempfile::TempDir;
use uuid::Uuid;

use common::{repo_root, target_config, Target};

/// Reads every case file, in name order, with its path.
fn case_files() -> Vec<(PathBuf, Value)> {
    let dir = repo_root().join("tests/cases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no case files in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("case file");
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            (path, value)
        })
        .collect()
}

/// Runs every case on a fresh store of `target` and fails with the list of
/// every step whose result differs from what its case expects.
async fn run_all(target: Target) {
    let mut failures = Vec::new();
    let mut count = 0;
    for (path, file) in case_files() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        for case in file["cases"].as_array().expect("`cases` array") {
            count += 1;
            let (_dir, store) = open_case_store(target).await;
            if let Err(message) = run_case(&store, case).await {
                failures.push(format!("{name}: {}: {message}", case["name"]));
            }
            store.close().await;
        }
    }
    assert!(count > 0, "no cases ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Opens a fresh store on `target` whose data root, where `writeFile` steps
/// write and file datasources read, is a temporary folder of its own.
async fn open_case_store(target: Target) -> (TempDir, Store) {
    let dir = TempDir::new().expect("temp dir");
    let config = target_config(target, &dir).with_data_root(dir.path());
    let store = Store::open(config).await.expect("open store");
    (dir, store)
}

async fn run_case(store: &Store, case: &Value) -> Result<(), String> {
    let mut saved = Map::new();
    let mut subscriptions = HashMap::new();
    let steps = case["steps"]
        .as_array()
        .ok_or("case has no `steps` array")?;
    for (index, step) in steps.iter().enumerate() {
        let step = resolve(step, &saved).map_err(|e| format!("step {index}: {e}"))?;
        let outcome = match step["op"].as_str() {
            Some("subscribe" | "nextChange" | "evaluateControl" | "writeFile" | "runLinker") => {
                run_store_step(store, &step, &mut subscriptions).await
            }
            Some("uploadTransform" | "transformVersions" | "callTransform" | "deleteTransform") => {
                run_registry_step(store, &step).await
            }
            _ => run_step(store, &step).await,
        };
        check(&step, outcome, &mut saved)
            .map_err(|e| format!("step {index} ({}): {e}", step["op"]))?;
    }
    Ok(())
}

fn check(
    step: &Value,
    outcome: polystat::Result<Value>,
    saved: &mut Map<String, Value>,
) -> Result<(), String> {
    match (outcome, step.get("expectError")) {
        (Ok(actual), None) => {
            if let Some(expected) = step.get("expect") {
                matches(expected, &actual, "result")?;
            }
            if let Some(name) = step["save"].as_str() {
                saved.insert(name.to_string(), actual);
            }
            Ok(())
        }
        (Ok(actual), Some(expected)) => Err(format!("expected error {expected}, got {actual}")),
        (Err(error), None) => Err(format!("unexpected error {}: {error}", error.code())),
        (Err(error), Some(expected)) => {
            if expected["code"] != error.code() {
                return Err(format!(
                    "expected error {}, got {}: {error}",
                    expected["code"],
                    error.code()
                ));
            }
            match (&error, expected.get("field")) {
                (Error::Validation { field, .. }, Some(want)) if want != field => {
                    Err(format!("expected field {want}, got {field:?}: {error}"))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Replaces every string of the form `${name.path}` with the value saved
/// under `name` at `path` (dot-separated keys and array indexes).
fn resolve(value: &Value, saved: &Map<String, Value>) -> Result<Value, String> {
    match value {
        Value::String(text) => match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            Some(reference) => lookup(reference, saved),
            None => Ok(value.clone()),
        },
        Value::Array(items) => items.iter().map(|item| resolve(item, saved)).collect(),
        Value::Object(object) => object
            .iter()
            .map(|(key, item)| Ok((key.clone(), resolve(item, saved)?)))
            .collect::<Result<Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn lookup(reference: &str, saved: &Map<String, Value>) -> Result<Value, String> {
    let mut segments = reference.split('.');
    let name = segments.next().unwrap_or_default();
    let mut current = saved
        .get(name)
        .ok_or_else(|| format!("nothing saved as {name:?}"))?;
    for segment in segments {
        current = match segment.parse::<usize>() {
            Ok(index) => current.get(index),
            Err(_) => current.get(segment),
        }
        .ok_or_else(|| format!("${{{reference}}} does not exist"))?;
    }
    Ok(current.clone())
}

/// Checks `actual` against `expected`: objects match when every expected key
/// matches, arrays element by element with equal length, instants as
/// instants, and `{"$type": T}` when the value has type T.
fn matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    let mismatch = || Err(format!("{path}: expected {expected}, got {actual}"));
    match (expected, actual) {
        (Value::Object(want), _) if want.contains_key("$type") => {
            let kind = want["$type"].as_str().unwrap_or_default();
            if has_type(kind, actual) {
                Ok(())
            } else {
                mismatch()
            }
        }
        (Value::Object(want), Value::Object(got)) => {
            for (key, item) in want {
                let child = format!("{path}.{key}");
                let value = got.get(key).ok_or_else(|| format!("{child}: missing"))?;
                matches(item, value, &child)?;
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => want
            .iter()
            .zip(got)
            .enumerate()
            .try_for_each(|(i, (w, g))| matches(w, g, &format!("{path}[{i}]"))),
        (Value::String(want), Value::String(got)) => match (instant(want), instant(got)) {
            (Some(a), Some(b)) if a == b => Ok(()),
            _ if want == got => Ok(()),
            _ => mismatch(),
        },
        _ if expected == actual => Ok(()),
        _ => mismatch(),
    }
}

fn instant(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

fn has_type(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "uuid" => value.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok()),
        "instant" => value.as_str().is_some_and(|s| instant(s).is_some()),
        other => panic!("unknown $type {other:?} in a case file"),
    }
}

/// Reads a step's `transforms`, the module paths by name relative to the
/// repository root.
fn transform_paths(step: &Value) -> BTreeMap<String, PathBuf> {
    step["transforms"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, path)| {
            (
                name.clone(),
                repo_root().join(path.as_str().unwrap_or_default()),
            )
        })
        .collect()
}

/// Runs a step on the store rather than on one repository.
async fn run_store_step(
    store: &Store,
    step: &Value,
    subscriptions: &mut HashMap<String, Changes>,
) -> polystat::Result<Value> {
    let name = step["subscription"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match step["op"].as_str().unwrap_or_default() {
        "subscribe" => {
            let entities: Option<Vec<&str>> = step["entities"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).collect());
            subscriptions.insert(name, store.changes(entities.as_deref())?);
            Ok(Value::Null)
        }
        "nextChange" => {
            let changes = subscriptions
                .get_mut(&name)
                .unwrap_or_else(|| panic!("no subscription {name:?} in this case"));
            let event = tokio::time::timeout(Duration::from_secs(5), changes.next())
                .await
                .expect("a change event within 5 s")
                .expect("the change feed is open");
            Ok(serde_json::to_value(event).expect("event JSON"))
        }
        "writeFile" => {
            let path = store
                .data_root()
                .join(step["path"].as_str().expect("`path`"));
            let text = serde_json::to_vec(&step["content"]).expect("content JSON");
            std::fs::write(&path, text).expect("write the data file");
            Ok(Value::Null)
        }
        "runLinker" => {
            let transforms = store.load_transforms(transform_paths(step)).await?;
            let output = store.run_linker(id(step), &transforms).await?;
            Ok(serde_json::to_value(output).expect("link output JSON"))
        }
        _ => {
            let transforms = store.load_transforms(transform_paths(step)).await?;
            let input: ControlInput = serde_json::from_value(step["input"].clone())
                .map_err(|e| Error::validation("input", e.to_string()))?;
            let computation = store.evaluate_control(input, &transforms).await?;
            Ok(serde_json::to_value(computation).expect("computation JSON"))
        }
    }
}

/// Runs a step on the transform registry.
async fn run_registry_step(store: &Store, step: &Value) -> polystat::Result<Value> {
    let registry = store.transforms();
    let name = step["name"].as_str().unwrap_or_default();
    let version = step["version"].as_i64();
    let json = |value| serde_json::to_value(value).expect("registry result JSON");
    match step["op"].as_str().unwrap_or_default() {
        "uploadTransform" => {
            let path = repo_root().join(step["path"].as_str().expect("step names a path"));
            let wasm = std::fs::read(&path).expect("module file");
            let limits = serde_json::from_value(step.get("limits").cloned().unwrap_or(json!({})))
                .expect("limits of the step");
            let info = registry.upload_with_limits(name, &wasm, limits).await?;
            Ok(serde_json::to_value(info).expect("info JSON"))
        }
        "transformVersions" => Ok(json(registry.versions(name).await?)),
        "deleteTransform" => Ok(json(registry.delete(name, version).await?)),
        _ => {
            let records = step["records"].as_array().cloned().unwrap_or_default();
            let params = step.get("params").cloned().unwrap_or(Value::Null);
            let output = registry.call(name, version, records, params).await?;
            Ok(Value::Array(output))
        }
    }
}

async fn run_step(store: &Store, step: &Value) -> polystat::Result<Value> {
    let op = step["op"].as_str().unwrap_or_default();
    match step["entity"].as_str().unwrap_or_default() {
        "users" => run_op(store.users(), op, step).await,
        "catalogs" => run_op(store.catalogs(), op, step).await,
        "controls" => run_op(store.controls(), op, step).await,
        "scopes" => run_op(store.scopes(), op, step).await,
        "secrets" => run_op(store.secrets(), op, step).await,
        "service_accounts" => run_op(store.service_accounts(), op, step).await,
        "computations" => run_op(store.computations(), op, step).await,
        "guarantee_points" => run_op(store.guarantee_points(), op, step).await,
        "mashups" => run_op(store.mashups(), op, step).await,
        "datasources" => run_op(store.datasources(), op, step).await,
        "linkers" => run_op(store.linkers(), op, step).await,
        "folders" => run_op(store.folders(), op, step).await,
        other => panic!("unknown entity {other:?} in a case file"),
    }
}

async fn run_op<T: Hooks>(repo: Repository<T>, op: &str, step: &Value) -> polystat::Result<Value> {
    let one = |record: Record<T>| record.to_json();
    let many =
        |records: Vec<Record<T>>| Value::Array(records.iter().map(Record::to_json).collect());
    let optional = |record: Option<Record<T>>| record.map_or(Value::Null, |r| r.to_json());
    let version = step["expectedVersion"].as_i64();
    match op {
        "create" => repo.create(body(&step["data"])?).await.map(one),
        "bulkInsert" => {
            let items = step["items"].as_array().cloned().unwrap_or_default();
            let bodies = items
                .iter()
                .map(body)
                .collect::<polystat::Result<Vec<T>>>()?;
            repo.bulk_insert(bodies).await.map(many)
        }
        "get" => repo.get(id(step)).await.map(one),
        "find" => repo.find(id(step)).await.map(optional),
        "update" => {
            let version = version.expect("update steps name expectedVersion");
            repo.update(id(step), version, body(&step["data"])?)
                .await
                .map(one)
        }
        "delete" => repo.delete(id(step), version).await.map(|()| Value::Null),
        "list" => {
            let page = repo.list(&list_options(step)).await?;
            Ok(json!({ "items": many(page.items), "nextCursor": page.next_cursor }))
        }
        "listAll" => repo.list_all(&list_options(step)).await.map(many),
        "count" => repo.count(&step["filter"]).await.map(Value::from),
        "findOne" => repo.find_one(step["filter"].clone()).await.map(optional),
        other => panic!("unknown op {other:?} in a case file"),
    }
}

fn body<T: Entity>(value: &Value) -> polystat::Result<T> {
    serde_json::from_value(value.clone()).map_err(|e| {
        Error::validation(
            T::SPEC.entity,
            format!("{e}; check the field names and types"),
        )
    })
}

fn id(step: &Value) -> Uuid {
    let text = step["id"].as_str().expect("step names an id");
    Uuid::parse_str(text).expect("id is a UUID")
}

fn list_options(step: &Value) -> ListOptions {
    ListOptions {
        filter: step["filter"].clone(),
        sort: step["sort"].clone(),
        limit: step["limit"].as_u64().map(|n| n as usize),
        cursor: step["cursor"].as_str().map(str::to_string),
    }
}

#[tokio::test]
async fn shared_cases_embedded() {
    run_all(Target::Embedded).await;
}

#[tokio::test]
async fn shared_cases_servers() {
    run_all(Target::Servers).await;
}

#[tokio::test]
async fn shared_cases_mixed() {
    run_all(Target::Mixed).await;
}
