//! Change events and pub/sub messages delivered to JavaScript listeners.
//!
//! The listener is a weak thread-safe function: it does not keep the Node
//! event loop alive, so a script that subscribes and returns still exits.

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use polystat::changes::Changes;
use polystat::state::Subscription;
use tokio::task::AbortHandle;

use crate::json;

/// A JavaScript function called with one JSON text per event; weak, with
/// errors left to the callee.
pub type Listener = ThreadsafeFunction<String, (), String, Status, false, true>;

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

pub fn forward_changes(mut changes: Changes, listener: Listener) -> NativeSubscription {
    let task = napi::bindgen_prelude::spawn(async move {
        while let Some(event) = changes.next().await {
            let text = serde_json::to_value(&event)
                .map(|value| json::encode(&value))
                .unwrap_or_default();
            if listener.call(text, ThreadsafeFunctionCallMode::NonBlocking) == Status::Closing {
                break;
            }
        }
    });
    NativeSubscription {
        task: task.abort_handle(),
    }
}

pub fn forward_messages(mut subscription: Subscription, listener: Listener) -> NativeSubscription {
    let task = napi::bindgen_prelude::spawn(async move {
        while let Some(message) = subscription.next().await {
            if listener.call(
                json::encode(&message),
                ThreadsafeFunctionCallMode::NonBlocking,
            ) == Status::Closing
            {
                break;
            }
        }
    });
    NativeSubscription {
        task: task.abort_handle(),
    }
}
