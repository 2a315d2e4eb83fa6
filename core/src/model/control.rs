use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{validate, CatalogStatus, CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::{Error, Result};

/// How often a control is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum ControlPeriod {
    Hourly,
    Daily,
    Weekly,
    #[default]
    Monthly,
    Annually,
}

/// Status of a control; shares the draft/finalized rule of catalogs.
pub type ControlStatus = CatalogStatus;

/// A control inside a catalog, such as NIST `cm-3` or the enhancement `ac-2.1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub catalog_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub period: ControlPeriod,
    pub start_date: DateTime<Utc>,
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub mashup_id: Option<Uuid>,
    #[serde(default)]
    pub parameters: Value,
    #[serde(default)]
    pub status: ControlStatus,
    /// Identifier in the source catalog (for OSCAL, the control id such as `cm-3`);
    /// unique within the catalog.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Parent control of an enhancement.
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

impl Control {
    /// Builds a draft monthly control of `catalog_id` that starts now.
    pub fn new(catalog_id: Uuid, name: impl Into<String>) -> Self {
        Control {
            catalog_id,
            name: name.into(),
            description: String::new(),
            period: ControlPeriod::Monthly,
            start_date: Utc::now(),
            end_date: None,
            mashup_id: None,
            parameters: Value::Null,
            status: ControlStatus::Draft,
            external_id: None,
            parent_id: None,
        }
    }
}

impl Entity for Control {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "controls",
        entity: "control",
        kind: StoreKind::Relational,
        keys: &[
            KeyColumn {
                column: "catalog_id",
                path: "catalog_id",
                kind: KeyKind::Uuid,
            },
            KeyColumn {
                column: "external_id",
                path: "external_id",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "parent_id",
                path: "parent_id",
                kind: KeyKind::Uuid,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        validate::name("control.name", &self.name)?;
        validate::date_range("control.end_date", &self.start_date, self.end_date.as_ref())?;
        if !(self.parameters.is_null() || self.parameters.is_object()) {
            return Err(Error::validation(
                "control.parameters",
                "must be a JSON object or null",
            ));
        }
        Ok(())
    }

    fn validate_transition(&self, previous: &Self) -> Result<()> {
        if previous.status == CatalogStatus::Finalized && self.status == CatalogStatus::Draft {
            return Err(Error::validation(
                "control.status",
                "a finalized control cannot return to draft",
            ));
        }
        Ok(())
    }
}
