//! The job file: which catalog to import, which datasources to read, how to
//! link them and which controls to evaluate with which transform.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::link::LinkerSpec;
use crate::model::{Datasource, DefinitionId, Period};

/// A parsed job file. Unknown fields are rejected so typos surface.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    pub catalog: CatalogSource,
    pub datasources: Vec<JobDatasource>,
    /// Transform name to `.wasm` path, relative to the job file's folder.
    pub transforms: BTreeMap<String, PathBuf>,
    pub linker: JobLinker,
    pub controls: Vec<JobControl>,
    /// Data root for datasource paths, relative to the job file's folder;
    /// `--data-dir` overrides it.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Per-call limits for every transform of the job.
    #[serde(default)]
    pub limits: Option<JobLimits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSource {
    /// OSCAL catalog JSON, relative to the data root.
    pub oscal: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobDatasource {
    pub name: String,
    pub definition_id: DefinitionId,
    pub config: Value,
    /// Credentials by role, as on a stored datasource: secret references,
    /// or inline values that are sealed when the datasource is stored.
    #[serde(default)]
    pub credentials: Map<String, Value>,
}

impl JobDatasource {
    pub(crate) fn to_datasource(&self) -> Datasource {
        let mut datasource = Datasource::file(self.name.clone(), "");
        datasource.definition_id = self.definition_id;
        datasource.config = self.config.clone();
        datasource.credentials = self.credentials.clone();
        datasource
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobLinker {
    pub name: String,
    pub spec: LinkerSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobControl {
    /// OSCAL control id, such as `cm-3`.
    pub control: String,
    /// Transform that turns linked records into evidences
    /// (`{"key", "value", "result"}` objects).
    pub transform: String,
    #[serde(default)]
    pub params: Value,
    pub period: Period,
    #[serde(default)]
    pub scope: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobLimits {
    pub fuel: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub memory_bytes: Option<usize>,
}

impl JobSpec {
    /// Reads and validates a job file.
    pub fn read(path: &Path) -> Result<JobSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::validation(
                "job",
                format!("cannot read job file {}: {e}", path.display()),
            )
        })?;
        let spec: JobSpec = serde_json::from_str(&text).map_err(|e| {
            Error::validation(
                "job",
                format!("job file {} is invalid: {e}", path.display()),
            )
        })?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<()> {
        crate::model::validate::name("job.name", &self.name)?;
        self.validate_names()?;
        if self.controls.is_empty() {
            return Err(Error::validation(
                "job.controls",
                "list at least one control to evaluate",
            ));
        }
        for (index, control) in self.controls.iter().enumerate() {
            if control.period.to < control.period.from {
                return Err(Error::validation(
                    format!("job.controls[{index}].period"),
                    "to is before from; swap them",
                ));
            }
            let repeated = self.controls[..index].iter().any(|c| {
                c.control == control.control
                    && c.period == control.period
                    && c.scope == control.scope
            });
            if repeated {
                return Err(Error::validation(
                    format!("job.controls[{index}]"),
                    format!(
                        "control {} is listed twice for the same period and scope",
                        control.control
                    ),
                ));
            }
            if !self.transforms.contains_key(&control.transform) {
                return Err(Error::validation(
                    format!("job.controls[{index}].transform"),
                    format!(
                        "transform {:?} is not listed in job.transforms",
                        control.transform
                    ),
                ));
            }
        }
        let names: Vec<&str> = self.datasources.iter().map(|d| d.name.as_str()).collect();
        for (index, source) in self.linker.spec.sources.iter().enumerate() {
            if !names.contains(&source.datasource.as_str()) {
                return Err(Error::validation(
                    format!("job.linker.spec.sources[{index}].datasource"),
                    format!(
                        "datasource {:?} is not listed in job.datasources",
                        source.datasource
                    ),
                ));
            }
            for step in &source.transforms {
                self.require_transform(
                    &step.transform,
                    &format!("job.linker.spec.sources[{index}].transforms"),
                )?;
            }
        }
        for step in &self.linker.spec.transforms {
            self.require_transform(&step.transform, "job.linker.spec.transforms")?;
        }
        self.linker.spec.validate()
    }

    fn validate_names(&self) -> Result<()> {
        for (index, datasource) in self.datasources.iter().enumerate() {
            if self.datasources[..index]
                .iter()
                .any(|d| d.name == datasource.name)
            {
                return Err(Error::validation(
                    format!("job.datasources[{index}].name"),
                    format!("datasource name {:?} is used twice", datasource.name),
                ));
            }
        }
        if let Some(limits) = &self.limits {
            if limits.deadline_ms == Some(0)
                || limits.fuel == Some(0)
                || limits.memory_bytes == Some(0)
            {
                return Err(Error::validation(
                    "job.limits",
                    "limits must be greater than zero",
                ));
            }
        }
        Ok(())
    }

    fn require_transform(&self, name: &str, field: &str) -> Result<()> {
        if self.transforms.contains_key(name) {
            return Ok(());
        }
        Err(Error::validation(
            field,
            format!("transform {name:?} is not listed in job.transforms"),
        ))
    }
}
