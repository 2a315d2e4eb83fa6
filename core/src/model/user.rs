use serde::{Deserialize, Serialize};

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, Sealed, StoreKind};
use crate::error::{Error, Result};

/// Permission level of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Admin,
    Developer,
    #[default]
    User,
}

/// A person who signs in. The password is stored only as an argon2id hash.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub email: String,
    /// argon2id hash in PHC format; set through `Users::create` with a password.
    pub password_hash: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub two_factor_enabled: bool,
    /// TOTP secret, encrypted under the master key.
    #[serde(default)]
    pub two_factor_secret: Option<Sealed>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("two_factor_enabled", &self.two_factor_enabled)
            .finish_non_exhaustive()
    }
}

/// Input for creating a user with a plaintext password.
#[derive(Clone, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub role: Role,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

impl NewUser {
    pub(crate) fn validate_password(&self) -> Result<()> {
        if self.password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::validation(
                "user.password",
                format!("must have at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

impl Entity for User {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "users",
        entity: "user",
        kind: StoreKind::Relational,
        keys: &[
            KeyColumn {
                column: "username",
                path: "username",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "email",
                path: "email",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("user.username", &self.username)?;
        validate::email("user.email", &self.email)?;
        if !self.password_hash.starts_with("$argon2id$") {
            return Err(Error::validation(
                "user.password_hash",
                "must be an argon2id hash; create users with a password through Users::create",
            ));
        }
        if self.two_factor_enabled && self.two_factor_secret.is_none() {
            return Err(Error::validation(
                "user.two_factor_secret",
                "two-factor is enabled but no secret is set",
            ));
        }
        Ok(())
    }
}
