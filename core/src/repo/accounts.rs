//! Operations on users, secrets and service accounts that handle plaintext
//! credentials: hashing, encryption and verification.

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::Repository;
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{
    NewSecret, NewServiceAccount, NewUser, Record, Sealed, Secret, ServiceAccount, User,
};

impl Repository<User> {
    /// Creates a user, hashing the password with argon2id.
    pub async fn register(&self, new: NewUser) -> Result<Record<User>> {
        new.validate_password()?;
        let password = new.password.clone();
        let password_hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password))
            .await
            .map_err(|e| Error::validation("user.password", e.to_string()))??;
        let user = User {
            username: new.username,
            email: new.email,
            password_hash,
            role: new.role,
            two_factor_enabled: false,
            two_factor_secret: None,
        };
        self.create(user).await
    }

    /// Returns the user when `password` matches; the same error for an
    /// unknown user and a wrong password, so usernames cannot be probed.
    pub async fn verify_password(&self, username: &str, password: &str) -> Result<Record<User>> {
        let denied = || Error::Unauthorized {
            reason: "wrong username or password".into(),
        };
        let user = self
            .find_one(json!({ "username": username }))
            .await?
            .ok_or_else(denied)?;
        let hash = user.data.password_hash.clone();
        let password = password.to_string();
        let matches =
            tokio::task::spawn_blocking(move || crypto::verify_password(&password, &hash))
                .await
                .unwrap_or(false);
        if matches {
            Ok(user)
        } else {
            Err(denied())
        }
    }

    /// Enables two-factor sign-in, storing the TOTP secret encrypted.
    pub async fn enable_two_factor(
        &self,
        id: Uuid,
        expected_version: i64,
        totp_secret: &str,
    ) -> Result<Record<User>> {
        let mut user = self.get(id).await?.data;
        let context = format!("user:{id}:totp");
        user.two_factor_secret = Some(
            self.store()
                .master_key()?
                .seal(totp_secret.as_bytes(), &context)?,
        );
        user.two_factor_enabled = true;
        self.update(id, expected_version, user).await
    }
}

impl Repository<Secret> {
    /// Stores a secret, encrypting its value under the master key.
    pub async fn create_secret(&self, new: NewSecret) -> Result<Record<Secret>> {
        if new.value.is_empty() {
            return Err(Error::validation("secret.value", "must not be empty"));
        }
        let sealed = self.seal(&new.name, &new.environment, &new.value)?;
        let secret = Secret {
            name: new.name,
            secret_type: new.secret_type,
            environment: new.environment,
            owner: new.owner,
            sealed,
            rotated_at: None,
        };
        self.create(secret).await
    }

    /// Decrypts and returns a secret's plaintext value.
    pub async fn reveal(&self, id: Uuid) -> Result<String> {
        let secret = self.get(id).await?.data;
        let context = Secret::context(&secret.name, &secret.environment);
        let bytes = self.store().master_key()?.open(&secret.sealed, &context)?;
        String::from_utf8(bytes)
            .map_err(|_| Error::validation("secret.value", "stored value is not UTF-8"))
    }

    /// Replaces a secret's value and records the rotation time.
    pub async fn rotate(
        &self,
        id: Uuid,
        expected_version: i64,
        value: &str,
    ) -> Result<Record<Secret>> {
        let mut secret = self.get(id).await?.data;
        secret.sealed = self.seal(&secret.name, &secret.environment, value)?;
        secret.rotated_at = Some(Utc::now());
        self.update(id, expected_version, secret).await
    }

    fn seal(&self, name: &str, environment: &str, value: &str) -> Result<Sealed> {
        let context = Secret::context(name, environment);
        self.store().master_key()?.seal(value.as_bytes(), &context)
    }
}

impl Repository<ServiceAccount> {
    /// Creates a service account and returns it with its API key. The key is
    /// shown only here; the store keeps its hash.
    pub async fn create_account(
        &self,
        new: NewServiceAccount,
    ) -> Result<(Record<ServiceAccount>, String)> {
        let (prefix, key) = crypto::generate_api_key();
        let account = ServiceAccount {
            name: new.name,
            role: new.role,
            key_prefix: prefix,
            key_hash: crypto::hash_api_key(&key),
            expires_at: new.expires_at,
            disabled: false,
        };
        Ok((self.create(account).await?, key))
    }

    /// Returns the account an API key belongs to, if it is enabled and not expired.
    pub async fn authenticate(&self, api_key: &str) -> Result<Record<ServiceAccount>> {
        let denied = |reason: &str| Error::Unauthorized {
            reason: reason.into(),
        };
        let prefix = crypto::api_key_prefix(api_key).ok_or_else(|| denied("malformed API key"))?;
        let account = self
            .find_one(json!({ "key_prefix": prefix }))
            .await?
            .ok_or_else(|| denied("unknown API key"))?;
        if !crypto::constant_time_eq(&account.data.key_hash, &crypto::hash_api_key(api_key)) {
            return Err(denied("unknown API key"));
        }
        if account.data.disabled {
            return Err(denied("service account is disabled"));
        }
        if account.data.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(denied("API key has expired"));
        }
        Ok(account)
    }
}
