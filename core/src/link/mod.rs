//! The linker engine: combines the records of several datasources into one
//! output batch.
//!
//! Everything here is a pure function over `serde_json::Value` records. The
//! caller fetches each source's records, and transforms run through a
//! [`TransformRunner`]. The steps of [`link`] are:
//!
//! 1. For each source, its transforms in order, then its property mapping.
//! 2. A left-to-right hash join on the link keys, or a merge strategy when
//!    there are none.
//! 3. The post-join transforms.
//! 4. Validation of every output record against the output schema.

mod join;
pub mod mapping;
mod merge;
mod schema;
mod spec;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

pub use mapping::PropertyMapping;
pub use spec::{JoinKind, LinkerSpec, MergeStrategy, SourceSpec, TransformStep};

/// Runs named transforms, such as WebAssembly modules, over record batches.
pub trait TransformRunner: Send + Sync {
    /// Runs the named transform with `params` over a batch and returns the
    /// output batch.
    fn run(&self, name: &str, params: &Value, records: Vec<Value>) -> Result<Vec<Value>>;

    /// Runs one linker step. The default runs unpinned steps with
    /// [`TransformRunner::run`] and rejects a step that pins a version,
    /// because only a runner built from the transform registry has versions.
    fn run_step(&self, step: &TransformStep, records: Vec<Value>) -> Result<Vec<Value>> {
        match step.version {
            None => self.run(&step.transform, &step.params, records),
            Some(version) => Err(crate::error::Error::validation(
                "transform.version",
                format!(
                    "step pins {}@{version}, but these transforms have no versions; \
                     load them from the transform registry",
                    step.transform
                ),
            )),
        }
    }
}

/// Records fetched for one source of a linker.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceData {
    /// Source name, used in diagnostics and as the key of `indexed` merges.
    pub name: String,
    /// Records as the datasource returned them.
    pub records: Vec<Value>,
}

/// Result of a link run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkOutput {
    /// Output records, in the order described on [`link`].
    pub records: Vec<Value>,
    /// One entry per source, in source order.
    pub diagnostics: Vec<SourceDiagnostic>,
}

/// Row counts of one source in a link run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDiagnostic {
    /// Source name.
    pub source: String,
    /// Records passed in by the caller.
    pub fetched: usize,
    /// Records left after the source's own transforms.
    pub after_transforms: usize,
    /// Rows with all link keys but no partner in the join. For the first
    /// source this counts against the second source, and for each later source
    /// against the rows joined before it. Always 0 without link keys.
    pub unmatched: usize,
    /// Rows that lack a link key or have `null` in one. Such rows never match.
    /// Always 0 without link keys.
    pub missing_key: usize,
}

/// Applies per-source transforms then mapping, joins (or merges), runs
/// post-join transforms, validates against `outputSchema`.
///
/// `sources` contains one entry per `spec.sources`, in the same order. Join
/// rows come in left order, each followed by its right partners in right
/// order. Rows that `left` and `full` joins keep without a partner stay in
/// place, and a `full` join appends unmatched right rows at the end.
///
/// [`prepare`] and [`combine`] run the same steps in two parts, for callers
/// that prepare each source as soon as its records arrive.
pub fn link(
    spec: &LinkerSpec,
    sources: Vec<SourceData>,
    transforms: &dyn TransformRunner,
) -> Result<LinkOutput> {
    spec.check_structure()?;
    let validator = compile_output_schema(spec)?;
    check_batch_count(spec, sources.len())?;
    let prepared = spec
        .sources
        .iter()
        .zip(sources)
        .enumerate()
        .map(|(index, (source_spec, data))| prepare_source(index, source_spec, data, transforms))
        .collect::<Result<Vec<_>>>()?;
    combine_prepared(spec, validator.as_ref(), prepared, transforms)
}

/// A source's records after its `fields`, transforms and mapping, ready for
/// [`combine`].
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedSource {
    /// Position of the source in `spec.sources`.
    index: usize,
    records: Vec<Value>,
    diagnostic: SourceDiagnostic,
}

impl PreparedSource {
    /// Returns the prepared records.
    pub fn records(&self) -> &[Value] {
        &self.records
    }

    /// Returns the row counts so far. The join fills in `unmatched` and
    /// `missing_key`.
    pub fn diagnostic(&self) -> &SourceDiagnostic {
        &self.diagnostic
    }
}

/// Runs the first part of [`link`] for the source at `index` of `spec`: keeps
/// its `fields`, then runs its transforms and its mapping.
///
/// Sources are independent until the join, so a caller may prepare each one
/// as soon as its records arrive, on any thread, and then pass them all to
/// [`combine`] in source order.
pub fn prepare(
    spec: &LinkerSpec,
    index: usize,
    data: SourceData,
    transforms: &dyn TransformRunner,
) -> Result<PreparedSource> {
    let source_spec = spec.sources.get(index).ok_or_else(|| {
        Error::validation(
            "linker.sources",
            format!(
                "the linker has {} sources, so there is no source {index} to prepare",
                spec.sources.len()
            ),
        )
    })?;
    spec.check_structure()?;
    prepare_source(index, source_spec, data, transforms)
}

/// Runs the second part of [`link`]: joins or merges the prepared sources,
/// runs the post-join transforms and validates the output against
/// `outputSchema`. `prepared` has one entry per source, in source order.
pub fn combine(
    spec: &LinkerSpec,
    prepared: Vec<PreparedSource>,
    transforms: &dyn TransformRunner,
) -> Result<LinkOutput> {
    spec.check_structure()?;
    let validator = compile_output_schema(spec)?;
    check_batch_count(spec, prepared.len())?;
    check_order(&prepared)?;
    combine_prepared(spec, validator.as_ref(), prepared, transforms)
}

fn check_order(prepared: &[PreparedSource]) -> Result<()> {
    match prepared
        .iter()
        .enumerate()
        .find(|(position, source)| source.index != *position)
    {
        Some((position, source)) => Err(Error::validation(
            "linker.sources",
            format!(
                "prepared source {position} was prepared as source {}; pass the prepared \
                 sources in the order of the linker's sources",
                source.index
            ),
        )),
        None => Ok(()),
    }
}

fn compile_output_schema(spec: &LinkerSpec) -> Result<Option<jsonschema::Validator>> {
    spec.output_schema.as_ref().map(schema::compile).transpose()
}

fn combine_prepared(
    spec: &LinkerSpec,
    validator: Option<&jsonschema::Validator>,
    prepared: Vec<PreparedSource>,
    transforms: &dyn TransformRunner,
) -> Result<LinkOutput> {
    let mut names = Vec::with_capacity(prepared.len());
    let mut batches = Vec::with_capacity(prepared.len());
    let mut diagnostics = Vec::with_capacity(prepared.len());
    for source in prepared {
        names.push(source.diagnostic.source.clone());
        batches.push(source.records);
        diagnostics.push(source.diagnostic);
    }

    let combined = if spec.link_keys.is_empty() {
        let strategy = spec.merge_strategy.unwrap_or_default();
        merge::merge(strategy, &names, batches)?
    } else {
        join::join_all(spec.join, &spec.link_keys, batches, &mut diagnostics)
    };
    let records = run_steps(&spec.transforms, combined, transforms)?;
    if let Some(validator) = validator {
        schema::check_records(validator, &records)?;
    }
    tracing::debug!(records = records.len(), ?diagnostics, "linker run finished");
    Ok(LinkOutput {
        records,
        diagnostics,
    })
}

fn check_batch_count(spec: &LinkerSpec, batches: usize) -> Result<()> {
    if batches == spec.sources.len() {
        return Ok(());
    }
    Err(Error::validation(
        "linker.sources",
        format!(
            "the linker has {} sources but {batches} record batches were passed; pass one \
             batch per source",
            spec.sources.len(),
        ),
    ))
}

/// Truncates each source to at most `max_per_source` records, for a bounded
/// test run of a linker.
pub fn sample(sources: Vec<SourceData>, max_per_source: usize) -> Vec<SourceData> {
    sources
        .into_iter()
        .map(|mut source| {
            source.records.truncate(max_per_source);
            source
        })
        .collect()
}

/// Keeps the `fields` of the source at `index`, then runs its transforms and
/// its mapping.
fn prepare_source(
    index: usize,
    spec: &SourceSpec,
    data: SourceData,
    transforms: &dyn TransformRunner,
) -> Result<PreparedSource> {
    let fetched = data.records.len();
    let mut records = data.records;
    if !spec.fields.is_empty() {
        // A datasource may have projected the records already. Pruning again
        // is cheap, and the transforms then see the same fields whichever
        // caller fetched the records.
        let projection = spec.field_projection();
        records
            .iter_mut()
            .for_each(|record| projection.prune(record));
    }
    let transformed = run_steps(&spec.transforms, records, transforms)?;
    let diagnostic = SourceDiagnostic {
        source: data.name,
        fetched,
        after_transforms: transformed.len(),
        ..SourceDiagnostic::default()
    };
    let mapped = mapping::apply_mapping(&spec.property_mapping, spec.keep_unmapped, transformed);
    Ok(PreparedSource {
        index,
        records: mapped,
        diagnostic,
    })
}

fn run_steps(
    steps: &[TransformStep],
    mut records: Vec<Value>,
    transforms: &dyn TransformRunner,
) -> Result<Vec<Value>> {
    for step in steps {
        records = transforms.run_step(step, records)?;
    }
    Ok(records)
}
