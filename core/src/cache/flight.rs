//! Single flight: concurrent misses on one key in this process share one load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::key::Key;
use super::value::Cached;

/// Result a leader hands to its followers: the value (`None` when the record
/// does not exist) and the tier-1 sequence number when its load started.
pub(crate) type Loaded = (Option<Arc<Cached>>, u64);

/// `None` until the leader finishes.
type Outcome = Option<Loaded>;

#[derive(Default)]
pub(crate) struct Flights {
    loads: Mutex<HashMap<Key, watch::Receiver<Outcome>>>,
}

pub(crate) enum Flight<'a> {
    /// This caller loads the key and must call [`Leader::finish`].
    Leader(Leader<'a>),
    /// Another caller is loading the key.
    Follower(watch::Receiver<Outcome>),
}

impl Flights {
    pub fn join(&self, key: &Key) -> Flight<'_> {
        let mut loads = self.loads.lock().expect("flight lock");
        if let Some(receiver) = loads.get(key) {
            return Flight::Follower(receiver.clone());
        }
        let (sender, receiver) = watch::channel(None);
        loads.insert(key.clone(), receiver);
        Flight::Leader(Leader {
            flights: self,
            key: key.clone(),
            sender,
        })
    }
}

/// Removes its key when dropped, so a leader that fails or is cancelled
/// releases its followers, which then load for themselves.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: Key,
    sender: watch::Sender<Outcome>,
}

impl Leader<'_> {
    pub fn finish(self, value: Option<Arc<Cached>>, load_started: u64) {
        self.sender.send_replace(Some((value, load_started)));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.flights
            .loads
            .lock()
            .expect("flight lock")
            .remove(&self.key);
    }
}

/// Waits for the leader; `None` when it gave up without a value.
pub(crate) async fn follow(mut receiver: watch::Receiver<Outcome>) -> Outcome {
    loop {
        if let Some(outcome) = receiver.borrow_and_update().clone() {
            return Some(outcome);
        }
        if receiver.changed().await.is_err() {
            return receiver.borrow().clone();
        }
    }
}
