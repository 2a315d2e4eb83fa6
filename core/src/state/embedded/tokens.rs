//! Access and refresh tokens in SQLite.
//!
//! Rotation marks the presented refresh token used with one conditional
//! UPDATE as the first statement of its transaction. That statement takes
//! SQLite's write lock, so of two concurrent refreshes of one token only the
//! first finds the row unused and updates it.

use serde_json::Value;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::SqlState;
use crate::error::Result;
use crate::state::input::{
    hash_secret, instant_from_millis, invalid_access_token, invalid_refresh_token,
    reused_refresh_token, Grant, Lifetimes, NewPair,
};
use crate::state::{TokenClaims, TokenPair};

const INSERT_FAMILY: &str = "INSERT INTO state_token_families \
    (id, subject, claims, access_ttl_ms, refresh_ttl_ms, expires_at) VALUES (?, ?, ?, ?, ?, ?)";
const INSERT_TOKEN: &str =
    "INSERT INTO state_tokens (hash, kind, family_id, expires_at) VALUES (?, ?, ?, ?)";
const SELECT_ACCESS: &str = "SELECT f.id, f.subject, f.claims, t.expires_at \
    FROM state_tokens t JOIN state_token_families f ON f.id = t.family_id \
    WHERE t.hash = ? AND t.kind = 'access' AND t.expires_at > ?";
const MARK_USED: &str = "UPDATE state_tokens SET used_at = ? \
    WHERE hash = ? AND kind = 'refresh' AND used_at IS NULL AND expires_at > ? \
    RETURNING family_id";
const SELECT_USED_REFRESH: &str = "SELECT family_id FROM state_tokens \
    WHERE hash = ? AND kind = 'refresh' AND used_at IS NOT NULL AND expires_at > ?";
const SELECT_LIFETIMES: &str =
    "SELECT access_ttl_ms, refresh_ttl_ms FROM state_token_families WHERE id = ?";
const EXTEND_FAMILY: &str =
    "UPDATE state_token_families SET expires_at = MAX(expires_at, ?) WHERE id = ?";
const DELETE_FAMILY_TOKENS: &str = "DELETE FROM state_tokens WHERE family_id = ?";
const DELETE_FAMILY: &str = "DELETE FROM state_token_families WHERE id = ?";
const DELETE_TOKEN: &str = "DELETE FROM state_tokens WHERE hash = ?";

impl SqlState {
    pub async fn issue_tokens(&self, grant: &Grant, now: i64) -> Result<TokenPair> {
        self.cleanup_expired(now).await;
        let family_id = Uuid::new_v4();
        let claims = grant.claims.to_string();
        let mut tx = self.begin().await?;
        sqlx::query(INSERT_FAMILY)
            .bind(family_id.to_string())
            .bind(&grant.subject)
            .bind(claims)
            .bind(grant.lifetimes.access_ms)
            .bind(grant.lifetimes.refresh_ms)
            .bind(now + grant.lifetimes.family_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed("insert token family", e))?;
        let pair = self
            .insert_pair(&mut tx, family_id, grant.lifetimes, now)
            .await?;
        self.commit(tx).await?;
        Ok(pair)
    }

    pub async fn verify_access(&self, token: &str, now: i64) -> Result<TokenClaims> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(SELECT_ACCESS)
            .bind(hash_secret(token))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed("read access token", e))?;
        let (family_id, subject, claims, expires_at) = row.ok_or_else(invalid_access_token)?;
        Ok(TokenClaims {
            subject,
            claims: self.decode_claims(&claims)?,
            family_id: self.decode_family_id(&family_id)?,
            expires_at: instant_from_millis(self.label, expires_at)?,
        })
    }

    pub async fn refresh(&self, refresh_token: &str, now: i64) -> Result<TokenPair> {
        let hash = hash_secret(refresh_token);
        let mut tx = self.begin().await?;
        let won: Option<String> = sqlx::query_scalar(MARK_USED)
            .bind(now)
            .bind(&hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.failed("mark refresh token used", e))?;
        let Some(family_id) = won else {
            let error = self.reject_refresh(&mut tx, &hash, now).await?;
            self.commit(tx).await?;
            return Err(error);
        };
        let row: Option<(i64, i64)> = sqlx::query_as(SELECT_LIFETIMES)
            .bind(&family_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.failed("read token family", e))?;
        let (access_ms, refresh_ms) = row.ok_or_else(invalid_refresh_token)?;
        let lifetimes = Lifetimes {
            access_ms,
            refresh_ms,
        };
        let family = self.decode_family_id(&family_id)?;
        let pair = self.insert_pair(&mut tx, family, lifetimes, now).await?;
        self.commit(tx).await?;
        Ok(pair)
    }

    /// Explains a refresh token that could not be marked used. A token that
    /// is live but already used is a reuse, so its family is revoked.
    async fn reject_refresh(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        hash: &str,
        now: i64,
    ) -> Result<crate::error::Error> {
        let used: Option<String> = sqlx::query_scalar(SELECT_USED_REFRESH)
            .bind(hash)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| self.failed("read refresh token", e))?;
        let Some(family_id) = used else {
            return Ok(invalid_refresh_token());
        };
        self.delete_family(tx, &family_id).await?;
        tracing::warn!(
            backend = self.label,
            family_id = %family_id,
            "refresh token reused; revoked its token family"
        );
        Ok(reused_refresh_token())
    }

    pub async fn revoke_family(&self, family_id: Uuid) -> Result<bool> {
        let mut tx = self.begin().await?;
        let revoked = self.delete_family(&mut tx, &family_id.to_string()).await?;
        self.commit(tx).await?;
        Ok(revoked)
    }

    pub async fn revoke_token(&self, token: &str) -> Result<bool> {
        let result = sqlx::query(DELETE_TOKEN)
            .bind(hash_secret(token))
            .execute(&self.pool)
            .await
            .map_err(|e| self.failed("delete token", e))?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_family(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        family_id: &str,
    ) -> Result<bool> {
        sqlx::query(DELETE_FAMILY_TOKENS)
            .bind(family_id)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.failed("delete family tokens", e))?;
        let result = sqlx::query(DELETE_FAMILY)
            .bind(family_id)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.failed("delete token family", e))?;
        Ok(result.rows_affected() > 0)
    }

    /// Inserts a new access and refresh token of `family_id` and extends the
    /// family's expiry to cover them.
    async fn insert_pair(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        family_id: Uuid,
        lifetimes: Lifetimes,
        now: i64,
    ) -> Result<TokenPair> {
        let family = family_id.to_string();
        let new = NewPair::generate();
        let access_expires_at = now + lifetimes.access_ms;
        let refresh_expires_at = now + lifetimes.refresh_ms;
        let tokens = [
            (&new.access_hash, "access", access_expires_at),
            (&new.refresh_hash, "refresh", refresh_expires_at),
        ];
        for (hash, kind, expires_at) in tokens {
            sqlx::query(INSERT_TOKEN)
                .bind(hash)
                .bind(kind)
                .bind(&family)
                .bind(expires_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| self.failed("insert token", e))?;
        }
        sqlx::query(EXTEND_FAMILY)
            .bind(now + lifetimes.family_ms())
            .bind(&family)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.failed("extend token family", e))?;
        new.into_pair(self.label, family_id, access_expires_at, refresh_expires_at)
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool.begin().await.map_err(|e| self.failed("begin", e))
    }

    async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<()> {
        tx.commit().await.map_err(|e| self.failed("commit", e))
    }

    fn decode_claims(&self, text: &str) -> Result<Value> {
        serde_json::from_str(text).map_err(|e| crate::error::Error::Unavailable {
            backend: self.label.to_string(),
            reason: format!("stored token claims are not valid JSON: {e}"),
            source: Some(Box::new(e)),
        })
    }

    fn decode_family_id(&self, text: &str) -> Result<Uuid> {
        Uuid::parse_str(text).map_err(|e| crate::error::Error::Unavailable {
            backend: self.label.to_string(),
            reason: format!("stored token family id {text:?} is not a UUID: {e}"),
            source: Some(Box::new(e)),
        })
    }
}
