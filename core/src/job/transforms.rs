//! A set of compiled transforms that linkers and control rules call by name,
//! and by version for transforms from the registry.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::link::{TransformRunner, TransformStep};
use crate::registry::read_module_file;
use crate::transform::{CompiledTransform, TransformEngine, TransformLimits};

/// Compiled transforms by name and optional version, each with its limits.
#[derive(Clone)]
pub struct TransformSet {
    transforms: HashMap<TransformKey, Loaded>,
    limits: TransformLimits,
}

/// A transform name and, for a step that pins one, a registry version.
/// Unpinned steps look up the entry with no version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TransformKey {
    name: String,
    version: Option<i64>,
}

#[derive(Clone)]
struct Loaded {
    transform: CompiledTransform,
    limits: TransformLimits,
}

impl TransformSet {
    /// Creates an empty set whose [`TransformSet::insert`] and
    /// [`TransformSet::load_file`] entries run under `limits`.
    pub fn new(limits: TransformLimits) -> Self {
        TransformSet {
            transforms: HashMap::new(),
            limits,
        }
    }

    /// Reads and compiles a module file under `name`. A file over the
    /// registry's maximum module size is rejected before it is read.
    pub fn load_file(&mut self, engine: &TransformEngine, name: &str, path: &Path) -> Result<()> {
        let bytes = read_module_file(name, path, &format!("job.transforms.{name}"))?;
        self.insert(engine.compile(name, &bytes)?);
        Ok(())
    }

    /// Adds a transform under its own name, run under the set's limits.
    pub fn insert(&mut self, transform: CompiledTransform) {
        let name = transform.name().to_string();
        let limits = self.limits.clone();
        self.insert_as(&name, None, transform, limits);
    }

    /// Adds a transform that steps call as `name`, with `version` when they
    /// pin one, run under its own `limits`.
    pub fn insert_as(
        &mut self,
        name: &str,
        version: Option<i64>,
        transform: CompiledTransform,
        limits: TransformLimits,
    ) {
        let key = TransformKey {
            name: name.to_string(),
            version,
        };
        self.transforms.insert(key, Loaded { transform, limits });
    }

    pub fn limits(&self) -> &TransformLimits {
        &self.limits
    }

    /// Names and versions with module digests and limits, sorted: equal for
    /// two sets that transform records the same way.
    pub fn fingerprint(&self) -> String {
        let mut modules: Vec<String> = self
            .transforms
            .iter()
            .map(|(key, loaded)| {
                format!("{key:?} {} {:?}", loaded.transform.digest(), loaded.limits)
            })
            .collect();
        modules.sort_unstable();
        format!("{modules:?} {:?}", self.limits)
    }

    fn call(&self, key: TransformKey, params: &Value, records: Vec<Value>) -> Result<Vec<Value>> {
        let loaded = self.transforms.get(&key).ok_or_else(|| {
            let shown = match key.version {
                Some(version) => format!("{}@{version}", key.name),
                None => key.name.clone(),
            };
            Error::validation("transform", format!("transform {shown:?} is not loaded"))
        })?;
        loaded.transform.call(&records, params, &loaded.limits)
    }
}

impl TransformRunner for TransformSet {
    fn run(&self, name: &str, params: &Value, records: Vec<Value>) -> Result<Vec<Value>> {
        let key = TransformKey {
            name: name.to_string(),
            version: None,
        };
        self.call(key, params, records)
    }

    fn run_step(&self, step: &TransformStep, records: Vec<Value>) -> Result<Vec<Value>> {
        let key = TransformKey {
            name: step.transform.clone(),
            version: step.version,
        };
        self.call(key, &step.params, records)
    }
}
