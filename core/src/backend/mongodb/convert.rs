//! Conversion between record bodies (JSON) and BSON documents.
//!
//! The rules, which `docs/mongodb.md` describes for users:
//! - Integers become Int64. A JSON integer above `i64::MAX` is rejected,
//!   because BSON has no unsigned 64-bit type.
//! - Other numbers become Double, so decimals keep their `f64` value.
//! - A string that is a canonical UTC instant (see [`canonical_instant`])
//!   becomes a BSON date, and a BSON date reads back as that string.
//! - Field names are escaped so that FerretDB, which rejects `.` in names,
//!   and MongoDB, which restricts names that start with `$`, store any name:
//!   `%` becomes `%25`, `.` becomes `%2E`, and a leading `$` becomes `%24`.
//! - On servers without nested arrays (FerretDB 1.x), an array inside an
//!   array is stored as the document `{"%array": [...]}`. Escaped names never
//!   contain a bare `%array`, so reading unwraps only these documents.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use crate::backend::Row;
use crate::error::{Error, Result};

/// Name of the document that wraps an array nested directly in an array.
pub(super) const ARRAY_WRAPPER: &str = "%array";

/// Top-level fields that hold record metadata rather than body fields.
pub(super) const ID_FIELD: &str = "_id";
pub(super) const VERSION_FIELD: &str = "version";
pub(super) const CREATED_FIELD: &str = "createdAt";
pub(super) const UPDATED_FIELD: &str = "updatedAt";

const RESERVED_FIELDS: [&str; 4] = [ID_FIELD, VERSION_FIELD, CREATED_FIELD, UPDATED_FIELD];

/// Value encoding that one server needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Encoding {
    /// Whether arrays directly inside arrays are wrapped in a document.
    pub wrap_nested_arrays: bool,
}

/// Parses `text` as an instant if it is exactly what chrono's serializer
/// writes for a millisecond-precision `DateTime<Utc>`: UTC with `Z`, and no
/// fraction or exactly three fraction digits (`2024-01-01T00:00:00Z`,
/// `2024-01-01T00:00:00.123Z`). Any other string stays a string, so the
/// conversion back to text is exact.
pub(super) fn canonical_instant(text: &str) -> Option<DateTime<Utc>> {
    // A cheap shape check first, since every body string passes through here.
    let bytes = text.as_bytes();
    if !(text.len() == 20 || text.len() == 24) || bytes[4] != b'-' || !text.ends_with('Z') {
        return None;
    }
    let parsed = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    // A leap second (nanoseconds >= 10^9) has no BSON date of its own.
    let nanos = parsed.timestamp_subsec_nanos();
    if nanos % 1_000_000 != 0 || nanos >= 1_000_000_000 {
        return None;
    }
    (format_canonical(&parsed) == text).then_some(parsed)
}

/// Formats an instant as chrono's serializer does at millisecond precision.
pub(super) fn format_canonical(instant: &DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses the `YYYY-MM-DDTHH:MM:SS` prefix of `text`, if it has one. Strings
/// with that prefix order like the instants they start with, down to the
/// second, which lets a string range bound a date range.
pub(super) fn second_prefix(text: &str) -> Option<DateTime<Utc>> {
    let prefix = text.get(..19)?;
    // chrono's parser also accepts shorter fields, which would not order
    // like the fixed-width strings, so the layout is checked byte by byte.
    let layout = b"dddd-dd-ddTdd:dd:dd";
    let fits = prefix
        .bytes()
        .zip(layout)
        .all(|(byte, expected)| match expected {
            b'd' => byte.is_ascii_digit(),
            separator => byte == *separator,
        });
    if !fits || &prefix[17..] > "59" {
        return None;
    }
    NaiveDateTime::parse_from_str(prefix, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|naive| naive.and_utc())
}

/// Escapes one field name; see the module documentation.
pub(super) fn escape_name(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for (index, character) in name.char_indices() {
        match character {
            '%' => escaped.push_str("%25"),
            '.' => escaped.push_str("%2E"),
            '$' if index == 0 => escaped.push_str("%24"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Reverses [`escape_name`].
pub(super) fn unescape_name(name: &str) -> String {
    if !name.contains('%') {
        return name.to_string();
    }
    let mut unescaped = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(position) = rest.find('%') {
        unescaped.push_str(&rest[..position]);
        let escape = &rest[position..];
        let decoded = match escape.get(..3) {
            Some("%25") => '%',
            Some("%2E") => '.',
            Some("%24") => '$',
            // Only names written by other clients get here; keep them as they are.
            _ => {
                unescaped.push('%');
                rest = &escape[1..];
                continue;
            }
        };
        unescaped.push(decoded);
        rest = &escape[3..];
    }
    unescaped.push_str(rest);
    unescaped
}

/// Converts a JSON value to BSON. `path` names the value in errors.
pub(super) fn to_bson(value: &Value, path: &str, encoding: Encoding) -> Result<Bson> {
    to_bson_inner(value, &FieldPath::Root(path), encoding, false)
}

/// Location of a value inside a document, rendered as text only when an
/// error names it, so converting a clean document allocates no paths.
#[derive(Clone, Copy)]
enum FieldPath<'a> {
    Root(&'a str),
    Field(&'a FieldPath<'a>, &'a str),
    Index(&'a FieldPath<'a>, usize),
}

impl FieldPath<'_> {
    fn render(&self) -> String {
        match self {
            FieldPath::Root(path) => path.to_string(),
            FieldPath::Field(parent, name) => match parent.render() {
                parent if parent.is_empty() => name.to_string(),
                parent => format!("{parent}.{name}"),
            },
            FieldPath::Index(parent, index) => format!("{}.{index}", parent.render()),
        }
    }
}

fn to_bson_inner(
    value: &Value,
    path: &FieldPath<'_>,
    encoding: Encoding,
    in_array: bool,
) -> Result<Bson> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(flag) => Bson::Boolean(*flag),
        Value::Number(number) => number_to_bson(number, path)?,
        Value::String(text) => match canonical_instant(text) {
            Some(instant) => Bson::DateTime(mongodb::bson::DateTime::from_chrono(instant)),
            None => Bson::String(text.clone()),
        },
        Value::Array(items) => {
            let mut array = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let item_path = FieldPath::Index(path, index);
                array.push(to_bson_inner(item, &item_path, encoding, true)?);
            }
            if in_array && encoding.wrap_nested_arrays {
                let mut wrapper = Document::new();
                wrapper.insert(ARRAY_WRAPPER, array);
                Bson::Document(wrapper)
            } else {
                Bson::Array(array)
            }
        }
        Value::Object(map) => Bson::Document(object_to_document(map, path, encoding)?),
    })
}

fn number_to_bson(number: &Number, path: &FieldPath<'_>) -> Result<Bson> {
    if let Some(integer) = number.as_i64() {
        return Ok(Bson::Int64(integer));
    }
    if let Some(unsigned) = number.as_u64() {
        return Err(Error::validation(
            path.render(),
            format!(
                "integer {unsigned} is above {}, the largest integer MongoDB stores; store it as a string or a float",
                i64::MAX
            ),
        ));
    }
    // serde_json keeps every other number as a finite f64.
    Ok(Bson::Double(number.as_f64().unwrap_or(0.0)))
}

fn object_to_document(
    map: &Map<String, Value>,
    path: &FieldPath<'_>,
    encoding: Encoding,
) -> Result<Document> {
    let mut document = Document::new();
    for (name, value) in map {
        let field_path = FieldPath::Field(path, name);
        if name.contains('\0') {
            return Err(Error::validation(
                field_path.render(),
                "field names cannot contain the NUL character in MongoDB; rename the field",
            ));
        }
        let converted = to_bson_inner(value, &field_path, encoding, false)?;
        document.insert(escape_name(name), converted);
    }
    Ok(document)
}

/// Converts BSON read from the server back to JSON.
pub(super) fn to_json(value: &Bson) -> std::result::Result<Value, String> {
    Ok(match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(flag) => Value::Bool(*flag),
        Bson::Int32(integer) => Value::from(*integer),
        Bson::Int64(integer) => Value::from(*integer),
        Bson::Double(float) => Number::from_f64(*float)
            .map(Value::Number)
            .ok_or_else(|| format!("the number {float} has no JSON form"))?,
        Bson::String(text) | Bson::Symbol(text) => Value::String(text.clone()),
        Bson::DateTime(date) => Value::String(format_canonical(&date.to_chrono())),
        Bson::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Bson::Document(document) => document_to_json(document)?,
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        Bson::Decimal128(decimal) => Value::String(decimal.to_string()),
        other => {
            return Err(format!(
                "BSON type {:?} is not supported",
                other.element_type()
            ))
        }
    })
}

fn document_to_json(document: &Document) -> std::result::Result<Value, String> {
    if document.len() == 1 {
        if let Some(Bson::Array(items)) = document.get(ARRAY_WRAPPER) {
            return to_json(&Bson::Array(items.clone()));
        }
    }
    let mut map = Map::with_capacity(document.len());
    for (name, value) in document {
        map.insert(unescape_name(name), to_json(value)?);
    }
    Ok(Value::Object(map))
}

/// Builds the stored document of a row: metadata first, then the body fields.
pub(super) fn row_to_document(row: &Row, encoding: Encoding) -> Result<Document> {
    let Value::Object(body) = &row.body else {
        return Err(Error::validation(
            "body",
            "a record body must be a JSON object",
        ));
    };
    if let Some(name) = RESERVED_FIELDS
        .iter()
        .find(|name| body.contains_key(**name))
    {
        return Err(Error::validation(
            *name,
            "is a metadata field of the MongoDB backend and cannot be a body field",
        ));
    }
    let mut document = Document::new();
    document.insert(ID_FIELD, row.id.to_string());
    document.insert(VERSION_FIELD, row.version);
    document.insert(
        CREATED_FIELD,
        mongodb::bson::DateTime::from_chrono(row.created_at),
    );
    document.insert(
        UPDATED_FIELD,
        mongodb::bson::DateTime::from_chrono(row.updated_at),
    );
    document.extend(object_to_document(body, &FieldPath::Root(""), encoding)?);
    Ok(document)
}

/// Rebuilds a row from a stored document; the error names what is invalid.
pub(super) fn document_to_row(document: &Document) -> std::result::Result<Row, String> {
    let id = match document.get(ID_FIELD) {
        Some(Bson::String(text)) => Uuid::parse_str(text).map_err(|_| format!("_id {text:?}"))?,
        other => return Err(format!("_id {other:?}")),
    };
    let version = match document.get(VERSION_FIELD) {
        Some(Bson::Int64(version)) => *version,
        Some(Bson::Int32(version)) => i64::from(*version),
        other => return Err(format!("version {other:?}")),
    };
    let mut body = Map::with_capacity(document.len());
    for (name, value) in document {
        if !RESERVED_FIELDS.contains(&name.as_str()) {
            body.insert(unescape_name(name), to_json(value)?);
        }
    }
    Ok(Row {
        id,
        version,
        created_at: date_field(document, CREATED_FIELD)?,
        updated_at: date_field(document, UPDATED_FIELD)?,
        body: Value::Object(body),
    })
}

fn date_field(document: &Document, name: &str) -> std::result::Result<DateTime<Utc>, String> {
    match document.get(name) {
        Some(Bson::DateTime(date)) => Ok(date.to_chrono()),
        other => Err(format!("{name} {other:?}")),
    }
}
