//! Fast-changing state: access and refresh tokens, sessions, rate limits,
//! pub/sub and temporary values.
//!
//! The cache URL selects the backend. With `memory`, tokens and sessions are
//! rows in the store's SQLite file (in a private in-memory database when the
//! relational store is PostgreSQL), and the rest lives in this process. With
//! `redis://HOST:PORT/?prefix=NAME`, everything is in Redis under the prefix
//! (default `polystat:`). Both backends behave the same, and docs/state.md
//! describes the Redis key layout. Each call runs in a debug-level tracing
//! span named after the method, with the backend as a field.

mod config;
mod embedded;
mod input;
mod redis_backend;
mod types;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use uuid::Uuid;

pub use config::{RedisConfig, StateConfig, DEFAULT_PREFIX};
pub use types::{RateDecision, Session, Subscription, TokenClaims, TokenPair};

use crate::backend::{Backend as StoreBackend, PoolOptions};
use crate::error::{Error, Result};
use embedded::{EmbeddedState, LocalState, SqlState};
use input::{now_millis, require_name, ttl_millis, Grant};
use redis_backend::RedisState;

/// A handle on the state features of a store. Cheap to clone.
#[derive(Clone)]
pub struct State {
    backend: Arc<Backend>,
}

enum Backend {
    Embedded(EmbeddedState),
    Redis(RedisState),
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("backend", &self.backend_name())
            .finish()
    }
}

impl State {
    /// Opens the state backend of a store. A Redis backend connects on first
    /// use, so an unreachable Redis fails each call with `Unavailable` and
    /// does not stop the store from opening.
    pub(crate) async fn open(
        config: StateConfig,
        relational: &StoreBackend,
        pool: &PoolOptions,
    ) -> Result<State> {
        let backend = match config {
            StateConfig::Redis(redis) => Backend::Redis(RedisState::open(redis, pool)?),
            StateConfig::Embedded => {
                let tables = match relational {
                    StoreBackend::Sqlite(sqlite) => SqlState::durable(sqlite.pool().clone()),
                    // NOTE: with PostgreSQL and the `memory` cache, tokens and
                    // sessions live in a private in-memory SQLite database, so
                    // they are lost on restart and not shared between processes.
                    _ => SqlState::process_local().await?,
                };
                Backend::Embedded(EmbeddedState {
                    tables,
                    local: LocalState::new(),
                })
            }
        };
        Ok(State {
            backend: Arc::new(backend),
        })
    }

    /// Returns `memory` or `redis (HOST:PORT)`, for logs.
    pub fn backend_name(&self) -> &str {
        match self.backend.as_ref() {
            Backend::Embedded(_) => "memory",
            Backend::Redis(redis) => redis.label(),
        }
    }

    /// Issues a new token family and its first access and refresh token.
    /// `claims` is returned as-is by [`State::verify_access`].
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn issue_tokens(
        &self,
        subject: &str,
        claims: Value,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<TokenPair> {
        let grant = Grant::new(subject, claims, access_ttl, refresh_ttl)?;
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.issue_tokens(&grant, now).await,
            Backend::Redis(redis) => redis.issue_tokens(&grant, now).await,
        }
    }

    /// Returns the claims of a live access token, or `Unauthorized` when the
    /// token is unknown, expired or revoked.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn verify_access(&self, access_token: &str) -> Result<TokenClaims> {
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.verify_access(access_token, now).await,
            Backend::Redis(redis) => redis.verify_access(access_token, now).await,
        }
    }

    /// Exchanges a refresh token for a new pair in the same family, with the
    /// TTLs of the first pair. The presented token becomes used, and earlier
    /// access tokens stay valid until they expire.
    ///
    /// Presenting a used refresh token again counts as theft: the whole family
    /// is revoked and the call returns `Unauthorized`. Of concurrent refreshes
    /// of one token, exactly one succeeds, and the others count as reuse.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.refresh(refresh_token, now).await,
            Backend::Redis(redis) => redis.refresh(refresh_token, now).await,
        }
    }

    /// Revokes every access and refresh token of a family; returns whether
    /// the family existed.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn revoke_family(&self, family_id: Uuid) -> Result<bool> {
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.revoke_family(family_id).await,
            Backend::Redis(redis) => redis.revoke_family(family_id).await,
        }
    }

    /// Revokes one access or refresh token; returns whether it existed.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn revoke_token(&self, token: &str) -> Result<bool> {
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.revoke_token(token).await,
            Backend::Redis(redis) => redis.revoke_token(token).await,
        }
    }

    /// Creates a session with a new random id that expires after `ttl`.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn create_session(&self, data: Map<String, Value>, ttl: Duration) -> Result<Session> {
        let ttl_ms = ttl_millis("ttl", ttl)?;
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.create_session(data, ttl_ms, now).await,
            Backend::Redis(redis) => redis.create_session(data, ttl_ms, now).await,
        }
    }

    /// Returns the session, or `None` when it does not exist or has expired.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.get_session(id, now).await,
            Backend::Redis(redis) => redis.get_session(id, now).await,
        }
    }

    /// Replaces the data of a live session and keeps its expiry; returns
    /// `None` when the session does not exist or has expired.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn update_session(
        &self,
        id: &str,
        data: Map<String, Value>,
    ) -> Result<Option<Session>> {
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.update_session(id, data, now).await,
            Backend::Redis(redis) => redis.update_session(id, data, now).await,
        }
    }

    /// Sets the expiry of a live session to now + `ttl`; returns `None` when
    /// the session does not exist or has expired.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn touch_session(&self, id: &str, ttl: Duration) -> Result<Option<Session>> {
        let ttl_ms = ttl_millis("ttl", ttl)?;
        let now = now_millis();
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.touch_session(id, ttl_ms, now).await,
            Backend::Redis(redis) => redis.touch_session(id, ttl_ms, now).await,
        }
    }

    /// Deletes a session; returns whether a live session was deleted.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn delete_session(&self, id: &str) -> Result<bool> {
        match self.backend.as_ref() {
            Backend::Embedded(state) => state.tables.delete_session(id, now_millis()).await,
            Backend::Redis(redis) => redis.delete_session(id).await,
        }
    }

    /// Counts one request against `limit` requests per fixed `window`.
    ///
    /// A window starts with the first request for `key` and lasts `window`.
    /// Requests over the limit are rejected and not counted. A fixed window
    /// lets up to twice `limit` requests through around a window boundary.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn rate_limit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<RateDecision> {
        require_name("key", key)?;
        if limit == 0 || i64::try_from(limit).is_err() {
            return Err(Error::validation(
                "limit",
                format!("must be from 1 to {}, got {limit}", i64::MAX),
            ));
        }
        let window_ms = ttl_millis("window", window)?;
        match self.backend.as_ref() {
            Backend::Embedded(state) => Ok(state.local.rate_limit(key, limit, window)),
            Backend::Redis(redis) => redis.rate_limit(key, limit, window_ms).await,
        }
    }

    /// Like [`State::rate_limit`], but returns `RateLimited` with the delay
    /// until the window resets when the request is over the limit.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn check_rate_limit(&self, key: &str, limit: u64, window: Duration) -> Result<()> {
        let decision = self.rate_limit(key, limit, window).await?;
        if decision.allowed {
            return Ok(());
        }
        Err(Error::RateLimited {
            retry_after: decision.retry_after.unwrap_or(decision.reset_after),
        })
    }

    /// Sends `message` to every current subscriber of `channel`.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn publish(&self, channel: &str, message: &Value) -> Result<()> {
        require_name("channel", channel)?;
        match self.backend.as_ref() {
            Backend::Embedded(state) => {
                state.local.publish(channel, message);
                Ok(())
            }
            Backend::Redis(redis) => redis.publish(channel, message).await,
        }
    }

    /// Subscribes to `channel`. Messages published after this returns are
    /// delivered to the subscription.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        require_name("channel", channel)?;
        match self.backend.as_ref() {
            Backend::Embedded(state) => Ok(state.local.subscribe(channel)),
            Backend::Redis(redis) => redis.subscribe(channel).await,
        }
    }

    /// Stores a temporary value that expires after `ttl`, replacing any
    /// earlier value of `key`.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn set_temp(&self, key: &str, value: &Value, ttl: Duration) -> Result<()> {
        require_name("key", key)?;
        let ttl_ms = ttl_millis("ttl", ttl)?;
        match self.backend.as_ref() {
            Backend::Embedded(state) => {
                state.local.set_temp(key, value, ttl);
                Ok(())
            }
            Backend::Redis(redis) => redis.set_temp(key, value, ttl_ms).await,
        }
    }

    /// Returns the temporary value of `key`, or `None` when it has expired.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn get_temp(&self, key: &str) -> Result<Option<Value>> {
        match self.backend.as_ref() {
            Backend::Embedded(state) => Ok(state.local.get_temp(key)),
            Backend::Redis(redis) => redis.get_temp(key).await,
        }
    }

    /// Deletes a temporary value; returns whether a live value was deleted.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = %self.backend_name()))]
    pub async fn delete_temp(&self, key: &str) -> Result<bool> {
        match self.backend.as_ref() {
            Backend::Embedded(state) => Ok(state.local.delete_temp(key)),
            Backend::Redis(redis) => redis.delete_temp(key).await,
        }
    }
}
