//! Sessions in SQLite, keyed by the SHA-256 digest of the session id.

use serde_json::{Map, Value};

use super::SqlState;
use crate::error::{Error, Result};
use crate::state::input::{hash_secret, instant_from_millis, new_secret};
use crate::state::Session;

const INSERT: &str = "INSERT INTO state_sessions (id_hash, data, expires_at) VALUES (?, ?, ?)";
const SELECT: &str =
    "SELECT data, expires_at FROM state_sessions WHERE id_hash = ? AND expires_at > ?";
const UPDATE_DATA: &str = "UPDATE state_sessions SET data = ? \
    WHERE id_hash = ? AND expires_at > ? RETURNING expires_at";
const UPDATE_EXPIRY: &str = "UPDATE state_sessions SET expires_at = ? \
    WHERE id_hash = ? AND expires_at > ? RETURNING data";
const DELETE: &str = "DELETE FROM state_sessions WHERE id_hash = ? RETURNING expires_at";

type Data = Map<String, Value>;

impl SqlState {
    pub async fn create_session(&self, data: Data, ttl_ms: i64, now: i64) -> Result<Session> {
        self.cleanup_expired(now).await;
        let id = new_secret();
        let expires_at = now + ttl_ms;
        sqlx::query(INSERT)
            .bind(hash_secret(&id))
            .bind(Value::Object(data.clone()).to_string())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(|e| self.failed("insert session", e))?;
        self.session(id, data, expires_at)
    }

    pub async fn get_session(&self, id: &str, now: i64) -> Result<Option<Session>> {
        let row: Option<(String, i64)> = sqlx::query_as(SELECT)
            .bind(hash_secret(id))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed("read session", e))?;
        row.map(|(data, expires_at)| self.session(id.to_string(), self.decode(&data)?, expires_at))
            .transpose()
    }

    pub async fn update_session(&self, id: &str, data: Data, now: i64) -> Result<Option<Session>> {
        let expires_at: Option<i64> = sqlx::query_scalar(UPDATE_DATA)
            .bind(Value::Object(data.clone()).to_string())
            .bind(hash_secret(id))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed("update session", e))?;
        expires_at
            .map(|expires_at| self.session(id.to_string(), data, expires_at))
            .transpose()
    }

    pub async fn touch_session(&self, id: &str, ttl_ms: i64, now: i64) -> Result<Option<Session>> {
        let expires_at = now + ttl_ms;
        let data: Option<String> = sqlx::query_scalar(UPDATE_EXPIRY)
            .bind(expires_at)
            .bind(hash_secret(id))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed("touch session", e))?;
        data.map(|data| self.session(id.to_string(), self.decode(&data)?, expires_at))
            .transpose()
    }

    /// Deletes the session; returns whether it existed and had not expired.
    pub async fn delete_session(&self, id: &str, now: i64) -> Result<bool> {
        let expires_at: Option<i64> = sqlx::query_scalar(DELETE)
            .bind(hash_secret(id))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed("delete session", e))?;
        Ok(expires_at.is_some_and(|expires_at| expires_at > now))
    }

    fn session(&self, id: String, data: Data, expires_at: i64) -> Result<Session> {
        Ok(Session {
            id,
            data,
            expires_at: instant_from_millis(self.label, expires_at)?,
        })
    }

    fn decode(&self, text: &str) -> Result<Data> {
        serde_json::from_str(text).map_err(|e| Error::Unavailable {
            backend: self.label.to_string(),
            reason: format!("stored session data is not a JSON object: {e}"),
            source: Some(Box::new(e)),
        })
    }
}
