//! The transform registry: WebAssembly modules stored in the documents store
//! under a name, one record per version, and loaded for linkers.
//!
//! An upload is validated by compiling it (well-formed bytes, no imports, the
//! ABI exports and their types, the ABI version), so a module that is stored
//! can always be called. Each version keeps the SHA-256 of its bytes, and
//! uploading bytes that a version of the name already has returns that
//! version instead of adding one. Compiled code is cached by the engine (see
//! [`crate::transform::TransformEngine::with_cache_dir`]).

mod usage;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub(crate) use usage::check_delete;

use crate::error::{Error, Result};
use crate::job::TransformSet;
use crate::link::LinkerSpec;
use crate::model::{check_transform_name, LimitOverrides, Record, TransformModule};
use crate::repo::{ListOptions, Repository};
use crate::store::Store;
use crate::transform::{CompiledTransform, TransformLimits, ABI_VERSION};

/// Largest module the registry stores, in bytes. Stored as base64, a module
/// of this size makes a row or document of about 5.5 MB, well under the
/// 16 MiB BSON document limit.
pub const MAX_MODULE_BYTES: usize = 4 * 1024 * 1024;

/// Upload attempts when another upload of the same name takes the version
/// number first.
const UPLOAD_ATTEMPTS: usize = 3;

/// Metadata of one stored transform version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformInfo {
    /// Id of the registry record.
    pub id: Uuid,
    pub name: String,
    /// Version number under the name, from 1 up.
    pub version: i64,
    /// SHA-256 of the module bytes, in lowercase hex.
    pub digest: String,
    pub size_bytes: u64,
    pub abi_version: i32,
    /// Limits stored with this version; unset fields use the store's defaults.
    pub limits: LimitOverrides,
    pub created_at: DateTime<Utc>,
}

impl TransformInfo {
    /// Returns `name@version`, the label that errors about this version use.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// A stored transform version with its module bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTransform {
    pub info: TransformInfo,
    pub wasm: Vec<u8>,
}

/// Handle on the transform registry of a store. Cheap to create with
/// [`Store::transforms`].
#[derive(Clone)]
pub struct TransformRegistry {
    store: Store,
}

impl TransformRegistry {
    pub(crate) fn new(store: Store) -> Self {
        TransformRegistry { store }
    }

    fn records(&self) -> Repository<TransformModule> {
        self.store.repository()
    }

    /// Validates and stores a module under `name` with default limits.
    /// Returns the new version, or the existing one when a version of `name`
    /// already has these exact bytes.
    pub async fn upload(&self, name: &str, wasm: &[u8]) -> Result<TransformInfo> {
        self.upload_with_limits(name, wasm, LimitOverrides::default())
            .await
    }

    /// Validates and stores a module under `name` with its own per-call
    /// limits. Identical bytes return the existing version unchanged, with
    /// the limits it was stored with.
    ///
    /// Fails with [`Error::Validation`] for an invalid name or limits, a
    /// module over [`MAX_MODULE_BYTES`], and every module problem that
    /// [`crate::transform::TransformEngine::compile`] reports.
    pub async fn upload_with_limits(
        &self,
        name: &str,
        wasm: &[u8],
        limits: LimitOverrides,
    ) -> Result<TransformInfo> {
        check_transform_name("name", name)?;
        limits.validate()?;
        check_size(name, wasm.len())?;
        let digest = crate::crypto::sha256_hex(wasm);
        let mut attempt = 1;
        loop {
            let versions = self.version_records(name).await?;
            if let Some(same) = versions.iter().find(|record| record.data.digest == digest) {
                return Ok(info(same));
            }
            let next = versions
                .last()
                .map_or(1, |last| last.data.module_version + 1);
            self.compile(&format!("{name}@{next}"), wasm).await?;
            let module = TransformModule {
                name: name.to_string(),
                module_version: next,
                name_version: format!("{name}@{next}"),
                digest: digest.clone(),
                size_bytes: wasm.len() as u64,
                abi_version: ABI_VERSION,
                limits: limits.clone(),
                wasm_base64: STANDARD.encode(wasm),
            };
            match self.records().create(module).await {
                Ok(record) => {
                    tracing::info!(transform = %record.data.name_version, %digest, "uploaded transform");
                    return Ok(info(&record));
                }
                Err(Error::Conflict { .. }) if attempt < UPLOAD_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Lists every version of every transform, by name then version, without
    /// the module bytes.
    pub async fn list(&self) -> Result<Vec<TransformInfo>> {
        let records = self.records().list_all(&ListOptions::new()).await?;
        let mut infos: Vec<TransformInfo> = records.iter().map(info).collect();
        infos.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        Ok(infos)
    }

    /// Lists the versions of one transform, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<TransformInfo>> {
        let records = self.version_records(name).await?;
        Ok(records.iter().map(info).collect())
    }

    /// Returns a version's metadata and bytes; `None` means the latest.
    pub async fn get(&self, name: &str, version: Option<i64>) -> Result<StoredTransform> {
        let record = self.find(name, version).await?;
        let wasm = STANDARD.decode(&record.data.wasm_base64).map_err(|error| {
            Error::validation(
                "transform.wasmBase64",
                format!(
                    "stored bytes of {} are not valid base64 ({error}); upload the module again",
                    record.data.name_version
                ),
            )
        })?;
        Ok(StoredTransform {
            info: info(&record),
            wasm,
        })
    }

    /// Deletes one version, or every version of `name` when `version` is
    /// `None`, and returns what was deleted.
    ///
    /// Fails with [`Error::Reference`] while a linker uses what would be
    /// deleted: a linker that pins the version, or one that runs the latest
    /// version when the latest would go. Nothing is deleted then.
    pub async fn delete(&self, name: &str, version: Option<i64>) -> Result<Vec<TransformInfo>> {
        let targets = match version {
            Some(_) => vec![self.find(name, version).await?],
            None => {
                let all = self.version_records(name).await?;
                if all.is_empty() {
                    return Err(not_found(name, None));
                }
                all
            }
        };
        usage::check_unused(&self.store, name, version).await?;
        let mut deleted = Vec::with_capacity(targets.len());
        // Newest first, so that a failure part-way leaves the oldest versions
        // and the version numbers stay a run from 1.
        for record in targets.iter().rev() {
            self.records()
                .delete(record.id, Some(record.version))
                .await?;
            tracing::info!(transform = %record.data.name_version, "deleted transform");
            deleted.push(info(record));
        }
        Ok(deleted)
    }

    /// Lists the linkers whose steps would run this version (`Some`) or any
    /// version (`None`) of `name`.
    pub async fn usage(&self, name: &str, version: Option<i64>) -> Result<Vec<Uuid>> {
        usage::linkers_using(&self.store, name, version).await
    }

    /// Loads a version (the latest for `None`) compiled, with the limits its
    /// calls run under: its stored limits over the store's defaults. Errors
    /// of its calls name it as `name@version`.
    pub async fn load(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<(CompiledTransform, TransformLimits)> {
        let stored = self.get(name, version).await?;
        let transform = self.compile(&stored.info.label(), &stored.wasm).await?;
        let limits = stored
            .info
            .limits
            .resolve(&self.store.config().transform_limits);
        Ok((transform, limits))
    }

    /// Runs a version (the latest for `None`) over one batch.
    pub async fn call(
        &self,
        name: &str,
        version: Option<i64>,
        records: Vec<Value>,
        params: Value,
    ) -> Result<Vec<Value>> {
        let (transform, limits) = self.load(name, version).await?;
        blocking(move || transform.call(&records, &params, &limits)).await
    }

    /// Loads every transform that the linker's steps name, at the version
    /// each step pins or the latest, for [`Store::run_linker`].
    pub async fn transform_set(&self, spec: &LinkerSpec) -> Result<TransformSet> {
        let mut set = TransformSet::new(self.store.config().transform_limits.clone());
        for step in spec.steps() {
            let (transform, limits) = self.load(&step.transform, step.version).await?;
            set.insert_as(&step.transform, step.version, transform, limits);
        }
        Ok(set)
    }

    /// Finds one version, or the latest for `None`.
    async fn find(&self, name: &str, version: Option<i64>) -> Result<Record<TransformModule>> {
        check_transform_name("name", name)?;
        let found = match version {
            Some(version) => {
                let filter = json!({ "nameVersion": format!("{name}@{version}") });
                let options = ListOptions::new().filter(filter).limit(1);
                self.records().list(&options).await?.items.pop()
            }
            None => self.version_records(name).await?.pop(),
        };
        found.ok_or_else(|| not_found(name, version))
    }

    /// Reads the versions of `name`, oldest first.
    async fn version_records(&self, name: &str) -> Result<Vec<Record<TransformModule>>> {
        let options = ListOptions::new().filter(json!({ "name": name }));
        let mut records = self.records().list_all(&options).await?;
        records.sort_by_key(|record| record.data.module_version);
        Ok(records)
    }

    /// Compiles on a blocking thread, since Cranelift can take a while on a
    /// large module.
    async fn compile(&self, label: &str, wasm: &[u8]) -> Result<CompiledTransform> {
        let engine = self.store.transform_engine().clone();
        let label = label.to_string();
        let wasm = wasm.to_vec();
        blocking(move || engine.compile(&label, &wasm)).await
    }
}

impl Store {
    /// Returns the transform registry of this store.
    pub fn transforms(&self) -> TransformRegistry {
        TransformRegistry::new(self.clone())
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        Error::validation("transform", format!("transform task failed: {error}"))
    })?
}

/// Reads the module file at `path` for transform `name`, rejecting a file
/// over [`MAX_MODULE_BYTES`] before reading it, so a wrong path to a large
/// file costs no memory. `field` names the setting that gave the path, for
/// the error when the file cannot be read.
pub fn read_module_file(name: &str, path: &Path, field: &str) -> Result<Vec<u8>> {
    let unreadable = |error: std::io::Error| {
        Error::validation(field, format!("cannot read {}: {error}", path.display()))
    };
    let file = File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    check_size(name, usize::try_from(size).unwrap_or(usize::MAX))?;
    // The cap also holds for a file that grows while it is read.
    let cap = u64::try_from(MAX_MODULE_BYTES).unwrap_or(u64::MAX) + 1;
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes).map_err(unreadable)?;
    check_size(name, bytes.len())?;
    Ok(bytes)
}

fn check_size(name: &str, size: usize) -> Result<()> {
    if size > MAX_MODULE_BYTES {
        return Err(Error::validation(
            "module.bytes",
            format!(
                "transform {name} is {size} bytes, more than the registry maximum of \
                 {MAX_MODULE_BYTES} bytes; build it in release mode with opt-level \"s\" \
                 and strip debug info"
            ),
        ));
    }
    Ok(())
}

fn info(record: &Record<TransformModule>) -> TransformInfo {
    let data = &record.data;
    TransformInfo {
        id: record.id,
        name: data.name.clone(),
        version: data.module_version,
        digest: data.digest.clone(),
        size_bytes: data.size_bytes,
        abi_version: data.abi_version,
        limits: data.limits.clone(),
        created_at: record.created_at,
    }
}

fn not_found(name: &str, version: Option<i64>) -> Error {
    Error::NotFound {
        entity: "transform",
        id: match version {
            Some(version) => format!("{name}@{version}"),
            None => name.to_string(),
        },
    }
}
