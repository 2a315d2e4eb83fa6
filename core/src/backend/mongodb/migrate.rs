//! The collections, indexes and validators in `migrations/mongodb/*.json`,
//! applied on every open. Each step is idempotent, so a database that is
//! already up to date is left as it is.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use mongodb::bson::{Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::errors::{server_code, Failure, Retry, NOT_IMPLEMENTED};
use super::MongoBackend;
use crate::error::{Error, Result};

/// The migration files, embedded so that a built library needs no files at
/// run time. A new file in migrations/mongodb must be listed here as well.
const FILES: [(&str, &str); 7] = [
    (
        "computations.json",
        include_str!("../../../../migrations/mongodb/computations.json"),
    ),
    (
        "guarantee_points.json",
        include_str!("../../../../migrations/mongodb/guarantee_points.json"),
    ),
    (
        "mashups.json",
        include_str!("../../../../migrations/mongodb/mashups.json"),
    ),
    (
        "folders.json",
        include_str!("../../../../migrations/mongodb/folders.json"),
    ),
    (
        "datasources.json",
        include_str!("../../../../migrations/mongodb/datasources.json"),
    ),
    (
        "linkers.json",
        include_str!("../../../../migrations/mongodb/linkers.json"),
    ),
    (
        "transform_modules.json",
        include_str!("../../../../migrations/mongodb/transform_modules.json"),
    ),
];

/// The server's code for creating a collection that already exists, which
/// happens when two stores open the same database at once.
const NAMESPACE_EXISTS: i32 = 48;

/// Set once the missing validators were reported, so that a process that
/// opens many stores logs the warning once.
static VALIDATOR_WARNING: AtomicBool = AtomicBool::new(false);

/// One migration file: a collection with its indexes and validator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CollectionSchema {
    pub collection: String,
    /// Explains the collection to readers of the file.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
    #[serde(default)]
    pub indexes: Vec<IndexSpec>,
    /// A `$jsonSchema` validator document.
    #[serde(default)]
    pub validator: Option<Value>,
}

/// One index: its name, key fields in order with 1 or -1, and uniqueness.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IndexSpec {
    pub name: String,
    pub key: Map<String, Value>,
    #[serde(default)]
    pub unique: bool,
}

impl IndexSpec {
    /// Field names of the index key, in key order.
    pub fn fields(&self) -> Vec<&str> {
        self.key.keys().map(String::as_str).collect()
    }
}

/// Parses the embedded migration files.
pub(super) fn schemas() -> Result<Vec<CollectionSchema>> {
    FILES
        .iter()
        .map(|(name, text)| {
            serde_json::from_str(text).map_err(|e| {
                Error::configuration(format!("migrations/mongodb/{name} is invalid: {e}"))
            })
        })
        .collect()
}

fn index_model(index: &IndexSpec) -> Result<IndexModel> {
    let mut keys = Document::new();
    for (field, direction) in &index.key {
        let direction = direction.as_i64().filter(|d| *d == 1 || *d == -1);
        let Some(direction) = direction else {
            return Err(Error::configuration(format!(
                "index {} has a key direction other than 1 or -1",
                index.name
            )));
        };
        keys.insert(field.clone(), Bson::Int32(direction as i32));
    }
    let options = IndexOptions::builder()
        .name(index.name.clone())
        .unique(index.unique.then_some(true))
        .build();
    Ok(IndexModel::builder().keys(keys).options(options).build())
}

impl MongoBackend {
    /// Creates missing collections and indexes and sets the validators. A
    /// server that does not implement validators (FerretDB 1.24 rejects the
    /// `validator` option and `collMod`) gets none, with one warning per
    /// process.
    pub(super) async fn migrate(&self) -> Result<()> {
        let names = self
            .attempt("listCollections", Retry::Read, || {
                self.database.list_collection_names()
            })
            .await
            .map_err(|f| self.migration_failed("listCollections", f))?;
        let existing: HashSet<String> = names.into_iter().collect();
        let mut without_validator = Vec::new();
        for schema in self.schemas.iter() {
            let validated = self
                .ensure_collection(schema, existing.contains(&schema.collection))
                .await?;
            if !validated {
                without_validator.push(schema.collection.as_str());
            }
            self.ensure_indexes(schema).await?;
        }
        if !without_validator.is_empty() && !VALIDATOR_WARNING.swap(true, Ordering::Relaxed) {
            // NOTE: FerretDB 1.24 implements neither validators nor collMod,
            // so there the collections accept documents of any shape and only
            // the repository's own validation applies.
            tracing::warn!(
                backend = %self.label,
                collections = ?without_validator,
                "the MongoDB server does not implement JSON Schema validators; collections were set up without them"
            );
        }
        Ok(())
    }

    /// Creates the collection or updates its validator; returns whether the
    /// validator is in place.
    async fn ensure_collection(&self, schema: &CollectionSchema, exists: bool) -> Result<bool> {
        let name = schema.collection.as_str();
        let validator = match &schema.validator {
            Some(validator) => Some(validator_document(name, validator)?),
            None => None,
        };
        let result = match (&validator, exists) {
            (None, true) => return Ok(true),
            (None, false) => self.create(name, None).await,
            (Some(validator), false) => self.create(name, Some(validator.clone())).await,
            (Some(validator), true) => self.set_validator(name, validator.clone()).await,
        };
        match result {
            Ok(()) => Ok(true),
            Err(failure) if server_code(&failure) == Some(NOT_IMPLEMENTED) && !exists => {
                self.create(name, None)
                    .await
                    .map_err(|f| self.migration_failed("create", f))?;
                Ok(false)
            }
            Err(failure) if server_code(&failure) == Some(NOT_IMPLEMENTED) => Ok(false),
            Err(failure) => Err(self.migration_failed("create", failure)),
        }
    }

    async fn create(&self, name: &str, validator: Option<Document>) -> Result<(), Failure> {
        let result = self
            .attempt("create", Retry::Unsent, || {
                let action = self.database.create_collection(name);
                match validator.clone() {
                    Some(validator) => action.validator(validator),
                    None => action,
                }
            })
            .await;
        match result {
            Err(failure) if server_code(&failure) == Some(NAMESPACE_EXISTS) => Ok(()),
            other => other,
        }
    }

    async fn set_validator(&self, name: &str, validator: Document) -> Result<(), Failure> {
        let mut command = Document::new();
        command.insert("collMod", name);
        command.insert("validator", validator);
        command.insert("validationLevel", "strict");
        command.insert("validationAction", "error");
        self.attempt("collMod", Retry::Read, || {
            self.database.run_command(command.clone())
        })
        .await
        .map(|_| ())
    }

    /// Creates the indexes that are missing, one command each.
    // NOTE: FerretDB 1.24 drops the connection (a panic in its handler) on a
    // createIndexes command with several indexes that all exist already, so
    // existing indexes are skipped and the rest are created one at a time.
    async fn ensure_indexes(&self, schema: &CollectionSchema) -> Result<()> {
        if schema.indexes.is_empty() {
            return Ok(());
        }
        let collection = self.database.collection::<Document>(&schema.collection);
        let existing = self
            .attempt("listIndexes", Retry::Read, || collection.list_index_names())
            .await
            .map_err(|f| self.migration_failed("listIndexes", f))?;
        for index in &schema.indexes {
            if existing.contains(&index.name) {
                continue;
            }
            let model = index_model(index)?;
            self.attempt("createIndexes", Retry::Read, || {
                collection.create_index(model.clone())
            })
            .await
            .map_err(|f| self.migration_failed("createIndexes", f))?;
        }
        Ok(())
    }

    fn migration_failed(&self, step: &str, failure: Failure) -> Error {
        match failure {
            Failure::Driver(error) => self.unavailable(&format!("migration step {step}"), error),
            Failure::Timeout(after) => Error::Timeout {
                operation: format!("mongodb migration step {step}"),
                after,
            },
        }
    }
}

fn validator_document(collection: &str, validator: &Value) -> Result<Document> {
    mongodb::bson::to_document(validator).map_err(|e| {
        Error::configuration(format!(
            "the validator of migrations/mongodb/{collection}.json is not a BSON document: {e}"
        ))
    })
}
