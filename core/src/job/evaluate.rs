//! Evaluation of a job file. Everything that can fail on bad input (reading
//! files, compiling and running transforms) happens before the first write,
//! so a failing job leaves the store unchanged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::spec::{JobControl, JobSpec};
use super::transforms::TransformSet;
use crate::changes::{ChangeEvent, ChangeKind};
use crate::error::{Error, Result};
use crate::link::{LinkOutput, SourceDiagnostic, TransformRunner};
use crate::model::{Computation, Datasource, Evidence, Linker, Record};
use crate::oscal::{self, OscalCatalog};
use crate::repo::{to_row, ListOptions};
use crate::store::Store;
use crate::transform::TransformLimits;

/// Options of a job run: the job file and the data root for its datasources.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    pub job_path: PathBuf,
    /// Overrides the job's `dataDir`; relative datasource and catalog paths
    /// resolve against it.
    pub data_dir: Option<PathBuf>,
}

/// Counts in the store after the run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub controls: u64,
    pub computations: u64,
}

/// The outcome for one evaluated control.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    /// OSCAL control id, such as `cm-3`.
    pub control: String,
    pub control_id: Uuid,
    pub evidences: usize,
    pub passing: usize,
    /// True when every evidence passes.
    pub value: bool,
    pub computation_id: Uuid,
}

/// Summary of a job run, printed as JSON by `polystat evaluate`.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub job: String,
    pub catalog_id: Uuid,
    pub controls_imported: usize,
    pub linked_records: usize,
    pub sources: Vec<SourceDiagnostic>,
    pub totals: Totals,
    pub evaluations: Vec<Evaluation>,
}

/// A control's evidences and computation, computed but not yet stored.
struct Pending {
    job: JobControl,
    evidences: Vec<Evidence>,
}

impl Store {
    /// Runs a job file end to end and stores one computation per control and
    /// period, replacing the computation of an earlier run of the same period.
    pub async fn evaluate_job(&self, options: &EvaluateOptions) -> Result<JobReport> {
        let job = JobSpec::read(&options.job_path)?;
        let job_dir = options
            .job_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let data_root = self.job_data_root(options, &job, &job_dir)?;
        let store = self.with_data_root(&data_root);
        tracing::info!(job = %job.name, data_root = %data_root.display(), "evaluating job");

        let catalog_path = crate::datasource::file::resolve_path(&data_root, &job.catalog.oscal)?;
        let catalog = oscal::read_catalog(&catalog_path)?;
        check_controls(&job, &catalog)?;
        let transforms = load_transforms(self, &job, &job_dir)?;
        let datasources: Vec<Datasource> =
            job.datasources.iter().map(|d| d.to_datasource()).collect();
        for datasource in &datasources {
            crate::model::Entity::validate(datasource)?;
        }
        let linker = Linker {
            name: job.linker.name.clone(),
            spec: job.linker.spec.clone(),
            ..empty_linker()
        };
        crate::model::Entity::validate(&linker)?;
        let linked = store
            .link_datasources(&linker.spec, &datasources, &transforms, None)
            .await?;
        tracing::info!(records = linked.records.len(), "linked sources");
        let pending = evaluate_controls(&job, &linked, &transforms).await?;

        // Both stores must respond before the first write, so that an outage
        // that has already begun fails the job with nothing written.
        self.datasources().count(&Value::Null).await?;
        let catalog_existed = self
            .catalogs()
            .find_one(json!({ "external_id": catalog.uuid }))
            .await?
            .is_some();

        // Writes start here: every input has been read and every transform has run.
        let import = self.import_oscal(&catalog).await?;
        let written = self
            .write_results(&datasources, linker, pending, import.catalog_id)
            .await;
        let evaluations = match written {
            Ok(evaluations) => evaluations,
            Err(error) => {
                if !catalog_existed {
                    self.remove_imported_catalog(import.catalog_id).await;
                }
                return Err(error);
            }
        };
        let totals = Totals {
            controls: self.controls().count(&Value::Null).await?,
            computations: self.computations().count(&Value::Null).await?,
        };
        Ok(JobReport {
            job: job.name,
            catalog_id: import.catalog_id,
            controls_imported: import.controls_imported,
            linked_records: linked.records.len(),
            sources: linked.diagnostics,
            totals,
            evaluations,
        })
    }

    /// Writes the datasources, the linker and one computation per control.
    async fn write_results(
        &self,
        datasources: &[Datasource],
        linker: Linker,
        pending: Vec<Pending>,
        catalog_id: Uuid,
    ) -> Result<Vec<Evaluation>> {
        self.upsert_datasources(datasources).await?;
        self.upsert_linker(linker).await?;
        let mut evaluations = Vec::new();
        for item in pending {
            evaluations.push(self.store_computation(catalog_id, item).await?);
        }
        Ok(evaluations)
    }

    /// Undoes the import of a catalog this run created, after a later write
    /// failed (the documents may live on another server, so the two cannot
    /// share a transaction). Failures here are logged: the job's own error is
    /// the one returned.
    // NOTE: a catalog that existed before the run keeps the control updates
    // the import made, and datasources, the linker or computations written
    // before the failure stay.
    async fn remove_imported_catalog(&self, catalog_id: Uuid) {
        let filter = json!({ "catalog_id": catalog_id.to_string() });
        let controls = match self
            .controls()
            .list_all(&ListOptions::new().filter(filter))
            .await
        {
            Ok(controls) => controls,
            Err(error) => {
                tracing::warn!(catalog = %catalog_id, %error, "could not undo the catalog import");
                return;
            }
        };
        // Enhancements reference their parents, so they go first.
        let (enhancements, base): (Vec<_>, Vec<_>) = controls
            .into_iter()
            .partition(|c| c.data.parent_id.is_some());
        for control in enhancements.iter().chain(base.iter()) {
            if let Err(error) = self.controls().delete_unchecked(control.id).await {
                tracing::warn!(control = %control.id, %error, "could not undo the control import");
            }
        }
        if let Err(error) = self.catalogs().delete_unchecked(catalog_id).await {
            tracing::warn!(catalog = %catalog_id, %error, "could not undo the catalog import");
        }
    }

    /// Chooses the folder that the job's datasource and catalog paths resolve
    /// against: `--data-dir` when given; else, when the store has a configured
    /// data root, the job's `dataDir` inside it (or the root itself); else the
    /// job's `dataDir` relative to the job file, or the job file's folder.
    fn job_data_root(
        &self,
        options: &EvaluateOptions,
        job: &JobSpec,
        job_dir: &Path,
    ) -> Result<PathBuf> {
        if let Some(dir) = &options.data_dir {
            return Ok(dir.clone());
        }
        let job_dir_name = job
            .data_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned());
        match (&self.config().data_root, job_dir_name) {
            (Some(root), Some(dir)) => {
                crate::datasource::file::resolve_path(root, &dir).map_err(|e| {
                    Error::validation(
                        "job.dataDir",
                        format!(
                            "must stay inside the store's data root {}: {e}",
                            root.display()
                        ),
                    )
                })
            }
            (Some(root), None) => Ok(root.clone()),
            (None, Some(dir)) => Ok(job_dir.join(dir)),
            (None, None) => Ok(job_dir.to_path_buf()),
        }
    }

    /// Stores the computation of one control, replacing an earlier one for the
    /// same period and scope in the same transaction, then reads it back
    /// through the cache.
    async fn store_computation(&self, catalog_id: Uuid, item: Pending) -> Result<Evaluation> {
        let filter =
            json!({ "catalog_id": catalog_id.to_string(), "external_id": item.job.control });
        let control = self.controls().find_one(filter).await?.ok_or_else(|| {
            Error::validation(
                "job.controls",
                format!("control {} was not imported", item.job.control),
            )
        })?;
        let passing = item.evidences.iter().filter(|e| e.result).count();
        let computation = Computation {
            computation_group: Uuid::now_v7(),
            control_id: control.id,
            scope: item.job.scope.clone(),
            period: item.job.period.clone(),
            value: Value::Bool(passing == item.evidences.len()),
            evidences: item.evidences,
        };
        // NOTE: the earlier computations are read outside the replacing
        // transaction, so two processes evaluating the same control and
        // period at the same moment can each keep their own computation.
        let same_control =
            ListOptions::new().filter(json!({ "controlId": control.id.to_string() }));
        let previous = self.computations().list_all(&same_control).await?;
        let replaced: Vec<Uuid> = previous
            .iter()
            .filter(|c| c.data.period == computation.period && c.data.scope == computation.scope)
            .map(|c| c.id)
            .collect();
        let id = self.computations().replace(&replaced, computation).await?;
        let stored = self.computations().get(id).await?;
        tracing::info!(control = %item.job.control, computation = %id, replaced = replaced.len(), "stored computation");
        Ok(Evaluation {
            control: item.job.control,
            control_id: control.id,
            evidences: stored.data.evidences.len(),
            passing: stored.data.evidences.iter().filter(|e| e.result).count(),
            value: stored.data.value == Value::Bool(true),
            computation_id: stored.id,
        })
    }

    async fn upsert_datasources(&self, datasources: &[Datasource]) -> Result<()> {
        for datasource in datasources {
            let filter = json!({ "name": datasource.name, "owner": datasource.owner });
            match self.datasources().find_one(filter).await? {
                Some(existing) if existing.data == *datasource => {}
                Some(existing) => {
                    self.datasources()
                        .update(existing.id, existing.version, datasource.clone())
                        .await?;
                }
                None => {
                    self.datasources().create(datasource.clone()).await?;
                }
            }
        }
        Ok(())
    }

    async fn upsert_linker(&self, mut linker: Linker) -> Result<Record<Linker>> {
        linker.execution_status = crate::model::ExecutionStatus::Succeeded;
        linker.last_run_at = Some(chrono::Utc::now());
        match self
            .linkers()
            .find_one(json!({ "name": linker.name }))
            .await?
        {
            Some(existing) => {
                self.linkers()
                    .update(existing.id, existing.version, linker)
                    .await
            }
            None => self.linkers().create(linker).await,
        }
    }
}

impl crate::repo::Repository<Computation> {
    /// Deletes `previous` and inserts `computation` in one transaction;
    /// returns the new computation's id.
    pub async fn replace(&self, previous: &[Uuid], computation: Computation) -> Result<Uuid> {
        use crate::repo::Hooks;
        let mut computation = computation;
        computation.prepare();
        crate::model::Entity::validate(&computation)?;
        crate::repo::check_references(self.store(), std::slice::from_ref(&computation)).await?;
        let now = crate::repo::now();
        let record = Record {
            id: Uuid::now_v7(),
            version: 1,
            created_at: now,
            updated_at: now,
            data: computation,
        };
        let row = to_row(&record)?;
        self.store()
            .backend_for::<Computation>()
            .replace(
                &<Computation as crate::model::Entity>::SPEC,
                previous,
                &[row],
            )
            .await?;
        self.store()
            .inner
            .cache
            .written(<Computation as crate::model::Entity>::SPEC.name, previous)
            .await;
        let cache = &self.store().inner.cache;
        let name = <Computation as crate::model::Entity>::SPEC.name;
        if !previous.is_empty() {
            cache.notify(|| ChangeEvent::local(ChangeKind::Deleted, name, previous.to_vec()));
        }
        cache.notify(|| ChangeEvent::local(ChangeKind::Created, name, vec![record.id]));
        Ok(record.id)
    }
}

fn empty_linker() -> Linker {
    Linker {
        name: String::new(),
        spec: crate::link::LinkerSpec::default(),
        execution_status: Default::default(),
        last_run_at: None,
    }
}

fn check_controls(job: &JobSpec, catalog: &OscalCatalog) -> Result<()> {
    for (index, control) in job.controls.iter().enumerate() {
        if !catalog.controls.iter().any(|c| c.id == control.control) {
            return Err(Error::validation(
                format!("job.controls[{index}].control"),
                format!(
                    "control {:?} is not in catalog {:?}",
                    control.control, catalog.title
                ),
            ));
        }
    }
    Ok(())
}

fn load_transforms(store: &Store, job: &JobSpec, job_dir: &Path) -> Result<TransformSet> {
    let mut limits: TransformLimits = store.config().transform_limits.clone();
    if let Some(job_limits) = &job.limits {
        if let Some(fuel) = job_limits.fuel {
            limits.fuel = fuel;
        }
        if let Some(ms) = job_limits.deadline_ms {
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(bytes) = job_limits.memory_bytes {
            limits.memory_bytes = bytes;
        }
    }
    let mut set = TransformSet::new(limits);
    for (name, path) in &job.transforms {
        set.load_file(store.transform_engine(), name, &job_dir.join(path))?;
    }
    Ok(set)
}

/// Runs each control's rule transform over the linked records.
async fn evaluate_controls(
    job: &JobSpec,
    linked: &LinkOutput,
    transforms: &TransformSet,
) -> Result<Vec<Pending>> {
    let mut pending = Vec::new();
    for control in &job.controls {
        let records = linked.records.clone();
        let runner = transforms.clone();
        let name = control.transform.clone();
        let params = control.params.clone();
        let output = tokio::task::spawn_blocking(move || runner.run(&name, &params, records))
            .await
            .map_err(|e| {
                Error::validation("job.controls", format!("transform task failed: {e}"))
            })??;
        let evidences = to_evidences(
            &control.control,
            &control.transform,
            &control.period,
            output,
        )?;
        // Validate the computation now, with a placeholder control id, so a
        // bad period or evidence fails before the first write.
        let draft = Computation {
            computation_group: Uuid::nil(),
            control_id: Uuid::nil(),
            scope: control.scope.clone(),
            period: control.period.clone(),
            value: Value::Null,
            evidences: evidences.clone(),
        };
        crate::model::Entity::validate(&draft)?;
        tracing::info!(control = %control.control, evidences = evidences.len(), "evaluated control");
        pending.push(Pending {
            job: control.clone(),
            evidences,
        });
    }
    Ok(pending)
}

/// Checks a rule's output records and turns them into evidences of
/// `control` (its OSCAL id) for `period`.
pub(super) fn to_evidences(
    control: &str,
    transform: &str,
    period: &crate::model::Period,
    output: Vec<Value>,
) -> Result<Vec<Evidence>> {
    let evidences = parse_evidences(control, transform, period, output)?;
    let mut keys = std::collections::HashSet::new();
    for evidence in &evidences {
        if !keys.insert(evidence.key.as_str()) {
            return Err(Error::validation(
                format!("transform {transform} output"),
                format!(
                    "evidence key {:?} appears twice; each evidence needs its own key",
                    evidence.key
                ),
            ));
        }
    }
    Ok(evidences)
}

fn parse_evidences(
    control: &str,
    transform: &str,
    period: &crate::model::Period,
    output: Vec<Value>,
) -> Result<Vec<Evidence>> {
    output
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let field = |name: &str| format!("transform {transform} output[{index}].{name}");
            let key = match record.get("key") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(Error::validation(
                        field("key"),
                        "must be a string or number",
                    ))
                }
            };
            let result = record
                .get("result")
                .and_then(Value::as_bool)
                .ok_or_else(|| Error::validation(field("result"), "must be true or false"))?;
            Ok(Evidence {
                id: format!("{control}:{key}"),
                key,
                value: record.get("value").cloned().unwrap_or(Value::Null),
                result,
                from: Some(period.from),
                to: Some(period.to),
            })
        })
        .collect()
}
