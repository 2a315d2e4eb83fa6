//! Repositories: validated create, read, update, delete, list and count for
//! every entity, the same on every backend.

mod accounts;
mod hooks;
mod list;

pub(crate) use hooks::check_references;
pub use hooks::DatasourceUsage;
pub use list::{ListOptions, Page, MAX_PAGE_SIZE};

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Timelike, Utc};
use serde_json::Value;
use tracing::Instrument;
use uuid::Uuid;

use crate::backend::{Backend, Row};
use crate::cache::{Cached, Key};
use crate::changes::{ChangeEvent, ChangeKind};
use crate::error::{Error, Result};
use crate::model::{Entity, Record};
use crate::store::Store;

pub use hooks::Hooks;

/// Repository of one entity type. Cheap to create from [`Store`].
pub struct Repository<T> {
    store: Store,
    _entity: PhantomData<fn() -> T>,
}

impl<T> Clone for Repository<T> {
    fn clone(&self) -> Self {
        Repository {
            store: self.store.clone(),
            _entity: PhantomData,
        }
    }
}

impl<T: Hooks> Repository<T> {
    pub(crate) fn new(store: Store) -> Self {
        Repository {
            store,
            _entity: PhantomData,
        }
    }

    fn backend(&self) -> &Backend {
        self.store.backend_for::<T>()
    }

    fn span(&self, operation: &'static str, id: Option<Uuid>) -> tracing::Span {
        tracing::debug_span!(
            "polystat",
            operation,
            entity = T::SPEC.entity,
            id = id.map(|i| i.to_string()),
            backend = self.backend().name()
        )
    }

    /// Validates and stores a new record with version 1.
    pub async fn create(&self, data: T) -> Result<Record<T>> {
        let mut records = self.bulk_insert(vec![data]).await?;
        records
            .pop()
            .ok_or_else(|| Error::validation(T::SPEC.entity, "nothing to insert"))
    }

    /// Validates every item, then stores all of them in one transaction:
    /// either all are stored or none.
    pub async fn bulk_insert(&self, items: Vec<T>) -> Result<Vec<Record<T>>> {
        let span = self.span("insert", None);
        async {
            let mut items = items;
            for (index, data) in items.iter_mut().enumerate() {
                T::prepare(data);
                data.seal(&self.store)
                    .and_then(|()| data.validate())
                    .map_err(|error| error.at_item(index))?;
            }
            hooks::check_references(&self.store, &items).await?;
            // One timestamp for the whole insert: the rows commit together.
            let now = now();
            let records: Vec<Record<T>> = items
                .into_iter()
                .map(|data| new_record(data, now))
                .collect();
            let rows = records.iter().map(to_row).collect::<Result<Vec<_>>>()?;
            self.backend().insert(&T::SPEC, &rows).await?;
            self.store.inner.cache.written(T::SPEC.name, &[]).await;
            self.store.inner.cache.notify(|| {
                let ids = records.iter().map(|record| record.id).collect();
                ChangeEvent::local(ChangeKind::Created, T::SPEC.name, ids)
            });
            tracing::debug!(count = rows.len(), "inserted");
            Ok(records)
        }
        .instrument(span)
        .await
    }

    /// Reads a record by id through the tier-1 cache.
    pub async fn get(&self, id: Uuid) -> Result<Record<T>> {
        self.find(id).await?.ok_or_else(|| Error::NotFound {
            entity: T::SPEC.entity,
            id: id.to_string(),
        })
    }

    /// Reads a record by id, or `None` when it does not exist. Reads go
    /// through both cache tiers; concurrent misses load once.
    pub async fn find(&self, id: Uuid) -> Result<Option<Record<T>>> {
        let key = Key::Record {
            collection: T::SPEC.name,
            id,
        };
        let load = || async {
            let row = self
                .backend()
                .get(&T::SPEC, id)
                .instrument(self.span("get", Some(id)))
                .await?;
            Ok(row.map(|row| {
                let version = row.version;
                (Cached::Row(row), version)
            }))
        };
        let cached = self.store.inner.cache.read(key, true, load).await?;
        match cached.as_deref() {
            None => Ok(None),
            Some(Cached::Row(row)) => from_row(row).map(Some),
            // Only a foreign program writing under the cache prefix could
            // put another kind of value here; the database has the truth.
            Some(_) => self
                .backend()
                .get(&T::SPEC, id)
                .await?
                .map(|row| from_row(&row))
                .transpose(),
        }
    }

    /// Returns the record when this process's tier-1 cache holds it, and
    /// `None` otherwise, without any I/O. Bindings answer from it at once
    /// and call [`Repository::find`] only on `None`.
    pub fn cached(&self, id: Uuid) -> Option<Record<T>> {
        let key = Key::Record {
            collection: T::SPEC.name,
            id,
        };
        match self.store.inner.cache.peek(&key)?.as_ref() {
            Cached::Row(row) => from_row(row).ok(),
            _ => None,
        }
    }

    /// Returns `view` of the cached record, like [`Repository::cached`]
    /// returns the record. The view is computed on the first hit of each
    /// cache entry and shared by later hits until a write or expiry drops
    /// the entry. Bindings keep their converted form of a record this way,
    /// so a hot cached read converts nothing twice. A `view` that returns
    /// `None` keeps nothing.
    pub fn cached_view<V, F>(&self, id: Uuid, view: F) -> Option<Arc<V>>
    where
        V: std::any::Any + Send + Sync,
        F: FnOnce(Record<T>) -> Option<V>,
    {
        let key = Key::Record {
            collection: T::SPEC.name,
            id,
        };
        self.store
            .inner
            .cache
            .peek_view(&key, |cached| match cached {
                Cached::Row(row) => from_row(row).ok().and_then(view),
                _ => None,
            })
    }

    /// Replaces the record's body if its stored version is still
    /// `expected_version`; otherwise fails with a conflict.
    pub async fn update(&self, id: Uuid, expected_version: i64, mut data: T) -> Result<Record<T>> {
        let span = self.span("update", Some(id));
        async {
            T::prepare(&mut data);
            data.seal(&self.store)?;
            data.validate()?;
            let current = self.load_uncached(id).await?;
            if current.version != expected_version {
                return Err(self.stale(id, expected_version, current.version));
            }
            data.validate_transition(&current.data)?;
            data.check_update(id, &self.store).await?;
            hooks::check_references(&self.store, std::slice::from_ref(&data)).await?;
            let record = Record {
                id,
                version: expected_version + 1,
                created_at: current.created_at,
                updated_at: now(),
                data,
            };
            let updated = self
                .backend()
                .update(&T::SPEC, &to_row(&record)?, expected_version)
                .await;
            self.store.inner.cache.written(T::SPEC.name, &[id]).await;
            if !updated? {
                let actual = self.load_uncached(id).await?.version;
                return Err(self.stale(id, expected_version, actual));
            }
            self.changed(ChangeKind::Updated, id);
            Ok(record)
        }
        .instrument(span)
        .await
    }

    /// Deletes a record. With `expected_version`, deletes it only if no other
    /// write changed it since that version was read.
    pub async fn delete(&self, id: Uuid, expected_version: Option<i64>) -> Result<()> {
        let span = self.span("delete", Some(id));
        async {
            T::check_delete(id, &self.store).await?;
            let deleted = self.backend().delete(&T::SPEC, id, expected_version).await;
            self.store.inner.cache.written(T::SPEC.name, &[id]).await;
            if deleted? {
                self.changed(ChangeKind::Deleted, id);
                return Ok(());
            }
            match (self.backend().get(&T::SPEC, id).await?, expected_version) {
                (Some(row), Some(expected)) => Err(self.stale(id, expected, row.version)),
                _ => Err(Error::NotFound {
                    entity: T::SPEC.entity,
                    id: id.to_string(),
                }),
            }
        }
        .instrument(span)
        .await
    }

    /// Deletes a record without the in-use checks of [`Repository::delete`],
    /// for undoing writes this process made moments before.
    pub(crate) async fn delete_unchecked(&self, id: Uuid) -> Result<()> {
        let deleted = self.backend().delete(&T::SPEC, id, None).await;
        self.store.inner.cache.written(T::SPEC.name, &[id]).await;
        if deleted? {
            self.changed(ChangeKind::Deleted, id);
        }
        Ok(())
    }

    fn changed(&self, kind: ChangeKind, id: Uuid) {
        self.store
            .inner
            .cache
            .notify(|| ChangeEvent::local(kind, T::SPEC.name, vec![id]));
    }

    async fn load_uncached(&self, id: Uuid) -> Result<Record<T>> {
        let row = self.backend().get(&T::SPEC, id).await?;
        let row = row.ok_or_else(|| Error::NotFound {
            entity: T::SPEC.entity,
            id: id.to_string(),
        })?;
        from_row(&row)
    }

    fn stale(&self, id: Uuid, expected: i64, actual: i64) -> Error {
        // Equal versions mean another writer of the next version got there
        // first and its write has not landed yet.
        let reason = if expected == actual {
            format!(
                "another write of version {} is in progress; read the record again and retry",
                expected + 1
            )
        } else {
            format!(
                "expected version {expected} but the stored version is {actual}; read the record again and retry"
            )
        };
        Error::Conflict {
            entity: T::SPEC.entity,
            id: id.to_string(),
            reason,
        }
    }
}

/// Returns the current instant at millisecond precision, the finest that
/// every backend keeps (BSON dates are milliseconds), so a returned record
/// equals the same record read back.
pub(crate) fn now() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    now.with_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

fn new_record<T>(data: T, now: DateTime<Utc>) -> Record<T> {
    Record {
        id: Uuid::now_v7(),
        version: 1,
        created_at: now,
        updated_at: now,
        data,
    }
}

pub(crate) fn to_row<T: Entity>(record: &Record<T>) -> Result<Row> {
    let body = serde_json::to_value(&record.data)
        .map_err(|e| Error::validation(T::SPEC.entity, e.to_string()))?;
    check_integers(&body, T::SPEC.entity)?;
    Ok(Row {
        id: record.id,
        version: record.version,
        created_at: record.created_at,
        updated_at: record.updated_at,
        body,
    })
}

/// Rejects integers above `i64::MAX`, which BSON cannot store, on every
/// backend, so that a record is valid everywhere or nowhere.
fn check_integers(body: &Value, entity: &str) -> Result<()> {
    match find_large_integer(body) {
        None => Ok(()),
        Some((path, number)) => Err(Error::validation(
            format!("{entity}{path}"),
            format!(
                "integer {number} is above {}; store it as a string or a float",
                i64::MAX
            ),
        )),
    }
}

/// Returns the path and text of the first integer above `i64::MAX`. The path
/// is built only on the way back from a hit, so clean bodies allocate nothing.
fn find_large_integer(value: &Value) -> Option<(String, String)> {
    match value {
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => {
            Some((String::new(), n.to_string()))
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            find_large_integer(item).map(|(path, n)| (format!("[{i}]{path}"), n))
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            find_large_integer(item).map(|(path, n)| (format!(".{key}{path}"), n))
        }),
        _ => None,
    }
}

pub(crate) fn from_row<T: Entity>(row: &Row) -> Result<Record<T>> {
    into_record(row.clone())
}

/// Builds a record from a row it owns, so the body is not copied.
pub(crate) fn into_record<T: Entity>(row: Row) -> Result<Record<T>> {
    let data: T = crate::model::parse_body(row.body)?;
    Ok(Record {
        id: row.id,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        data,
    })
}

/// Builds the record JSON that filters and sorts run on: metadata, then body.
pub(crate) fn row_json<T: Entity>(row: &Row) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("id".into(), Value::String(row.id.to_string()));
    object.insert("version".into(), Value::from(row.version));
    object.insert(
        T::SPEC.created_field().into(),
        Value::String(crate::model::format_instant(&row.created_at)),
    );
    object.insert(
        T::SPEC.updated_field().into(),
        Value::String(crate::model::format_instant(&row.updated_at)),
    );
    if let Value::Object(body) = &row.body {
        for (key, value) in body {
            object.insert(key.clone(), value.clone());
        }
    }
    Value::Object(object)
}
