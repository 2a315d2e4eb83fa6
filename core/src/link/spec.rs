//! Linker configuration types and their validation.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mapping::PropertyMapping;
use super::schema;
use crate::datasource::projection::Projection;
use crate::error::{Error, Result};

/// Configuration of a linker: which sources to read and how to combine them.
///
/// The default value has no sources, so it fails [`LinkerSpec::validate`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkerSpec {
    /// Sources in join order. At least one is required.
    pub sources: Vec<SourceSpec>,
    /// Output field names that every source carries after its mapping. When
    /// set, the sources are joined on them, otherwise they are merged.
    #[serde(default)]
    pub link_keys: Vec<String>,
    /// Join kind used when `link_keys` is set.
    #[serde(default)]
    pub join: JoinKind,
    /// Transforms run over the joined or merged batch, in order.
    #[serde(default)]
    pub transforms: Vec<TransformStep>,
    /// JSON Schema that every output record must satisfy.
    #[serde(default)]
    pub output_schema: Option<Value>,
    /// Strategy that combines sources when `link_keys` is empty, `concat`
    /// when absent.
    #[serde(default)]
    pub merge_strategy: Option<MergeStrategy>,
}

/// One input of a linker.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSpec {
    /// Datasource name or id. The caller resolves it and fetches the records.
    pub datasource: String,
    /// Datasource method to call, when the datasource offers several.
    #[serde(default)]
    pub method: Option<String>,
    /// Options passed to the datasource method: a JSON object, or null.
    #[serde(default)]
    pub options: Value,
    /// Dotted source path to output field name. Empty keeps records as they are.
    #[serde(default)]
    pub property_mapping: PropertyMapping,
    /// With a non-empty mapping, also keep the top-level fields it does not read.
    #[serde(default)]
    pub keep_unmapped: bool,
    /// Transforms run over this source's records before the mapping, in order.
    #[serde(default)]
    pub transforms: Vec<TransformStep>,
    /// Dotted paths of the fields this source reads, such as `user.login`.
    /// When set, each record keeps only these fields before its transforms
    /// run, and the datasource drops the others as it reads. Empty reads
    /// whole records, except that a source without transforms may read only
    /// its mapped paths (see [`SourceSpec::read_projection`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// A call of a named transform.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformStep {
    /// Name of the transform to run.
    pub transform: String,
    /// Registry version to run. Absent means the latest version at the time
    /// the linker runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Parameters passed to the transform as they are.
    #[serde(default)]
    pub params: Value,
}

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JoinKind {
    /// Only matched pairs.
    #[default]
    Inner,
    /// Matched pairs plus left rows without a partner.
    Left,
    /// Matched pairs plus unmatched rows of both sides.
    Full,
}

/// How sources combine when no link keys are set.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MergeStrategy {
    /// All records of all sources, source after source.
    #[default]
    Concat,
    /// Record `i` of every source merged into one object, where earlier
    /// sources win.
    Merge,
    /// Record `i` of every source merged into one object, where later
    /// sources win.
    Override,
    /// One object per index `i`, keyed by source name.
    Indexed,
}

impl TransformStep {
    /// Builds an unpinned step with `null` params.
    pub fn new(transform: impl Into<String>) -> Self {
        TransformStep {
            transform: transform.into(),
            version: None,
            params: Value::Null,
        }
    }
}

impl LinkerSpec {
    /// Lists every transform step: the sources' steps in source order, then
    /// the post-join steps.
    pub fn steps(&self) -> impl Iterator<Item = &TransformStep> {
        self.sources
            .iter()
            .flat_map(|source| source.transforms.iter())
            .chain(self.transforms.iter())
    }

    /// Checks the whole configuration, including that the output schema compiles.
    pub fn validate(&self) -> Result<()> {
        self.check_structure()?;
        if let Some(output_schema) = &self.output_schema {
            schema::compile(output_schema)?;
        }
        Ok(())
    }

    /// Checks everything except the output schema, which the caller compiles.
    pub(crate) fn check_structure(&self) -> Result<()> {
        if self.sources.is_empty() {
            return Err(Error::validation(
                "linker.sources",
                "add at least one source",
            ));
        }
        self.check_link_keys()?;
        for (index, source) in self.sources.iter().enumerate() {
            source.check(index, &self.link_keys)?;
        }
        check_steps(&self.transforms, "linker.transforms")
    }

    fn check_link_keys(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for (index, key) in self.link_keys.iter().enumerate() {
            let field = format!("linker.linkKeys[{index}]");
            if key.trim().is_empty() {
                return Err(Error::validation(field, "must be a non-empty field name"));
            }
            if !seen.insert(key.as_str()) {
                return Err(Error::validation(
                    field,
                    format!("{key:?} is listed twice; list each link key once"),
                ));
            }
        }
        if self.link_keys.is_empty() {
            return Ok(());
        }
        if self.sources.len() < 2 {
            return Err(Error::validation(
                "linker.linkKeys",
                "a join needs at least two sources; add a source or remove linkKeys",
            ));
        }
        if self.merge_strategy.is_some() {
            return Err(Error::validation(
                "linker.mergeStrategy",
                "applies only when linkKeys is empty; remove mergeStrategy or linkKeys",
            ));
        }
        Ok(())
    }
}

impl SourceSpec {
    /// Returns the fields to read from the datasource, or `None` for whole
    /// records.
    ///
    /// This is `fields` when set. Otherwise a source without transforms
    /// whose non-empty mapping drops unmapped fields reads only the mapped
    /// source paths, because nothing else reaches its output.
    pub fn read_projection(&self) -> Option<Projection> {
        if !self.fields.is_empty() {
            return Some(self.field_projection());
        }
        let only_mapping_reads =
            self.transforms.is_empty() && !self.keep_unmapped && !self.property_mapping.is_empty();
        only_mapping_reads
            .then(|| Projection::new(self.property_mapping.iter().map(|(path, _)| path)))
    }

    /// Builds the projection of `fields`, which `link` applies before the
    /// transforms.
    pub(crate) fn field_projection(&self) -> Projection {
        Projection::new(self.fields.iter().map(String::as_str))
    }

    fn check(&self, index: usize, link_keys: &[String]) -> Result<()> {
        let prefix = format!("linker.sources[{index}]");
        if self.datasource.trim().is_empty() {
            return Err(Error::validation(
                format!("{prefix}.datasource"),
                "must name a datasource",
            ));
        }
        if !(self.options.is_null() || self.options.is_object()) {
            return Err(Error::validation(
                format!("{prefix}.options"),
                "must be a JSON object",
            ));
        }
        self.check_mapping(&format!("{prefix}.propertyMapping"), link_keys)?;
        self.check_fields(&format!("{prefix}.fields"))?;
        check_steps(&self.transforms, &format!("{prefix}.transforms"))
    }

    /// Rejects malformed paths in `fields` and, for a source without
    /// transforms, a mapped path that `fields` leaves out. A transform may
    /// add fields, so a source with transforms is not checked against its
    /// mapping.
    fn check_fields(&self, field: &str) -> Result<()> {
        if self.fields.is_empty() {
            return Ok(());
        }
        for (index, path) in self.fields.iter().enumerate() {
            if path.split('.').any(str::is_empty) {
                return Err(Error::validation(
                    format!("{field}[{index}]"),
                    format!(
                        "path {path:?} has an empty segment; write field names separated \
                         by single dots, such as user.login"
                    ),
                ));
            }
        }
        if !self.transforms.is_empty() {
            return Ok(());
        }
        let projection = self.field_projection();
        match self
            .property_mapping
            .iter()
            .find(|(path, _)| !projection.keeps(path))
        {
            Some((path, _)) => Err(Error::validation(
                field,
                format!(
                    "the propertyMapping reads {path:?}, but fields does not keep all of \
                     it; add {path:?} to fields"
                ),
            )),
            None => Ok(()),
        }
    }

    fn check_mapping(&self, field: &str, link_keys: &[String]) -> Result<()> {
        let mut outputs = HashSet::new();
        for (path, output) in self.property_mapping.iter() {
            if path.split('.').any(str::is_empty) {
                return Err(Error::validation(
                    field,
                    format!(
                        "source path {path:?} has an empty segment; write field names \
                         separated by single dots, such as user.login"
                    ),
                ));
            }
            if output.trim().is_empty() {
                return Err(Error::validation(
                    field,
                    format!("source path {path:?} maps to an empty field name"),
                ));
            }
            if !outputs.insert(output) {
                return Err(Error::validation(
                    field,
                    format!(
                        "two source paths map to {output:?}; give each output field one source"
                    ),
                ));
            }
        }
        self.check_link_keys_mapped(field, link_keys, &outputs)
    }

    /// With a mapping that drops unmapped fields, only mapped fields reach the
    /// join, so every link key must be one of them.
    fn check_link_keys_mapped(
        &self,
        field: &str,
        link_keys: &[String],
        outputs: &HashSet<&str>,
    ) -> Result<()> {
        if self.property_mapping.is_empty() || self.keep_unmapped {
            return Ok(());
        }
        match link_keys.iter().find(|key| !outputs.contains(key.as_str())) {
            Some(key) => Err(Error::validation(
                field,
                format!(
                    "link key {key:?} is not a mapped output field; map a source path \
                     to {key:?} or set keepUnmapped"
                ),
            )),
            None => Ok(()),
        }
    }
}

fn check_steps(steps: &[TransformStep], prefix: &str) -> Result<()> {
    for (index, step) in steps.iter().enumerate() {
        if step.transform.trim().is_empty() {
            return Err(Error::validation(
                format!("{prefix}[{index}].transform"),
                "must name a transform",
            ));
        }
        if let Some(version) = step.version.filter(|version| *version < 1) {
            return Err(Error::validation(
                format!("{prefix}[{index}].version"),
                format!("{version} is not a version number; versions start at 1"),
            ));
        }
    }
    Ok(())
}
