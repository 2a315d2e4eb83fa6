//! Import of OSCAL JSON catalogs (such as the NIST SP 800-53 baselines) into
//! one catalog and its controls, enhancements included.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{Catalog, CatalogStatus, Control, ControlPeriod, Record};
use crate::repo::ListOptions;
use crate::store::Store;

/// One control read from an OSCAL catalog, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OscalControl {
    /// OSCAL id such as `cm-3` or `ac-2.1`.
    pub id: String,
    pub title: String,
    /// Statement prose, parts joined by newlines.
    pub statement: String,
    pub group: String,
    /// OSCAL id of the parent control, for enhancements.
    pub parent: Option<String>,
    pub label: Option<String>,
}

/// An OSCAL catalog parsed into memory.
#[derive(Debug, Clone)]
pub struct OscalCatalog {
    pub uuid: String,
    pub title: String,
    pub last_modified: Option<DateTime<Utc>>,
    /// Parents come before their enhancements.
    pub controls: Vec<OscalControl>,
}

/// Counts of what an import created, updated and left unchanged.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    pub catalog_id: Uuid,
    /// Controls in the OSCAL file, enhancements included.
    pub controls_imported: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Reads and parses an OSCAL catalog file.
pub fn read_catalog(path: &Path) -> Result<OscalCatalog> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::validation(
            "catalog.oscal",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Error::validation(
            "catalog.oscal",
            format!("{} is not valid JSON: {e}", path.display()),
        )
    })?;
    parse_catalog(&value)
}

/// Parses an OSCAL catalog document (`{"catalog": {...}}`).
pub fn parse_catalog(document: &Value) -> Result<OscalCatalog> {
    let catalog = document.get("catalog").ok_or_else(|| {
        Error::validation(
            "catalog",
            "not an OSCAL catalog: the top-level \"catalog\" object is missing",
        )
    })?;
    let uuid = text_at(catalog, "uuid", "catalog.uuid")?;
    let metadata = catalog.get("metadata").unwrap_or(&Value::Null);
    let title = text_at(metadata, "title", "catalog.metadata.title")?;
    let last_modified = metadata
        .get("last-modified")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc));
    let mut controls = Vec::new();
    for (index, group) in array_at(catalog, "groups").iter().enumerate() {
        let group_id = text_at(group, "id", &format!("catalog.groups[{index}].id"))?;
        collect_controls(group, &group_id, None, &mut controls)?;
    }
    // Controls may also sit directly under the catalog, outside any group.
    collect_controls(catalog, "", None, &mut controls)?;
    Ok(OscalCatalog {
        uuid,
        title,
        last_modified,
        controls,
    })
}

fn collect_controls(
    parent: &Value,
    group: &str,
    parent_id: Option<&str>,
    out: &mut Vec<OscalControl>,
) -> Result<()> {
    for control in array_at(parent, "controls") {
        let id = text_at(control, "id", "catalog.controls[].id")?;
        let title = text_at(control, "title", &format!("control {id}.title"))?;
        let label = control
            .get("props")
            .and_then(Value::as_array)
            .and_then(|props| {
                props
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some("label"))
            })
            .and_then(|p| p.get("value").and_then(Value::as_str))
            .map(str::to_string);
        let mut statement = Vec::new();
        for part in array_at(control, "parts") {
            if part.get("name").and_then(Value::as_str) == Some("statement") {
                collect_prose(part, &mut statement);
            }
        }
        out.push(OscalControl {
            id: id.clone(),
            title,
            statement: statement.join("\n"),
            group: group.to_string(),
            parent: parent_id.map(str::to_string),
            label,
        });
        collect_controls(control, group, Some(&id), out)?;
    }
    Ok(())
}

fn collect_prose(part: &Value, out: &mut Vec<String>) {
    if let Some(prose) = part.get("prose").and_then(Value::as_str) {
        out.push(prose.trim().to_string());
    }
    for child in array_at(part, "parts") {
        collect_prose(child, out);
    }
}

fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn text_at(value: &Value, key: &str, field: &str) -> Result<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::validation(field, "missing or not a string in the OSCAL document"))
}

impl Store {
    /// Imports an OSCAL catalog: creates the catalog and its controls, or on
    /// re-import updates only what changed, keyed by the OSCAL ids.
    pub async fn import_oscal(&self, oscal: &OscalCatalog) -> Result<ImportSummary> {
        let catalog = self.upsert_catalog(oscal).await?;
        let existing = self
            .controls()
            .list_all(&ListOptions::new().filter(json!({ "catalog_id": catalog.id.to_string() })))
            .await?;
        let mut by_external: HashMap<String, Record<Control>> = existing
            .into_iter()
            .filter_map(|c| c.data.external_id.clone().map(|id| (id, c)))
            .collect();
        let mut summary = ImportSummary {
            catalog_id: catalog.id,
            controls_imported: oscal.controls.len(),
            created: 0,
            updated: 0,
            unchanged: 0,
        };
        let mut ids: HashMap<String, Uuid> =
            by_external.iter().map(|(k, v)| (k.clone(), v.id)).collect();
        let mut to_create: Vec<&OscalControl> = Vec::new();
        for control in &oscal.controls {
            let Some(current) = by_external.remove(&control.id) else {
                to_create.push(control);
                continue;
            };
            let parent_id = control.parent.as_ref().and_then(|p| ids.get(p).copied());
            let expected = control_record(catalog.id, control, parent_id, catalog.data.start_date);
            if current.data == expected {
                summary.unchanged += 1;
            } else {
                self.controls()
                    .update(current.id, current.version, expected)
                    .await?;
                summary.updated += 1;
            }
        }
        // Insert level by level (base controls, then their enhancements) so
        // each enhancement can name its parent's id.
        while !to_create.is_empty() {
            let (ready, waiting): (Vec<_>, Vec<_>) = to_create
                .into_iter()
                .partition(|c| c.parent.as_ref().is_none_or(|p| ids.contains_key(p)));
            if ready.is_empty() {
                let orphan = &waiting[0];
                return Err(Error::validation(
                    format!("control {}.parent", orphan.id),
                    "parent control is not in the catalog",
                ));
            }
            let records = ready
                .iter()
                .map(|c| {
                    let parent_id = c.parent.as_ref().and_then(|p| ids.get(p).copied());
                    control_record(catalog.id, c, parent_id, catalog.data.start_date)
                })
                .collect();
            for (control, record) in ready
                .iter()
                .zip(self.controls().bulk_insert(records).await?)
            {
                ids.insert(control.id.clone(), record.id);
            }
            summary.created += ready.len();
            to_create = waiting;
        }
        tracing::info!(catalog = %catalog.id, created = summary.created, updated = summary.updated, "imported OSCAL catalog");
        Ok(summary)
    }

    async fn upsert_catalog(&self, oscal: &OscalCatalog) -> Result<Record<Catalog>> {
        let existing = self
            .catalogs()
            .find_one(json!({ "external_id": oscal.uuid }))
            .await?;
        if let Some(existing) = existing {
            if existing.data.name == oscal.title {
                return Ok(existing);
            }
            let mut data = existing.data.clone();
            data.name = oscal.title.clone();
            return self
                .catalogs()
                .update(existing.id, existing.version, data)
                .await;
        }
        let mut catalog = Catalog::new(oscal.title.clone());
        catalog.description = format!("Imported from OSCAL catalog {}", oscal.uuid);
        catalog.start_date = oscal.last_modified.unwrap_or_else(Utc::now);
        catalog.status = CatalogStatus::Finalized;
        catalog.external_id = Some(oscal.uuid.clone());
        self.catalogs().create(catalog).await
    }
}

fn control_record(
    catalog_id: Uuid,
    control: &OscalControl,
    parent_id: Option<Uuid>,
    start: DateTime<Utc>,
) -> Control {
    let mut parameters = Map::new();
    parameters.insert("group".into(), Value::String(control.group.clone()));
    if let Some(label) = &control.label {
        parameters.insert("label".into(), Value::String(label.clone()));
    }
    Control {
        catalog_id,
        name: control.title.clone(),
        description: control.statement.clone(),
        period: ControlPeriod::Monthly,
        start_date: start,
        end_date: None,
        mashup_id: None,
        parameters: Value::Object(parameters),
        status: CatalogStatus::Draft,
        external_id: Some(control.id.clone()),
        parent_id,
    }
}
