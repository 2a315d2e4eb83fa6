use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::Result;

/// A value encrypted with AES-256-GCM under the master key named by `key_id`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub key_id: String,
    /// Base64 of the 96-bit nonce.
    pub nonce: String,
    /// Base64 of the ciphertext and tag.
    pub ciphertext: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A credential such as an API token. The plaintext is never stored, logged
/// or returned by list calls; `Secrets::reveal` decrypts it on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    #[serde(rename = "type", default = "default_secret_type")]
    pub secret_type: String,
    #[serde(default = "default_environment")]
    pub environment: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub sealed: Sealed,
    #[serde(default)]
    pub rotated_at: Option<DateTime<Utc>>,
}

fn default_secret_type() -> String {
    "token".to_string()
}

fn default_environment() -> String {
    "default".to_string()
}

/// Input for creating a secret from its plaintext value.
#[derive(Clone, Deserialize)]
pub struct NewSecret {
    pub name: String,
    #[serde(rename = "type", default = "default_secret_type")]
    pub secret_type: String,
    #[serde(default = "default_environment")]
    pub environment: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub value: String,
}

impl NewSecret {
    /// Builds a token secret named `name` in the default environment.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        NewSecret {
            name: name.into(),
            secret_type: default_secret_type(),
            environment: default_environment(),
            owner: None,
            value: value.into(),
        }
    }
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("name", &self.name)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// Associated data bound to the ciphertext: a sealed value only opens
    /// under the same name and environment.
    pub(crate) fn context(name: &str, environment: &str) -> String {
        format!("secret:{environment}:{name}")
    }
}

impl Entity for Secret {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "secrets",
        entity: "secret",
        kind: StoreKind::Relational,
        keys: &[
            KeyColumn {
                column: "name",
                path: "name",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "environment",
                path: "environment",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("secret.name", &self.name)?;
        validate::name("secret.environment", &self.environment)
    }

    fn validate_transition(&self, previous: &Self) -> Result<()> {
        // The name and environment are bound into the ciphertext, so changing
        // them would make the stored value impossible to decrypt.
        if self.name != previous.name || self.environment != previous.environment {
            return Err(crate::error::Error::validation(
                "secret.name",
                "a secret cannot be renamed or moved to another environment; create a new secret with the value",
            ));
        }
        Ok(())
    }
}
