//! Reads: get by id, scans in id order and counts.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use uuid::Uuid;

use super::convert::{document_to_row, row_to_document, ID_FIELD};
use super::errors::{server_code, Failure, Retry, NOT_IMPLEMENTED};
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

    /// Reads rows in id order. The server gets the key equalities, the id
    /// bound and the parts of `filter` that it evaluates like the Rust
    /// matcher (see the `filter` module). The caller checks every row anyway.
    // NOTE: on FerretDB 1.24 with SQLite, one batch of 1,000 took about 4 s
    // in a collection of 100,000 computations (Python benchmark), which fits
    // a server that reads and sorts the whole collection per query. Listing
    // all of them then takes minutes; one cursor per scan would avoid the
    // repeated reads.
    pub async fn scan(
        &self,
        spec: &CollectionSpec,
        keys: &[KeyEquals],
        filter: &Filter,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let mut base = vec![key_conditions(spec, keys)?];
        if let Some(after) = after {
            base.push(doc! { ID_FIELD: { "$gt": after.to_string() } });
        }
        let translated = filter.source().and_then(|source| translate(source, spec));
        let Some(translated) = translated else {
            return self.find_rows(spec, all_of(base), limit).await;
        };
        let mut full = base.clone();
        full.push(translated);
        match self.find_documents(spec, all_of(full), limit).await {
            Err(failure) if is_rejected_filter(&failure) => {
                if !PUSHDOWN_REJECTED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        backend = %self.label,
                        collection = spec.name,
                        error = %failure,
                        "the MongoDB server rejected a translated filter; filtering in polystat instead"
                    );
                }
                self.find_rows(spec, all_of(base), limit).await
            }
            Err(failure) => Err(self.failed("find", spec, failure)),
            Ok(documents) => self.decode_all(spec, &documents),
        }
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
