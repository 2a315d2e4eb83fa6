//! The Redis state backend. Every key and channel name starts with the
//! configured prefix, and every multi-step change runs as one Lua script or
//! one MULTI/EXEC transaction.

mod scripts;
mod sessions;
mod tokens;

use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisError;
use serde_json::Value;

use super::config::RedisConfig;
use crate::backend::PoolOptions;
use crate::config::redact_url;
use crate::error::{Error, Result};
use crate::state::{RateDecision, Subscription};

/// Maximum delay between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

pub(crate) struct RedisState {
    client: redis::Client,
    /// Shared multiplexed connection. It connects on first use, so opening a
    /// store never waits for Redis, and it reconnects after I/O errors.
    connection: ConnectionManager,
    /// `redis (HOST:PORT)`.
    label: String,
    prefix: String,
    password: Option<String>,
    connect_timeout: Duration,
}

impl RedisState {
    /// Prepares the client without connecting: the first command connects,
    /// and fails with `Unavailable` while Redis is unreachable.
    pub fn open(config: RedisConfig, pool: &PoolOptions) -> Result<RedisState> {
        let invalid = |error: RedisError| {
            Error::configuration(format!(
                "cache URL {} is invalid: {error}",
                redact_url(&config.client_url)
            ))
        };
        let client = redis::Client::open(config.client_url.as_str()).map_err(invalid)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(pool.acquire_timeout))
            .set_response_timeout(Some(pool.statement_timeout))
            .set_number_of_retries(pool.retries as usize)
            .set_max_delay(MAX_RECONNECT_DELAY);
        let connection = client
            .get_connection_manager_lazy(manager_config)
            .map_err(invalid)?;
        Ok(RedisState {
            client,
            connection,
            label: config.label,
            prefix: config.prefix,
            password: config.password,
            connect_timeout: pool.acquire_timeout,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Returns `PREFIX KIND:NAME` without the spaces.
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Maps a Redis error to `Unavailable`, keeping the URL password out of
    /// the message even if a server or library error were to echo it.
    fn failed(&self, operation: &str, error: RedisError) -> Error {
        let mut reason = format!("{operation} failed: {error}");
        let mut source: Option<Box<dyn std::error::Error + Send + Sync>> = Some(Box::new(error));
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) {
            if reason.contains(password) {
                reason = reason.replace(password, "***");
                source = None;
            }
        }
        Error::Unavailable {
            backend: self.label.clone(),
            reason,
            source,
        }
    }

    /// Maps a value read back from Redis that does not parse.
    fn corrupt(
        &self,
        problem: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Unavailable {
            backend: self.label.clone(),
            reason: format!("{problem}: {error}"),
            source: Some(Box::new(error)),
        }
    }

    pub async fn rate_limit(&self, key: &str, limit: u64, window_ms: i64) -> Result<RateDecision> {
        let (allowed, count, left_ms): (i64, u64, i64) = scripts::RATE_LIMIT
            .key(self.key("rate", key))
            .arg(limit)
            .arg(window_ms)
            .invoke_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("rate limit", e))?;
        let reset_after = Duration::from_millis(left_ms.max(0).unsigned_abs());
        let allowed = allowed == 1;
        Ok(RateDecision {
            allowed,
            remaining: limit.saturating_sub(count),
            retry_after: (!allowed).then_some(reset_after),
            reset_after,
        })
    }

    pub async fn publish(&self, channel: &str, message: &Value) -> Result<()> {
        redis::cmd("PUBLISH")
            .arg(self.key("channel", channel))
            .arg(message.to_string())
            .exec_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("publish", e))
    }

    /// Opens a dedicated connection subscribed to `channel`. It returns once
    /// Redis has confirmed the subscription, so later publishes arrive.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let name = self.key("channel", channel);
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&name).await?;
            Ok(pubsub)
        };
        let pubsub = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| Error::Unavailable {
                backend: self.label.clone(),
                reason: format!("subscribe timed out after {:?}", self.connect_timeout),
                source: None,
            })?
            .map_err(|e| self.failed("subscribe", e))?;
        let messages = pubsub.into_on_message().filter_map(move |message| {
            let decoded = decode_message(&name, message.get_payload_bytes());
            async move { decoded }
        });
        Ok(Subscription::new(channel, messages.boxed()))
    }

    pub async fn set_temp(&self, key: &str, value: &Value, ttl_ms: i64) -> Result<()> {
        redis::cmd("SET")
            .arg(self.key("temp", key))
            .arg(value.to_string())
            .arg("PX")
            .arg(ttl_ms)
            .exec_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("set temporary value", e))
    }

    pub async fn get_temp(&self, key: &str) -> Result<Option<Value>> {
        let text: Option<String> = redis::cmd("GET")
            .arg(self.key("temp", key))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("get temporary value", e))?;
        text.map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| self.corrupt("stored temporary value is not valid JSON", e))
    }

    pub async fn delete_temp(&self, key: &str) -> Result<bool> {
        let deleted: i64 = redis::cmd("DEL")
            .arg(self.key("temp", key))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| self.failed("delete temporary value", e))?;
        Ok(deleted > 0)
    }
}

/// Parses a published payload; a payload that is not JSON, sent by another
/// client, is logged and skipped.
fn decode_message(channel: &str, payload: &[u8]) -> Option<Value> {
    match serde_json::from_slice(payload) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(channel, %error, "skipped a pub/sub message that is not JSON");
            None
        }
    }
}
