//! Per-entity rules that need the store: references across records and
//! fields the repository maintains.

use std::collections::HashSet;
use std::future::Future;

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{
    Catalog, Computation, Control, Datasource, Entity, Folder, GuaranteePoint, Linker, Mashup,
    Scope, Secret, ServiceAccount, TransformModule, User,
};
use crate::repo::ListOptions;
use crate::store::Store;

/// Rules a repository applies around writes. Implemented for every entity;
/// not meant to be implemented outside polystat.
#[doc(hidden)]
pub trait Hooks: Entity {
    /// Fills fields the repository maintains, before validation.
    fn prepare(&mut self) {}

    /// Encrypts values that must not be stored in plain text, after
    /// `prepare` and before validation.
    fn seal(&mut self, _store: &Store) -> Result<()> {
        Ok(())
    }

    /// Records this one references, which must exist when it is written.
    fn references(&self) -> Vec<Reference> {
        Vec::new()
    }

    /// Checks rules that depend on the record's own id, on update.
    fn check_update(&self, _id: Uuid, _store: &Store) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Checks that nothing still uses the record before it is deleted.
    fn check_delete(_id: Uuid, _store: &Store) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

impl Hooks for User {}
impl Hooks for Catalog {}
impl Hooks for Scope {}
impl Hooks for Secret {}
impl Hooks for ServiceAccount {}
impl Hooks for Mashup {}

impl Hooks for Control {
    fn references(&self) -> Vec<Reference> {
        // The foreign key enforces this too; checking first gives a clearer error.
        vec![Reference {
            target: Target::Catalog,
            id: self.catalog_id,
        }]
    }

    async fn check_delete(id: Uuid, store: &Store) -> Result<()> {
        let options = ListOptions::new()
            .filter(json!({ "controlId": id.to_string() }))
            .limit(1);
        if !store.computations().list(&options).await?.items.is_empty() {
            return Err(in_use(
                "control",
                id,
                "computations reference it; delete them first",
            ));
        }
        Ok(())
    }
}

impl Hooks for Computation {
    fn references(&self) -> Vec<Reference> {
        vec![Reference {
            target: Target::Control,
            id: self.control_id,
        }]
    }
}

impl Hooks for GuaranteePoint {
    fn prepare(&mut self) {
        self.unique_key = self.compute_unique_key();
    }
}

impl Hooks for Linker {}

impl Hooks for TransformModule {
    async fn check_delete(id: Uuid, store: &Store) -> Result<()> {
        crate::registry::check_delete(id, store).await
    }
}

impl Hooks for Datasource {
    fn seal(&mut self, store: &Store) -> Result<()> {
        self.seal_inline_credentials(store)
    }

    async fn check_delete(id: Uuid, store: &Store) -> Result<()> {
        let usage = store.datasources().usage(id).await?;
        if usage.is_empty() {
            return Ok(());
        }
        Err(in_use(
            "datasource",
            id,
            &format!(
                "used by linkers [{}] and mashups [{}]; remove it from them first",
                usage
                    .linkers
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                usage
                    .mashups
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

impl Hooks for Folder {
    fn references(&self) -> Vec<Reference> {
        self.parent_id
            .map(|id| Reference {
                target: Target::Folder,
                id,
            })
            .into_iter()
            .collect()
    }

    async fn check_update(&self, id: Uuid, store: &Store) -> Result<()> {
        // Walk up from the new parent; reaching this folder means a cycle.
        let mut seen = HashSet::new();
        let mut next = self.parent_id;
        while let Some(current) = next {
            if current == id || !seen.insert(current) {
                return Err(Error::validation(
                    "folder.parentId",
                    format!("moving folder {id} under {current} would create a cycle"),
                ));
            }
            next = store
                .folders()
                .find(current)
                .await?
                .and_then(|f| f.data.parent_id);
        }
        Ok(())
    }

    async fn check_delete(id: Uuid, store: &Store) -> Result<()> {
        let children = ListOptions::new()
            .filter(json!({ "parentId": id.to_string() }))
            .limit(1);
        if !store.folders().list(&children).await?.items.is_empty() {
            return Err(in_use(
                "folder",
                id,
                "it has subfolders; delete or move them first",
            ));
        }
        let mashups = ListOptions::new()
            .filter(json!({ "folderId": id.to_string() }))
            .limit(1);
        if !store.mashups().list(&mashups).await?.items.is_empty() {
            return Err(in_use("folder", id, "it contains mashups; move them first"));
        }
        Ok(())
    }
}

/// The kind of record a reference points at.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Catalog,
    Control,
    Folder,
}

/// A reference from one record to another, checked before writes.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reference {
    pub target: Target,
    pub id: Uuid,
}

/// Checks that every referenced record exists, looking each one up once
/// however many items of a bulk insert name it.
pub(crate) async fn check_references<T: Hooks>(store: &Store, items: &[T]) -> Result<()> {
    let mut checked = HashSet::new();
    for reference in items.iter().flat_map(Hooks::references) {
        if !checked.insert(reference) {
            continue;
        }
        let exists = match reference.target {
            Target::Catalog => store.catalogs().find(reference.id).await?.is_some(),
            Target::Control => store.controls().find(reference.id).await?.is_some(),
            Target::Folder => store.folders().find(reference.id).await?.is_some(),
        };
        if !exists {
            let target = match reference.target {
                Target::Catalog => "catalog",
                Target::Control => "control",
                Target::Folder => "parent folder",
            };
            return Err(missing(T::SPEC.entity, target, reference.id));
        }
    }
    Ok(())
}

/// Linkers and mashups that read a datasource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatasourceUsage {
    pub linkers: Vec<Uuid>,
    pub mashups: Vec<Uuid>,
}

impl DatasourceUsage {
    pub fn is_empty(&self) -> bool {
        self.linkers.is_empty() && self.mashups.is_empty()
    }
}

impl crate::repo::Repository<Datasource> {
    /// Lists the linkers and mashups that reference the datasource, by id or name.
    pub async fn usage(&self, id: Uuid) -> Result<DatasourceUsage> {
        let datasource = self.get(id).await?;
        let names = [id.to_string(), datasource.data.name.clone()];
        let store = self.store();
        let mut usage = DatasourceUsage::default();
        for linker in store.linkers().list_all(&ListOptions::new()).await? {
            if linker
                .data
                .datasource_refs()
                .iter()
                .any(|r| names.contains(r))
            {
                usage.linkers.push(linker.id);
            }
        }
        for mashup in store.mashups().list_all(&ListOptions::new()).await? {
            if mashup
                .data
                .datasource_refs()
                .iter()
                .any(|r| names.contains(r))
            {
                usage.mashups.push(mashup.id);
            }
        }
        Ok(usage)
    }
}

fn missing(entity: &'static str, target: &str, id: Uuid) -> Error {
    Error::Reference {
        entity,
        id: id.to_string(),
        reason: format!("{target} {id} does not exist; create it first"),
    }
}

fn in_use(entity: &'static str, id: Uuid, reason: &str) -> Error {
    Error::Reference {
        entity,
        id: id.to_string(),
        reason: format!("cannot delete: {reason}"),
    }
}
