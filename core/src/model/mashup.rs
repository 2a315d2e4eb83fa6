use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::{Error, Result};

/// A Node-RED flow that computes a control, stored as its node list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mashup {
    pub name: String,
    #[serde(default)]
    pub folder_id: Option<Uuid>,
    /// Node-RED nodes as exported JSON objects.
    #[serde(default)]
    pub nodes: Vec<Value>,
}

impl Mashup {
    /// Datasource ids or names that the flow's nodes reference through a
    /// `datasourceId` property.
    pub fn datasource_refs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|node| node.get("datasourceId").and_then(Value::as_str))
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Entity for Mashup {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "mashups",
        entity: "mashup",
        kind: StoreKind::Document,
        keys: &[KeyColumn {
            column: "folder_id",
            path: "folderId",
            kind: KeyKind::Text,
        }],
    };

    fn validate(&self) -> Result<()> {
        validate::name("mashup.name", &self.name)?;
        for (index, node) in self.nodes.iter().enumerate() {
            if !node.is_object() {
                return Err(Error::validation(
                    format!("mashup.nodes[{index}]"),
                    "each node must be a JSON object",
                ));
            }
        }
        Ok(())
    }
}
