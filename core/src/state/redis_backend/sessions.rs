//! Sessions in Redis: one hash per session, keyed by the SHA-256 digest of
//! the session id, with fields `data` (JSON) and `expires_at`.

use serde_json::{Map, Value};

use super::{scripts, RedisState};
use crate::error::Result;
use crate::state::input::{hash_secret, instant_from_millis, new_secret};
use crate::state::Session;

type Data = Map<String, Value>;

impl RedisState {
    fn session_key(&self, id: &str) -> String {
        self.key("session", &hash_secret(id))
    }

    pub async fn create_session(&self, data: Data, ttl_ms: i64, now: i64) -> Result<Session> {
        let id = new_secret();
        let key = self.session_key(&id);
        let expires_at = now + ttl_ms;
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("data")
            .arg(Value::Object(data.clone()).to_string())
            .arg("expires_at")
            .arg(expires_at)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl_ms)
            .ignore()
            .exec_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("create session", e))?;
        self.session(id, data, expires_at)
    }

    pub async fn get_session(&self, id: &str, now: i64) -> Result<Option<Session>> {
        let (data, expires_at): (Option<String>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.session_key(id))
            .arg("data")
            .arg("expires_at")
            .query_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("read session", e))?;
        match (data, expires_at) {
            (Some(data), Some(expires_at)) if expires_at > now => {
                let data = self.decode_session(&data)?;
                self.session(id.to_string(), data, expires_at).map(Some)
            }
            _ => Ok(None),
        }
    }

    pub async fn update_session(&self, id: &str, data: Data, now: i64) -> Result<Option<Session>> {
        let expires_at: Option<i64> = scripts::UPDATE_SESSION
            .key(self.session_key(id))
            .arg(now)
            .arg(Value::Object(data.clone()).to_string())
            .invoke_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("update session", e))?;
        expires_at
            .map(|expires_at| self.session(id.to_string(), data, expires_at))
            .transpose()
    }

    pub async fn touch_session(&self, id: &str, ttl_ms: i64, now: i64) -> Result<Option<Session>> {
        let expires_at = now + ttl_ms;
        let data: Option<String> = scripts::TOUCH_SESSION
            .key(self.session_key(id))
            .arg(now)
            .arg(ttl_ms)
            .arg(expires_at)
            .invoke_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("touch session", e))?;
        let Some(data) = data else {
            return Ok(None);
        };
        let data = self.decode_session(&data)?;
        self.session(id.to_string(), data, expires_at).map(Some)
    }

    pub async fn delete_session(&self, id: &str) -> Result<bool> {
        let deleted: i64 = redis::cmd("DEL")
            .arg(self.session_key(id))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("delete session", e))?;
        Ok(deleted > 0)
    }

    fn session(&self, id: String, data: Data, expires_at: i64) -> Result<Session> {
        Ok(Session {
            id,
            data,
            expires_at: instant_from_millis(&self.label, expires_at)?,
        })
    }

    fn decode_session(&self, text: &str) -> Result<Data> {
        serde_json::from_str(text)
            .map_err(|e| self.corrupt("stored session data is not a JSON object", e))
    }
}
