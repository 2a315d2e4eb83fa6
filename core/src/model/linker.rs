use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::Result;
use crate::link::LinkerSpec;

/// State of a linker's last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    #[default]
    Idle,
    Succeeded,
    Partial,
    Failed,
}

/// A stored linker: which datasources to read and how to join and reshape them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Linker {
    pub name: String,
    pub spec: LinkerSpec,
    #[serde(default)]
    pub execution_status: ExecutionStatus,
    #[serde(default)]
    pub last_run_at: Option<DateTime<Utc>>,
}

impl Linker {
    /// Datasource ids or names that the linker's sources read.
    pub fn datasource_refs(&self) -> Vec<String> {
        self.spec
            .sources
            .iter()
            .map(|s| s.datasource.clone())
            .collect()
    }
}

impl Entity for Linker {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "linkers",
        entity: "linker",
        kind: StoreKind::Document,
        keys: &[KeyColumn {
            column: "name",
            path: "name",
            kind: KeyKind::Text,
        }],
    };

    fn validate(&self) -> Result<()> {
        validate::name("linker.name", &self.name)?;
        self.spec.validate()
    }
}
