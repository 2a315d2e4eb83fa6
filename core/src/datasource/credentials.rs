//! Datasource credentials: references to stored secrets, or inline values
//! that the repository encrypts on save.
//!
//! A datasource's `credentials` map holds, per role (`token`, `password`,
//! `apiKey`, `cookie`), one of these forms:
//! - `{"secret": "NAME", "environment": "prod"}`: a reference to a secret;
//!   the environment defaults to the datasource's environment.
//! - `{"value": "PLAINTEXT"}`: an inline credential, accepted on create and
//!   update only. The repository replaces it with the sealed form before
//!   writing, so the plaintext is never stored.
//! - `{"value": "[redacted]", "sealed": {...}}`: the stored form, AES-256-GCM
//!   under the store's master key. Reads return it as it is, so sending a
//!   record back on update keeps the credential.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::model::{CredentialRef, Datasource, Sealed};
use crate::store::Store;

/// Marker that replaces an inline credential's value in stored records.
pub const REDACTED: &str = "[redacted]";

/// One credential entry of a datasource.
#[derive(Clone, PartialEq)]
pub enum Credential {
    /// A reference to a stored secret.
    Secret(CredentialRef),
    /// A plaintext value not yet sealed.
    Inline(String),
    /// A value sealed under the master key.
    Sealed(Sealed),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(reference) => f.debug_tuple("Secret").field(reference).finish(),
            Credential::Inline(_) => f.write_str("Inline([redacted])"),
            Credential::Sealed(sealed) => f.debug_tuple("Sealed").field(sealed).finish(),
        }
    }
}

impl Credential {
    /// Parses the entry stored under `role`.
    pub fn parse(role: &str, value: &Value) -> Result<Credential> {
        let field = || format!("datasource.credentials.{role}");
        let invalid = || {
            Error::validation(
                field(),
                "must be {\"secret\": \"NAME\"} naming a stored secret, or {\"value\": \"...\"} \
                 for an inline credential that is encrypted on save",
            )
        };
        let object = value.as_object().ok_or_else(invalid)?;
        if object.contains_key("secret") {
            return serde_json::from_value(value.clone())
                .map(Credential::Secret)
                .map_err(|_| invalid());
        }
        let text = object
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        match object.get("sealed") {
            Some(sealed) if text == REDACTED && object.len() == 2 => {
                serde_json::from_value(sealed.clone())
                    .map(Credential::Sealed)
                    .map_err(|_| invalid())
            }
            Some(_) => Err(invalid()),
            None if text == REDACTED => Err(Error::validation(
                field(),
                "holds the redaction marker without a sealed value; send the real value again",
            )),
            None if text.is_empty() || object.len() != 1 => Err(invalid()),
            None => Ok(Credential::Inline(text.to_string())),
        }
    }
}

/// Associated data that binds a sealed credential to its role.
fn seal_context(role: &str) -> String {
    format!("datasource:credential:{role}")
}

impl Datasource {
    /// Returns the parsed credential stored under `role`, if any.
    pub fn credential(&self, role: &str) -> Result<Option<Credential>> {
        self.credentials
            .get(role)
            .map(|value| Credential::parse(role, value))
            .transpose()
    }

    /// Replaces inline credentials with their sealed, redacted form.
    /// The master key is needed only when an inline credential is present.
    pub(crate) fn seal_inline_credentials(&mut self, store: &Store) -> Result<()> {
        let mut sealed = Map::new();
        for (role, value) in &self.credentials {
            if let Credential::Inline(text) = Credential::parse(role, value)? {
                let value = store
                    .master_key()?
                    .seal(text.as_bytes(), &seal_context(role))?;
                sealed.insert(role.clone(), json!({ "value": REDACTED, "sealed": value }));
            }
        }
        self.credentials.extend(sealed);
        Ok(())
    }
}

impl Store {
    /// Returns the plaintext of a datasource's credential `role`: the
    /// referenced secret's value, or the inline value decrypted. Never log it.
    pub async fn reveal_credential(
        &self,
        datasource: &Datasource,
        role: &str,
    ) -> Result<Option<String>> {
        let Some(credential) = datasource.credential(role)? else {
            return Ok(None);
        };
        let text = match credential {
            Credential::Inline(text) => text,
            Credential::Sealed(sealed) => {
                let bytes = self.master_key()?.open(&sealed, &seal_context(role))?;
                String::from_utf8(bytes).map_err(|_| {
                    Error::validation(
                        format!("datasource.credentials.{role}"),
                        "the stored value is not UTF-8; store it again",
                    )
                })?
            }
            Credential::Secret(reference) => {
                self.reveal_secret(datasource, role, &reference).await?
            }
        };
        Ok(Some(text))
    }

    async fn reveal_secret(
        &self,
        datasource: &Datasource,
        role: &str,
        reference: &CredentialRef,
    ) -> Result<String> {
        let environment = reference
            .environment
            .clone()
            .unwrap_or_else(|| datasource.environment.clone());
        let filter = json!({ "name": reference.secret, "environment": environment });
        let secret = self
            .secrets()
            .find_one(filter)
            .await?
            .ok_or_else(|| Error::Reference {
                entity: "datasource",
                id: datasource.name.clone(),
                reason: format!(
                "credential {role} names secret {:?} in environment {environment:?}, which does \
                 not exist; create it with Secrets::create_secret",
                reference.secret
            ),
            })?;
        self.secrets().reveal(secret.id).await
    }
}
