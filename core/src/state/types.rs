//! Values returned by the state API.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// An access token and a refresh token issued together.
///
/// The tokens are bearer secrets: `Debug` prints them redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    /// Family shared by every pair that descends from one `issue_tokens` call
    /// through refreshes; revoking it revokes all of them.
    pub family_id: Uuid,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"***")
            .field("refresh_token", &"***")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("family_id", &self.family_id)
            .finish()
    }
}

/// Subject, claims, family and expiry of a verified access token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub subject: String,
    /// The JSON value passed to `issue_tokens` (scopes, roles, tenant).
    pub claims: Value,
    pub family_id: Uuid,
    /// Expiry of the access token that was verified.
    pub expires_at: DateTime<Utc>,
}

/// A server-side session: an opaque id and a JSON object.
///
/// The id is a bearer secret: `Debug` prints it redacted.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub data: Map<String, Value>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &"***")
            .field("data", &self.data)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The outcome of one rate-limited request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether this request fits in the current window.
    pub allowed: bool,
    /// Requests still allowed in the current window after this one.
    pub remaining: u64,
    /// Delay until the window resets, set only when the request was rejected.
    pub retry_after: Option<Duration>,
    /// Time left in the current window.
    pub reset_after: Duration,
}

/// Messages published to one channel after `subscribe` returned.
///
/// Delivery is at most once: messages published while no subscription
/// exists, or while the connection to Redis is down, are lost. On Redis the
/// stream ends when its connection closes, and in memory when the store and
/// every `State` handle of it are dropped.
pub struct Subscription {
    channel: String,
    messages: BoxStream<'static, Value>,
}

impl Subscription {
    pub(crate) fn new(channel: &str, messages: BoxStream<'static, Value>) -> Self {
        Subscription {
            channel: channel.to_string(),
            messages,
        }
    }

    /// Waits for the next message; `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Value> {
        self.messages.next().await
    }

    /// Channel name as given to `subscribe`, without the key prefix.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl Stream for Subscription {
    type Item = Value;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        self.messages.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}
