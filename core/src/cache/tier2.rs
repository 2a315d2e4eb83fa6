//! Tier 2: entries in Redis, shared by every process that uses the same key
//! prefix.
//!
//! Each value is stored as `EPOCH|GENERATION|VERSION|PAYLOAD`. A write moves
//! the generation counter of what it changed, and a value only counts while
//! its epoch and generation are current, so a reader that loaded a row
//! before a write cannot store it after the write's invalidation: the fill
//! script checks both counters against the ones read before the load. The
//! epoch moves on when invalidations may have been lost, which retires every
//! value at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::breaker::Breaker;
use super::key::{self, Key};
use super::options::CacheOptions;
use super::stats::Counters;
use super::value::Cached;
use crate::error::{Error, Result};
use crate::state::RedisConfig;

/// Reads a value and, when it is missing and asked to, takes the load lease.
/// KEYS: value, generation, epoch, lease. ARGV: lease token, lease ms, take lease.
/// Returns {epoch, generation, payload or "", version, leased}.
const LOOKUP: &str = r#"
local epoch = redis.call('GET', KEYS[3]) or '0'
local generation = redis.call('GET', KEYS[2]) or '0'
local stored = redis.call('GET', KEYS[1])
if stored then
  local a = string.find(stored, '|', 1, true)
  local b = a and string.find(stored, '|', a + 1, true)
  local c = b and string.find(stored, '|', b + 1, true)
  if c and string.sub(stored, 1, a - 1) == epoch and string.sub(stored, a + 1, b - 1) == generation then
    return {epoch, generation, string.sub(stored, c + 1), string.sub(stored, b + 1, c - 1), 0}
  end
end
local leased = 0
if ARGV[3] == '1' and redis.call('SET', KEYS[4], ARGV[1], 'NX', 'PX', ARGV[2]) then
  leased = 1
end
return {epoch, generation, '', '0', leased}
"#;

/// Stores a loaded value if neither counter moved since the lookup and no
/// newer version is stored, then releases the lease if this caller holds it.
/// KEYS: value, generation, epoch, lease. ARGV: epoch, generation, version,
/// payload, ttl ms, lease token. Returns 1 when stored.
const FILL: &str = r#"
local function release()
  if ARGV[6] ~= '' and redis.call('GET', KEYS[4]) == ARGV[6] then
    redis.call('DEL', KEYS[4])
  end
end
local epoch = redis.call('GET', KEYS[3]) or '0'
local generation = redis.call('GET', KEYS[2]) or '0'
if epoch ~= ARGV[1] or generation ~= ARGV[2] then
  release()
  return 0
end
local stored = redis.call('GET', KEYS[1])
if stored then
  local a = string.find(stored, '|', 1, true)
  local b = a and string.find(stored, '|', a + 1, true)
  local c = b and string.find(stored, '|', b + 1, true)
  if c and string.sub(stored, 1, a - 1) == epoch and string.sub(stored, a + 1, b - 1) == generation
     and tonumber(string.sub(stored, b + 1, c - 1)) >= tonumber(ARGV[3]) then
    release()
    return 0
  end
end
redis.call('SET', KEYS[1], epoch .. '|' .. generation .. '|' .. ARGV[3] .. '|' .. ARGV[4], 'PX', ARGV[5])
release()
return 1
"#;

/// Releases a lease held by this caller. KEYS: lease. ARGV: lease token.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Invalidates records and the lists of one collection, then publishes the
/// change. KEYS: list generation, then a generation and a value key per
/// record. ARGV: channel, message, generation ttl ms.
const INVALIDATE: &str = r#"
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 2, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
  redis.call('DEL', KEYS[i + 1])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"#;

/// Moves the epoch on, retiring every value, and publishes a flush message
/// that empties tier 1 in every process. KEYS: epoch. ARGV: channel, message.
const NEW_EPOCH: &str = r#"
redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"#;

static LOOKUP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LOOKUP));
static FILL_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(FILL));
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));
static INVALIDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INVALIDATE));
static NEW_EPOCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(NEW_EPOCH));

/// Generation counters outlive any load by far. When one expires, the next
/// fill finds `0` instead of the number its lookup read, so it is dropped.
const GENERATION_TTL: Duration = Duration::from_secs(3600);

/// A message on the invalidation channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message {
    /// The process that sent it; a process skips its own messages.
    pub origin: Uuid,
    #[serde(default)]
    pub collection: Option<String>,
    #[serde(default)]
    pub ids: Vec<Uuid>,
    /// Every process drops its whole tier 1.
    #[serde(default)]
    pub flush: bool,
}

/// Result of a lookup: the value found, and the counters the fill must find
/// unchanged.
pub(crate) struct Lookup {
    pub hit: Option<(Cached, i64)>,
    epoch: String,
    generation: String,
    /// Empty unless this caller took the lease.
    lease_token: String,
}

impl Lookup {
    pub fn leased(&self) -> bool {
        !self.lease_token.is_empty()
    }
}

pub(crate) struct Tier2 {
    pub client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    pub label: String,
    pub origin: Uuid,
    ttl: Duration,
    timeout: Duration,
    lease: Duration,
    breaker: Breaker,
    /// Set while the invalidation subscription is live. Tier 2 is only used
    /// then: without it this process may have missed a flush.
    subscribed: AtomicBool,
    /// Set when an invalidation could not reach Redis: tier 2 may hold
    /// values older than the database until the epoch moves on.
    missed_invalidations: AtomicBool,
    counters: Arc<Counters>,
}

impl Tier2 {
    pub fn open(
        config: &RedisConfig,
        options: &CacheOptions,
        counters: Arc<Counters>,
    ) -> Result<Self> {
        let invalid = |error: redis::RedisError| {
            Error::configuration(format!(
                "cache URL for {} is invalid: {error}",
                config.label
            ))
        };
        let client = redis::Client::open(config.client_url.as_str()).map_err(invalid)?;
        // No retries inside the manager: a failing command should fail fast
        // and let the read go to the database; the breaker paces retries.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.redis_timeout))
            .set_response_timeout(Some(options.redis_timeout))
            .set_number_of_retries(0)
            .set_max_delay(Duration::from_secs(1));
        let connection = client
            .get_connection_manager_lazy(manager_config)
            .map_err(invalid)?;
        Ok(Tier2 {
            client,
            connection,
            prefix: config.prefix.clone(),
            label: config.label.clone(),
            origin: Uuid::new_v4(),
            ttl: options.tier2_ttl,
            timeout: options.redis_timeout,
            lease: options.lease,
            breaker: Breaker::new(options.breaker_failures, options.breaker_cooldown),
            subscribed: AtomicBool::new(false),
            missed_invalidations: AtomicBool::new(false),
            counters,
        })
    }

    pub fn channel(&self) -> String {
        key::channel(&self.prefix)
    }

    pub fn available(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst) && !self.breaker.is_open()
    }

    pub fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Ordering::SeqCst);
    }

    pub fn lease_time(&self) -> Duration {
        self.lease
    }

    /// Runs one Redis command under the timeout and the breaker. `None` when
    /// Redis was skipped or failed; failures are counted and logged.
    async fn run<T, F>(&self, operation: &'static str, command: F) -> Option<T>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return None;
        }
        let outcome = tokio::time::timeout(self.timeout, command).await;
        match outcome {
            Ok(Ok(value)) => {
                self.breaker.success();
                Some(value)
            }
            Ok(Err(error)) => {
                self.failed(operation, &error.to_string());
                None
            }
            Err(_) => {
                let reason = format!("no reply within {:?}", self.timeout);
                self.failed(operation, &reason);
                None
            }
        }
    }

    fn failed(&self, operation: &'static str, reason: &str) {
        self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
        self.breaker.failure();
        tracing::debug!(backend = %self.label, operation, reason, "redis cache command failed");
    }

    /// Remembers that messages were lost and the epoch could not move on
    /// yet; the next command that reaches Redis moves it.
    pub fn missed_while_away(&self) {
        self.missed_invalidations.store(true, Ordering::SeqCst);
    }

    /// Moves the epoch on first when an earlier invalidation was lost, so no
    /// value older than the database is served. `false` when that failed.
    async fn settle_missed(&self) -> bool {
        if !self.missed_invalidations.load(Ordering::SeqCst) {
            return true;
        }
        if self.new_epoch().await {
            self.missed_invalidations.store(false, Ordering::SeqCst);
            true
        } else {
            false
        }
    }

    /// Looks `key` up; with `take_lease`, takes its load lease when missing.
    pub async fn lookup(&self, key: &Key, take_lease: bool) -> Option<Lookup> {
        if !self.subscribed.load(Ordering::SeqCst) || !self.settle_missed().await {
            return None;
        }
        let keys = key.redis_keys(&self.prefix);
        let token = if take_lease {
            Uuid::new_v4().simple().to_string()
        } else {
            String::new()
        };
        let mut connection = self.connection.clone();
        let mut invocation = LOOKUP_SCRIPT.prepare_invoke();
        invocation
            .key(&keys.value)
            .key(&keys.generation)
            .key(key::epoch(&self.prefix))
            .key(&keys.lease)
            .arg(&token)
            .arg(self.lease.as_millis() as u64)
            .arg(if take_lease { "1" } else { "0" });
        let reply: (String, String, String, String, i64) = self
            .run("cache lookup", invocation.invoke_async(&mut connection))
            .await?;
        let (epoch, generation, payload, version, leased) = reply;
        let hit = self.decode(&payload, &version);
        self.counters.tier2.record(hit.is_some());
        Some(Lookup {
            hit,
            epoch,
            generation,
            lease_token: if leased == 1 { token } else { String::new() },
        })
    }

    fn decode(&self, payload: &str, version: &str) -> Option<(Cached, i64)> {
        if payload.is_empty() {
            return None;
        }
        let version = version.parse().ok()?;
        match Cached::from_payload(payload) {
            Ok(cached) => Some((cached, version)),
            Err(error) => {
                tracing::warn!(backend = %self.label, %error, "skipped a cache entry that does not parse");
                None
            }
        }
    }

    /// Stores a loaded value under the counters its lookup saw.
    pub async fn fill(&self, key: &Key, lookup: &Lookup, version: i64, value: &Cached) {
        let payload = match value.to_payload() {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(%error, "cannot serialize a cache entry; tier 2 skipped");
                return self.release(key, lookup).await;
            }
        };
        let keys = key.redis_keys(&self.prefix);
        let mut connection = self.connection.clone();
        let mut invocation = FILL_SCRIPT.prepare_invoke();
        invocation
            .key(&keys.value)
            .key(&keys.generation)
            .key(key::epoch(&self.prefix))
            .key(&keys.lease)
            .arg(&lookup.epoch)
            .arg(&lookup.generation)
            .arg(version)
            .arg(payload)
            .arg(self.ttl.as_millis() as u64)
            .arg(&lookup.lease_token);
        let stored: Option<i64> = self
            .run("cache fill", invocation.invoke_async(&mut connection))
            .await;
        match stored {
            Some(1) => {
                self.counters.tier2.fills.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                self.counters
                    .stale_fills_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// Gives the lease back after a load that found nothing or failed.
    pub async fn release(&self, key: &Key, lookup: &Lookup) {
        if !lookup.leased() {
            return;
        }
        let keys = key.redis_keys(&self.prefix);
        let mut connection = self.connection.clone();
        let mut invocation = RELEASE_SCRIPT.prepare_invoke();
        invocation.key(&keys.lease).arg(&lookup.lease_token);
        let _: Option<i64> = self
            .run(
                "cache lease release",
                invocation.invoke_async(&mut connection),
            )
            .await;
    }

    /// Invalidates records and the collection's lists after a committed
    /// write, and publishes the invalidation to other processes. A failure is remembered, and the
    /// next command that reaches Redis retires every value first.
    pub async fn invalidate(&self, collection: &'static str, ids: &[Uuid]) {
        // A process that only writes must also repair an earlier lost
        // invalidation, or other processes keep reading the old value.
        self.settle_missed().await;
        let message = Message {
            origin: self.origin,
            collection: Some(collection.to_string()),
            ids: ids.to_vec(),
            flush: false,
        };
        let message = serde_json::to_string(&message).expect("a message serializes");
        let mut connection = self.connection.clone();
        let mut invocation = INVALIDATE_SCRIPT.prepare_invoke();
        invocation.key(key::list_generation(&self.prefix, collection));
        for id in ids {
            let record = Key::Record {
                collection,
                id: *id,
            };
            let keys = record.redis_keys(&self.prefix);
            invocation.key(keys.generation).key(keys.value);
        }
        invocation
            .arg(self.channel())
            .arg(message)
            .arg(GENERATION_TTL.as_millis() as u64);
        let done: Option<i64> = self
            .run(
                "cache invalidation",
                invocation.invoke_async(&mut connection),
            )
            .await;
        if done.is_none() && !self.missed_invalidations.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                backend = %self.label,
                collection,
                "cache invalidation could not reach redis; tier 2 is retired when redis is back"
            );
        }
    }

    /// Retires every tier-2 value and publishes a flush message that empties
    /// tier 1 in every process.
    pub async fn new_epoch(&self) -> bool {
        let message = Message {
            origin: self.origin,
            collection: None,
            ids: Vec::new(),
            flush: true,
        };
        let message = serde_json::to_string(&message).expect("a message serializes");
        let mut connection = self.connection.clone();
        let mut invocation = NEW_EPOCH_SCRIPT.prepare_invoke();
        invocation
            .key(key::epoch(&self.prefix))
            .arg(self.channel())
            .arg(message);
        let done: Option<i64> = self
            .run("cache epoch", invocation.invoke_async(&mut connection))
            .await;
        done.is_some()
    }
}
