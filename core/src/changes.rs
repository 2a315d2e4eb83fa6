//! Change events: a feed of the writes made to a store, for hosts that react to
//! new evidence or computations without polling.
//!
//! Writes through this store arrive with their kind and ids. With a Redis
//! cache, writes by other processes arrive too, from the cache invalidation
//! messages they publish; those say which records changed but not how, so
//! their kind is [`ChangeKind::Changed`], and an insert by another process
//! names no ids. Events go to subscribers in memory: a subscriber that falls
//! more than [`CAPACITY`] events behind gets one [`ChangeKind::Missed`] event
//! in place of those it lost, and should reload what it tracks.

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::collection_name;
use crate::state::Subscription;

/// Channel name of the subscription that [`Changes::into_subscription`]
/// returns.
pub const CHANGES_CHANNEL: &str = "polystat.changes";

/// Events buffered per subscriber before the oldest are dropped.
pub const CAPACITY: usize = 4096;

/// Kind of write behind an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    /// Another process wrote these records (or, with no ids, inserted some
    /// or dropped its whole cache); the kind of write is not known.
    Changed,
    /// Events were lost: the subscriber fell behind, or the invalidation
    /// subscription to Redis was down for a while.
    Missed,
}

/// Whether this store or another process made the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOrigin {
    Local,
    Remote,
}

/// One change to records of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEvent {
    pub kind: ChangeKind,
    /// Repository name (`computations`, `service_accounts`, ...); `None`
    /// for a [`ChangeKind::Missed`] event or a remote flush.
    pub entity: Option<&'static str>,
    pub ids: Vec<Uuid>,
    pub origin: ChangeOrigin,
    /// Events lost before this one, for [`ChangeKind::Missed`]; 0 when the
    /// count is not known or nothing was lost.
    pub missed: u64,
}

impl ChangeEvent {
    pub(crate) fn local(kind: ChangeKind, entity: &'static str, ids: Vec<Uuid>) -> Self {
        ChangeEvent {
            kind,
            entity: Some(entity),
            ids,
            origin: ChangeOrigin::Local,
            missed: 0,
        }
    }

    pub(crate) fn remote(entity: Option<&'static str>, ids: Vec<Uuid>) -> Self {
        ChangeEvent {
            kind: ChangeKind::Changed,
            entity,
            ids,
            origin: ChangeOrigin::Remote,
            missed: 0,
        }
    }

    pub(crate) fn missed(count: u64, origin: ChangeOrigin) -> Self {
        ChangeEvent {
            kind: ChangeKind::Missed,
            entity: None,
            ids: Vec::new(),
            origin,
            missed: count,
        }
    }
}

/// The sending side, owned by the cache, which sees every write.
#[derive(Clone)]
pub(crate) struct ChangeFeed {
    sender: broadcast::Sender<ChangeEvent>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl ChangeFeed {
    /// Reports whether anyone listens; writers skip building events when not.
    pub fn wanted(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn send(&self, event: ChangeEvent) {
        // An error only means that nobody listens.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self, entities: Option<&[&str]>) -> Result<Changes> {
        let entities = match entities {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .enumerate()
                    .map(|(index, name)| entity_name(index, name))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Changes {
            receiver: self.sender.subscribe(),
            entities,
        })
    }
}

fn entity_name(index: usize, name: &str) -> Result<&'static str> {
    collection_name(name)
        .filter(|known| *known != "transform_modules")
        .ok_or_else(|| {
            Error::validation(
                format!("entities[{index}]"),
                format!("unknown entity {name:?}; use a repository name such as \"computations\" or \"service_accounts\""),
            )
        })
}

/// A subscription to change events, from [`crate::Store::changes`].
pub struct Changes {
    receiver: broadcast::Receiver<ChangeEvent>,
    entities: Option<Vec<&'static str>>,
}

impl Changes {
    /// Waits for the next event of the subscribed entities. `None` means
    /// the store is gone.
    pub async fn next(&mut self) -> Option<ChangeEvent> {
        loop {
            match self.receiver.recv().await {
                Ok(event) if self.wants(&event) => return Some(event),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(count)) => {
                    return Some(ChangeEvent::missed(count, ChangeOrigin::Local))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The events as a pub/sub [`Subscription`] whose messages are their
    /// JSON form, for callers that already consume subscriptions.
    pub fn into_subscription(self) -> Subscription {
        let events = futures::stream::unfold(self, |mut changes| async move {
            let event = changes.next().await?;
            let value = serde_json::to_value(&event).unwrap_or(serde_json::Value::Null);
            Some((value, changes))
        });
        Subscription::new(CHANGES_CHANNEL, Box::pin(events))
    }

    fn wants(&self, event: &ChangeEvent) -> bool {
        match (&self.entities, event.entity) {
            (Some(entities), Some(entity)) => entities.contains(&entity),
            // Missed events and remote flushes concern every entity.
            _ => true,
        }
    }
}
