use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::Result;

/// A folder in the tree that organizes mashups; the repository rejects cycles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Folder {
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

impl Entity for Folder {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "folders",
        entity: "folder",
        kind: StoreKind::Document,
        keys: &[KeyColumn {
            column: "parent_id",
            path: "parentId",
            kind: KeyKind::Text,
        }],
    };

    fn validate(&self) -> Result<()> {
        validate::name("folder.name", &self.name)
    }
}
