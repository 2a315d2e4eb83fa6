//! MongoDB datasources: the documents of one collection that match a filter.

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ClientOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::projection::Projection;
use crate::error::{Error, Result};
use crate::model::Datasource;
use crate::query::Filter;
use crate::store::Store;

const URL_FIELD: &str = "datasource.config.url";
const FILTER_FIELD: &str = "datasource.config.filter";
const BACKEND: &str = "mongodb datasource";

/// Configuration of a `mongodb` datasource. A password comes from
/// credential `password`, never from the URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MongoConfig {
    /// `mongodb://[USER@]HOST:PORT/` or `mongodb+srv://...`.
    pub url: String,
    pub database: String,
    pub collection: String,
    /// A filter in polystat's query subset, such as `{"state": "merged"}`;
    /// an empty object selects every document.
    #[serde(default = "empty_filter")]
    pub filter: Value,
    /// Documents read at most; none means all.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Time allowed to select a server and to connect, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn empty_filter() -> Value {
    Value::Object(Default::default())
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl MongoConfig {
    /// Checks the configuration without connecting.
    pub fn validate(&self) -> Result<()> {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return Err(bad_url());
        };
        if scheme != "mongodb" && scheme != "mongodb+srv" {
            return Err(bad_url());
        }
        let userinfo = rest.split('/').next().unwrap_or("");
        if userinfo
            .rsplit_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
        {
            return Err(Error::validation(
                URL_FIELD,
                "must not contain a password; store it as a secret and name it in \
                 credentials.password",
            ));
        }
        check_database(&self.database)?;
        check_collection(&self.collection)?;
        if !self.filter.is_object() {
            return Err(Error::validation(
                FILTER_FIELD,
                "must be a JSON object such as {\"state\": \"open\"}",
            ));
        }
        Filter::parse(&self.filter).map_err(|e| match e {
            Error::Validation { field, reason } => {
                Error::validation(format!("{FILTER_FIELD}.{field}"), reason)
            }
            other => other,
        })?;
        if self.limit == Some(0) || self.timeout_ms == 0 {
            let field = if self.limit == Some(0) {
                "limit"
            } else {
                "timeoutMs"
            };
            return Err(Error::validation(
                format!("datasource.config.{field}"),
                "must be greater than 0; leave it out for the default",
            ));
        }
        Ok(())
    }
}

fn bad_url() -> Error {
    Error::validation(
        URL_FIELD,
        "must start with mongodb:// or mongodb+srv://, such as mongodb://host:27017/",
    )
}

fn check_database(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
        return Err(Error::validation(
            "datasource.config.database",
            "must be a non-empty name without '/', '\\', '.', spaces, '\"' or '$'",
        ));
    }
    Ok(())
}

fn check_collection(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with("system.") || name.contains(['$', '\0']) {
        return Err(Error::validation(
            "datasource.config.collection",
            "must be a non-empty name without '$' that does not start with system.",
        ));
    }
    Ok(())
}

async fn connect(
    store: &Store,
    datasource: &Datasource,
    config: &MongoConfig,
) -> Result<mongodb::Client> {
    config.validate()?;
    let mut options = ClientOptions::parse(&config.url)
        .await
        .map_err(|e| Error::validation(URL_FIELD, format!("is not a MongoDB URL: {e}")))?;
    if let Some(password) = store.reveal_credential(datasource, "password").await? {
        let mut credential = options.credential.take().unwrap_or_default();
        credential.password = Some(password);
        options.credential = Some(credential);
    } else if options
        .credential
        .as_ref()
        .is_some_and(|c| c.username.is_some())
    {
        // A user name without a password cannot authenticate; fail early.
        return Err(Error::validation(
            "datasource.credentials.password",
            "the URL names a user but no password credential is set; add credentials.password",
        ));
    }
    let timeout = Duration::from_millis(config.timeout_ms);
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    options.app_name = Some("polystat-datasource".into());
    mongodb::Client::with_options(options).map_err(unavailable)
}

/// Reads the matching documents, at most the configured limit and `limit`.
pub async fn fetch(
    store: &Store,
    datasource: &Datasource,
    config: &MongoConfig,
    limit: Option<usize>,
    projection: Option<&Projection>,
) -> Result<Vec<Value>> {
    let client = connect(store, datasource, config).await?;
    let filter: Document = mongodb::bson::to_document(&config.filter)
        .map_err(|e| Error::validation(FILTER_FIELD, format!("cannot convert to BSON: {e}")))?;
    let cap = match (config.limit, limit) {
        (Some(a), Some(b)) => Some(a.min(b as u64)),
        (a, b) => a.or(b.map(|b| b as u64)),
    };
    let collection = client
        .database(&config.database)
        .collection::<Document>(&config.collection);
    let mut find = collection.find(filter);
    if let Some(cap) = cap {
        find = find.limit(i64::try_from(cap).unwrap_or(i64::MAX));
    }
    if let Some(fields) = projection.and_then(server_projection) {
        find = find.projection(fields);
    }
    let documents: Vec<Document> = find
        .await
        .map_err(unavailable)?
        .try_collect()
        .await
        .map_err(unavailable)?;
    Ok(documents
        .into_iter()
        .map(|d| Bson::Document(d).into_relaxed_extjson())
        .collect())
}

/// Builds the MongoDB projection document that requests the top-level
/// fields `projection` reaches, or returns `None` when a name cannot go into
/// a projection document.
///
/// Only top-level names go to the server: MongoDB projects a dotted path
/// into every element of an array, while [`Projection`] keeps arrays whole,
/// so the caller prunes the nested levels itself. `_id` is left out unless a
/// path names it.
fn server_projection(projection: &Projection) -> Option<Document> {
    let mut fields = Document::new();
    fields.insert("_id", 0);
    for name in projection.top_level_fields() {
        // BSON keys cannot hold NUL, and MongoDB reads `$` names as
        // operators, so such a name leaves the whole projection to pruning.
        if name.is_empty() || name.starts_with('$') || name.contains('\0') {
            return None;
        }
        fields.insert(name, 1);
    }
    Some(fields)
}

/// Pings the server with the configured credentials.
pub async fn test_connection(
    store: &Store,
    datasource: &Datasource,
    config: &MongoConfig,
) -> Result<()> {
    let client = connect(store, datasource, config).await?;
    client
        .database(&config.database)
        .run_command(doc! { "ping": 1 })
        .await
        .map(|_| ())
        .map_err(unavailable)
}

fn unavailable(error: mongodb::error::Error) -> Error {
    Error::Unavailable {
        backend: BACKEND.into(),
        reason: error.to_string(),
        source: Some(Box::new(error)),
    }
}
