//! Store configuration: the three backend URLs and the settings around them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::backend::PoolOptions;
pub use crate::cache::CacheOptions;
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::transform::TransformLimits;

/// Relational and document URL used when nothing is configured.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://polystat.db";
/// Cache URL for the in-process cache.
pub const MEMORY_CACHE_URL: &str = "memory";

/// Environment variable names read by [`StoreConfig::from_env`].
pub const ENV_RELATIONAL_URL: &str = "POLYSTAT_RELATIONAL_URL";
pub const ENV_DOCUMENTS_URL: &str = "POLYSTAT_DOCUMENTS_URL";
pub const ENV_CACHE_URL: &str = "POLYSTAT_CACHE_URL";
pub const ENV_MASTER_KEY: &str = "POLYSTAT_MASTER_KEY";
pub const ENV_DATA_ROOT: &str = "POLYSTAT_DATA_ROOT";
pub const ENV_POOL_MAX_CONNECTIONS: &str = "POLYSTAT_POOL_MAX_CONNECTIONS";
pub const ENV_POOL_TIMEOUT_MS: &str = "POLYSTAT_POOL_TIMEOUT_MS";
pub const ENV_STATEMENT_TIMEOUT_MS: &str = "POLYSTAT_STATEMENT_TIMEOUT_MS";
pub const ENV_CACHE_TIER1_MAX_BYTES: &str = "POLYSTAT_CACHE_TIER1_MAX_BYTES";
pub const ENV_CACHE_TIER1_TTL_MS: &str = "POLYSTAT_CACHE_TIER1_TTL_MS";
pub const ENV_CACHE_TIER2_TTL_MS: &str = "POLYSTAT_CACHE_TIER2_TTL_MS";
pub const ENV_HTTP_ALLOW: &str = "POLYSTAT_HTTP_ALLOW";
pub const ENV_TRANSFORM_CACHE_DIR: &str = "POLYSTAT_TRANSFORM_CACHE_DIR";

/// Value of [`ENV_TRANSFORM_CACHE_DIR`] (or `transformCacheDir` in a config
/// file) that turns the on-disk cache of compiled transforms off.
pub const CACHE_DIR_OFF: &str = "off";

/// Everything needed to open a [`crate::Store`]. Its `Debug` output hides
/// URL passwords and the master key.
#[derive(Clone)]
pub struct StoreConfig {
    /// `sqlite://FILE` (users, catalogs, controls, scopes, secrets, service accounts).
    pub relational_url: String,
    /// `sqlite://FILE` (computations, guarantee points, mashups, datasources, linkers, folders).
    pub documents_url: String,
    /// `memory` for the in-process cache.
    pub cache_url: String,
    /// Key for secret values; secrets cannot be stored or read without it.
    pub master_key: Option<MasterKey>,
    /// Folder that `file` datasource paths are relative to and confined in;
    /// `None` means the working directory, and lets a job file choose its
    /// own data folder.
    pub data_root: Option<PathBuf>,
    /// Default limits for WebAssembly transform calls.
    pub transform_limits: TransformLimits,
    /// Folder of compiled transform modules, so that a restart loads them
    /// without compiling. The default is `polystat/transforms` under the
    /// user's cache folder; `None` keeps compiled modules in memory only.
    pub transform_cache_dir: Option<PathBuf>,
    /// Pool size, timeouts and retries of the server backends.
    pub pool: PoolOptions,
    /// Sizes, lifetimes and failure handling of the two cache tiers.
    pub cache: CacheOptions,
    /// Hosts, addresses and CIDR networks that HTTP datasources may reach
    /// although the SSRF guard rejects them by default (loopback, private,
    /// link-local and similar addresses). Empty by default.
    pub http_allow: Vec<String>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("relational_url", &redact_url(&self.relational_url))
            .field("documents_url", &redact_url(&self.documents_url))
            .field("cache_url", &redact_url(&self.cache_url))
            .field(
                "master_key",
                &self.master_key.as_ref().map(|k| k.id().to_string()),
            )
            .field("data_root", &self.data_root)
            .field("transform_limits", &self.transform_limits)
            .field("transform_cache_dir", &self.transform_cache_dir)
            .field("pool", &self.pool)
            .field("cache", &self.cache)
            .field("http_allow", &self.http_allow)
            .finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            relational_url: DEFAULT_SQLITE_URL.to_string(),
            documents_url: DEFAULT_SQLITE_URL.to_string(),
            cache_url: MEMORY_CACHE_URL.to_string(),
            master_key: None,
            data_root: None,
            transform_limits: TransformLimits::default(),
            transform_cache_dir: crate::transform::default_cache_dir(),
            pool: PoolOptions::default(),
            cache: CacheOptions::default(),
            http_allow: Vec::new(),
        }
    }
}

/// The JSON config file format: every field optional, camelCase.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    relational_url: Option<String>,
    documents_url: Option<String>,
    cache_url: Option<String>,
    master_key: Option<String>,
    data_root: Option<PathBuf>,
    http_allow: Option<Vec<String>>,
    transform_cache_dir: Option<String>,
}

impl StoreConfig {
    /// Embedded store in one SQLite file at `path` with the in-process cache.
    pub fn embedded(path: impl AsRef<Path>) -> Self {
        let url = format!("sqlite://{}", path.as_ref().display());
        StoreConfig {
            relational_url: url.clone(),
            documents_url: url,
            ..StoreConfig::default()
        }
    }

    /// Reads the `POLYSTAT_*` environment variables; unset ones keep the
    /// embedded defaults (`polystat.db` in the working directory).
    pub fn from_env() -> Result<Self> {
        let mut config = StoreConfig::default();
        let file = ConfigFile {
            relational_url: env(ENV_RELATIONAL_URL),
            documents_url: env(ENV_DOCUMENTS_URL),
            cache_url: env(ENV_CACHE_URL),
            master_key: env(ENV_MASTER_KEY),
            data_root: env(ENV_DATA_ROOT).map(PathBuf::from),
            http_allow: env(ENV_HTTP_ALLOW).map(|text| split_list(&text)),
            transform_cache_dir: env(ENV_TRANSFORM_CACHE_DIR),
        };
        config.apply(file)?;
        config.pool = pool_from_env(config.pool)?;
        config.cache = cache_from_env(config.cache)?;
        Ok(config)
    }

    /// Reads a JSON config file, e.g. `{"relationalUrl": "sqlite://a.db", "masterKey": "..."}`;
    /// environment variables override its values.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::configuration(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let file: ConfigFile = serde_json::from_str(&text).map_err(|e| {
            Error::configuration(format!("config file {} is invalid: {e}", path.display()))
        })?;
        let mut config = StoreConfig::default();
        config.apply(file)?;
        let from_env = StoreConfig::from_env()?;
        config.override_from_env(from_env);
        Ok(config)
    }

    /// Sets the master key from base64 text.
    pub fn with_master_key(mut self, base64_key: &str) -> Result<Self> {
        self.master_key = Some(MasterKey::from_base64(base64_key)?);
        Ok(self)
    }

    /// Sets the data root for `file` datasources.
    pub fn with_data_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.data_root = Some(root.into());
        self
    }

    fn apply(&mut self, file: ConfigFile) -> Result<()> {
        if let Some(url) = file.relational_url {
            self.relational_url = url;
        }
        if let Some(url) = file.documents_url {
            self.documents_url = url;
        }
        if let Some(url) = file.cache_url {
            self.cache_url = url;
        }
        if let Some(key) = file.master_key {
            self.master_key = Some(MasterKey::from_base64(&key)?);
        }
        if let Some(root) = file.data_root {
            self.data_root = Some(root);
        }
        if let Some(allow) = file.http_allow {
            // Parsing here reports a malformed entry when the store opens,
            // not at the first request.
            crate::datasource::guard::HttpAllowlist::parse(&allow)?;
            self.http_allow = allow;
        }
        if let Some(folder) = file.transform_cache_dir {
            self.transform_cache_dir = parse_cache_dir(&folder);
        }
        Ok(())
    }

    fn override_from_env(&mut self, from_env: StoreConfig) {
        if std::env::var_os(ENV_RELATIONAL_URL).is_some() {
            self.relational_url = from_env.relational_url;
        }
        if std::env::var_os(ENV_DOCUMENTS_URL).is_some() {
            self.documents_url = from_env.documents_url;
        }
        if std::env::var_os(ENV_CACHE_URL).is_some() {
            self.cache_url = from_env.cache_url;
        }
        if from_env.master_key.is_some() {
            self.master_key = from_env.master_key;
        }
        if from_env.data_root.is_some() {
            self.data_root = from_env.data_root;
        }
        if std::env::var_os(ENV_HTTP_ALLOW).is_some() {
            self.http_allow = from_env.http_allow;
        }
        if env(ENV_TRANSFORM_CACHE_DIR).is_some() {
            self.transform_cache_dir = from_env.transform_cache_dir;
        }
    }

    /// Adds hosts, addresses or CIDR networks to the HTTP allowlist.
    pub fn with_http_allow<S: Into<String>>(
        mut self,
        entries: impl IntoIterator<Item = S>,
    ) -> Self {
        self.http_allow.extend(entries.into_iter().map(Into::into));
        self
    }
}

/// Reads a cache folder setting, where [`CACHE_DIR_OFF`] means no folder.
fn parse_cache_dir(text: &str) -> Option<PathBuf> {
    (text != CACHE_DIR_OFF).then(|| PathBuf::from(text))
}

fn pool_from_env(mut pool: PoolOptions) -> Result<PoolOptions> {
    if let Some(text) = env(ENV_POOL_MAX_CONNECTIONS) {
        pool.max_connections = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::configuration(format!(
                "{ENV_POOL_MAX_CONNECTIONS}={text:?} is not a positive integer"
            ))
        })?;
    }
    if let Some(text) = env(ENV_POOL_TIMEOUT_MS) {
        pool.acquire_timeout = parse_millis(ENV_POOL_TIMEOUT_MS, &text)?;
    }
    if let Some(text) = env(ENV_STATEMENT_TIMEOUT_MS) {
        pool.statement_timeout = parse_millis(ENV_STATEMENT_TIMEOUT_MS, &text)?;
        if pool.statement_timeout.is_zero() {
            return Err(Error::configuration(format!(
                "{ENV_STATEMENT_TIMEOUT_MS}=0 would fail every query; set a number of milliseconds above 0"
            )));
        }
    }
    Ok(pool)
}

/// Parses the value of the variable `name` as a number of milliseconds.
fn parse_millis(name: &str, text: &str) -> Result<std::time::Duration> {
    let millis: u64 = text.trim().parse().map_err(|_| {
        Error::configuration(format!("{name}={text:?} is not a number of milliseconds"))
    })?;
    Ok(std::time::Duration::from_millis(millis))
}

fn cache_from_env(mut cache: CacheOptions) -> Result<CacheOptions> {
    if let Some(bytes) = env_number(ENV_CACHE_TIER1_MAX_BYTES, "a number of bytes")? {
        cache.tier1_max_bytes = bytes;
    }
    if let Some(millis) = env_number(ENV_CACHE_TIER1_TTL_MS, "a number of milliseconds")? {
        cache.tier1_ttl = std::time::Duration::from_millis(millis);
    }
    if let Some(millis) = env_number(ENV_CACHE_TIER2_TTL_MS, "a number of milliseconds")? {
        cache.tier2_ttl = std::time::Duration::from_millis(millis);
    }
    Ok(cache)
}

/// Parses a variable holding a non-negative integer, naming it on error.
fn env_number(name: &str, unit: &str) -> Result<Option<u64>> {
    env(name)
        .map(|text| {
            text.parse().map_err(|_| {
                Error::configuration(format!("{name}={text:?} is not {unit}; unset it or fix it"))
            })
        })
        .transpose()
}

/// Splits a comma- or whitespace-separated list, dropping empty items.
fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Redacts the passwords of a URL: the one in `postgres://user:pw@host/db`,
/// and the values of query parameters whose name contains `password`, such
/// as PostgreSQL's `?password=`. In a URL with no `@`, a port that is not a
/// number is redacted too, as it may be a password whose `@host` is missing.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (before_query, query) = split_query(rest);
    // The host part follows the last `@`: a password may contain `@` itself.
    let mut redacted = match before_query.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => format!("{scheme}://{}", redact_ports(before_query)),
    };
    if let Some(query) = query {
        redacted.push('?');
        redacted.push_str(&redact_query(query));
    }
    redacted
}

/// Splits `rest` (the URL after `scheme://`) at the `?` of the query. A `?`
/// followed by an `@` with no `=` or `&` in between is taken as part of an
/// unencoded password, as in `user:pa?ss@host`, and the query starts later.
fn split_query(rest: &str) -> (&str, Option<&str>) {
    let search_from = match rest.split_once('?') {
        Some((before, after)) if !before.contains('@') => match after.find('@') {
            Some(at) if !after[..at].contains(['=', '&']) => before.len() + 1 + at + 1,
            _ => 0,
        },
        _ => 0,
    };
    match rest[search_from..].find('?') {
        Some(index) => {
            let split = search_from + index;
            (&rest[..split], Some(&rest[split + 1..]))
        }
        None => (rest, None),
    }
}

/// Replaces each port of the authority (`host:port,host:port`) that is
/// not a number with `***`.
fn redact_ports(before_query: &str) -> String {
    let (authority, path) = match before_query.find('/') {
        Some(index) => before_query.split_at(index),
        None => (before_query, ""),
    };
    let hosts: Vec<String> = authority
        .split(',')
        .map(|host| {
            // An IPv6 address in brackets has colons of its own.
            let start = host.rfind(']').map_or(0, |index| index + 1);
            match host[start..].rfind(':') {
                Some(colon) => {
                    let (name, port) = host.split_at(start + colon + 1);
                    if port.chars().all(|c| c.is_ascii_digit()) {
                        host.to_string()
                    } else {
                        format!("{name}***")
                    }
                }
                None => host.to_string(),
            }
        })
        .collect();
    format!("{}{path}", hosts.join(","))
}

/// Replaces the value of each query parameter whose name contains
/// `password` with `***`.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod millis_tests {
    use super::*;

    #[test]
    fn parse_millis_reads_whole_numbers() {
        let parsed = parse_millis(ENV_STATEMENT_TIMEOUT_MS, " 120000 ").expect("valid");
        assert_eq!(parsed, std::time::Duration::from_secs(120));
    }

    #[test]
    fn parse_millis_names_the_variable() {
        let error = parse_millis(ENV_STATEMENT_TIMEOUT_MS, "2m").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("POLYSTAT_STATEMENT_TIMEOUT_MS=\"2m\""),
            "{error}"
        );
    }
}
