//! Evaluation of one control over records the caller already linked: the
//! step of a job run that mashup flows and scripts drive one control at a
//! time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::evaluate::to_evidences;
use super::transforms::TransformSet;
use crate::error::{Error, Result};
use crate::link::TransformRunner;
use crate::model::{Computation, Entity, Period};
use crate::store::Store;

/// Input of [`Store::evaluate_control`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlInput {
    /// Id of the stored control.
    pub control_id: Uuid,
    /// Linked records, as a linker outputs them.
    pub records: Vec<Value>,
    /// Name of the rule transform in the transform set; it turns the
    /// records into `{"key", "value", "result"}` objects.
    pub transform: String,
    #[serde(default)]
    pub params: Value,
    pub period: Period,
    #[serde(default)]
    pub scope: Map<String, Value>,
}

impl Store {
    /// Reads and compiles the transform modules of `paths` (name to file)
    /// with this store's engine and default limits. Compiling is CPU work,
    /// so it runs on a blocking thread.
    pub async fn load_transforms(&self, paths: BTreeMap<String, PathBuf>) -> Result<TransformSet> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut set = TransformSet::new(store.config().transform_limits.clone());
            for (name, path) in &paths {
                set.load_file(store.transform_engine(), name, path)?;
            }
            Ok(set)
        })
        .await
        .map_err(|e| Error::validation("transforms", format!("compiling transforms failed: {e}")))?
    }

    /// Runs the rule transform of `input` over its records and returns the
    /// computation that `polystat evaluate` would store for this control,
    /// period and scope, without storing it. Evidence ids are
    /// `CONTROL:KEY`, with the control's catalog id (such as `cm-3`), or
    /// its name when it has none.
    pub async fn evaluate_control(
        &self,
        input: ControlInput,
        transforms: &TransformSet,
    ) -> Result<Computation> {
        let control = self.controls().get(input.control_id).await?;
        let label = control
            .data
            .external_id
            .clone()
            .unwrap_or_else(|| control.data.name.clone());
        let runner = transforms.clone();
        let (name, params, records) = (input.transform.clone(), input.params, input.records);
        let output = tokio::task::spawn_blocking(move || runner.run(&name, &params, records))
            .await
            .map_err(|e| Error::validation("transform", format!("transform task failed: {e}")))??;
        let evidences = to_evidences(&label, &input.transform, &input.period, output)?;
        let passing = evidences.iter().filter(|e| e.result).count();
        let computation = Computation {
            computation_group: Uuid::now_v7(),
            control_id: control.id,
            scope: input.scope,
            period: input.period,
            value: Value::Bool(passing == evidences.len()),
            evidences,
        };
        computation.validate()?;
        tracing::info!(control = %label, evidences = computation.evidences.len(), "evaluated control");
        Ok(computation)
    }
}
