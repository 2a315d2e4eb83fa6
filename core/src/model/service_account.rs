use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, Role, StoreKind};
use crate::error::{Error, Result};

/// A non-human client that authenticates with an API key. Only the key's
/// prefix (for lookup) and its SHA-256 hash are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    pub name: String,
    #[serde(default)]
    pub role: Role,
    pub key_prefix: String,
    pub key_hash: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub disabled: bool,
}

/// Input for creating a service account; the API key is generated.
#[derive(Debug, Clone, Deserialize)]
pub struct NewServiceAccount {
    pub name: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Entity for ServiceAccount {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "service_accounts",
        entity: "service account",
        kind: StoreKind::Relational,
        keys: &[
            KeyColumn {
                column: "name",
                path: "name",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "key_prefix",
                path: "key_prefix",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("service_account.name", &self.name)?;
        if self.key_hash.len() != 64 || !self.key_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::validation(
                "service_account.key_hash",
                "must be a SHA-256 hex digest; create accounts through ServiceAccounts::create",
            ));
        }
        Ok(())
    }
}
