//! Cache keys, and their names in Redis.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Identity of a cache entry: one record, one page of a list query, or one
/// linker result.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Key {
    Record {
        collection: &'static str,
        id: Uuid,
    },
    /// `generation` is the tier-1 list generation of the collection when the
    /// key was made; `query` is a hash of the list options.
    List {
        collection: &'static str,
        generation: u64,
        query: u64,
    },
    /// A linker result for one linker version and one set of run options.
    Linker {
        id: Uuid,
        version: i64,
        options: u64,
    },
}

/// Names of the Redis keys behind one cache key, all under the store prefix.
pub(crate) struct RedisKeys {
    /// Holds `EPOCH|GENERATION|VERSION|PAYLOAD`.
    pub value: String,
    /// Counter that every write of the underlying data moves on.
    pub generation: String,
    /// Set while one process loads the value, so others wait for it.
    pub lease: String,
}

impl Key {
    pub fn redis_keys(&self, prefix: &str) -> RedisKeys {
        match self {
            Key::Record { collection, id } => RedisKeys {
                value: format!("{prefix}cache:record:{collection}:{id}"),
                generation: record_generation(prefix, collection, *id),
                lease: format!("{prefix}cache:lease:{collection}:{id}"),
            },
            Key::List {
                collection, query, ..
            } => RedisKeys {
                value: format!("{prefix}cache:list:{collection}:{query:016x}"),
                generation: list_generation(prefix, collection),
                lease: format!("{prefix}cache:lease:list:{collection}:{query:016x}"),
            },
            Key::Linker {
                id,
                version,
                options,
            } => RedisKeys {
                value: format!("{prefix}cache:link:{id}:{version}:{options:016x}"),
                generation: record_generation(prefix, "linkers", *id),
                lease: format!("{prefix}cache:lease:link:{id}:{version}:{options:016x}"),
            },
        }
    }
}

pub(crate) fn record_generation(prefix: &str, collection: &str, id: Uuid) -> String {
    format!("{prefix}cache:generation:{collection}:{id}")
}

pub(crate) fn list_generation(prefix: &str, collection: &str) -> String {
    format!("{prefix}cache:generation:{collection}:lists")
}

pub(crate) fn epoch(prefix: &str) -> String {
    format!("{prefix}cache:epoch")
}

pub(crate) fn channel(prefix: &str) -> String {
    format!("{prefix}cache:invalidations")
}

/// Hashes `text` the same way in every process and every build, unlike
/// the standard library's hasher, so processes agree on Redis key names.
pub(crate) fn stable_hash(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}
