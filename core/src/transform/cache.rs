//! Compiled-module cache: in memory for the life of the engine, and on disk so
//! that a restarted process loads machine code instead of compiling again.
//!
//! Both tiers are keyed by the SHA-256 of the module bytes. Files on disk are
//! also keyed by a fingerprint of the engine settings, because machine code
//! compiled under one configuration (fuel metering, epochs, CPU features,
//! wasmtime version) must not run under another.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Modules kept compiled in memory per engine. A module takes from tens of
/// kilobytes to a few megabytes of machine code.
const MEMORY_ENTRIES: u64 = 256;

/// Length of the SHA-256 checksum that starts every cache file.
const CHECKSUM_BYTES: usize = 32;

/// Counters of where compiled modules came from, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Modules found compiled in memory.
    pub memory_hits: u64,
    /// Modules loaded from the cache folder without compiling.
    pub disk_hits: u64,
    /// Modules compiled by Cranelift.
    pub compiled: u64,
}

pub(crate) struct ModuleCache {
    memory: moka::sync::Cache<String, Module>,
    folder: Option<PathBuf>,
    fingerprint: String,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    compiled: AtomicU64,
}

impl ModuleCache {
    /// Creates the cache. A folder that cannot be created turns the disk tier
    /// off with a warning, since compiling again is always possible.
    pub(crate) fn new(engine: &Engine, folder: Option<PathBuf>) -> Self {
        let folder = folder.and_then(|folder| match create_private_folder(&folder) {
            Ok(()) => Some(folder),
            Err(error) => {
                tracing::warn!(
                    folder = %folder.display(),
                    %error,
                    "cannot create the transform cache folder; compiled modules stay in memory only"
                );
                None
            }
        });
        ModuleCache {
            memory: moka::sync::Cache::new(MEMORY_ENTRIES),
            folder,
            fingerprint: engine_fingerprint(engine),
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            compiled: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CompileStats {
        CompileStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            compiled: self.compiled.load(Ordering::Relaxed),
        }
    }

    /// Returns the compiled module for `digest` from memory or disk.
    pub(crate) fn get(&self, engine: &Engine, digest: &str) -> Option<Module> {
        if let Some(module) = self.memory.get(digest) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Some(module);
        }
        let module = self.read_file(engine, digest)?;
        self.disk_hits.fetch_add(1, Ordering::Relaxed);
        self.memory.insert(digest.to_string(), module.clone());
        Some(module)
    }

    /// Counts a compilation done by the caller.
    pub(crate) fn count_compiled(&self) {
        self.compiled.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps a module that passed validation, in memory and on disk. A failed
    /// disk write is logged and otherwise ignored.
    pub(crate) fn put(&self, digest: &str, module: &Module) {
        self.memory.insert(digest.to_string(), module.clone());
        let Some(path) = self.file_path(digest) else {
            return;
        };
        if path.exists() {
            return;
        }
        if let Err(error) = write_file(&path, module) {
            tracing::warn!(file = %path.display(), %error, "cannot write compiled transform to the cache");
        }
    }

    fn file_path(&self, digest: &str) -> Option<PathBuf> {
        let folder = self.folder.as_ref()?;
        Some(folder.join(format!("{digest}-{}.cwasm", self.fingerprint)))
    }

    fn read_file(&self, engine: &Engine, digest: &str) -> Option<Module> {
        let path = self.file_path(digest)?;
        let bytes = std::fs::read(&path).ok()?;
        if bytes.len() < CHECKSUM_BYTES {
            return None;
        }
        let (checksum, payload) = bytes.split_at(CHECKSUM_BYTES);
        if Sha256::digest(payload).as_slice() != checksum {
            tracing::warn!(file = %path.display(), "compiled transform in the cache is corrupt; compiling again");
            return None;
        }
        // SAFETY: wasmtime requires that deserialized bytes come from
        // `Module::serialize` of a compatible engine. The file name carries the
        // engine fingerprint, the checksum rules out torn or damaged writes,
        // and the folder is created private to this user.
        // NOTE: a user who can write to the cache folder can make this process
        // run arbitrary machine code, so the folder must not be shared.
        match unsafe { Module::deserialize(engine, payload) } {
            Ok(module) => Some(module),
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "cannot load compiled transform from the cache; compiling again");
                None
            }
        }
    }
}

/// Writes the checksum and the serialized module to a temporary file, then
/// renames it into place, so readers never see a partly written file.
fn write_file(path: &Path, module: &Module) -> std::io::Result<()> {
    let payload = module.serialize().map_err(std::io::Error::other)?;
    let mut bytes = Vec::with_capacity(CHECKSUM_BYTES + payload.len());
    bytes.extend_from_slice(&Sha256::digest(&payload));
    bytes.extend_from_slice(&payload);
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temporary, &bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

fn create_private_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Hashes wasmtime's compatibility hash of the engine settings together with
/// the wasmtime version pinned in Cargo.toml.
fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    "wasmtime-48.0.10".hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Returns the default cache folder: `polystat/transforms` under the
/// operating system's per-user cache folder (`$XDG_CACHE_HOME` or
/// `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
/// Windows), or `None` when that folder cannot be determined.
pub fn default_cache_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let base = if cfg!(windows) {
        non_empty("LOCALAPPDATA").map(PathBuf::from)
    } else if cfg!(target_os = "macos") {
        non_empty("HOME").map(|home| PathBuf::from(home).join("Library/Caches"))
    } else {
        non_empty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))
    };
    base.map(|base| base.join("polystat").join("transforms"))
}
