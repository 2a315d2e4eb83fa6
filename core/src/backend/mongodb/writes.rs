//! Writes with the same results as the SQL backends.
//!
//! FerretDB 1.24 has no transactions, so multi-document writes are made
//! all-or-nothing by undoing what was written when a later step fails. A
//! reader running at the same time may see the partial state, and a crash
//! or lost connection between the steps can leave it.
//!
//! When the connection fails during a write (as on the first write after a
//! server restart), the write may or may not have been applied. Each write
//! then reads what is stored and continues from there, at most
//! `PoolOptions::retries` times.

use mongodb::bson::{doc, Bson, Document};
use uuid::Uuid;

use super::convert::{row_to_document, ID_FIELD, VERSION_FIELD};
use super::errors::{failed_position, is_duplicate_key, is_transient_failure, Failure, Retry};
use super::reads::ids_filter;
use super::MongoBackend;
use crate::backend::Row;
use crate::error::{Error, Result};
use crate::model::CollectionSpec;

impl MongoBackend {
    /// Inserts the rows with ordered `insert_many` commands. If the insert
    /// fails, the rows of this batch that were stored are deleted again.
    pub async fn insert(&self, spec: &CollectionSpec, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let documents = self.documents(rows)?;
        // Positions in `rows` of the rows not stored yet.
        let mut pending: Vec<usize> = (0..rows.len()).collect();
        let mut retried = 0;
        loop {
            let failure = match self.insert_positions(spec, &documents, &pending).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            if retried == self.options.retries || !is_transient_failure(&failure) {
                return Err(self.undo_insert(spec, rows, &pending, failure).await);
            }
            retried += 1;
            self.pause_before_retry("insert", retried, &failure).await;
            pending = match self.unstored(spec, rows, &pending).await {
                Ok(unstored) => unstored,
                Err(error) => {
                    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
                    self.undo("insert", spec, &ids).await;
                    return Err(error);
                }
            };
            if pending.is_empty() {
                return Ok(());
            }
        }
    }

    async fn insert_positions(
        &self,
        spec: &CollectionSpec,
        documents: &[Document],
        positions: &[usize],
    ) -> Result<(), Failure> {
        let batch: Vec<&Document> = positions.iter().map(|&i| &documents[i]).collect();
        let collection = self.collection(spec);
        self.attempt("insert", Retry::Unsent, || {
            collection.insert_many(batch.iter().copied()).ordered(true)
        })
        .await
        .map(|_| ())
    }

    /// Returns the positions among `pending` whose rows are not stored. Record ids
    /// are new UUIDs, so a stored id means this insert stored it.
    async fn unstored(
        &self,
        spec: &CollectionSpec,
        rows: &[Row],
        pending: &[usize],
    ) -> Result<Vec<usize>> {
        let ids: Vec<Uuid> = pending.iter().map(|&i| rows[i].id).collect();
        let stored = self.find_rows(spec, ids_filter(&ids), ids.len()).await?;
        let unstored = pending
            .iter()
            .copied()
            .filter(|&i| !stored.iter().any(|row| row.id == rows[i].id))
            .collect();
        Ok(unstored)
    }

    /// Replaces the document if it is still at `expected_version`.
    pub async fn update(
        &self,
        spec: &CollectionSpec,
        row: &Row,
        expected_version: i64,
    ) -> Result<bool> {
        if !self.write_tickets {
            return self.replace_versioned(spec, row, expected_version).await;
        }
        if !self.take_ticket(spec, row.id, row.version).await? {
            return Ok(false);
        }
        let replaced = self.replace_versioned(spec, row, expected_version).await;
        let retired = match replaced {
            Ok(true) => expected_version,
            _ => row.version,
        };
        self.release_ticket(spec, row.id, retired).await;
        replaced
    }

    async fn replace_versioned(
        &self,
        spec: &CollectionSpec,
        row: &Row,
        expected_version: i64,
    ) -> Result<bool> {
        let document = row_to_document(row, self.encoding)?;
        let filter = doc! { ID_FIELD: row.id.to_string(), VERSION_FIELD: expected_version };
        let collection = self.collection(spec);
        let mut retried = 0;
        loop {
            let result = self
                .attempt("replace", Retry::Unsent, || {
                    collection.replace_one(filter.clone(), &document)
                })
                .await;
            let failure = match result {
                Ok(outcome) => return Ok(outcome.matched_count == 1),
                Err(failure) => failure,
            };
            if retried == self.options.retries || !is_transient_failure(&failure) {
                return Err(self.write_error("replace", spec, row, failure).await);
            }
            retried += 1;
            self.pause_before_retry("replace", retried, &failure).await;
            if let Some(updated) = self.update_outcome(spec, row, expected_version).await? {
                return Ok(updated);
            }
        }
    }

    /// Reads what a replace whose reply was lost left: `None` when the
    /// document is still at `expected_version`, so the replace must run
    /// again, else whether the stored document is `row`.
    async fn update_outcome(
        &self,
        spec: &CollectionSpec,
        row: &Row,
        expected_version: i64,
    ) -> Result<Option<bool>> {
        let outcome = match self.get(spec, row.id).await? {
            Some(current) if current.version == expected_version => None,
            Some(current) => Some(
                current.version == row.version
                    && current.body == row.body
                    && current.updated_at.timestamp_millis() == row.updated_at.timestamp_millis(),
            ),
            None => Some(false),
        };
        Ok(outcome)
    }

    pub async fn delete(
        &self,
        spec: &CollectionSpec,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        let Some(expected) = expected_version.filter(|_| self.write_tickets) else {
            return self.delete_versioned(spec, id, expected_version).await;
        };
        // Deleting counts as writing the next version.
        if !self.take_ticket(spec, id, expected + 1).await? {
            return Ok(false);
        }
        let deleted = self.delete_versioned(spec, id, expected_version).await;
        if matches!(deleted, Ok(true)) {
            self.release_ticket(spec, id, expected).await;
        }
        self.release_ticket(spec, id, expected + 1).await;
        deleted
    }

    async fn delete_versioned(
        &self,
        spec: &CollectionSpec,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        let mut filter = doc! { ID_FIELD: id.to_string() };
        if let Some(version) = expected_version {
            filter.insert(VERSION_FIELD, version);
        }
        let collection = self.collection(spec);
        let mut retried = 0;
        loop {
            let result = self
                .attempt("delete", Retry::Unsent, || {
                    collection.delete_one(filter.clone())
                })
                .await;
            let failure = match result {
                Ok(outcome) => return Ok(outcome.deleted_count == 1),
                Err(failure) => failure,
            };
            if retried == self.options.retries || !is_transient_failure(&failure) {
                return Err(self.failed("delete", spec, failure));
            }
            retried += 1;
            self.pause_before_retry("delete", retried, &failure).await;
            // A record that is gone counts as deleted by this call, even if
            // another writer deleted it in the meantime.
            match self.get(spec, id).await? {
                None => return Ok(true),
                Some(current) if expected_version.is_some_and(|v| v != current.version) => {
                    return Ok(false)
                }
                Some(_) => {}
            }
        }
    }

    /// Inserts `rows`, then deletes `delete_ids`, so the old rows stay until
    /// the new ones are stored. When the new rows clash with the old ones on
    /// a unique index, the old rows are deleted first and put back if the
    /// insert still fails.
    pub async fn replace(
        &self,
        spec: &CollectionSpec,
        delete_ids: &[Uuid],
        rows: &[Row],
    ) -> Result<()> {
        match self.insert(spec, rows).await {
            Ok(()) => {}
            Err(Error::Conflict { .. }) if !delete_ids.is_empty() => {
                return self.replace_old_first(spec, delete_ids, rows).await;
            }
            Err(error) => return Err(error),
        }
        if let Err(error) = self.delete_ids(spec, delete_ids).await {
            let new_ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
            self.undo("replace", spec, &new_ids).await;
            return Err(error);
        }
        Ok(())
    }

    async fn replace_old_first(
        &self,
        spec: &CollectionSpec,
        delete_ids: &[Uuid],
        rows: &[Row],
    ) -> Result<()> {
        let old = self
            .find_rows(spec, ids_filter(delete_ids), delete_ids.len())
            .await?;
        self.delete_ids(spec, delete_ids).await?;
        let Err(error) = self.insert(spec, rows).await else {
            return Ok(());
        };
        if let Err(restore) = self.insert(spec, &old).await {
            tracing::warn!(
                backend = %self.label,
                collection = spec.name,
                ids = ?delete_ids,
                error = %restore,
                "restoring the documents of a failed replace failed; they are deleted"
            );
        }
        Err(error)
    }

    /// Deletes by id; deleting twice is harmless, so transient failures retry.
    async fn delete_ids(&self, spec: &CollectionSpec, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let filter = ids_filter(ids);
        let collection = self.collection(spec);
        self.attempt("delete", Retry::Read, || {
            collection.delete_many(filter.clone())
        })
        .await
        .map_err(|f| self.failed("delete", spec, f))?;
        Ok(())
    }

    /// Deletes the rows a failed write stored, logging when that fails too.
    async fn undo(&self, operation: &str, spec: &CollectionSpec, ids: &[Uuid]) {
        if let Err(error) = self.delete_ids(spec, ids).await {
            tracing::warn!(
                backend = %self.label,
                collection = spec.name,
                operation,
                ids = ?ids,
                %error,
                "deleting the documents of a failed write failed; they remain stored"
            );
        }
    }

    /// Maps a failed insert of the rows at `pending` and deletes the rows of
    /// the batch that are stored: all rows outside `pending`, and those
    /// before the failed position, or every row when the position is unknown.
    async fn undo_insert(
        &self,
        spec: &CollectionSpec,
        rows: &[Row],
        pending: &[usize],
        failure: Failure,
    ) -> Error {
        let position = failed_position(&failure).filter(|&p| p < pending.len());
        let failed_row = &rows[pending[position.unwrap_or(0)]];
        let error = self.write_error("insert", spec, failed_row, failure).await;
        let ids: Vec<Uuid> = match position {
            Some(position) => rows
                .iter()
                .enumerate()
                .filter(|(i, _)| !pending[position..].contains(i))
                .map(|(_, row)| row.id)
                .collect(),
            None => rows.iter().map(|row| row.id).collect(),
        };
        if !ids.is_empty() {
            self.undo("insert", spec, &ids).await;
        }
        error
    }

    /// Maps a failed write of `row`; a unique index violation becomes a
    /// conflict that names the index fields.
    async fn write_error(
        &self,
        operation: &str,
        spec: &CollectionSpec,
        row: &Row,
        failure: Failure,
    ) -> Error {
        if !is_duplicate_key(&failure) {
            return self.write_failed(operation, spec, failure);
        }
        let fields = self.duplicate_fields(spec, row).await;
        Error::Conflict {
            entity: spec.entity,
            id: row.id.to_string(),
            reason: format!("another {} already has the same {fields}", spec.entity),
        }
    }

    /// Finds which unique index `row` clashes with, because FerretDB's
    /// duplicate key message does not name the index.
    async fn duplicate_fields(&self, spec: &CollectionSpec, row: &Row) -> String {
        let unique = self.unique_indexes(spec);
        let Ok(document) = row_to_document(row, self.encoding) else {
            return unique.join(" or ");
        };
        for fields in self.unique_field_sets(spec) {
            let mut filter = doc! { ID_FIELD: { "$ne": row.id.to_string() } };
            for field in &fields {
                let value = document.get(*field).cloned().unwrap_or(Bson::Null);
                filter.insert(*field, value);
            }
            if self.exists(spec, filter).await {
                return fields.join(" and ");
            }
        }
        let same_id = doc! { ID_FIELD: row.id.to_string() };
        if unique.is_empty() || self.exists(spec, same_id).await {
            return "id".to_string();
        }
        unique.join(" or ")
    }

    /// Returns whether a document matches, and false when the lookup fails.
    async fn exists(&self, spec: &CollectionSpec, filter: Document) -> bool {
        let collection = self.collection(spec);
        let found = self
            .attempt("find", Retry::Never, || collection.find_one(filter.clone()))
            .await;
        matches!(found, Ok(Some(_)))
    }

    fn unique_field_sets(&self, spec: &CollectionSpec) -> Vec<Vec<&str>> {
        self.schemas
            .iter()
            .filter(|schema| schema.collection == spec.name)
            .flat_map(|schema| schema.indexes.iter())
            .filter(|index| index.unique)
            .map(|index| index.fields())
            .collect()
    }

    fn unique_indexes(&self, spec: &CollectionSpec) -> Vec<String> {
        self.unique_field_sets(spec)
            .into_iter()
            .map(|fields| fields.join(" and "))
            .collect()
    }
}
