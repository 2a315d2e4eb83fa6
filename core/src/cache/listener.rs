//! The invalidation subscription: drops tier-1 entries that other processes
//! wrote, and keeps tier 1 safe while messages cannot arrive.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;

use super::key::Key;
use super::tier1::Tier1;
use super::tier2::{Message, Tier2};
use crate::changes::{ChangeEvent, ChangeFeed, ChangeOrigin};
use crate::model::collection_name;

/// Maximum pause between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Subscribes, applies messages, and resubscribes after a lost connection.
/// `ready` fires after the first attempt, whatever its outcome, so opening a
/// store waits for the subscription without failing when Redis is down.
pub(crate) async fn listen(
    tier1: Arc<Tier1>,
    tier2: Arc<Tier2>,
    changes: ChangeFeed,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut lost = false;
    let mut delay = Duration::from_millis(50);
    loop {
        match subscribe(&tier2).await {
            Ok(mut messages) => {
                if lost {
                    // Messages sent while the subscription was down are gone:
                    // retire tier 2 and drop tier 1 before using either again.
                    if !tier2.new_epoch().await {
                        tier2.missed_while_away();
                    }
                    tier1.flush();
                    changes.send(ChangeEvent::missed(0, ChangeOrigin::Remote));
                    tracing::info!(backend = %tier2.label, "cache invalidation subscription restored; tier 1 flushed");
                }
                tier1.set_degraded(false);
                tier2.set_subscribed(true);
                delay = Duration::from_millis(50);
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                while let Some(payload) = messages.next().await {
                    apply(&tier1, &tier2, &changes, &payload);
                }
                tier2.set_subscribed(false);
                tier1.set_degraded(true);
                tier1.flush();
                lost = true;
                tracing::warn!(backend = %tier2.label, "cache invalidation subscription lost; tier 1 uses the short TTL until it is back");
            }
            Err(error) => {
                if !lost {
                    tracing::warn!(backend = %tier2.label, %error, "cannot subscribe to cache invalidations; tier 1 uses the short TTL until redis is reachable");
                }
                tier2.set_subscribed(false);
                tier1.set_degraded(true);
                lost = true;
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RECONNECT_DELAY);
            }
        }
    }
}

async fn subscribe(
    tier2: &Tier2,
) -> redis::RedisResult<futures::stream::BoxStream<'static, Vec<u8>>> {
    let channel = tier2.channel();
    let connect = async {
        let mut pubsub = tier2.client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let pubsub = match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "subscribe timed out",
            )))
        }
    };
    Ok(pubsub
        .into_on_message()
        .map(|message| message.get_payload_bytes().to_vec())
        .boxed())
}

fn apply(tier1: &Tier1, tier2: &Tier2, changes: &ChangeFeed, payload: &[u8]) {
    let message: Message = match serde_json::from_slice(payload) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "skipped a cache invalidation message that does not parse");
            return;
        }
    };
    if message.origin == tier2.origin {
        return;
    }
    if message.flush {
        tier1.flush();
        changes.send(ChangeEvent::remote(None, Vec::new()));
        return;
    }
    let Some(collection) = message.collection.as_deref().and_then(collection_name) else {
        tracing::warn!(collection = ?message.collection, "skipped a cache invalidation for an unknown collection");
        return;
    };
    for id in &message.ids {
        tier1.invalidate(&Key::Record {
            collection,
            id: *id,
        });
    }
    tier1.invalidate_lists(collection);
    if collection != "transform_modules" && changes.wanted() {
        changes.send(ChangeEvent::remote(Some(collection), message.ids));
    }
}
