use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CollectionSpec, Entity, KeyColumn, KeyKind, StoreKind};
use crate::error::{Error, Result};
use crate::transform::{TransformLimits, MAX_MEMORY_BYTES};

/// Maximum length of a registry transform name, in bytes.
pub const MAX_TRANSFORM_NAME_BYTES: usize = 64;

/// Maximum fuel budget a registry entry may set.
pub const MAX_FUEL: u64 = 100_000_000_000;

/// Maximum deadline a registry entry may set, in milliseconds.
pub const MAX_DEADLINE_MS: u64 = 60_000;

/// Minimum memory cap a registry entry may set: one WebAssembly page.
pub const MIN_MEMORY_BYTES: u64 = 64 * 1024;

/// One version of a transform module in the registry. The registry writes
/// these records; callers read them through `Store::transforms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformModule {
    /// Transform name that linkers refer to.
    pub name: String,
    /// Version number of this module under its name, from 1 up.
    pub module_version: i64,
    /// `name@moduleVersion`. It is unique, so two uploads that race for the
    /// same version number conflict instead of both succeeding.
    pub name_version: String,
    /// SHA-256 of the module bytes, in lowercase hex.
    pub digest: String,
    /// Length of the module bytes.
    pub size_bytes: u64,
    /// ABI version that the module returned at upload.
    pub abi_version: i32,
    /// Per-call limits of this module; unset fields use the store's defaults.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// The module bytes in standard base64.
    pub wasm_base64: String,
}

/// Per-call limits stored with a registry entry. Each unset field takes its
/// value from the store's default limits (`StoreConfig::transform_limits`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    /// Instruction budget of one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Wall-clock deadline of one call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Cap on the module's linear memory, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Cap on the size of one call's JSON output, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
}

impl LimitOverrides {
    /// Checks each set value against its bounds, naming the field.
    pub fn validate(&self) -> Result<()> {
        let max_memory = MAX_MEMORY_BYTES as u64;
        check_range("limits.fuel", self.fuel, 1, MAX_FUEL)?;
        check_range("limits.deadlineMs", self.deadline_ms, 1, MAX_DEADLINE_MS)?;
        check_range(
            "limits.memoryBytes",
            self.memory_bytes,
            MIN_MEMORY_BYTES,
            max_memory,
        )?;
        check_range("limits.outputBytes", self.output_bytes, 1, max_memory)
    }

    /// Returns `defaults` with the values set here put in place.
    pub fn resolve(&self, defaults: &TransformLimits) -> TransformLimits {
        let to_usize = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        TransformLimits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            deadline: self
                .deadline_ms
                .map_or(defaults.deadline, Duration::from_millis),
            memory_bytes: self.memory_bytes.map_or(defaults.memory_bytes, to_usize),
            output_bytes: self.output_bytes.map_or(defaults.output_bytes, to_usize),
        }
    }
}

fn check_range(field: &str, value: Option<u64>, min: u64, max: u64) -> Result<()> {
    match value {
        Some(value) if value < min || value > max => Err(Error::validation(
            field,
            format!("{value} is outside the allowed range {min} to {max}"),
        )),
        _ => Ok(()),
    }
}

/// Requires a registry name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`,
/// starting with a letter or digit. The `@` that separates a name from a
/// version in `name@version` can therefore never be part of a name.
pub fn check_transform_name(field: &str, name: &str) -> Result<()> {
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let allowed = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !starts_well || !allowed || name.len() > MAX_TRANSFORM_NAME_BYTES {
        return Err(Error::validation(
            field,
            format!(
                "{name:?} is not a valid transform name; use 1 to {MAX_TRANSFORM_NAME_BYTES} \
                 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

impl Entity for TransformModule {
    const SPEC: CollectionSpec = CollectionSpec {
        name: "transform_modules",
        entity: "transform module",
        kind: StoreKind::Document,
        keys: &[
            KeyColumn {
                column: "name",
                path: "name",
                kind: KeyKind::Text,
            },
            KeyColumn {
                column: "name_version",
                path: "nameVersion",
                kind: KeyKind::Text,
            },
        ],
    };

    fn validate(&self) -> Result<()> {
        check_transform_name("transform.name", &self.name)?;
        if self.module_version < 1 {
            return Err(Error::validation(
                "transform.moduleVersion",
                format!(
                    "{} is not a version number; versions start at 1",
                    self.module_version
                ),
            ));
        }
        let expected = format!("{}@{}", self.name, self.module_version);
        if self.name_version != expected {
            return Err(Error::validation(
                "transform.nameVersion",
                format!("is {:?} but must be {expected:?}", self.name_version),
            ));
        }
        let is_digest = self.digest.len() == 64
            && self
                .digest
                .chars()
                .all(|c| matches!(c, '0'..='9' | 'a'..='f'));
        if !is_digest {
            return Err(Error::validation(
                "transform.digest",
                "must be a SHA-256 digest in 64 lowercase hex digits",
            ));
        }
        self.limits.validate()
    }
}
