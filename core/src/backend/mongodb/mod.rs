//! The MongoDB backend through the official driver: one collection per
//! entity, one document per record. `docs/mongodb.md` describes the document
//! layout, the value conversions and what differs on FerretDB.

mod convert;
mod errors;
mod filter;
mod migrate;
mod reads;
#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;
mod tickets;
mod writes;

pub(crate) use self::reads::MongoScan;

use std::sync::Arc;

use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, ServerAddress};
use mongodb::{Client, Database};

use self::convert::Encoding;
use self::errors::{Failure, Retry};
use self::migrate::CollectionSchema;
use crate::backend::PoolOptions;
use crate::config::redact_url;
use crate::error::{Error, Result};
use crate::model::CollectionSpec;

/// Database used when the URL names none.
const DEFAULT_DATABASE: &str = "polystat";

/// A client pool on one database with the polystat collections set up.
#[derive(Clone)]
pub(crate) struct MongoBackend {
    client: Client,
    database: Database,
    /// `mongodb (HOST:PORT/DB)` for errors and logs; never contains credentials.
    label: Arc<str>,
    options: PoolOptions,
    encoding: Encoding,
    /// Whether versioned writes take a write ticket first, because the
    /// server's updates are not atomic (FerretDB 1.x).
    write_tickets: bool,
    schemas: Arc<[CollectionSchema]>,
}

impl std::fmt::Debug for MongoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoBackend")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl MongoBackend {
    /// Connects to the server a `mongodb://` URL names, checks that it
    /// responds, and applies `migrations/mongodb`.
    ///
    /// Options in the URL's query string (`maxPoolSize`,
    /// `serverSelectionTimeoutMS`, ...) take precedence over `options`. The
    /// server selection timeout defaults to `acquire_timeout`, so an
    /// unreachable server fails the open within that time.
    pub async fn open(url: &str, options: &PoolOptions) -> Result<Self> {
        let client_options = client_options(url, options).await?;
        Self::connect(url, client_options, options).await
    }

    /// Opens the backend with driver options already parsed from `url`.
    async fn connect(
        url: &str,
        client_options: ClientOptions,
        options: &PoolOptions,
    ) -> Result<Self> {
        let database_name = database_name(&client_options, url)?;
        let label: Arc<str> =
            format!("mongodb ({}/{database_name})", hosts(&client_options.hosts)).into();
        let client = Client::with_options(client_options).map_err(|e| {
            Error::configuration(format!("MongoDB URL {} is invalid: {e}", redact_url(url)))
        })?;
        let database = client.database(&database_name);
        let mut backend = MongoBackend {
            client,
            database,
            label,
            options: options.clone(),
            encoding: Encoding {
                wrap_nested_arrays: false,
            },
            write_tickets: false,
            schemas: migrate::schemas()?.into(),
        };
        backend.encoding = backend.detect_encoding().await?;
        // The same servers that need the array encoding lack atomic updates.
        backend.write_tickets = backend.encoding.wrap_nested_arrays;
        backend.migrate().await?;
        tracing::debug!(backend = %backend.label, "opened mongodb store");
        Ok(backend)
    }

    /// Closes the connection pool. Operations started later fail.
    pub async fn close(&self) {
        self.client.clone().shutdown().immediate(true).await;
    }

    fn collection(&self, spec: &CollectionSpec) -> mongodb::Collection<Document> {
        self.database.collection(spec.name)
    }

    /// Pings the server with `buildInfo` and picks the encoding it needs. FerretDB 1.x
    /// reports `ferretdbVersion` in `buildInfo` and rejects arrays nested
    /// directly in arrays, so those are wrapped there.
    async fn detect_encoding(&self) -> Result<Encoding> {
        let info = self
            .attempt("buildInfo", Retry::Never, || {
                self.database.run_command(doc! { "buildInfo": 1 })
            })
            .await
            .map_err(|failure| self.open_failed(failure))?;
        let ferretdb_v1 = info
            .get_str("ferretdbVersion")
            .is_ok_and(|version| version.starts_with("v1.") || version.starts_with("1."));
        Ok(Encoding {
            wrap_nested_arrays: ferretdb_v1,
        })
    }

    fn open_failed(&self, failure: Failure) -> Error {
        match failure {
            Failure::Driver(error) => self.unavailable("connecting", error),
            Failure::Timeout(after) => Error::Timeout {
                operation: format!("connecting to {}", self.label),
                after,
            },
        }
    }
}

async fn client_options(url: &str, pool: &PoolOptions) -> Result<ClientOptions> {
    let mut options = ClientOptions::parse(url).await.map_err(|e| {
        Error::configuration(format!(
            "MongoDB URL {} is invalid: {e}; use mongodb://[USER:PASSWORD@]HOST[:PORT]/DATABASE",
            redact_url(url)
        ))
    })?;
    options.max_pool_size.get_or_insert(pool.max_connections);
    options.connect_timeout.get_or_insert(pool.acquire_timeout);
    options
        .server_selection_timeout
        .get_or_insert(pool.acquire_timeout);
    options
        .app_name
        .get_or_insert_with(|| "polystat".to_string());
    Ok(options)
}

/// Returns the database name from the URL path, or [`DEFAULT_DATABASE`].
fn database_name(options: &ClientOptions, url: &str) -> Result<String> {
    let name = options
        .default_database
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
    let invalid = name.is_empty()
        || name.len() > 63
        || name
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'));
    if invalid {
        return Err(Error::configuration(format!(
            "MongoDB URL {} names the database {name:?}; use 1 to 63 characters without / \\ . space \" $",
            redact_url(url)
        )));
    }
    Ok(name)
}

/// `HOST:PORT` of each seed host, joined by commas.
fn hosts(addresses: &[ServerAddress]) -> String {
    addresses
        .iter()
        .map(|address| match address {
            ServerAddress::Tcp { host, port } => format!("{host}:{}", port.unwrap_or(27017)),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
