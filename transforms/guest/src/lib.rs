//! Write polystat transforms in Rust.
//!
//! A transform is a WebAssembly module that the polystat host calls with a batch
//! of JSON records and that returns a new batch. This crate implements the host's
//! ABI (version 1, described in `docs/transform-abi.md` of the polystat
//! repository), so a transform is one function handed to [`transform!`]:
//!
//! ```no_run
//! use polystat_guest::serde_json::Value;
//!
//! polystat_guest::transform!(|records: Vec<Value>, params: &Value| -> Result<Vec<Value>, String> {
//!     let limit = params["limit"].as_u64().unwrap_or(10) as usize;
//!     Ok(records.into_iter().take(limit).collect())
//! });
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-unknown-unknown`. The host provides
//! no imports at all, so WASI targets and crates that need a clock, randomness or
//! I/O do not work. Returning `Err(message)` makes the call fail with that
//! message. A panic traps the module, and the host reports the panic message.
//!
//! On `wasm32` the crate installs a bump allocator as the global allocator
//! (the default `arena` feature). The host creates a fresh instance for every
//! call, so memory freed during a call never needs to be reused. A transform
//! that allocates and frees far more than it keeps can turn the feature off
//! with `default-features = false` to get the standard allocator back.

use std::fmt::Display;
use std::sync::{Mutex, Once};

#[cfg(all(target_arch = "wasm32", feature = "arena"))]
mod arena;

/// Every call runs in a fresh instance, so a bump allocator that never gives
/// memory back is both correct and several times cheaper than a general one.
#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

pub use serde_json;
pub use serde_json::Value;

/// ABI version implemented by this crate.
pub const ABI_VERSION: i32 = 1;

/// Exports the ABI functions for a transform function.
///
/// The argument is a closure or function path of type
/// `FnOnce(Vec<Value>, &Value) -> Result<Vec<Value>, E>` where `E: Display`. It
/// receives the batch's records and the call's params (`Value::Null` when the
/// caller gave none). Use the macro once per crate: it defines the
/// `polystat_abi_version`, `polystat_alloc`, `polystat_transform` and
/// `polystat_trap_message` exports.
#[macro_export]
macro_rules! transform {
    ($function:expr) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn polystat_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn polystat_alloc(length: i32) -> i32 {
            $crate::__private::alloc(length)
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn polystat_transform(pointer: i32, length: i32) -> i64 {
            // SAFETY: the host calls this export only with a buffer that
            // `polystat_alloc(length)` returned and that it filled with input.
            unsafe { $crate::__private::run(pointer, length, $function) }
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn polystat_trap_message() -> i64 {
            $crate::__private::trap_message()
        }
    };
}

/// Decodes the input document, runs `transform` and encodes the output
/// document, without touching raw memory. The exported ABI functions wrap this,
/// and transform crates can call it in native unit tests.
pub fn run_json<F, E>(input: &[u8], transform: F) -> Vec<u8>
where
    F: FnOnce(Vec<Value>, &Value) -> Result<Vec<Value>, E>,
    E: Display,
{
    let result = decode_input(input).and_then(|(records, params)| {
        transform(records, &params).map_err(|error| error.to_string())
    });
    encode_output(result)
}

fn decode_input(input: &[u8]) -> Result<(Vec<Value>, Value), String> {
    let document: Value = serde_json::from_slice(input).map_err(|error| {
        format!("the host sent an input document that is not valid JSON: {error}")
    })?;
    let Value::Object(mut object) = document else {
        return Err("the host sent an input document that is not a JSON object".to_string());
    };
    let params = object.remove("params").unwrap_or(Value::Null);
    match object.remove("records") {
        Some(Value::Array(records)) => Ok((records, params)),
        _ => Err("the host sent an input document without a \"records\" array".to_string()),
    }
}

fn encode_output(result: Result<Vec<Value>, String>) -> Vec<u8> {
    let document = match result {
        Ok(records) => serde_json::json!({ "records": records }),
        Err(message) => serde_json::json!({ "error": message }),
    };
    serde_json::to_vec(&document).unwrap_or_else(|error| {
        format!("{{\"error\":\"could not encode the output: {error}\"}}").into_bytes()
    })
}

/// Support code for [`transform!`], which is not a stable API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Allocates `length` zeroed bytes for the host to write the input into.
    ///
    /// [`run`] takes the buffer back and frees it. Other memory, such as the
    /// output, is never freed, because the host creates a fresh instance for
    /// every call.
    pub fn alloc(length: i32) -> i32 {
        install_panic_hook();
        let length = usize::try_from(length).unwrap_or(0);
        let buffer = vec![0u8; length].into_boxed_slice();
        address(Box::into_raw(buffer).cast::<u8>())
    }

    /// Runs `transform` on the input at `pointer` and returns the packed
    /// `(pointer << 32) | length` of the output document.
    ///
    /// # Safety
    ///
    /// `pointer` and `length` must be a buffer returned by
    /// [`alloc(length)`](alloc) that has not been passed to `run` before.
    pub unsafe fn run<F, E>(pointer: i32, length: i32, transform: F) -> i64
    where
        F: FnOnce(Vec<Value>, &Value) -> Result<Vec<Value>, E>,
        E: Display,
    {
        install_panic_hook();
        let length = usize::try_from(length).unwrap_or(0);
        let start = std::ptr::with_exposed_provenance_mut::<u8>(pointer as u32 as usize);
        // SAFETY: the caller guarantees that this is the boxed slice made by
        // `alloc(length)`, so rebuilding the box frees it with its own layout.
        let input = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(start, length)) };
        let output = run_json(&input, transform);
        drop(input);
        let output_length = output.len();
        let output_pointer = Box::into_raw(output.into_boxed_slice()).cast::<u8>();
        pack(address(output_pointer), output_length)
    }

    /// Returns the packed location of the last panic message, or 0 when no
    /// panic happened. The host calls this after the module traps.
    pub fn trap_message() -> i64 {
        let message = TRAP_MESSAGE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if message.is_empty() {
            return 0;
        }
        // The bytes stay in place after the guard is dropped, because nothing
        // writes the message again once the module has trapped.
        pack(address(message.as_ptr()), message.len())
    }

    /// Message of the panic that trapped the module, kept for the host.
    static TRAP_MESSAGE: Mutex<String> = Mutex::new(String::new());

    fn install_panic_hook() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                // try_lock: a panic inside `trap_message` must not deadlock.
                if let Ok(mut message) = TRAP_MESSAGE.try_lock() {
                    *message = info.to_string().replace('\n', " ");
                }
            }));
        });
    }

    /// Converts a pointer into the i32 address the ABI passes. Addresses of
    /// wasm32 fit in 32 bits; on a native target (unit tests) they are cut, but
    /// native code never calls the ABI exports.
    fn address(pointer: *const u8) -> i32 {
        pointer.expose_provenance() as u32 as i32
    }

    fn pack(pointer: i32, length: usize) -> i64 {
        ((u64::from(pointer as u32) << 32) | (length as u32 as u64)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("output is JSON")
    }

    #[test]
    fn run_json_passes_records_and_params() {
        let input = br#"{"params":{"n":2},"records":[1,2,3]}"#;
        let output = run_json(input, |records, params| -> Result<Vec<Value>, String> {
            let n = params["n"].as_u64().unwrap_or(0) as usize;
            Ok(records.into_iter().take(n).collect())
        });
        assert_eq!(parse(&output), json!({"records": [1, 2]}));
    }

    #[test]
    fn run_json_reports_errors() {
        let output = run_json(
            br#"{"records":[]}"#,
            |_, params| -> Result<Vec<Value>, String> {
                assert_eq!(params, &Value::Null);
                Err("record 0 is bad".to_string())
            },
        );
        assert_eq!(parse(&output), json!({"error": "record 0 is bad"}));
    }

    #[test]
    fn run_json_rejects_bad_input() {
        let identity = |records, _: &Value| -> Result<Vec<Value>, String> { Ok(records) };
        let not_json = parse(&run_json(b"nope", identity));
        assert!(not_json["error"]
            .as_str()
            .is_some_and(|m| m.contains("not valid JSON")));
        let no_records = parse(&run_json(br#"{"params":1}"#, identity));
        assert!(no_records["error"]
            .as_str()
            .is_some_and(|m| m.contains("\"records\"")));
    }
}
