//! Rate limits, pub/sub channels and temporary values kept in this process.
//! Nothing here survives a restart or is shared with other processes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::state::{RateDecision, Subscription};

/// Messages a channel buffers for its slowest subscriber. A subscriber that
/// falls further behind skips the oldest messages, and a warning is logged.
const CHANNEL_CAPACITY: usize = 1024;

/// Entries a map may hold before an insert sweeps out the expired ones.
const SWEEP_THRESHOLD: usize = 10_000;

/// One fixed rate-limit window.
struct Window {
    ends_at: Instant,
    count: u64,
}

/// The in-process state. Each map sits behind its own mutex, which is never
/// held across an await, so every operation on one key is atomic.
pub(crate) struct LocalState {
    windows: Mutex<HashMap<String, Window>>,
    channels: Mutex<HashMap<String, broadcast::Sender<Value>>>,
    temp: Mutex<HashMap<String, (Value, Instant)>>,
}

/// Locks a mutex even if a thread panicked while holding it: every critical
/// section leaves its map consistent, so the data is still valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LocalState {
    pub fn new() -> LocalState {
        LocalState {
            windows: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            temp: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request in the fixed window of `key`. The window starts with
    /// the first request after the previous one ended.
    pub fn rate_limit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        if windows.len() >= SWEEP_THRESHOLD {
            windows.retain(|_, window| window.ends_at > now);
        }
        let current = windows.entry(key.to_string()).or_insert(Window {
            ends_at: now + window,
            count: 0,
        });
        if current.ends_at <= now {
            *current = Window {
                ends_at: now + window,
                count: 0,
            };
        }
        let reset_after = current.ends_at - now;
        if current.count >= limit {
            return RateDecision {
                allowed: false,
                remaining: 0,
                retry_after: Some(reset_after),
                reset_after,
            };
        }
        current.count += 1;
        RateDecision {
            allowed: true,
            remaining: limit - current.count,
            retry_after: None,
            reset_after,
        }
    }

    /// Sends `message` to the current subscribers of `channel`.
    pub fn publish(&self, channel: &str, message: &Value) {
        let mut channels = lock(&self.channels);
        let Some(sender) = channels.get(channel) else {
            return;
        };
        if sender.send(message.clone()).is_err() {
            // No receiver is left, so the channel can go.
            channels.remove(channel);
        }
    }

    pub fn subscribe(&self, channel: &str) -> Subscription {
        let receiver = {
            let mut channels = lock(&self.channels);
            if channels.len() >= SWEEP_THRESHOLD {
                channels.retain(|_, sender| sender.receiver_count() > 0);
            }
            channels
                .entry(channel.to_string())
                .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
                .subscribe()
        };
        let name = channel.to_string();
        let messages = futures::stream::unfold(receiver, move |mut receiver| {
            let name = name.clone();
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(message) => return Some((message, receiver)),
                        Err(broadcast::error::RecvError::Lagged(skipped)) => {
                            tracing::warn!(
                                channel = %name,
                                skipped,
                                "slow subscriber skipped messages"
                            );
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        Subscription::new(channel, messages.boxed())
    }

    pub fn set_temp(&self, key: &str, value: &Value, ttl: Duration) {
        let now = Instant::now();
        let mut temp = lock(&self.temp);
        if temp.len() >= SWEEP_THRESHOLD {
            temp.retain(|_, (_, expires_at)| *expires_at > now);
        }
        temp.insert(key.to_string(), (value.clone(), now + ttl));
    }

    pub fn get_temp(&self, key: &str) -> Option<Value> {
        let now = Instant::now();
        let mut temp = lock(&self.temp);
        match temp.get(key) {
            Some((value, expires_at)) if *expires_at > now => Some(value.clone()),
            Some(_) => {
                temp.remove(key);
                None
            }
            None => None,
        }
    }

    /// Deletes a temporary value; returns whether a live one existed.
    pub fn delete_temp(&self, key: &str) -> bool {
        let now = Instant::now();
        lock(&self.temp)
            .remove(key)
            .is_some_and(|(_, expires_at)| expires_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_resets_after_it_ends() {
        let state = LocalState::new();
        let window = Duration::from_millis(50);
        assert!(state.rate_limit("k", 1, window).allowed);
        let rejected = state.rate_limit("k", 1, window);
        assert!(!rejected.allowed);
        assert!(rejected.retry_after.is_some_and(|d| d <= window));
        std::thread::sleep(window);
        assert!(state.rate_limit("k", 1, window).allowed);
    }

    #[test]
    fn temp_values_expire() {
        let state = LocalState::new();
        state.set_temp("k", &Value::from(1), Duration::from_millis(20));
        assert_eq!(state.get_temp("k"), Some(Value::from(1)));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(state.get_temp("k"), None);
        assert!(!state.delete_temp("k"));
    }
}
