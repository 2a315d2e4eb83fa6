//! Write tickets: compare-and-set for versioned writes on servers whose
//! updates are not atomic.
//!
//! FerretDB 1.24 on SQLite reads the document a replace matches and writes
//! it back in two steps, so two replaces filtered on the same `{_id,
//! version}` can both succeed, and one update is lost. Before a versioned
//! write there, the writer inserts a ticket whose `_id` names the
//! collection, the record and the version it will write. The server checks
//! `_id` uniqueness in the insert itself, so only one writer per version
//! gets the ticket and the others fail with a conflict.

use std::time::Duration;

use mongodb::bson::{doc, DateTime, Document};
use uuid::Uuid;

use super::errors::{is_duplicate_key, Retry};
use super::MongoBackend;
use crate::error::Result;
use crate::model::CollectionSpec;

/// Collection that contains the tickets.
const TICKETS: &str = "polystat_write_tickets";

/// A ticket this old whose write never finished (its writer crashed) no
/// longer blocks other writers; a write takes milliseconds.
const ABANDONED_AFTER: Duration = Duration::from_secs(30);

fn ticket_id(spec: &CollectionSpec, id: Uuid, version: i64) -> String {
    format!("{}:{id}:{version}", spec.name)
}

impl MongoBackend {
    fn tickets(&self) -> mongodb::Collection<Document> {
        self.database.collection(TICKETS)
    }

    /// Takes the ticket for writing `version` of record `id`. `false` when
    /// another writer has it, which means the caller's expected version
    /// is stale or a concurrent write of the same version is under way.
    pub(super) async fn take_ticket(
        &self,
        spec: &CollectionSpec,
        id: Uuid,
        version: i64,
    ) -> Result<bool> {
        let ticket = ticket_id(spec, id, version);
        if self.insert_ticket(spec, &ticket).await? {
            return Ok(true);
        }
        if !self.remove_if_abandoned(spec, &ticket).await? {
            return Ok(false);
        }
        self.insert_ticket(spec, &ticket).await
    }

    async fn insert_ticket(&self, spec: &CollectionSpec, ticket: &str) -> Result<bool> {
        let document = doc! { "_id": ticket, "takenAt": DateTime::now() };
        let tickets = self.tickets();
        match self
            .attempt("take write ticket", Retry::Never, || {
                tickets.insert_one(&document)
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(failure) if is_duplicate_key(&failure) => Ok(false),
            Err(failure) => Err(self.failed("take write ticket", spec, failure)),
        }
    }

    /// Deletes the ticket if its writer took it long ago; `true` when it
    /// was deleted.
    async fn remove_if_abandoned(&self, spec: &CollectionSpec, ticket: &str) -> Result<bool> {
        let tickets = self.tickets();
        let filter = doc! { "_id": ticket };
        let found = self
            .attempt("read write ticket", Retry::Read, || {
                tickets.find_one(filter.clone())
            })
            .await
            .map_err(|f| self.failed("read write ticket", spec, f))?;
        let Some(taken_at) = found.and_then(|d| d.get_datetime("takenAt").ok().copied()) else {
            // Released meanwhile: the caller may try again.
            return Ok(true);
        };
        let age = DateTime::now().timestamp_millis() - taken_at.timestamp_millis();
        if age < ABANDONED_AFTER.as_millis() as i64 {
            return Ok(false);
        }
        tracing::warn!(
            backend = %self.label,
            collection = spec.name,
            ticket,
            age_ms = age,
            "removing an abandoned write ticket"
        );
        // Matching on the time too keeps a ticket taken again meanwhile.
        let abandoned = doc! { "_id": ticket, "takenAt": taken_at };
        self.attempt("remove write ticket", Retry::Read, || {
            tickets.delete_one(abandoned.clone())
        })
        .await
        .map_err(|f| self.failed("remove write ticket", spec, f))?;
        Ok(true)
    }

    /// Deletes the ticket for `version` of `id`: after a failed write, so
    /// the version can be written again, or after a later version replaced
    /// it, because then no writer can need it. Failures are logged: a
    /// leftover ticket only delays writers by [`ABANDONED_AFTER`].
    pub(super) async fn release_ticket(&self, spec: &CollectionSpec, id: Uuid, version: i64) {
        let ticket = ticket_id(spec, id, version);
        let tickets = self.tickets();
        let filter = doc! { "_id": &ticket };
        let deleted = self
            .attempt("release write ticket", Retry::Read, || {
                tickets.delete_one(filter.clone())
            })
            .await;
        if let Err(failure) = deleted {
            let error = self.failed("release write ticket", spec, failure);
            tracing::warn!(backend = %self.label, ticket, %error, "releasing a write ticket failed");
        }
    }
}
