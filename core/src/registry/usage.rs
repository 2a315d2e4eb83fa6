//! Linker usage of registry transforms, checked so that a version in use is
//! not deleted.

use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::link::TransformStep;
use crate::model::{Linker, TransformModule};
use crate::repo::ListOptions;
use crate::store::Store;

/// Lists the linkers that would run `version` of `name`, or any version of
/// it when `version` is `None`. A step without a version runs the latest.
pub(super) async fn linkers_using(
    store: &Store,
    name: &str,
    version: Option<i64>,
) -> Result<Vec<Uuid>> {
    let latest = latest_version(store, name).await?;
    let linkers = store.linkers().list_all(&ListOptions::new()).await?;
    let users = linkers
        .into_iter()
        .filter(|linker| uses(&linker.data, name, version, latest))
        .map(|linker| linker.id)
        .collect();
    Ok(users)
}

/// Fails with [`Error::Reference`] when a linker uses what deleting
/// `version` (or every version, for `None`) of `name` would remove.
pub(super) async fn check_unused(store: &Store, name: &str, version: Option<i64>) -> Result<()> {
    let users = linkers_using(store, name, version).await?;
    if users.is_empty() {
        return Ok(());
    }
    let label = match version {
        Some(version) => format!("{name}@{version}"),
        None => name.to_string(),
    };
    let listed: Vec<String> = users.iter().map(Uuid::to_string).collect();
    Err(Error::Reference {
        entity: "transform",
        id: label,
        reason: format!(
            "cannot delete: used by linkers [{}]; remove the transform from their steps \
             or pin them to another version first",
            listed.join(", ")
        ),
    })
}

/// Checks that no linker uses one registry record before the repository
/// deletes it.
pub(crate) async fn check_delete(id: Uuid, store: &Store) -> Result<()> {
    let Some(record) = store.repository::<TransformModule>().find(id).await? else {
        return Ok(());
    };
    check_unused(store, &record.data.name, Some(record.data.module_version)).await
}

fn uses(linker: &Linker, name: &str, version: Option<i64>, latest: Option<i64>) -> bool {
    linker
        .spec
        .steps()
        .any(|step| step_uses(step, name, version, latest))
}

fn step_uses(step: &TransformStep, name: &str, version: Option<i64>, latest: Option<i64>) -> bool {
    if step.transform != name {
        return false;
    }
    match version {
        None => true,
        Some(version) => step.version.or(latest) == Some(version),
    }
}

async fn latest_version(store: &Store, name: &str) -> Result<Option<i64>> {
    let options = ListOptions::new().filter(json!({ "name": name }));
    let records = store
        .repository::<TransformModule>()
        .list_all(&options)
        .await?;
    Ok(records
        .iter()
        .map(|record| record.data.module_version)
        .max())
}
