//! Input checks, secrets and timestamps shared by both state backends.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::TokenPair;
use crate::error::{Error, Result};

/// Random bytes in every token and session id.
const SECRET_BYTES: usize = 32;

/// Longest TTL or window accepted. It keeps every expiry timestamp far inside
/// the ranges of chrono and of Redis' PEXPIRE.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Arguments of `issue_tokens`, checked.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub subject: String,
    pub claims: Value,
    pub lifetimes: Lifetimes,
}

/// Access and refresh token TTLs of a family, in milliseconds. Every pair
/// issued by a refresh gets the same TTLs as the first pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub access_ms: i64,
    pub refresh_ms: i64,
}

impl Lifetimes {
    /// How long the family must outlive its newest pair.
    pub fn family_ms(&self) -> i64 {
        self.access_ms.max(self.refresh_ms)
    }
}

impl Grant {
    pub fn new(
        subject: &str,
        claims: Value,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Grant> {
        if subject.is_empty() {
            return Err(Error::validation("subject", "must not be empty"));
        }
        Ok(Grant {
            subject: subject.to_string(),
            claims,
            lifetimes: Lifetimes {
                access_ms: ttl_millis("access_ttl", access_ttl)?,
                refresh_ms: ttl_millis("refresh_ttl", refresh_ttl)?,
            },
        })
    }
}

/// Converts a TTL or window to whole milliseconds, rejecting zero and values
/// above 100 years.
pub(crate) fn ttl_millis(field: &str, ttl: Duration) -> Result<i64> {
    if ttl > MAX_TTL {
        return Err(Error::validation(field, "must be at most 100 years"));
    }
    let millis = i64::try_from(ttl.as_millis())
        .map_err(|_| Error::validation(field, "must be at most 100 years"))?;
    if millis == 0 {
        return Err(Error::validation(field, "must be at least 1 ms"));
    }
    Ok(millis)
}

/// Rejects an empty key, channel or rate-limit name.
pub(crate) fn require_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    Ok(())
}

/// Returns the current time in Unix milliseconds.
pub(crate) fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Converts Unix milliseconds read back from a store to a timestamp.
pub(crate) fn instant_from_millis(backend: &str, millis: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| Error::Unavailable {
        backend: backend.to_string(),
        reason: format!("stored expiry {millis} ms is outside the supported date range"),
        source: None,
    })
}

/// Generates a token or session id: 32 random bytes from the operating
/// system, base64url without padding.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Returns the lowercase hex SHA-256 digest that stores keep instead of a
/// token or session id.
pub(crate) fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// A newly generated access and refresh token with the digests to store.
pub(crate) struct NewPair {
    pub access_token: String,
    pub refresh_token: String,
    pub access_hash: String,
    pub refresh_hash: String,
}

impl NewPair {
    pub fn generate() -> NewPair {
        let access_token = new_secret();
        let refresh_token = new_secret();
        NewPair {
            access_hash: hash_secret(&access_token),
            refresh_hash: hash_secret(&refresh_token),
            access_token,
            refresh_token,
        }
    }

    /// Builds the pair returned to the caller from the stored expiries.
    pub fn into_pair(
        self,
        backend: &str,
        family_id: Uuid,
        access_expires_at: i64,
        refresh_expires_at: i64,
    ) -> Result<TokenPair> {
        Ok(TokenPair {
            access_expires_at: instant_from_millis(backend, access_expires_at)?,
            refresh_expires_at: instant_from_millis(backend, refresh_expires_at)?,
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            family_id,
        })
    }
}

/// Builds the error for an access token that is unknown, expired or revoked.
pub(crate) fn invalid_access_token() -> Error {
    Error::Unauthorized {
        reason: "access token is invalid, expired or revoked".to_string(),
    }
}

/// Builds the error for a refresh token that is unknown, expired or revoked.
pub(crate) fn invalid_refresh_token() -> Error {
    Error::Unauthorized {
        reason: "refresh token is invalid, expired or revoked".to_string(),
    }
}

/// Builds the error for a refresh token presented again after its rotation.
pub(crate) fn reused_refresh_token() -> Error {
    Error::Unauthorized {
        reason: "refresh token was already used, so every token of its family is now revoked"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_base64url_characters() {
        let secret = new_secret();
        assert_eq!(secret.len(), 43);
        assert!(secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn hash_matches_known_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ttl_rejects_zero_and_huge_values() {
        assert!(ttl_millis("ttl", Duration::from_micros(999)).is_err());
        assert!(ttl_millis("ttl", MAX_TTL + Duration::from_secs(1)).is_err());
        assert_eq!(
            ttl_millis("ttl", Duration::from_millis(300)).ok(),
            Some(300)
        );
    }
}
