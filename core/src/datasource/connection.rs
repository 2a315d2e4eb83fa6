//! Connection tests of stored datasources.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{Datasource, DefinitionId, Record, TestStatus};
use crate::store::Store;

/// Outcome of [`Store::test_datasource`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub status: TestStatus,
    /// The error when the test failed; it never contains a credential.
    pub message: Option<String>,
    /// Stable code of the error kind, as in [`Error::code`].
    pub code: Option<&'static str>,
    pub tested_at: DateTime<Utc>,
    pub elapsed: Duration,
}

impl Store {
    /// Tests that a stored datasource can be read, and records the outcome
    /// in its `testStatus` and `lastTestedAt`. A failed connection is a
    /// result with status `failed`, not an error. Errors are kept for a
    /// missing datasource or a failed write of the outcome.
    pub async fn test_datasource(&self, id: Uuid) -> Result<ConnectionTest> {
        let record = self.datasources().get(id).await?;
        let started = Instant::now();
        let outcome = self.check_connection(&record.data).await;
        let test = ConnectionTest {
            status: if outcome.is_ok() {
                TestStatus::Ok
            } else {
                TestStatus::Failed
            },
            code: outcome.as_ref().err().map(Error::code),
            message: outcome.err().map(|e| e.to_string()),
            tested_at: Utc::now(),
            elapsed: started.elapsed(),
        };
        tracing::info!(datasource = %id, status = ?test.status, "tested datasource");
        self.record_test(record, &test).await?;
        Ok(test)
    }

    /// Connects the way a read would, reading as little as possible.
    pub async fn check_connection(&self, datasource: &Datasource) -> Result<()> {
        crate::model::Entity::validate(datasource)?;
        match datasource.definition_id {
            DefinitionId::GithubApi => {
                let config = datasource.github_config()?;
                super::github::test_connection(self, datasource, &config).await
            }
            DefinitionId::Sql => {
                let config = datasource.sql_config()?;
                super::sql::test_connection(self, datasource, &config).await
            }
            DefinitionId::Mongodb => {
                let config = datasource.mongo_config()?;
                super::mongo::test_connection(self, datasource, &config).await
            }
            // A file, or the first page of a REST endpoint, is the cheapest read.
            _ => self.fetch_records(datasource, Some(1)).await.map(|_| ()),
        }
    }

    async fn record_test(&self, record: Record<Datasource>, test: &ConnectionTest) -> Result<()> {
        let mut data = record.data;
        data.test_status = test.status;
        data.last_tested_at = Some(test.tested_at);
        self.datasources()
            .update(record.id, record.version, data)
            .await
            .map(|_| ())
    }
}
