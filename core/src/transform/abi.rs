//! Byte-level contract between the host and a transform module (ABI version 1).
//! `docs/transform-abi.md` is the full description for module authors.

use serde_json::Value;

/// ABI version that `polystat_abi_version` must return.
pub const ABI_VERSION: i32 = 1;

pub(crate) const EXPORT_MEMORY: &str = "memory";
pub(crate) const EXPORT_ABI_VERSION: &str = "polystat_abi_version";
pub(crate) const EXPORT_ALLOC: &str = "polystat_alloc";
pub(crate) const EXPORT_TRANSFORM: &str = "polystat_transform";
/// Optional export that returns a text message after a trap, such as a Rust
/// guest's panic message.
pub(crate) const EXPORT_TRAP_MESSAGE: &str = "polystat_trap_message";

/// Maximum length of a guest-supplied message (error or trap text) kept in an
/// error, in bytes. Longer messages are cut so that logs stay readable.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Decoded output document of `polystat_transform`.
#[derive(Debug)]
pub(crate) enum Output {
    Records(Vec<Value>),
    /// The module rejected the batch with this message.
    GuestError(String),
}

/// Encodes the input document `{"params": <params>, "records": [...]}`.
pub(crate) fn encode_input(records: &[Value], params: &Value) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(br#"{"params":"#);
    serde_json::to_writer(&mut bytes, params)?;
    bytes.extend_from_slice(br#","records":"#);
    serde_json::to_writer(&mut bytes, records)?;
    bytes.push(b'}');
    Ok(bytes)
}

/// Splits a packed `(pointer << 32) | length` result into its two unsigned halves.
pub(crate) fn unpack(packed: i64) -> (u32, u32) {
    let bits = packed as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// Returns the byte range `pointer..pointer + length` if it lies inside a memory
/// of `memory_size` bytes.
pub(crate) fn region(pointer: u32, length: u32, memory_size: usize) -> Option<(usize, usize)> {
    let start = usize::try_from(pointer).ok()?;
    let end = start.checked_add(usize::try_from(length).ok()?)?;
    (end <= memory_size).then_some((start, end))
}

/// Parses the output document. `Err` carries the reason it is invalid, phrased
/// to follow "returned output that ...".
pub(crate) fn decode_output(bytes: &[u8]) -> Result<Output, String> {
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(format!(
            "is not valid UTF-8 (invalid byte at offset {})",
            error.valid_up_to()
        ));
    }
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|error| format!("is not valid JSON ({error}): {}", preview(bytes)))?;
    let Value::Object(mut object) = document else {
        return Err(format!(
            "is a JSON {} instead of an object; expected {{\"records\": [...]}} or {{\"error\": \"message\"}}",
            json_type(&document)
        ));
    };
    if let Some(message) = object.get("error") {
        return match message {
            Value::String(text) => Ok(Output::GuestError(truncate_message(text))),
            other => Err(format!(
                "has an \"error\" member that is a JSON {} instead of a string",
                json_type(other)
            )),
        };
    }
    match object.remove("records") {
        Some(Value::Array(records)) => Ok(Output::Records(records)),
        Some(other) => Err(format!(
            "has a \"records\" member that is a JSON {} instead of an array",
            json_type(&other)
        )),
        None => Err(
            "has neither a \"records\" array nor an \"error\" string; expected {\"records\": [...]} or {\"error\": \"message\"}"
                .to_string(),
        ),
    }
}

/// Cuts a guest-supplied message to [`MAX_MESSAGE_BYTES`] on a character boundary.
pub(crate) fn truncate_message(text: &str) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ({} more bytes cut)", &text[..end], text.len() - end)
}

/// Returns the first 80 bytes of invalid output, escaped, for error messages.
fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(80)];
    let text = String::from_utf8_lossy(head);
    let ellipsis = if bytes.len() > head.len() { "..." } else { "" };
    format!("starts with {text:?}{ellipsis}")
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
