//! Conversion between Python objects and JSON values.
//!
//! Records travel as JSON inside the core. On the way out, the fields that
//! hold instants become timezone-aware `datetime` objects. Each entity lists
//! the paths of those fields, because a string that merely looks like a date
//! inside user data (evidence values, parameters) must stay a string.

use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted from Python, so a self-referencing dict fails
/// with an error instead of overflowing the stack.
const MAX_DEPTH: usize = 128;

/// Converts a Python value (dict, list, tuple, str, int, float, bool, None,
/// aware datetime, UUID) into JSON.
pub fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json_at(value, 0)
}

fn to_json_at(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "value is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::String(text.to_str()?.to_owned()));
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return int_to_json(value);
    }
    if let Ok(number) = value.cast::<PyFloat>() {
        return Number::from_f64(number.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err("NaN and infinity have no JSON form"));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut object = Map::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let key = key.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("dict keys must be str, got {}", type_name(&key)))
            })?;
            object.insert(key.to_str()?.to_owned(), to_json_at(&item, depth + 1)?);
        }
        return Ok(Value::Object(object));
    }
    if let Ok(list) = value.cast::<PyList>() {
        return list
            .iter()
            .map(|item| to_json_at(&item, depth + 1))
            .collect();
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(|item| to_json_at(&item, depth + 1))
            .collect();
    }
    special_to_json(value)
}

fn int_to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(n) = value.extract::<i64>() {
        return Ok(Value::from(n));
    }
    if let Ok(n) = value.extract::<u64>() {
        return Ok(Value::from(n));
    }
    Err(PyTypeError::new_err(format!(
        "integer {value} does not fit in 64 bits; pass it as a str"
    )))
}

/// Converts datetimes (aware only) and UUIDs, the two other types that
/// records hold.
fn special_to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = value.py();
    let datetime = py.import("datetime")?;
    if value.is_instance(&datetime.getattr("datetime")?)? {
        if value.call_method0("utcoffset")?.is_none() {
            return Err(PyTypeError::new_err(format!(
                "datetime {value} has no time zone; pass an aware datetime such as datetime.now(timezone.utc)"
            )));
        }
        let text: String = value.call_method0("isoformat")?.extract()?;
        return Ok(Value::String(text));
    }
    if value.is_instance(&py.import("uuid")?.getattr("UUID")?)? {
        return Ok(Value::String(value.str()?.to_str()?.to_owned()));
    }
    Err(PyTypeError::new_err(format!(
        "cannot store a value of type {} in a record; use dict, list, str, int, float, bool, None, an aware datetime or UUID",
        type_name(value)
    )))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Converts JSON into Python. `instants` are the paths, relative to `value`,
/// whose strings become aware datetimes: `a.b` names a field of a field and
/// `a[].b` a field of each element of an array.
pub fn to_py<'py>(
    py: Python<'py>,
    value: &Value,
    instants: &[&str],
) -> PyResult<Bound<'py, PyAny>> {
    if instants.iter().any(|path| path.is_empty()) {
        if let Value::String(text) = value {
            if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
                return instant_to_py(py, instant.with_timezone(&Utc));
            }
        }
    }
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(flag) => Ok(PyBool::new(py, *flag).to_owned().into_any()),
        Value::Number(number) => number_to_py(py, number),
        Value::String(text) => Ok(PyString::new(py, text).into_any()),
        Value::Array(items) => {
            let inner: Vec<&str> = instants
                .iter()
                .filter_map(|p| p.strip_prefix("[]"))
                .collect();
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item, &inner)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(object) => object_to_py(py, object, instants).map(Bound::into_any),
    }
}

/// Slots of [`RECENT_INSTANTS`]; a power of two.
const RECENT_SLOTS: usize = 256;

/// Slots of recent datetimes: the instant in microseconds and its object.
type RecentInstants = Vec<Option<(i64, Py<PyAny>)>>;

/// Datetimes made recently, by instant in microseconds. Under the stable ABI
/// a `datetime` is built by calling the class with keyword arguments, which
/// costs more than the rest of a small record's conversion. `datetime`
/// objects are immutable, so records can share one object per instant, and
/// the timestamps of records written together, or of a record read again,
/// repeat.
static RECENT_INSTANTS: LazyLock<Mutex<RecentInstants>> =
    LazyLock::new(|| Mutex::new((0..RECENT_SLOTS).map(|_| None).collect()));

/// Converts an instant into an aware `datetime`, reusing a recent object for
/// the same instant.
fn instant_to_py(py: Python<'_>, instant: DateTime<Utc>) -> PyResult<Bound<'_, PyAny>> {
    let micros = instant.timestamp_micros();
    let slot = ((micros as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % RECENT_SLOTS;
    if let Some(object) = recent_instant(py, slot, micros) {
        return Ok(object);
    }
    // Built with the lock released: the constructor may run a garbage
    // collection whose finalizers let another thread take the GIL.
    let object = instant.into_pyobject(py)?.into_any();
    lock_recent()[slot] = Some((micros, object.clone().unbind()));
    Ok(object)
}

fn recent_instant<'py>(py: Python<'py>, slot: usize, micros: i64) -> Option<Bound<'py, PyAny>> {
    match &lock_recent()[slot] {
        Some((cached, object)) if *cached == micros => Some(object.bind(py).clone()),
        _ => None,
    }
}

/// Locks the cache. A poisoned lock only means a panic between two plain
/// stores, which leaves every slot a valid object, so it is used as is.
fn lock_recent() -> std::sync::MutexGuard<'static, RecentInstants> {
    RECENT_INSTANTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn object_to_py<'py>(
    py: Python<'py>,
    object: &Map<String, Value>,
    instants: &[&str],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let fields: Vec<&str> = instants
        .iter()
        .map(|p| p.strip_prefix('.').unwrap_or(p))
        .collect();
    for (key, item) in object {
        let inner = if fields.is_empty() {
            Vec::new()
        } else {
            child_paths(&fields, key)
        };
        dict.set_item(key, to_py(py, item, &inner)?)?;
    }
    Ok(dict)
}

/// Returns the rest of each path that starts with field `key`.
fn child_paths<'a>(paths: &[&'a str], key: &str) -> Vec<&'a str> {
    paths
        .iter()
        .filter_map(|path| {
            let rest = path.strip_prefix(key)?;
            (rest.is_empty() || rest.starts_with('.') || rest.starts_with("[]")).then_some(rest)
        })
        .collect()
}

fn number_to_py<'py>(py: Python<'py>, number: &Number) -> PyResult<Bound<'py, PyAny>> {
    if let Some(n) = number.as_i64() {
        return Ok(n.into_pyobject(py)?.into_any());
    }
    if let Some(n) = number.as_u64() {
        return Ok(n.into_pyobject(py)?.into_any());
    }
    Ok(PyFloat::new(py, number.as_f64().unwrap_or(f64::NAN)).into_any())
}

/// Converts a value with no instant fields.
pub fn plain_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, value, &[])
}

/// Copies the dicts and lists of a value that [`to_py`] made and shares
/// everything else. Those other values (str, int, float, bool, None and
/// datetime) are immutable, so changing the copy cannot change the
/// original, and copying skips the string decoding and date parsing of a
/// conversion from JSON.
pub fn fresh_copy<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(dict) = value.cast::<PyDict>() {
        let copy = dict.copy()?;
        for (key, item) in dict.iter() {
            if is_container(&item) {
                copy.set_item(key, fresh_copy(&item)?)?;
            }
        }
        return Ok(copy.into_any());
    }
    if let Ok(list) = value.cast::<PyList>() {
        let items = list
            .iter()
            .map(|item| fresh_copy(&item))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyList::new(value.py(), items)?.into_any());
    }
    Ok(value.clone())
}

fn is_container(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyDict>() || value.is_instance_of::<PyList>()
}
