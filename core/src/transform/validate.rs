//! Checks a module against the ABI before it is accepted: name, header, imports and
//! export types. The ABI version is checked later by calling the module.

use wasmtime::{ExternType, Module, ValType};

use super::abi::EXPORT_TRAP_MESSAGE;
use super::abi::{EXPORT_ABI_VERSION, EXPORT_ALLOC, EXPORT_MEMORY, EXPORT_TRANSFORM};
use crate::error::{Error, Result};

/// Longest accepted transform name, in bytes.
const MAX_NAME_BYTES: usize = 128;

/// Number of imports listed by name in an error before the rest are counted.
const MAX_LISTED_IMPORTS: usize = 5;

/// Magic number and version 1 of the WebAssembly binary format.
const WASM_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Rejects an empty, overlong or unprintable transform name, because the name
/// appears in every error and log line about the module.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation("name", "transform name is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::validation(
            "name",
            format!(
                "transform name is {} bytes long; the maximum is {MAX_NAME_BYTES}",
                name.len()
            ),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            format!("transform name {name:?} contains control characters"),
        ));
    }
    Ok(())
}

/// Rejects bytes that are not a WebAssembly binary module before handing them
/// to the compiler, so that the error names the missing header.
pub(crate) fn check_header(name: &str, wasm: &[u8]) -> Result<()> {
    if wasm.starts_with(&WASM_HEADER) {
        return Ok(());
    }
    let reason = if wasm.starts_with(b"\0asm") {
        format!(
            "transform {name} is a WebAssembly binary of an unsupported version or a \
             component; expected a core module (version 1), as built for wasm32-unknown-unknown"
        )
    } else {
        format!(
            "transform {name} is not a WebAssembly binary module: its {} bytes do not start \
             with the \\0asm header (text-format .wat files must be converted first)",
            wasm.len()
        )
    };
    Err(Error::validation("module.bytes", reason))
}

/// Rejects every import, because a transform must run with no access to the host.
pub(crate) fn check_imports(name: &str, module: &Module) -> Result<()> {
    let imports: Vec<String> = module
        .imports()
        .map(|import| format!("{}::{}", import.module(), import.name()))
        .collect();
    if imports.is_empty() {
        return Ok(());
    }
    let mut listed = imports[..imports.len().min(MAX_LISTED_IMPORTS)].join(", ");
    if imports.len() > MAX_LISTED_IMPORTS {
        listed.push_str(&format!(" and {} more", imports.len() - MAX_LISTED_IMPORTS));
    }
    let hint = if imports.iter().any(|import| import.starts_with("wasi")) {
        "; WASI is not available, so build for wasm32-unknown-unknown instead of a wasi target"
    } else {
        ""
    };
    Err(Error::validation(
        "module.imports",
        format!("transform {name} imports {listed}, but transforms may not import anything{hint}"),
    ))
}

/// Expected type of one export, as `(params, results)`.
struct FuncSignature {
    export: &'static str,
    params: &'static [ValType],
    results: &'static [ValType],
    text: &'static str,
}

const REQUIRED_FUNCTIONS: [FuncSignature; 3] = [
    FuncSignature {
        export: EXPORT_ABI_VERSION,
        params: &[],
        results: &[ValType::I32],
        text: "(func (result i32))",
    },
    FuncSignature {
        export: EXPORT_ALLOC,
        params: &[ValType::I32],
        results: &[ValType::I32],
        text: "(func (param i32) (result i32))",
    },
    FuncSignature {
        export: EXPORT_TRANSFORM,
        params: &[ValType::I32, ValType::I32],
        results: &[ValType::I64],
        text: "(func (param i32 i32) (result i64))",
    },
];

const TRAP_MESSAGE_SIGNATURE: FuncSignature = FuncSignature {
    export: EXPORT_TRAP_MESSAGE,
    params: &[],
    results: &[ValType::I64],
    text: "(func (result i64))",
};

/// Checks that the required exports exist with the ABI's types, and that the
/// optional trap-message export, when present, has its type too.
pub(crate) fn check_exports(name: &str, module: &Module) -> Result<()> {
    let missing: Vec<&str> = [EXPORT_MEMORY]
        .into_iter()
        .chain(REQUIRED_FUNCTIONS.iter().map(|signature| signature.export))
        .filter(|export| module.get_export(export).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(Error::validation(
            "module.exports",
            format!(
                "transform {name} does not export {}, which ABI version {} requires",
                missing.join(", "),
                super::ABI_VERSION
            ),
        ));
    }
    check_memory(name, module)?;
    for signature in &REQUIRED_FUNCTIONS {
        check_function(name, module, signature)?;
    }
    if module.get_export(EXPORT_TRAP_MESSAGE).is_some() {
        check_function(name, module, &TRAP_MESSAGE_SIGNATURE)?;
    }
    Ok(())
}

fn check_memory(name: &str, module: &Module) -> Result<()> {
    let problem = match module.get_export(EXPORT_MEMORY) {
        Some(ExternType::Memory(memory)) if memory.is_64() => "is a 64-bit memory",
        Some(ExternType::Memory(memory)) if memory.is_shared() => "is a shared memory",
        Some(ExternType::Memory(_)) => return Ok(()),
        _ => "is not a memory",
    };
    Err(Error::validation(
        "module.exports",
        format!("transform {name} exports \"{EXPORT_MEMORY}\" but it {problem}; expected a 32-bit unshared linear memory"),
    ))
}

fn check_function(name: &str, module: &Module, signature: &FuncSignature) -> Result<()> {
    let export = signature.export;
    let actual = match module.get_export(export) {
        Some(ExternType::Func(func)) => func,
        _ => {
            return Err(Error::validation(
                "module.exports",
                format!("transform {name} exports \"{export}\" but it is not a function"),
            ))
        }
    };
    let params_match = types_match(actual.params(), signature.params);
    let results_match = types_match(actual.results(), signature.results);
    if params_match && results_match {
        return Ok(());
    }
    Err(Error::validation(
        "module.exports",
        format!(
            "transform {name} exports \"{export}\" with type {actual}; expected {}",
            signature.text
        ),
    ))
}

fn types_match(actual: impl ExactSizeIterator<Item = ValType>, expected: &[ValType]) -> bool {
    actual.len() == expected.len()
        && actual
            .zip(expected)
            .all(|(left, right)| ValType::eq(&left, right))
}
