//! JSON text across the boundary, with integers beyond 2^53 kept exact.
//!
//! JavaScript numbers keep integers exact only up to 2^53 - 1, so text
//! with a larger integer starts with [`BIG_PREFIX`] and carries each such
//! integer as a string starting with [`BIG_MARK`]. The JavaScript side
//! turns those strings into BigInt values, and marks its own BigInt
//! arguments the same way. In marked text, a string that starts with NUL
//! carries one more NUL in front ([`ESCAPED_NUL`]), so that it is never
//! read as an integer. Text with such a string is marked too.

use serde_json::{Number, Value};

/// First character of text whose marked strings are integers.
pub const BIG_PREFIX: char = 'B';
/// Start of a string that stands for an integer.
pub const BIG_MARK: &str = "\u{0}bigint:";
/// Start of a marked string whose original starts with NUL, one NUL longer.
const ESCAPED_NUL: &str = "\u{0}\u{0}";

const MAX_SAFE: u64 = (1 << 53) - 1;

/// Encodes a value for JavaScript.
pub fn encode(value: &Value) -> String {
    if !has_big(value) {
        return value.to_string();
    }
    let mut marked = value.clone();
    mark(&mut marked);
    format!("{BIG_PREFIX}{marked}")
}

/// Decodes text from JavaScript; `field` names the argument in errors.
pub fn decode(field: &str, text: &str) -> polystat::Result<Value> {
    let (big, body) = match text.strip_prefix(BIG_PREFIX) {
        Some(body) => (true, body),
        None => (false, text),
    };
    let mut value: Value = serde_json::from_str(body).map_err(|e| {
        polystat::Error::validation(field, format!("is not valid JSON ({e}); pass plain objects, arrays, strings, numbers, booleans and null"))
    })?;
    if big {
        unmark(field, &mut value)?;
    }
    Ok(value)
}

fn unsafe_integer(number: &Number) -> bool {
    match (number.as_u64(), number.as_i64()) {
        (Some(n), _) => n > MAX_SAFE,
        (None, Some(n)) => n.unsigned_abs() > MAX_SAFE,
        _ => false,
    }
}

/// Whether the text of `value` needs marking: it contains an integer
/// beyond 2^53 or a string that could be mistaken for a mark.
fn has_big(value: &Value) -> bool {
    match value {
        Value::Number(number) => unsafe_integer(number),
        Value::String(text) => text.starts_with('\0'),
        Value::Array(items) => items.iter().any(has_big),
        Value::Object(map) => map.values().any(has_big),
        _ => false,
    }
}

fn mark(value: &mut Value) {
    match value {
        Value::Number(number) if unsafe_integer(number) => {
            *value = Value::String(format!("{BIG_MARK}{number}"));
        }
        Value::String(text) if text.starts_with('\0') => text.insert(0, '\0'),
        Value::Array(items) => items.iter_mut().for_each(mark),
        Value::Object(map) => map.values_mut().for_each(mark),
        _ => {}
    }
}

fn unmark(field: &str, value: &mut Value) -> polystat::Result<()> {
    match value {
        Value::String(text) => {
            if text.starts_with(ESCAPED_NUL) {
                text.remove(0);
            } else if let Some(digits) = text.strip_prefix(BIG_MARK) {
                let number = digits
                    .parse::<i64>()
                    .map(Number::from)
                    .or_else(|_| digits.parse::<u64>().map(Number::from))
                    .map_err(|_| {
                        polystat::Error::validation(
                            field,
                            format!("BigInt {digits} does not fit in 64 bits; use a value between -2^63 and 2^64 - 1"),
                        )
                    })?;
                *value = Value::Number(number);
            }
        }
        Value::Array(items) => {
            for item in items {
                unmark(field, item)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                unmark(field, item)?;
            }
        }
        _ => {}
    }
    Ok(())
}
