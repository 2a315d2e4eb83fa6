//! Connection settings read from a `postgres://` URL.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::backend::PoolOptions;
use crate::config::redact_url;
use crate::error::{Error, Result};

/// PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Connection settings that `open` takes from the URL and the pool options.
/// Not `Debug`, because the connect options contain the password.
pub(super) struct Settings {
    pub connect: PgConnectOptions,
    /// `postgres (HOST:PORT/DB)`, without user name or password.
    pub label: String,
    /// First schema of `options[search_path]`, where the tables are created.
    pub schema: Option<String>,
}

impl Settings {
    /// Parses the URL with sqlx and adds the statement timeout, unless the URL
    /// sets `options[statement_timeout]` itself.
    pub fn parse(url: &str, pool: &PoolOptions) -> Result<Settings> {
        check_pool(pool)?;
        let mut connect = PgConnectOptions::from_str(url).map_err(|e| {
            Error::configuration(format!(
                "PostgreSQL URL {} is invalid: {e}; use postgres://USER:PASSWORD@HOST:PORT/DB",
                redact_url(url)
            ))
        })?;
        let query = query_pairs(url)?;
        // NOTE: a search_path set through the raw `options=-c search_path=…`
        // parameter is passed to the server but not created here.
        let search_path = query
            .iter()
            .rev()
            .find(|(key, _)| key == "options[search_path]")
            .map(|(_, value)| value.as_str());
        let schema = search_path.map(schema_name).transpose()?;
        if !query
            .iter()
            .any(|(key, _)| key == "options[statement_timeout]")
        {
            let millis = pool.statement_timeout.as_millis();
            connect = connect.options([("statement_timeout", format!("{millis}ms"))]);
        }
        let database = connect
            .get_database()
            .unwrap_or_else(|| connect.get_username());
        let label = format!(
            "postgres ({}:{}/{database})",
            connect.get_host(),
            connect.get_port()
        );
        Ok(Settings {
            connect,
            label,
            schema,
        })
    }
}

/// Rejects pool options with which no operation could ever get a connection.
fn check_pool(pool: &PoolOptions) -> Result<()> {
    if pool.max_connections == 0 {
        return Err(Error::configuration(
            "pool max_connections is 0; set it to at least 1",
        ));
    }
    if pool.acquire_timeout.is_zero() {
        return Err(Error::configuration(
            "pool acquire_timeout is 0; set it to the time an operation may wait for a connection, for example 5 seconds",
        ));
    }
    Ok(())
}

/// Checks every entry of a `search_path` value and returns the first one,
/// lowercased as PostgreSQL folds unquoted names in that setting.
pub(super) fn schema_name(search_path: &str) -> Result<String> {
    let mut entries = search_path.split(',').map(str::trim);
    let first = entries.next().unwrap_or_default();
    for entry in std::iter::once(first).chain(entries) {
        if !is_identifier(entry) {
            return Err(Error::configuration(format!(
                "search_path entry {entry:?} in the PostgreSQL URL is not a plain identifier; \
                 use letters, digits and underscores, starting with a letter or underscore, \
                 at most {MAX_IDENTIFIER_BYTES} characters"
            )));
        }
    }
    Ok(first.to_ascii_lowercase())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well
        && name.len() <= MAX_IDENTIFIER_BYTES
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Decodes the query of `url` as `application/x-www-form-urlencoded` pairs,
/// the way sqlx reads it.
fn query_pairs(url: &str) -> Result<Vec<(String, String)>> {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let Some((_, query)) = without_fragment.split_once('?') else {
        return Ok(Vec::new());
    };
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((decode_component(key, url)?, decode_component(value, url)?));
    }
    Ok(pairs)
}

fn decode_component(text: &str, url: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
                continue;
            }
            (b'+', None) => decoded.push(b' '),
            (byte, None) => decoded.push(byte),
        }
        i += 1;
    }
    String::from_utf8(decoded).map_err(|_| {
        Error::configuration(format!(
            "the query of PostgreSQL URL {} is not valid UTF-8 after percent-decoding",
            redact_url(url)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_first_entry_is_lowercased() {
        assert_eq!(schema_name("T_Abc").unwrap(), "t_abc");
        assert_eq!(schema_name("app, public").unwrap(), "app");
    }

    #[test]
    fn search_path_rejects_non_identifiers() {
        for bad in [
            "",
            "a-b",
            "1abc",
            "x\"; DROP",
            "$user",
            "a,",
            &"x".repeat(64),
        ] {
            let error = schema_name(bad).unwrap_err();
            assert!(
                matches!(error, Error::Configuration { .. }),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn query_pairs_are_percent_decoded() {
        let pairs =
            query_pairs("postgres://h/db?options%5Bsearch_path%5D=t_1&a=b+c#frag").expect("pairs");
        assert_eq!(
            pairs,
            vec![
                ("options[search_path]".to_string(), "t_1".to_string()),
                ("a".to_string(), "b c".to_string()),
            ]
        );
    }

    #[test]
    fn label_names_host_port_and_database_only() {
        let settings = Settings::parse(
            "postgres://app:s3cret@db.internal:6543/metrics?options[search_path]=t_x",
            &PoolOptions::default(),
        )
        .expect("settings");
        assert_eq!(settings.label, "postgres (db.internal:6543/metrics)");
        assert_eq!(settings.schema.as_deref(), Some("t_x"));
        assert!(!settings.label.contains("s3cret"));
    }

    #[test]
    fn empty_pool_is_configuration_error() {
        let pool = PoolOptions {
            max_connections: 0,
            ..PoolOptions::default()
        };
        let error = Settings::parse("postgres://h/db", &pool)
            .err()
            .expect("error");
        assert!(matches!(error, Error::Configuration { .. }), "{error}");
        let pool = PoolOptions {
            acquire_timeout: std::time::Duration::ZERO,
            ..PoolOptions::default()
        };
        let error = Settings::parse("postgres://h/db", &pool)
            .err()
            .expect("error");
        assert!(matches!(error, Error::Configuration { .. }), "{error}");
    }

    #[test]
    fn statement_timeout_comes_from_pool_options() {
        let pool = PoolOptions {
            statement_timeout: std::time::Duration::from_millis(1500),
            ..PoolOptions::default()
        };
        let settings = Settings::parse("postgres://h/db", &pool).expect("settings");
        assert_eq!(
            settings.connect.get_options(),
            Some("-c statement_timeout=1500ms")
        );
        let settings = Settings::parse("postgres://h/db?options[statement_timeout]=5s", &pool)
            .expect("settings");
        assert_eq!(
            settings.connect.get_options(),
            Some("-c statement_timeout=5s")
        );
    }
}
