//! Change events and pub/sub messages delivered to JavaScript listeners.
//!
//! The listener is a weak thread-safe function: it does not keep the Node
//! event loop alive, so a script that subscribes and returns still exits.

use std::time::Duration;

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use polystat::changes::{ChangeEvent, ChangeKind, ChangeOrigin, Changes, CAPACITY};
use polystat::state::Subscription;
use tokio::task::AbortHandle;

use crate::json;

/// A pub/sub listener: a weak JavaScript function called with one JSON text
/// per message, with a queue of at most [`CAPACITY`] messages. Delivery is
/// at most once, as pub/sub delivery is on Redis, so a listener that falls
/// behind loses the messages that the full queue turns away instead of
/// making the queue grow without limit.
pub type Listener = ThreadsafeFunction<String, (), String, Status, false, true, CAPACITY>;

/// A change listener with a queue of at most [`CAPACITY`] events, the
/// buffer the core keeps per subscriber. Without the bound, a listener
/// that falls behind would queue events without limit and never get the
/// `missed` event.
pub type ChangeListener = ThreadsafeFunction<String, (), String, Status, false, true, CAPACITY>;

/// Wait before offering the `missed` event again to a full queue when no
/// new event comes to retry with.
const MISSED_RETRY: Duration = Duration::from_millis(20);

/// A running subscription. It runs until `close` or until the store is
/// closed, even when JavaScript drops the object: a listener passed in
/// and forgotten keeps receiving events.
#[napi]
pub struct NativeSubscription {
    task: AbortHandle,
}

#[napi]
impl NativeSubscription {
    #[napi]
    pub fn close(&self) {
        self.task.abort();
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.task.is_finished()
    }
}

pub fn forward_changes(mut changes: Changes, listener: ChangeListener) -> NativeSubscription {
    let task = napi::bindgen_prelude::spawn(async move {
        // Events that the full queue turned away, not yet reported.
        let mut dropped: u64 = 0;
        loop {
            let next = if dropped == 0 {
                changes.next().await
            } else {
                tokio::select! {
                    event = changes.next() => event,
                    () = tokio::time::sleep(MISSED_RETRY) => {
                        match send(&listener, &missed(dropped)) {
                            Status::Ok => dropped = 0,
                            Status::QueueFull => {}
                            _ => break,
                        }
                        continue;
                    }
                }
            };
            let Some(event) = next else { break };
            if dropped > 0 {
                match send(&listener, &missed(dropped)) {
                    Status::Ok => dropped = 0,
                    Status::QueueFull => {
                        dropped += lost(&event);
                        continue;
                    }
                    _ => break,
                }
            }
            match send(&listener, &event) {
                Status::Ok => {}
                Status::QueueFull => dropped += lost(&event),
                _ => break,
            }
        }
    });
    NativeSubscription {
        task: task.abort_handle(),
    }
}

/// Queues one event for the listener without waiting.
fn send(listener: &ChangeListener, event: &ChangeEvent) -> Status {
    let text = serde_json::to_value(event)
        .map(|value| json::encode(&value))
        .unwrap_or_default();
    listener.call(text, ThreadsafeFunctionCallMode::NonBlocking)
}

/// Builds the event that reports `count` events the listener did not get.
fn missed(count: u64) -> ChangeEvent {
    ChangeEvent {
        kind: ChangeKind::Missed,
        entity: None,
        ids: Vec::new(),
        origin: ChangeOrigin::Local,
        missed: count,
    }
}

/// Counts the events lost when `event` is dropped: a `missed` event
/// carries its own count.
fn lost(event: &ChangeEvent) -> u64 {
    match event.kind {
        ChangeKind::Missed => event.missed.max(1),
        _ => 1,
    }
}

/// Calls `listener` with each message of `subscription`. A message that
/// finds the listener's queue full is dropped (see [`Listener`]).
pub fn forward_messages(mut subscription: Subscription, listener: Listener) -> NativeSubscription {
    let task = napi::bindgen_prelude::spawn(async move {
        while let Some(message) = subscription.next().await {
            let text = json::encode(&message);
            if listener.call(text, ThreadsafeFunctionCallMode::NonBlocking) == Status::Closing {
                break;
            }
        }
    });
    NativeSubscription {
        task: task.abort_handle(),
    }
}
