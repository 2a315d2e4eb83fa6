//! MongoDB's ordering of values, restricted to the JSON types.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// Position of a value's type in MongoDB's cross-type order.
///
/// MongoDB orders types as MinKey, Null, Numbers, Symbol/String, Object, Array, BinData,
/// ObjectId, Boolean, Date, Timestamp, Regex, MaxKey. JSON has six of them, so the ranks below
/// keep their relative order and leave out the rest.
pub(crate) fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Object(_) => 4,
        Value::Array(_) => 5,
        Value::Bool(_) => 6,
    }
}

/// Compares two values in MongoDB's order.
///
/// Values of different types order by type (null < numbers < strings < objects < arrays <
/// booleans). Numbers compare by value, so `1` equals `1.0`. Strings compare byte by byte, as
/// MongoDB does without a collation. Arrays compare element by element, and a shorter array that
/// is a prefix of a longer one is less. Objects compare field by field in stored order: first the
/// type of the two values, then the field names, then the values, so `{"x":1,"y":2}` and
/// `{"y":2,"x":1}` are not equal.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    let by_type = type_rank(a).cmp(&type_rank(b));
    if by_type != Ordering::Equal {
        return by_type;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => compare_arrays(x, y),
        (Value::Object(x), Value::Object(y)) => compare_objects(x, y),
        _ => Ordering::Equal,
    }
}

fn compare_arrays(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ordering = compare_values(x, y);
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

fn compare_objects(a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
    for ((key_a, value_a), (key_b, value_b)) in a.iter().zip(b) {
        let ordering = type_rank(value_a)
            .cmp(&type_rank(value_b))
            .then_with(|| key_a.as_bytes().cmp(key_b.as_bytes()))
            .then_with(|| compare_values(value_a, value_b));
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

/// A JSON number widened so that every integer serde_json stores (i64 or u64) fits exactly.
enum Numeric {
    Integer(i128),
    Float(f64),
}

fn numeric(number: &Number) -> Numeric {
    if let Some(value) = number.as_i64() {
        Numeric::Integer(i128::from(value))
    } else if let Some(value) = number.as_u64() {
        Numeric::Integer(i128::from(value))
    } else {
        // serde_json stores every other number as a finite f64.
        Numeric::Float(number.as_f64().unwrap_or(0.0))
    }
}

/// Compares two numbers exactly, without rounding large integers through f64.
fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (numeric(a), numeric(b)) {
        (Numeric::Integer(x), Numeric::Integer(y)) => x.cmp(&y),
        (Numeric::Float(x), Numeric::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Numeric::Integer(x), Numeric::Float(y)) => compare_integer_to_float(x, y),
        (Numeric::Float(x), Numeric::Integer(y)) => compare_integer_to_float(y, x).reverse(),
    }
}

fn compare_integer_to_float(integer: i128, float: f64) -> Ordering {
    // Every i64 and u64 lies strictly inside ±2^127, so floats outside that range decide at once.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0; // 2^127
    let floor = float.floor();
    if floor >= LIMIT {
        return Ordering::Less;
    }
    if floor < -LIMIT {
        return Ordering::Greater;
    }
    // `floor` is integral and in range, so the cast is exact.
    match integer.cmp(&(floor as i128)) {
        Ordering::Equal if float > floor => Ordering::Less,
        ordering => ordering,
    }
}
