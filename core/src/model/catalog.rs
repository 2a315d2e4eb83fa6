use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{validate, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::{Error, Result};

/// Lifecycle of a catalog or control: a finalized one cannot return to draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CatalogStatus {
    #[default]
    Draft,
    Finalized,
}

/// A catalog of controls, such as an imported NIST SP 800-53 baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub start_date: DateTime<Utc>,
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub status: CatalogStatus,
    #[serde(default)]
    pub dashboard_id: Option<String>,
    #[serde(default)]
    pub agreement_id: Option<String>,
    /// Identifier in the source system (for OSCAL, the catalog UUID); unique.
    #[serde(default)]
    pub external_id: Option<String>,
}

impl Catalog {
    /// Builds a draft catalog named `name` that starts now.
    pub fn new(name: impl Into<String>) -> Self {
        Catalog {
            name: name.into(),
            description: String::new(),
            start_date: Utc::now(),
            end_date: None,
            status: CatalogStatus::Draft,
            dashboard_id: None,
            agreement_id: None,
            external_id: None,
        }
    }
}

impl Entity for Catalog {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "catalogs",
        entity: "catalog",
        kind: StoreKind::Relational,
        keys: &[
            KeyColumn {
                column: "name",
                path: "name",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "external_id",
                path: "external_id",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("catalog.name", &self.name)?;
        validate::date_range("catalog.end_date", &self.start_date, self.end_date.as_ref())
    }

    fn validate_transition(&self, previous: &Self) -> Result<()> {
        if previous.status == CatalogStatus::Finalized && self.status == CatalogStatus::Draft {
            return Err(Error::validation(
                "catalog.status",
                "a finalized catalog cannot return to draft; create a new catalog instead",
            ));
        }
        Ok(())
    }
}
