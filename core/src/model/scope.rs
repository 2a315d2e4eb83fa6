use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::Result;

/// A scope dimension such as `team` or `project`, used to slice computations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Lowercase with underscores, unique.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type", default = "default_scope_type")]
    pub scope_type: String,
    #[serde(default)]
    pub default_value: Value,
}

fn default_scope_type() -> String {
    "string".to_string()
}

impl Entity for Scope {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "scopes",
        entity: "scope",
        kind: StoreKind::Relational,
        keys: &[KeyColumn {
            column: "name",
            path: "name",
            kind: KeyKind::Text,
        }],
    };

    fn validate(&self) -> Result<()> {
        validate::name("scope.name", &self.name)?;
        validate::snake_case("scope.name", &self.name)?;
        validate::name("scope.type", &self.scope_type)
    }
}
