//! Entities of the data model and the record envelope they are stored in.

mod catalog;
mod computation;
mod control;
mod datasource;
mod folder;
mod guarantee_point;
mod linker;
mod mashup;
mod scope;
mod secret;
mod service_account;
mod transform_module;
mod user;
pub(crate) mod validate;

pub use catalog::{Catalog, CatalogStatus};
pub use computation::{Computation, Evidence, Period};
pub use control::{Control, ControlPeriod, ControlStatus};
pub use datasource::{CredentialRef, Datasource, DefinitionId, TestStatus};
pub use folder::Folder;
pub use guarantee_point::GuaranteePoint;
pub use linker::{ExecutionStatus, Linker};
pub use mashup::Mashup;
pub use scope::Scope;
pub use secret::{NewSecret, Sealed, Secret};
pub use service_account::{NewServiceAccount, ServiceAccount};
pub use transform_module::{
    check_transform_name, LimitOverrides, TransformModule, MAX_DEADLINE_MS, MAX_FUEL,
    MAX_TRANSFORM_NAME_BYTES, MIN_MEMORY_BYTES,
};
pub use user::{NewUser, Role, User};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Returns the static name of a collection given its text, for names that
/// arrive from outside the process (cache invalidation messages).
pub(crate) fn collection_name(name: &str) -> Option<&'static str> {
    [
        User::SPEC.name,
        Catalog::SPEC.name,
        Control::SPEC.name,
        Scope::SPEC.name,
        Secret::SPEC.name,
        ServiceAccount::SPEC.name,
        Computation::SPEC.name,
        GuaranteePoint::SPEC.name,
        Mashup::SPEC.name,
        Datasource::SPEC.name,
        Linker::SPEC.name,
        Folder::SPEC.name,
        TransformModule::SPEC.name,
    ]
    .into_iter()
    .find(|known| *known == name)
}

/// Kind of store that owns a collection: relational data or documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Relational,
    Document,
}

/// A column copied out of the record body so the database can index it and
/// enforce uniqueness or a foreign key.
#[derive(Debug)]
pub struct KeyColumn {
    /// Column name in the table.
    pub column: &'static str,
    /// Dotted path of the value inside the serialized body.
    pub path: &'static str,
    pub kind: KeyKind,
}

/// SQL type of a key column. Columns that reference a record id are UUIDs so
/// that PostgreSQL can enforce them as foreign keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Uuid,
}

/// Static description of where and how an entity is stored.
#[derive(Debug)]
pub struct CollectionSpec {
    /// Table (SQL) or collection (MongoDB) name.
    pub name: &'static str,
    /// Entity name used in errors and logs.
    pub entity: &'static str,
    pub kind: StoreKind,
    pub keys: &'static [KeyColumn],
}

impl CollectionSpec {
    /// Name of the creation timestamp field in the record JSON.
    pub fn created_field(&self) -> &'static str {
        match self.kind {
            StoreKind::Relational => "created_at",
            StoreKind::Document => "createdAt",
        }
    }

    /// Name of the update timestamp field in the record JSON.
    pub fn updated_field(&self) -> &'static str {
        match self.kind {
            StoreKind::Relational => "updated_at",
            StoreKind::Document => "updatedAt",
        }
    }

    /// Returns the key column that stores the value at `path`, if the path is indexed.
    pub fn column_for_path(&self, path: &str) -> Option<&'static str> {
        self.keys.iter().find(|k| k.path == path).map(|k| k.column)
    }
}

/// An entity that a repository stores.
pub trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const SPEC: CollectionSpec;

    /// Checks the entity's own fields; errors name the field and the fix.
    fn validate(&self) -> Result<()>;

    /// Checks a transition from `previous` to `self` on update.
    fn validate_transition(&self, _previous: &Self) -> Result<()> {
        Ok(())
    }
}

/// A stored entity with its id, version and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// UUID v7, so ids sort by creation time.
    pub id: Uuid,
    /// Starts at 1 and grows by one on each update; updates name the version they read.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub data: T,
}

impl<T: Entity> Record<T> {
    /// Serializes the record as one JSON object: metadata fields then the body.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("id".into(), Value::String(self.id.to_string()));
        object.insert("version".into(), Value::from(self.version));
        object.insert(
            T::SPEC.created_field().into(),
            Value::String(format_instant(&self.created_at)),
        );
        object.insert(
            T::SPEC.updated_field().into(),
            Value::String(format_instant(&self.updated_at)),
        );
        if let Ok(Value::Object(body)) = serde_json::to_value(&self.data) {
            object.extend(body);
        }
        Value::Object(object)
    }

    /// Rebuilds a record from the JSON object written by [`Record::to_json`].
    pub fn from_json(value: Value) -> Result<Self> {
        let Value::Object(mut object) = value else {
            return Err(Error::validation(T::SPEC.entity, "expected a JSON object"));
        };
        let id = take_string(&mut object, "id", T::SPEC.entity)?;
        let id = Uuid::parse_str(&id)
            .map_err(|e| Error::validation(format!("{}.id", T::SPEC.entity), e.to_string()))?;
        let version = object
            .remove("version")
            .and_then(|v| v.as_i64())
            .unwrap_or(1);
        let created_at = take_instant(&mut object, T::SPEC.created_field())?;
        let updated_at = take_instant(&mut object, T::SPEC.updated_field())?;
        let data = parse_body(Value::Object(object))?;
        Ok(Record {
            id,
            version,
            created_at,
            updated_at,
            data,
        })
    }
}

/// Parses the fields of a `T` given as a JSON object, such as a binding's
/// argument. The metadata of a record (id, version, timestamps) is dropped,
/// so a record read from the store can be changed and passed back to an
/// update. `field` names the argument when it is not an object.
pub fn body_from_json<T: Entity>(value: Value, field: &str) -> Result<T> {
    let Value::Object(mut object) = value else {
        return Err(Error::validation(
            field,
            format!("expected an object of {} fields", T::SPEC.entity),
        ));
    };
    for key in [
        "id",
        "version",
        T::SPEC.created_field(),
        T::SPEC.updated_field(),
    ] {
        object.remove(key);
    }
    parse_body(Value::Object(object))
}

/// Deserializes an entity body, naming the entity and serde's path in the error.
pub(crate) fn parse_body<T: Entity>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| {
        Error::validation(
            T::SPEC.entity,
            format!("{e}; check the field names and types"),
        )
    })
}

fn take_string(object: &mut Map<String, Value>, key: &str, entity: &str) -> Result<String> {
    match object.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(Error::validation(
            format!("{entity}.{key}"),
            "missing or not a string",
        )),
    }
}

fn take_instant(object: &mut Map<String, Value>, key: &str) -> Result<DateTime<Utc>> {
    match object.remove(key) {
        Some(Value::String(s)) => parse_instant(key, &s),
        _ => Ok(Utc::now()),
    }
}

/// Formats an instant as RFC 3339 in UTC with microseconds, so that strings
/// sort in time order.
pub fn format_instant(instant: &DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an RFC 3339 instant, naming `field` when it is invalid.
pub fn parse_instant(field: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            Error::validation(
                field,
                format!("{text:?} is not an RFC 3339 instant ({e}); use e.g. 2024-01-31T00:00:00Z"),
            )
        })
}

/// Reads a key column value from a serialized body.
pub(crate) fn key_value(body: &Value, path: &str) -> Option<Value> {
    let mut current = body;
    for segment in path.split('.') {
        current = current.get(segment)?;
    }
    match current {
        Value::Null => None,
        other => Some(other.clone()),
    }
}
