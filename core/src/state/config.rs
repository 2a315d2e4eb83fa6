//! Parsing of the cache URL that selects the state backend.

use crate::config::{redact_url, MEMORY_CACHE_URL};
use crate::error::{Error, Result};

/// Key prefix used when the Redis URL has no `prefix` query parameter.
pub const DEFAULT_PREFIX: &str = "polystat:";

/// Query parameter of a Redis URL that sets the key prefix.
const PREFIX_PARAMETER: &str = "prefix";

/// The state backend a cache URL selects, checked before the store opens.
#[derive(Clone, Debug)]
pub enum StateConfig {
    /// `memory`: state in this process, tokens and sessions in SQLite.
    Embedded,
    /// `redis://…` or `rediss://…`.
    Redis(RedisConfig),
}

/// A parsed Redis URL.
#[derive(Clone)]
pub struct RedisConfig {
    /// The URL without the `prefix` parameter, as redis-rs expects it.
    pub(crate) client_url: String,
    /// `redis (HOST:PORT)`, used in errors and logs.
    pub(crate) label: String,
    /// Prepended to every key and channel name.
    pub(crate) prefix: String,
    /// The URL password, so that error messages can be checked for it.
    pub(crate) password: Option<String>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.client_url))
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl StateConfig {
    /// Parses `memory`, `redis://[USER:PASSWORD@]HOST[:PORT][/DB][?prefix=NAME]`
    /// or the same with `rediss://`.
    pub fn from_url(url: &str) -> Result<StateConfig> {
        if url == MEMORY_CACHE_URL {
            return Ok(StateConfig::Embedded);
        }
        if url.starts_with("redis+cluster://") {
            // NOTE: Redis Cluster is not supported yet. The Lua scripts touch
            // keys computed at run time (token families), which a cluster
            // only allows when every key shares one hash slot.
            return Err(Error::configuration(format!(
                "cache URL {} names a Redis Cluster, which the state features do not support yet; use redis://HOST:PORT of one primary",
                redact_url(url)
            )));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return parse_redis_url(url).map(StateConfig::Redis);
        }
        Err(Error::configuration(format!(
            "cache URL {} has an unknown scheme; use \"memory\" or redis://HOST:PORT",
            redact_url(url)
        )))
    }
}

fn parse_redis_url(url: &str) -> Result<RedisConfig> {
    let invalid = |reason: &str| {
        Error::configuration(format!(
            "cache URL {} is invalid: {reason}",
            redact_url(url)
        ))
    };
    let mut parsed = redis::parse_redis_url(url).ok_or_else(|| invalid("not a Redis URL"))?;
    let host = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("the host is missing"))?
        .to_string();
    let port = parsed.port().unwrap_or(6379);

    let mut prefix = DEFAULT_PREFIX.to_string();
    let mut other_pairs = Vec::new();
    for (name, value) in parsed.query_pairs() {
        if name == PREFIX_PARAMETER {
            prefix = value.into_owned();
        } else {
            other_pairs.push((name.into_owned(), value.into_owned()));
        }
    }
    // redis-rs reads its own parameters (such as `protocol`) from the query,
    // so only `prefix` is removed.
    if other_pairs.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(other_pairs);
    }
    if prefix.is_empty() {
        return Err(invalid("the prefix parameter must not be empty"));
    }

    let password = parsed.password().map(percent_decode);
    Ok(RedisConfig {
        client_url: parsed.to_string(),
        label: format!("redis ({host}:{port})"),
        prefix,
        password,
    })
}

/// Decodes `%XX` escapes, as redis-rs does for the password it sends.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(url: &str) -> RedisConfig {
        match StateConfig::from_url(url) {
            Ok(StateConfig::Redis(config)) => config,
            other => panic!("expected a Redis config for {url}, got {other:?}"),
        }
    }

    #[test]
    fn memory_selects_embedded() {
        assert!(matches!(
            StateConfig::from_url("memory"),
            Ok(StateConfig::Embedded)
        ));
    }

    #[test]
    fn prefix_defaults_and_is_removed() {
        let default = redis("redis://127.0.0.1:6380");
        assert_eq!(default.prefix, DEFAULT_PREFIX);
        assert_eq!(default.label, "redis (127.0.0.1:6380)");

        let named = redis("redis://127.0.0.1/2?prefix=app%3A&protocol=resp3");
        assert_eq!(named.prefix, "app:");
        assert_eq!(named.label, "redis (127.0.0.1:6379)");
        assert!(!named.client_url.contains("prefix"));
        assert!(named.client_url.contains("protocol=resp3"));
    }

    #[test]
    fn password_is_kept_out_of_debug() {
        let config = redis("redis://user:s%40cret@localhost:1/?prefix=x:");
        assert_eq!(config.password.as_deref(), Some("s@cret"));
        assert!(!format!("{config:?}").contains("cret"));
        assert!(!config.label.contains("cret"));
    }

    #[test]
    fn cluster_and_unknown_schemes_are_rejected() {
        let cluster = StateConfig::from_url("redis+cluster://127.0.0.1:7000");
        assert!(matches!(cluster, Err(Error::Configuration { .. })));
        let unknown = StateConfig::from_url("memcached://127.0.0.1");
        assert!(matches!(unknown, Err(Error::Configuration { .. })));
        let empty_prefix = StateConfig::from_url("redis://127.0.0.1/?prefix=");
        assert!(matches!(empty_prefix, Err(Error::Configuration { .. })));
    }
}
