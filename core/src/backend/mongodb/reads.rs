//! Reads: get by id, scans in id order through one cursor, and counts.

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, Ordering};

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Cursor;
use uuid::Uuid;

use super::convert::{document_to_row, row_to_document, ID_FIELD};
use super::errors::{may_retry, server_code, Failure, Retry, NOT_IMPLEMENTED};
use super::filter::{key_conditions, translate};
use super::MongoBackend;
use crate::backend::{KeyEquals, Row};
use crate::error::{Error, Result};
use crate::model::CollectionSpec;
use crate::query::Filter;

/// Set once a translated filter was rejected, so that the warning is logged once.
static PUSHDOWN_REJECTED: AtomicBool = AtomicBool::new(false);

impl MongoBackend {
    pub async fn get(&self, spec: &CollectionSpec, id: Uuid) -> Result<Option<Row>> {
        let collection = self.collection(spec);
        let document = self
            .attempt("find", Retry::Read, || {
                collection.find_one(doc! { ID_FIELD: id.to_string() })
            })
            .await
            .map_err(|f| self.failed("find", spec, f))?;
        document.map(|d| self.decode(spec, &d)).transpose()
    }

    /// Starts a scan in id order through one cursor. The server gets the
    /// key equalities, the id bound and the parts of `filter` that it
    /// evaluates like the Rust matcher (see the `filter` module). The caller
    /// checks every row anyway.
    pub fn scan<'a>(
        &'a self,
        spec: &'a CollectionSpec,
        keys: &[KeyEquals],
        filter: &Filter,
        after: Option<Uuid>,
        batch_size: usize,
    ) -> Result<MongoScan<'a>> {
        Ok(MongoScan {
            backend: self,
            spec,
            conditions: key_conditions(spec, keys)?,
            translated: filter.source().and_then(|source| translate(source, spec)),
            after,
            batch_size,
            cursor: None,
            finished: false,
        })
    }

    pub async fn count(&self, spec: &CollectionSpec, keys: &[KeyEquals]) -> Result<u64> {
        let filter = key_conditions(spec, keys)?;
        let collection = self.collection(spec);
        self.attempt("count", Retry::Read, || {
            collection.count_documents(filter.clone())
        })
        .await
        .map_err(|f| self.failed("count", spec, f))
    }

    pub(super) async fn find_rows(
        &self,
        spec: &CollectionSpec,
        filter: Document,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let documents = self
            .find_documents(spec, filter, limit)
            .await
            .map_err(|f| self.failed("find", spec, f))?;
        self.decode_all(spec, &documents)
    }

    async fn find_documents(
        &self,
        spec: &CollectionSpec,
        filter: Document,
        limit: usize,
    ) -> Result<Vec<Document>, Failure> {
        let collection = self.collection(spec);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.attempt("find", Retry::Read, || async {
            let cursor = collection
                .find(filter.clone())
                .sort(doc! { ID_FIELD: 1 })
                .limit(limit)
                .await?;
            cursor.try_collect::<Vec<Document>>().await
        })
        .await
    }

    pub(super) fn documents(&self, rows: &[Row]) -> Result<Vec<Document>> {
        rows.iter()
            .map(|row| row_to_document(row, self.encoding))
            .collect()
    }

    fn decode_all(&self, spec: &CollectionSpec, documents: &[Document]) -> Result<Vec<Row>> {
        documents.iter().map(|d| self.decode(spec, d)).collect()
    }

    fn decode(&self, spec: &CollectionSpec, document: &Document) -> Result<Row> {
        document_to_row(document).map_err(|what| Error::Unavailable {
            backend: self.label.to_string(),
            reason: format!(
                "a stored {} document in {} is invalid: {what}",
                spec.entity, spec.name
            ),
            source: None,
        })
    }
}

/// A read of one collection in id order through one server cursor.
///
/// FerretDB 1.24 on SQLite neither pushes an `_id` range nor a sort down to
/// SQLite (its `explain` reports `filterPushdown`, `sortPushdown` and
/// `limitPushdown` false), so every `find` reads and sorts the whole
/// collection. One cursor per scan keeps that to one pass however many
/// batches follow, where a query per batch made a full listing quadratic.
/// After a transient failure the scan opens a new cursor after the last row
/// it handed out, as often as a read is retried.
pub(crate) struct MongoScan<'a> {
    backend: &'a MongoBackend,
    spec: &'a CollectionSpec,
    /// The key equalities; they never change the result, so they always go.
    conditions: Document,
    /// The translated filter, until the server rejects it.
    translated: Option<Document>,
    /// Id of the last row handed out.
    after: Option<Uuid>,
    batch_size: usize,
    cursor: Option<Cursor<Document>>,
    finished: bool,
}

impl MongoScan<'_> {
    /// Reads the next rows, at most the batch size; an empty vector means
    /// that the scan is finished.
    pub async fn next_batch(&mut self) -> Result<Vec<Row>> {
        if self.finished {
            return Ok(Vec::new());
        }
        let mut retried = 0;
        let documents = loop {
            match self.read_batch().await {
                Ok(documents) => break documents,
                Err(failure)
                    if retried < self.backend.options.retries
                        && may_retry(&failure, Retry::Read) =>
                {
                    retried += 1;
                    self.backend
                        .pause_before_retry("find", retried, &failure)
                        .await;
                }
                Err(failure) => return Err(self.backend.failed("find", self.spec, failure)),
            }
        };
        let rows = self.backend.decode_all(self.spec, &documents)?;
        if let Some(last) = rows.last() {
            self.after = Some(last.id);
        }
        Ok(rows)
    }

    /// Reads up to one batch of documents under the statement timeout,
    /// opening the cursor first when there is none. A failure drops the
    /// cursor, so the next attempt starts after the last row handed out.
    async fn read_batch(&mut self) -> Result<Vec<Document>, Failure> {
        let timeout = self.backend.options.statement_timeout;
        let mut cursor = match self.cursor.take() {
            Some(cursor) => cursor,
            None => self.open().await?,
        };
        let batch_size = self.batch_size;
        let read = async {
            let mut documents = Vec::with_capacity(batch_size);
            while documents.len() < batch_size {
                match cursor.try_next().await? {
                    Some(document) => documents.push(document),
                    None => return Ok((documents, true)),
                }
            }
            Ok((documents, false))
        };
        let (documents, exhausted) = match tokio::time::timeout(timeout, read).await {
            Ok(result) => result.map_err(Failure::Driver)?,
            Err(_) => return Err(Failure::Timeout(timeout)),
        };
        if exhausted {
            self.finished = true;
        } else {
            self.cursor = Some(cursor);
        }
        Ok(documents)
    }

    /// Runs the `find` that opens the cursor. When the server rejects the
    /// translated filter, the scan logs it once per process and goes on
    /// without it, and the repository's own matcher does the filtering.
    async fn open(&mut self) -> Result<Cursor<Document>, Failure> {
        match self.find(true).await {
            Err(failure) if self.translated.is_some() && is_rejected_filter(&failure) => {
                if !PUSHDOWN_REJECTED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        backend = %self.backend.label,
                        collection = self.spec.name,
                        error = %failure,
                        "the MongoDB server rejected a translated filter; filtering in polystat instead"
                    );
                }
                self.translated = None;
                self.find(false).await
            }
            result => result,
        }
    }

    /// Returns the `find` as a future that owns its arguments, because the
    /// scan holds a cursor, which is not `Sync`.
    fn find(
        &self,
        with_translated: bool,
    ) -> impl Future<Output = Result<Cursor<Document>, Failure>> + Send + 'static {
        let mut parts = vec![self.conditions.clone()];
        if let Some(after) = self.after {
            parts.push(doc! { ID_FIELD: { "$gt": after.to_string() } });
        }
        if let (true, Some(translated)) = (with_translated, &self.translated) {
            parts.push(translated.clone());
        }
        let filter = all_of(parts);
        let batch_size = u32::try_from(self.batch_size).unwrap_or(u32::MAX);
        let collection = self.backend.collection(self.spec);
        let timeout = self.backend.options.statement_timeout;
        async move {
            let find = collection
                .find(filter)
                .sort(doc! { ID_FIELD: 1 })
                .batch_size(batch_size)
                .into_future();
            match tokio::time::timeout(timeout, find).await {
                Ok(result) => result.map_err(Failure::Driver),
                Err(_) => Err(Failure::Timeout(timeout)),
            }
        }
    }
}

/// Returns whether a failure means that the server cannot run the translated filter.
fn is_rejected_filter(failure: &Failure) -> bool {
    matches!(server_code(failure), Some(NOT_IMPLEMENTED) | Some(2))
}

pub(super) fn ids_filter(ids: &[Uuid]) -> Document {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    doc! { ID_FIELD: { "$in": ids } }
}

/// Joins conditions with `$and`, leaving out empty ones.
fn all_of(conditions: Vec<Document>) -> Document {
    let mut conditions: Vec<Document> = conditions.into_iter().filter(|c| !c.is_empty()).collect();
    match conditions.len() {
        0 => Document::new(),
        1 => conditions.remove(0),
        _ => doc! { "$and": conditions },
    }
}
