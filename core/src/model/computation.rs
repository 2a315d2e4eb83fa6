use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::{Error, Result};

/// The time window a computation covers; `from` is inclusive, `to` exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One piece of evidence behind a computation and whether it passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub value: Value,
    pub result: bool,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// The result of evaluating one control over one period and scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Computation {
    /// Groups the computations written by one evaluation run.
    pub computation_group: Uuid,
    /// The control evaluated; it must exist.
    pub control_id: Uuid,
    #[serde(default)]
    pub scope: Map<String, Value>,
    pub period: Period,
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub evidences: Vec<Evidence>,
}

impl Entity for Computation {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "computations",
        entity: "computation",
        kind: StoreKind::Document,
        keys: &[
            KeyColumn {
                column: "control_id",
                path: "controlId",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "computation_group",
                path: "computationGroup",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        if self.period.to < self.period.from {
            return Err(Error::validation(
                "computation.period",
                format!(
                    "to ({}) is before from ({})",
                    self.period.to, self.period.from
                ),
            ));
        }
        for (index, evidence) in self.evidences.iter().enumerate() {
            if evidence.key.is_empty() {
                return Err(Error::validation(
                    format!("computation.evidences[{index}].key"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}
