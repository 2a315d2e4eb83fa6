//! A circuit breaker for the Redis tier: after a run of failures, Redis is
//! skipped for a cooldown, so reads go straight to the database instead of
//! waiting for timeouts one after another.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct Breaker {
    failures: AtomicU32,
    /// `Some` while open: Redis is not tried before that instant.
    open_until: Mutex<Option<Instant>>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    /// Checks whether a command may go to Redis now. Once the cooldown has passed,
    /// one caller gets through as a trial and the breaker stays open for the
    /// others until that trial reports back or another cooldown passes.
    pub fn allow(&self) -> bool {
        let mut open_until = self.open_until.lock().expect("breaker lock");
        match *open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                *open_until = Some(Instant::now() + self.cooldown);
                true
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.lock().expect("breaker lock").is_some()
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        let mut open_until = self.open_until.lock().expect("breaker lock");
        if open_until.take().is_some() {
            tracing::info!("redis cache reachable again; circuit breaker closed");
        }
    }

    pub fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < self.threshold {
            return;
        }
        let mut open_until = self.open_until.lock().expect("breaker lock");
        if open_until.is_none() {
            tracing::warn!(
                failures,
                cooldown_ms = self.cooldown.as_millis() as u64,
                "redis cache failing; circuit breaker open, reads go to the database"
            );
        }
        *open_until = Some(Instant::now() + self.cooldown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_then_allows_one_trial() {
        let breaker = Breaker::new(2, Duration::from_millis(20));
        breaker.failure();
        assert!(breaker.allow());
        breaker.failure();
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(25));
        assert!(
            breaker.allow(),
            "the first call after the cooldown is a trial"
        );
        assert!(!breaker.allow(), "others wait while the trial runs");
        breaker.success();
        assert!(breaker.allow());
        assert!(!breaker.is_open());
    }
}
