//! Access and refresh tokens in Redis.

use serde_json::Value;
use uuid::Uuid;

use super::{scripts, RedisState};
use crate::error::Result;
use crate::state::input::{
    hash_secret, instant_from_millis, invalid_access_token, invalid_refresh_token,
    reused_refresh_token, Grant, NewPair,
};
use crate::state::{TokenClaims, TokenPair};

impl RedisState {
    /// Returns `PREFIX family:`, to which the scripts append a family id.
    fn family_prefix(&self) -> String {
        format!("{}family:", self.prefix)
    }

    pub async fn issue_tokens(&self, grant: &Grant, now: i64) -> Result<TokenPair> {
        let family_id = Uuid::new_v4();
        let new = NewPair::generate();
        let access_expires_at = now + grant.lifetimes.access_ms;
        let refresh_expires_at = now + grant.lifetimes.refresh_ms;
        self.issue_pipeline(family_id, grant, &new, now)
            .exec_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("issue tokens", e))?;
        new.into_pair(
            &self.label,
            family_id,
            access_expires_at,
            refresh_expires_at,
        )
    }

    /// Builds the MULTI/EXEC transaction that stores a new family with its
    /// first pair, so that no reader sees a token without its family.
    fn issue_pipeline(
        &self,
        family_id: Uuid,
        grant: &Grant,
        new: &NewPair,
        now: i64,
    ) -> redis::Pipeline {
        let family = format!("{}{family_id}", self.family_prefix());
        let members = format!("{family}:tokens");
        let access = self.key("access", &new.access_hash);
        let refresh = self.key("refresh", &new.refresh_hash);
        let lifetimes = grant.lifetimes;
        let family_fields = [
            ("subject", grant.subject.clone()),
            ("claims", grant.claims.to_string()),
            ("access_ttl_ms", lifetimes.access_ms.to_string()),
            ("refresh_ttl_ms", lifetimes.refresh_ms.to_string()),
        ];
        let token_fields = [
            (&access, now + lifetimes.access_ms, lifetimes.access_ms),
            (&refresh, now + lifetimes.refresh_ms, lifetimes.refresh_ms),
        ];

        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSET").arg(&family).arg(&family_fields).ignore();
        for (key, expires_at, ttl_ms) in token_fields {
            pipe.cmd("HSET")
                .arg(key)
                .arg("family")
                .arg(family_id.to_string())
                .arg("expires_at")
                .arg(expires_at)
                .ignore();
            pipe.cmd("PEXPIRE").arg(key).arg(ttl_ms).ignore();
        }
        pipe.cmd("HSET").arg(&refresh).arg("used").arg("0").ignore();
        pipe.cmd("SADD")
            .arg(&members)
            .arg(&access)
            .arg(&refresh)
            .ignore();
        for key in [&family, &members] {
            pipe.cmd("PEXPIRE")
                .arg(key)
                .arg(lifetimes.family_ms())
                .ignore();
        }
        pipe
    }

    pub async fn verify_access(&self, token: &str, now: i64) -> Result<TokenClaims> {
        let row: Option<(String, String, String, i64)> = scripts::VERIFY_ACCESS
            .key(self.key("access", &hash_secret(token)))
            .arg(now)
            .arg(self.family_prefix())
            .invoke_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("verify access token", e))?;
        let (family_id, subject, claims, expires_at) = row.ok_or_else(invalid_access_token)?;
        let claims: Value = serde_json::from_str(&claims)
            .map_err(|e| self.corrupt("stored token claims are not valid JSON", e))?;
        Ok(TokenClaims {
            subject,
            claims,
            family_id: self.parse_family_id(&family_id)?,
            expires_at: instant_from_millis(&self.label, expires_at)?,
        })
    }

    pub async fn refresh(&self, refresh_token: &str, now: i64) -> Result<TokenPair> {
        let new = NewPair::generate();
        let reply: Vec<String> = scripts::ROTATE_REFRESH
            .key(self.key("refresh", &hash_secret(refresh_token)))
            .key(self.key("access", &new.access_hash))
            .key(self.key("refresh", &new.refresh_hash))
            .arg(now)
            .arg(self.family_prefix())
            .invoke_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("refresh tokens", e))?;
        match reply.as_slice() {
            [status, family_id, access_expires_at, refresh_expires_at] if status == "ok" => {
                let family_id = self.parse_family_id(family_id)?;
                let access_expires_at = self.parse_millis(access_expires_at)?;
                let refresh_expires_at = self.parse_millis(refresh_expires_at)?;
                new.into_pair(
                    &self.label,
                    family_id,
                    access_expires_at,
                    refresh_expires_at,
                )
            }
            [status, family_id] if status == "reused" => {
                tracing::warn!(
                    backend = %self.label,
                    family_id = %family_id,
                    "refresh token reused; revoked its token family"
                );
                Err(reused_refresh_token())
            }
            _ => Err(invalid_refresh_token()),
        }
    }

    pub async fn revoke_family(&self, family_id: Uuid) -> Result<bool> {
        let family = format!("{}{family_id}", self.family_prefix());
        let deleted: i64 = scripts::REVOKE_FAMILY
            .key(&family)
            .key(format!("{family}:tokens"))
            .invoke_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("revoke token family", e))?;
        Ok(deleted > 0)
    }

    /// Deletes one token; the digest names either an access or a refresh key.
    pub async fn revoke_token(&self, token: &str) -> Result<bool> {
        let hash = hash_secret(token);
        let deleted: i64 = redis::cmd("DEL")
            .arg(self.key("access", &hash))
            .arg(self.key("refresh", &hash))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("revoke token", e))?;
        Ok(deleted > 0)
    }

    fn parse_family_id(&self, text: &str) -> Result<Uuid> {
        Uuid::parse_str(text).map_err(|e| self.corrupt("stored token family id is not a UUID", e))
    }

    fn parse_millis(&self, text: &str) -> Result<i64> {
        text.parse()
            .map_err(|e| self.corrupt("stored expiry is not an integer", e))
    }
}
