//! SQL datasources: one read-only query with bound parameters against
//! PostgreSQL or SQLite, each row returned as a JSON object.
//!
//! Three layers keep the query read-only: [`check_read_only`] accepts only a
//! single `SELECT` or `WITH` statement, PostgreSQL runs it in a transaction
//! started with `SET TRANSACTION READ ONLY`, and SQLite opens the file read
//! only with `PRAGMA query_only` set.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Column, ConnectOptions, Connection, Row, TypeInfo, ValueRef};

use crate::error::{Error, Result};
use crate::model::Datasource;
use crate::store::Store;

const URL_FIELD: &str = "datasource.config.url";
const QUERY_FIELD: &str = "datasource.config.query";
const BACKEND: &str = "sql datasource";

/// Configuration of a `sql` datasource. A PostgreSQL password comes from
/// credential `password`, never from the URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlConfig {
    /// `postgres://USER@HOST:PORT/DB` or `sqlite://FILE`, where FILE is
    /// relative to the store's data root.
    pub url: String,
    /// One `SELECT` or `WITH` statement with placeholders: `$1`, `$2` on
    /// PostgreSQL, `?` on SQLite.
    pub query: String,
    /// Values bound to the placeholders in order: strings, numbers,
    /// booleans or null.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Time allowed to connect and to run the query, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// The database kind a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    Sqlite,
}

impl SqlConfig {
    /// Checks the configuration without connecting.
    pub fn validate(&self) -> Result<()> {
        self.dialect()?;
        if self.url.contains('@')
            && self.url.split_once("://").is_some_and(|(_, rest)| {
                rest.split('@')
                    .next()
                    .is_some_and(|user| user.contains(':'))
            })
        {
            return Err(Error::validation(
                URL_FIELD,
                "must not contain a password; store it as a secret and name it in \
                 credentials.password",
            ));
        }
        check_read_only(&self.query)?;
        for (index, param) in self.params.iter().enumerate() {
            if param.is_array() || param.is_object() {
                return Err(Error::validation(
                    format!("datasource.config.params[{index}]"),
                    "must be a string, number, boolean or null; pass JSON as a string",
                ));
            }
        }
        if self.timeout_ms == 0 {
            return Err(Error::validation(
                "datasource.config.timeoutMs",
                "must be greater than 0; leave it out for the default",
            ));
        }
        Ok(())
    }

    fn dialect(&self) -> Result<Dialect> {
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else if self.url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else {
            Err(Error::validation(
                URL_FIELD,
                "must start with postgres:// or sqlite://; other databases are not supported",
            ))
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Checks that `query` is a single `SELECT` or `WITH` statement, and returns
/// it without a trailing semicolon. Comments, string literals and quoted
/// identifiers are skipped, so a `;` inside them does not count.
pub fn check_read_only(query: &str) -> Result<&str> {
    let statement = single_statement(query)?;
    let first = first_keyword(statement).to_ascii_lowercase();
    if first != "select" && first != "with" {
        return Err(Error::validation(
            QUERY_FIELD,
            format!(
                "starts with {:?}; only a read-only SELECT or WITH query is allowed",
                first_keyword(statement)
            ),
        ));
    }
    Ok(statement)
}

/// Returns the query up to its only statement terminator, or fails if
/// anything but whitespace and comments follows a `;`.
fn single_statement(query: &str) -> Result<&str> {
    let bytes = query.as_bytes();
    let mut i = 0;
    let mut end = None;
    while i < bytes.len() {
        let skipped = skip_token(bytes, i)?;
        if skipped > i {
            i = skipped;
            continue;
        }
        if bytes[i] == b';' {
            end.get_or_insert(i);
        } else if end.is_some() && !bytes[i].is_ascii_whitespace() {
            return Err(Error::validation(
                QUERY_FIELD,
                "contains more than one statement; give a single SELECT or WITH query",
            ));
        }
        i += 1;
    }
    let statement = query[..end.unwrap_or(query.len())].trim();
    if statement.is_empty() {
        return Err(Error::validation(
            QUERY_FIELD,
            "is empty; give a SELECT or WITH query",
        ));
    }
    Ok(statement)
}

/// Skips a comment, string literal or quoted identifier starting at `i`;
/// returns `i` itself when none starts there.
fn skip_token(bytes: &[u8], i: usize) -> Result<usize> {
    let rest = &bytes[i..];
    let unterminated = |what: &str| {
        Error::validation(QUERY_FIELD, format!("has an unterminated {what}; close it"))
    };
    if rest.starts_with(b"--") {
        let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        return Ok(i + len);
    }
    if rest.starts_with(b"/*") {
        let len = find(&rest[2..], b"*/").ok_or_else(|| unterminated("comment"))?;
        return Ok(i + 2 + len + 2);
    }
    if let Some(&quote) = rest.first().filter(|b| matches!(b, b'\'' | b'"' | b'`')) {
        // A doubled quote inside the literal escapes the quote character.
        let mut j = 1;
        loop {
            match rest.get(j) {
                None => return Err(unterminated("quoted string or identifier")),
                Some(&b) if b == quote && rest.get(j + 1) == Some(&quote) => j += 2,
                Some(&b) if b == quote => return Ok(i + j + 1),
                Some(_) => j += 1,
            }
        }
    }
    Ok(i)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Returns the first word of the statement after comments and opening
/// parentheses.
fn first_keyword(statement: &str) -> &str {
    let bytes = statement.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let skipped = skip_token(bytes, i).unwrap_or(i);
        if skipped > i && (bytes[i] == b'-' || bytes[i] == b'/') {
            i = skipped;
        } else if bytes[i].is_ascii_whitespace() || bytes[i] == b'(' {
            i += 1;
        } else {
            break;
        }
    }
    let rest = &statement[i..];
    let len = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    &rest[..len]
}

/// Binds JSON scalars in order. A macro, because the PostgreSQL and SQLite
/// query types share no trait that `bind` could go through.
macro_rules! bind_params {
    ($query:ident, $params:expr) => {
        for param in &$params {
            $query = match param {
                Value::Null => $query.bind(None::<String>),
                Value::Bool(b) => $query.bind(*b),
                Value::Number(n) if n.is_i64() => $query.bind(n.as_i64()),
                Value::Number(n) => $query.bind(n.as_f64()),
                Value::String(s) => $query.bind(s.clone()),
                // Validation rejects arrays and objects before a query runs.
                other => $query.bind(other.to_string()),
            };
        }
    };
}

/// Runs the query and returns at most `limit` rows when set.
pub async fn fetch(
    store: &Store,
    datasource: &Datasource,
    config: &SqlConfig,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    config.validate()?;
    let run = async {
        match config.dialect()? {
            Dialect::Postgres => {
                let mut connection = connect_postgres(store, datasource, config).await?;
                query_postgres(&mut connection, config, limit).await
            }
            Dialect::Sqlite => {
                let mut connection = connect_sqlite(store, config).await?;
                query_sqlite(&mut connection, config, limit).await
            }
        }
    };
    tokio::time::timeout(config.timeout(), run)
        .await
        .map_err(|_| Error::Timeout {
            operation: format!("sql datasource {}", datasource.name),
            after: config.timeout(),
        })?
}

/// Connects and runs the query for one row, which checks the URL, the
/// credentials and the query.
pub async fn test_connection(
    store: &Store,
    datasource: &Datasource,
    config: &SqlConfig,
) -> Result<()> {
    fetch(store, datasource, config, Some(1)).await.map(|_| ())
}

async fn connect_postgres(
    store: &Store,
    datasource: &Datasource,
    config: &SqlConfig,
) -> Result<PgConnection> {
    let mut options = PgConnectOptions::from_str(&config.url)
        .map_err(|e| Error::validation(URL_FIELD, format!("is not a PostgreSQL URL: {e}")))?;
    if let Some(password) = store.reveal_credential(datasource, "password").await? {
        options = options.password(&password);
    }
    options.connect().await.map_err(unavailable)
}

async fn query_postgres(
    connection: &mut PgConnection,
    config: &SqlConfig,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    let statement = check_read_only(&config.query)?;
    let mut transaction = connection.begin().await.map_err(unavailable)?;
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
    // The value is an integer from the validated config, never user text.
    let timeout = format!("SET LOCAL statement_timeout = {}", config.timeout_ms);
    sqlx::query(sqlx::AssertSqlSafe(timeout))
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
    // to_jsonb converts every column type of the server into JSON.
    // NOTE: PostgreSQL keeps the inner ORDER BY through this wrapper in
    // practice, though the SQL standard does not promise it.
    let mut sql = format!("SELECT to_jsonb(q) FROM ({statement}\n) AS q");
    if let Some(limit) = limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    // The datasource owner writes this query on purpose; check_read_only
    // and the read-only transaction keep it from changing data.
    let mut query = sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(sql));
    bind_params!(query, config.params);
    let rows = query
        .fetch_all(&mut *transaction)
        .await
        .map_err(query_failed)?;
    transaction.rollback().await.map_err(unavailable)?;
    Ok(rows)
}

async fn connect_sqlite(store: &Store, config: &SqlConfig) -> Result<SqliteConnection> {
    let relative = config
        .url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//");
    let relative = relative.split('?').next().unwrap_or(relative);
    let path = super::file::resolve_path(store.data_root(), relative).map_err(|e| match e {
        Error::Validation { reason, .. } => Error::validation(URL_FIELD, reason),
        other => other,
    })?;
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(unavailable)
}

async fn query_sqlite(
    connection: &mut SqliteConnection,
    config: &SqlConfig,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    let statement = check_read_only(&config.query)?;
    sqlx::query("PRAGMA query_only = ON")
        .execute(&mut *connection)
        .await
        .map_err(unavailable)?;
    let mut transaction = connection.begin().await.map_err(unavailable)?;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.to_string()));
    bind_params!(query, config.params);
    let rows = query
        .fetch_all(&mut *transaction)
        .await
        .map_err(query_failed)?;
    transaction.rollback().await.map_err(unavailable)?;
    let take = limit.unwrap_or(rows.len());
    rows.iter().take(take).map(sqlite_row_to_json).collect()
}

/// Converts a row by the storage class of each value, since SQLite columns
/// have no fixed type.
fn sqlite_row_to_json(row: &SqliteRow) -> Result<Value> {
    let mut object = Map::new();
    for column in row.columns() {
        let index = column.ordinal();
        let raw = row.try_get_raw(index).map_err(query_failed)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" => Value::from(row.try_get::<i64, _>(index).map_err(query_failed)?),
                "REAL" => Number::from_f64(row.try_get::<f64, _>(index).map_err(query_failed)?)
                    .map_or(Value::Null, Value::Number),
                "BLOB" => {
                    use base64::Engine;
                    let bytes = row.try_get::<Vec<u8>, _>(index).map_err(query_failed)?;
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                _ => Value::String(row.try_get::<String, _>(index).map_err(query_failed)?),
            }
        };
        object.insert(column.name().to_string(), value);
    }
    Ok(Value::Object(object))
}

fn unavailable(error: sqlx::Error) -> Error {
    Error::Unavailable {
        backend: BACKEND.into(),
        reason: error.to_string(),
        source: Some(Box::new(error)),
    }
}

/// Maps a query the database rejected to a validation error on the query,
/// because the datasource config is at fault: a write in a read-only
/// transaction, a type mismatch or a missing table.
fn query_failed(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(db) => Error::validation(
            QUERY_FIELD,
            format!("the database rejected the query: {}", db.message()),
        ),
        _ => unavailable(error),
    }
}
