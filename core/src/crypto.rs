//! Password hashing, secret encryption and API key hashing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::Sealed;

/// The AES-256-GCM key that encrypts secret values, with a short id derived
/// from it so that stored records show which key sealed them.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Parses a key given as standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            Error::configuration(
                "master key is not valid base64; generate one with `openssl rand -base64 32`",
            )
        })?;
        Self::from_bytes(&bytes)
    }

    /// Builds a key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| {
            Error::configuration(format!(
                "master key must be 32 bytes, got {}; generate one with `openssl rand -base64 32`",
                bytes.len()
            ))
        })?;
        let digest = Sha256::digest(bytes);
        let id = hex(&digest[..4]);
        Ok(MasterKey { cipher, id })
    }

    /// Short public identifier of this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext`; `context` (for example the secret name) is bound as
    /// associated data so a ciphertext cannot be moved to another record.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| Error::configuration("encryption failed"))?;
        Ok(Sealed {
            key_id: self.id.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    /// Decrypts a value sealed with this key and the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>> {
        if sealed.key_id != self.id {
            return Err(Error::configuration(format!(
                "secret was encrypted with key {} but the configured master key is {}",
                sealed.key_id, self.id
            )));
        }
        let corrupt = || Error::validation("secret.sealed", "stored ciphertext is corrupt");
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| corrupt())?;
        let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
        if nonce.len() != 12 {
            return Err(corrupt());
        }
        let payload = Payload {
            msg: &ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| Error::Unauthorized {
                reason: "secret could not be decrypted: wrong key or tampered ciphertext".into(),
            })
    }
}

/// Hashes a password with argon2id and a random salt, in PHC string format.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::validation("user.password", e.to_string()))
}

/// Checks `password` against an argon2 PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Generates an API key `ps_<prefix>_<secret>` and returns its prefix and the
/// key. The prefix is stored in clear for lookup; of the key, only its
/// SHA-256 is kept.
pub fn generate_api_key() -> (String, String) {
    let mut prefix = [0u8; 6];
    let mut secret = [0u8; 24];
    OsRng.fill_bytes(&mut prefix);
    OsRng.fill_bytes(&mut secret);
    let prefix = hex(&prefix);
    let key = format!("ps_{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
    (prefix, key)
}

/// Extracts the lookup prefix from an API key.
pub fn api_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("ps_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && !secret.is_empty()).then_some(prefix)
}

/// SHA-256 of an API key, hex encoded. API keys carry 192 random bits, so a
/// fast hash is enough; passwords use argon2id instead.
pub fn hash_api_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns the SHA-256 of `bytes` in lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}
