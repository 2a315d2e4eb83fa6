use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::datasource::file::FileConfig;
use crate::datasource::github::GithubConfig;
use crate::datasource::mongo::MongoConfig;
use crate::datasource::rest::RestConfig;
use crate::datasource::sql::SqlConfig;
use crate::error::{Error, Result};

/// The kind of system a datasource reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefinitionId {
    File,
    RestApi,
    GithubApi,
    Sql,
    Mongodb,
    Custom,
}

/// Outcome of the last connection test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    #[default]
    Untested,
    Ok,
    Failed,
}

/// A credential named by reference to a stored secret, never inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialRef {
    /// Name of the secret.
    pub secret: String,
    #[serde(default)]
    pub environment: Option<String>,
}

/// A source of evidence: a file, a REST or GitHub API, a SQL or MongoDB query.
/// Its `Debug` output lists credential roles only, never their values.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Datasource {
    /// Unique per owner.
    pub name: String,
    pub definition_id: DefinitionId,
    #[serde(default)]
    pub config: Value,
    /// Credentials keyed by role (`token`, `password`, `apiKey`, `cookie`):
    /// secret references, or inline values sealed on save (see
    /// [`crate::datasource::credentials`]).
    #[serde(default)]
    pub credentials: Map<String, Value>,
    #[serde(default = "default_environment")]
    pub environment: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default = "default_active")]
    pub active: bool,
    #[serde(default)]
    pub test_status: TestStatus,
    #[serde(default)]
    pub last_tested_at: Option<DateTime<Utc>>,
}

fn default_environment() -> String {
    "default".to_string()
}

fn default_active() -> bool {
    true
}

impl Datasource {
    /// Builds a `file` datasource that reads `path` under the store's data root.
    pub fn file(name: impl Into<String>, path: impl Into<String>) -> Self {
        Datasource {
            name: name.into(),
            definition_id: DefinitionId::File,
            config: serde_json::json!({ "path": path.into() }),
            credentials: Map::new(),
            environment: default_environment(),
            owner: String::new(),
            active: true,
            test_status: TestStatus::Untested,
            last_tested_at: None,
        }
    }

    /// Parses the config of a `file` datasource.
    pub fn file_config(&self) -> Result<FileConfig> {
        self.parse_config("a file datasource needs {\"path\": \"relative/file.json\"}")
    }

    /// Parses the config of a `rest-api` datasource.
    pub fn rest_config(&self) -> Result<RestConfig> {
        self.parse_config("a rest-api datasource needs baseUrl and endpoints")
    }

    /// Parses the config of a `github-api` datasource.
    pub fn github_config(&self) -> Result<GithubConfig> {
        self.parse_config("a github-api datasource needs organization, repository and resource")
    }

    /// Parses the config of a `sql` datasource.
    pub fn sql_config(&self) -> Result<SqlConfig> {
        self.parse_config("a sql datasource needs url and query")
    }

    /// Parses the config of a `mongodb` datasource.
    pub fn mongo_config(&self) -> Result<MongoConfig> {
        self.parse_config("a mongodb datasource needs url, database and collection")
    }

    /// Deserializes the config; a missing, unknown or mistyped field is a
    /// validation error that names it.
    fn parse_config<T: serde::de::DeserializeOwned>(&self, hint: &str) -> Result<T> {
        if !self.config.is_object() {
            return Err(Error::validation(
                "datasource.config",
                format!("must be a JSON object; {hint}"),
            ));
        }
        serde_json::from_value(self.config.clone()).map_err(|e| {
            let field = config_field(&e.to_string());
            Error::validation(field, format!("{e}; {hint}"))
        })
    }

    fn validate_credentials(&self) -> Result<()> {
        for role in self.credentials.keys() {
            self.credential(role)?;
        }
        Ok(())
    }

    fn validate_config(&self) -> Result<()> {
        match self.definition_id {
            DefinitionId::File => self.file_config()?.validate(),
            DefinitionId::RestApi => self.rest_config()?.validate(),
            DefinitionId::GithubApi => self.github_config()?.validate(),
            DefinitionId::Sql => self.sql_config()?.validate(),
            DefinitionId::Mongodb => self.mongo_config()?.validate(),
            DefinitionId::Custom if !self.config.is_object() => Err(Error::validation(
                "datasource.config",
                "must be a JSON object",
            )),
            DefinitionId::Custom => Ok(()),
        }
    }
}

/// Names the config field a serde error is about: `missing field `x``,
/// `unknown field `x``, or the whole config when the message names none.
fn config_field(message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.split_once(prefix))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name);
    match named {
        Some(name) => format!("datasource.config.{name}"),
        None => "datasource.config".to_string(),
    }
}

impl std::fmt::Debug for Datasource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roles: Vec<&String> = self.credentials.keys().collect();
        f.debug_struct("Datasource")
            .field("name", &self.name)
            .field("definition_id", &self.definition_id)
            .field("config", &self.config)
            .field("credentials", &roles)
            .field("environment", &self.environment)
            .field("owner", &self.owner)
            .field("active", &self.active)
            .field("test_status", &self.test_status)
            .field("last_tested_at", &self.last_tested_at)
            .finish()
    }
}

impl Entity for Datasource {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "datasources",
        entity: "datasource",
        kind: StoreKind::Document,
        keys: &[
            KeyColumn {
                column: "owner",
                path: "owner",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "name",
                path: "name",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("datasource.name", &self.name)?;
        self.validate_credentials()?;
        self.validate_config()
    }
}
