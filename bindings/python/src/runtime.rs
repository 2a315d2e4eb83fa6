//! The one tokio runtime of the module, rebuilt in a child process after
//! `os.fork()`.
//!
//! A forked child inherits the parent's memory but none of its threads, so
//! the parent's runtime has no workers in the child: blocking on it would
//! hang forever. The runtime is therefore keyed by process id, and a call
//! from a new process builds a fresh runtime. Stores opened before the fork
//! hold connections bound to the parent's runtime, so they refuse to run in
//! the child (see `StoreHandle::check_process`).

use std::sync::{Arc, Mutex};

use tokio::runtime::Runtime;

/// The runtime and the id of the process that built it.
struct Owned {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// Returns the runtime of this process, building it on first use and after a
/// fork.
///
/// Callers hold the GIL, and `os.fork()` runs with the GIL held, so the lock
/// is never held by another thread at the moment of a fork.
pub fn get() -> std::io::Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(owned) = slot.as_ref() {
        if owned.pid == pid {
            return Ok(owned.runtime.clone());
        }
    }
    if let Some(stale) = slot.take() {
        // The parent's worker threads do not exist here; dropping the
        // runtime would wait for them forever, so its memory is leaked.
        std::mem::forget(stale);
    }
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("polystat-worker")
            .build()?,
    );
    *slot = Some(Owned {
        pid,
        runtime: runtime.clone(),
    });
    Ok(runtime)
}
