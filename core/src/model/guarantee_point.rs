use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::Result;

/// A measured point of an agreement's guarantee; unique on
/// (agreement, guarantee, timestamp, scope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuaranteePoint {
    pub agreement_id: String,
    pub guarantee_id: String,
    #[serde(default)]
    pub value: Value,
    pub result: bool,
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub metrics: Map<String, Value>,
    #[serde(default)]
    pub scope: Map<String, Value>,
    #[serde(default)]
    pub computation_group: Option<Uuid>,
    /// Digest of the unique tuple, maintained by the repository so the
    /// database can enforce uniqueness on it.
    #[serde(default)]
    pub unique_key: String,
}

impl GuaranteePoint {
    /// Computes the digest of (agreement, guarantee, timestamp, scope).
    pub(crate) fn compute_unique_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let tuple = serde_json::json!([
            self.agreement_id,
            self.guarantee_id,
            super::format_instant(&self.timestamp),
            self.scope,
        ]);
        crate::crypto::hex(&Sha256::digest(tuple.to_string().as_bytes()))
    }
}

impl Entity for GuaranteePoint {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "guarantee_points",
        entity: "guarantee point",
        kind: StoreKind::Document,
        keys: &[
            KeyColumn {
                column: "agreement_id",
                path: "agreementId",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "unique_key",
                path: "uniqueKey",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("guarantee_point.agreementId", &self.agreement_id)?;
        validate::name("guarantee_point.guaranteeId", &self.guarantee_id)
    }
}
