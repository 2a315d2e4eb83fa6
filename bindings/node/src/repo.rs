//! Repository operations of all twelve entities, on JSON values.
//!
//! JavaScript names the repository by string, and `dispatch!` expands each
//! operation into one arm per entity type of the core.

use std::sync::Arc;

use polystat::model::{Entity, Record};
use polystat::repo::Hooks;
use polystat::{Error, ListOptions, Repository, Result, Store};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::args::Args;

/// Runs `$body` with `$repo` bound to the typed repository named `$entity`.
macro_rules! dispatch {
    ($entity:expr, $store:expr, $repo:ident => $body:expr) => {
        match $entity {
            "users" => {
                let $repo = $store.users();
                $body
            }
            "catalogs" => {
                let $repo = $store.catalogs();
                $body
            }
            "controls" => {
                let $repo = $store.controls();
                $body
            }
            "scopes" => {
                let $repo = $store.scopes();
                $body
            }
            "secrets" => {
                let $repo = $store.secrets();
                $body
            }
            "service_accounts" => {
                let $repo = $store.service_accounts();
                $body
            }
            "computations" => {
                let $repo = $store.computations();
                $body
            }
            "guarantee_points" => {
                let $repo = $store.guarantee_points();
                $body
            }
            "mashups" => {
                let $repo = $store.mashups();
                $body
            }
            "datasources" => {
                let $repo = $store.datasources();
                $body
            }
            "linkers" => {
                let $repo = $store.linkers();
                $body
            }
            "folders" => {
                let $repo = $store.folders();
                $body
            }
            other => Err(unknown_entity(other)),
        }
    };
}

fn unknown_entity(name: &str) -> Error {
    Error::validation(
        "entity",
        format!("unknown repository {name:?}; use one of users, catalogs, controls, scopes, secrets, service_accounts, computations, guarantee_points, mashups, datasources, linkers, folders"),
    )
}

/// Runs the repository operation `op` (`create`, `get`, ...) of `args.entity`.
pub async fn call(store: &Store, op: &str, args: &Args) -> Result<Value> {
    let entity = args.str("entity")?;
    dispatch!(entity, store, repo => run(repo, op, args).await)
}

/// Returns the record's text for JavaScript when the tier-1 cache contains
/// it, without I/O. The text is kept with the cache entry, so repeated hits
/// on a hot record encode it once.
pub fn cached(store: &Store, entity: &str, id: Uuid) -> Result<Option<Arc<String>>> {
    dispatch!(entity, store, repo => Ok(repo.cached_view(id, |record| Some(crate::json::encode(&record.to_json())))))
}

async fn run<T: Hooks>(repo: Repository<T>, op: &str, args: &Args) -> Result<Value> {
    match op {
        "create" => one(repo.create(body(args.value("data")?)?).await?),
        "bulkInsert" => {
            let items = args.array("items")?;
            let bodies = items
                .iter()
                .enumerate()
                .map(|(index, item)| body_at(item, "items").map_err(|error| error.at_item(index)))
                .collect::<Result<Vec<T>>>()?;
            many(repo.bulk_insert(bodies).await?)
        }
        "get" => one(repo.get(args.id("id")?).await?),
        "find" => optional(repo.find(args.id("id")?).await?),
        "update" => {
            let (id, version) = (args.id("id")?, args.version("expectedVersion")?);
            one(repo.update(id, version, body(args.value("data")?)?).await?)
        }
        "delete" => {
            let version = args.optional_version("expectedVersion")?;
            repo.delete(args.id("id")?, version).await?;
            Ok(Value::Null)
        }
        "list" => {
            let page = repo.list(&list_options(args)?).await?;
            Ok(json!({ "items": records(&page.items), "nextCursor": page.next_cursor }))
        }
        "listAll" => many(repo.list_all(&list_options(args)?).await?),
        "count" => Ok(json!(repo.count(&args.filter()).await?)),
        "findOne" => optional(repo.find_one(args.filter()).await?),
        other => Err(Error::validation(
            "op",
            format!("unknown repository operation {other:?}"),
        )),
    }
}

fn list_options(args: &Args) -> Result<ListOptions> {
    Ok(ListOptions {
        filter: args.filter(),
        sort: args.optional("sort").cloned().unwrap_or(Value::Null),
        limit: args.optional_usize("limit")?,
        cursor: args.optional_str("cursor")?.map(str::to_owned),
    })
}

fn one<T: Entity>(record: Record<T>) -> Result<Value> {
    Ok(record.to_json())
}

fn optional<T: Entity>(record: Option<Record<T>>) -> Result<Value> {
    Ok(record.map(|record| record.to_json()).unwrap_or(Value::Null))
}

fn many<T: Entity>(list: Vec<Record<T>>) -> Result<Value> {
    Ok(records(&list))
}

fn records<T: Entity>(list: &[Record<T>]) -> Value {
    Value::Array(list.iter().map(Record::to_json).collect())
}

fn body<T: Entity>(value: &Value) -> Result<T> {
    body_at(value, "data")
}

fn body_at<T: Entity>(value: &Value, field: &str) -> Result<T> {
    polystat::model::body_from_json(value.clone(), field)
}
