//! Translation of polystat filters into MongoDB filters that the server runs
//! before the repository checks every row with [`crate::query::Filter::matches`].
//!
//! A translated filter must never be stricter than the Rust matcher, or rows
//! would go missing. It may be looser, because the repository drops the
//! extra rows. Each condition is therefore sent only where the server is
//! known to select the same documents, or a superset, and is left out
//! otherwise. Only conditions that select exactly the same documents may be
//! negated (`$ne`, `$nin`, `$not`, `$nor`), since negating a superset gives a
//! subset.
//!
//! NOTE: FerretDB 1.24 differs from MongoDB in these cases, found by running
//! the operators of docs/query.md against it, so they are never sent:
//! - `{"a.b": null}` and other null tests on dotted paths: FerretDB matches
//!   `{"a": [1, 2]}` and misses `{"a": [{"b": 1}, {}]}`.
//! - `$ne`, `$nin` and `$not` on dotted paths match too many documents when
//!   the path crosses an array, so they are sent as supersets only.
//! - Object and array literals: `{"a": {"b": 1}}` misses `{"a": [{"b": 1}]}`.
//! - Numeric path segments: `{"a.0": 5}` misses `{"a": [{"0": 5}]}`.
//! - `$elemMatch` with a query (`{"$elemMatch": {"b": 1}}`) matches nothing.
//!   With operators, it tests each operator on its own element, and it does
//!   not implement `$ne`, `$or` and most other operators inside it.
//! - `$exists: 0` matches every document, so numbers are sent as booleans.

use chrono::{DateTime, Duration, Utc};
use mongodb::bson::{Bson, Document};
use serde_json::{Map, Value};

use super::convert::{
    escape_name, second_prefix, Encoding, CREATED_FIELD, ID_FIELD, UPDATED_FIELD,
};
use crate::backend::KeyEquals;
use crate::error::{Error, Result};
use crate::model::{format_instant, CollectionSpec};

/// A server-side condition and how it relates to the Rust matcher.
#[derive(Debug)]
enum Pushed {
    /// Selects exactly the documents the Rust matcher selects.
    Exact(Document),
    /// Selects at least the documents the Rust matcher selects.
    Superset(Document),
    /// Nothing is sent for this part of the filter.
    Nothing,
}

/// One operator's condition on a field, such as `{"$gt": 5}`.
#[derive(Debug)]
enum OperatorPush {
    Exact(Document),
    Superset(Document),
    /// A superset given as alternatives; the field matches if any matches.
    AnyOf(Vec<Document>),
    Nothing,
}

/// What a field holds on the server, which decides how literals convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A body field: strings convert by the document rule.
    Body,
    /// The record id, stored as a string in `_id`.
    Id,
    /// `createdAt` or `updatedAt`: a BSON date that filters see as the
    /// microsecond string of [`format_instant`].
    Instant,
}

/// A field path as the server stores it.
#[derive(Debug)]
struct Field {
    path: String,
    kind: Kind,
    /// Whether the path has more than one segment.
    dotted: bool,
}

/// Translates the source of a parsed filter; `None` when nothing can be sent.
pub(super) fn translate(source: &Value, spec: &CollectionSpec) -> Option<Document> {
    let Value::Object(map) = source else {
        return None;
    };
    match translate_query(map, Some(spec)) {
        Pushed::Exact(document) | Pushed::Superset(document) => Some(document),
        Pushed::Nothing => None,
    }
}

/// Translates the key equalities that the repository pushes down.
pub(super) fn key_conditions(spec: &CollectionSpec, keys: &[KeyEquals]) -> Result<Document> {
    let mut conditions = Document::new();
    for key in keys {
        let column = spec.keys.iter().find(|k| k.column == key.column);
        let Some(column) = column else {
            return Err(Error::configuration(format!(
                "{} has no key column {}",
                spec.name, key.column
            )));
        };
        let value = super::convert::to_bson(
            &Value::String(key.value.clone()),
            column.path,
            Encoding {
                wrap_nested_arrays: false,
            },
        )?;
        conditions.insert(escape_path(column.path), value);
    }
    Ok(conditions)
}

/// `spec` is set at the top level, where metadata fields are recognized.
fn translate_query(map: &Map<String, Value>, spec: Option<&CollectionSpec>) -> Pushed {
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        let part = match key.as_str() {
            "$and" => translate_and(value, spec),
            "$or" => translate_or(value, spec),
            "$nor" => translate_nor(value, spec),
            _ => match field(key, spec) {
                Some(field) => translate_field(&field, value),
                None => Pushed::Nothing,
            },
        };
        parts.push(part);
    }
    combine_and(parts)
}

fn subqueries(value: &Value, spec: Option<&CollectionSpec>) -> Vec<Pushed> {
    let Value::Array(items) = value else {
        return vec![Pushed::Nothing];
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(map) => translate_query(map, spec),
            _ => Pushed::Nothing,
        })
        .collect()
}

fn translate_and(value: &Value, spec: Option<&CollectionSpec>) -> Pushed {
    combine_and(subqueries(value, spec))
}

fn translate_or(value: &Value, spec: Option<&CollectionSpec>) -> Pushed {
    let mut exact = true;
    let mut branches = Vec::new();
    for part in subqueries(value, spec) {
        match part {
            Pushed::Exact(document) => branches.push(Bson::Document(document)),
            Pushed::Superset(document) => {
                exact = false;
                branches.push(Bson::Document(document));
            }
            // A branch that matches everything makes the whole `$or` match everything.
            Pushed::Nothing => return Pushed::Nothing,
        }
    }
    wrap(exact, single("$or", branches))
}

fn translate_nor(value: &Value, spec: Option<&CollectionSpec>) -> Pushed {
    let mut branches = Vec::new();
    for part in subqueries(value, spec) {
        match part {
            Pushed::Exact(document) => branches.push(Bson::Document(document)),
            Pushed::Superset(_) | Pushed::Nothing => return Pushed::Nothing,
        }
    }
    Pushed::Exact(single("$nor", branches))
}

fn combine_and(parts: Vec<Pushed>) -> Pushed {
    let mut exact = true;
    let mut documents = Vec::new();
    for part in parts {
        match part {
            Pushed::Exact(document) => documents.push(document),
            Pushed::Superset(document) => {
                exact = false;
                documents.push(document);
            }
            Pushed::Nothing => exact = false,
        }
    }
    match documents.len() {
        0 => Pushed::Nothing,
        1 => wrap(exact, documents.remove(0)),
        _ => {
            let all: Vec<Bson> = documents.into_iter().map(Bson::Document).collect();
            wrap(exact, single("$and", all))
        }
    }
}

fn wrap(exact: bool, document: Document) -> Pushed {
    if exact {
        Pushed::Exact(document)
    } else {
        Pushed::Superset(document)
    }
}

fn single(key: &str, value: impl Into<Bson>) -> Document {
    let mut document = Document::new();
    document.insert(key, value);
    document
}

fn escape_path(dotted: &str) -> String {
    dotted
        .split('.')
        .map(escape_name)
        .collect::<Vec<_>>()
        .join(".")
}

/// Maps a filter path to the stored path, or `None` when the path cannot be
/// sent: numeric segments, and `_id`, which records do not have.
fn field(dotted: &str, spec: Option<&CollectionSpec>) -> Option<Field> {
    let segments: Vec<&str> = dotted.split('.').collect();
    let numeric = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if segments.iter().any(|s| s.is_empty() || numeric(s)) {
        return None;
    }
    let dotted_path = segments.len() > 1;
    let Some(spec) = spec else {
        return Some(body_field(dotted, dotted_path));
    };
    if segments[0] == ID_FIELD {
        return None;
    }
    if dotted == "id" {
        return Some(Field {
            path: ID_FIELD.to_string(),
            kind: Kind::Id,
            dotted: false,
        });
    }
    if let Some(rest) = dotted.strip_prefix("id.") {
        let path = format!("{ID_FIELD}.{}", escape_path(rest));
        return Some(Field {
            path,
            kind: Kind::Body,
            dotted: true,
        });
    }
    for (name, stored) in [
        (spec.created_field(), CREATED_FIELD),
        (spec.updated_field(), UPDATED_FIELD),
    ] {
        if dotted == name {
            return Some(Field {
                path: stored.to_string(),
                kind: Kind::Instant,
                dotted: false,
            });
        }
    }
    Some(body_field(dotted, dotted_path))
}

fn body_field(dotted: &str, dotted_path: bool) -> Field {
    Field {
        path: escape_path(dotted),
        kind: Kind::Body,
        dotted: dotted_path,
    }
}

fn is_operator_object(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.keys().next().is_some_and(|k| k.starts_with('$')))
}

fn translate_field(field: &Field, value: &Value) -> Pushed {
    let pushes = match value {
        Value::Object(operators) if is_operator_object(value) => operators
            .iter()
            .map(|(operator, operand)| translate_operator(field, operator, operand))
            .collect(),
        literal => vec![equal(field, literal)],
    };
    let parts = pushes
        .into_iter()
        .map(|push| field_condition(&field.path, push))
        .collect();
    combine_and(parts)
}

fn field_condition(path: &str, push: OperatorPush) -> Pushed {
    match push {
        OperatorPush::Exact(condition) => Pushed::Exact(single(path, condition)),
        OperatorPush::Superset(condition) => Pushed::Superset(single(path, condition)),
        OperatorPush::AnyOf(conditions) => {
            let branches = conditions
                .into_iter()
                .map(|condition| Bson::Document(single(path, condition)))
                .collect::<Vec<_>>();
            Pushed::Superset(single("$or", branches))
        }
        OperatorPush::Nothing => Pushed::Nothing,
    }
}

fn translate_operator(field: &Field, operator: &str, operand: &Value) -> OperatorPush {
    match operator {
        "$eq" => equal(field, operand),
        "$ne" => negate(
            field,
            "$ne",
            equal(field, operand),
            operand_literal(field, operand),
        ),
        "$in" => member(field, "$in", operand),
        "$nin" => negated_member(field, operand),
        "$gt" | "$gte" | "$lt" | "$lte" => range(field, operator, operand),
        "$exists" => exists(operand),
        "$size" => size(operand),
        "$not" => not(field, operand),
        "$elemMatch" => elem_match(operand),
        _ => OperatorPush::Nothing,
    }
}

fn operand_literal(field: &Field, operand: &Value) -> Option<Bson> {
    literal(field.kind, operand)
}

/// Converts a scalar literal as documents convert it. Objects and arrays are
/// not sent, because FerretDB does not match them against array elements.
fn literal(kind: Kind, value: &Value) -> Option<Bson> {
    let plain = Encoding {
        wrap_nested_arrays: false,
    };
    match (kind, value) {
        (_, Value::Array(_) | Value::Object(_)) => None,
        (Kind::Id, Value::String(text)) => Some(Bson::String(text.clone())),
        (Kind::Instant, Value::String(text)) => Some(instant_literal(text)),
        (_, scalar) => super::convert::to_bson(scalar, "filter", plain).ok(),
    }
}

/// Converts a literal for `createdAt` or `updatedAt`. These reach filters as
/// [`format_instant`] strings, so only a string in exactly that form can
/// equal one. Any other string is sent as a string, which equals no stored
/// date, as in the Rust matcher.
fn instant_literal(text: &str) -> Bson {
    let parsed = DateTime::parse_from_rfc3339(text).map(|d| d.with_timezone(&Utc));
    match parsed {
        Ok(instant)
            if format_instant(&instant) == text
                && instant.timestamp_subsec_nanos() % 1_000_000 == 0
                && instant.timestamp_subsec_nanos() < 1_000_000_000 =>
        {
            Bson::DateTime(mongodb::bson::DateTime::from_chrono(instant))
        }
        _ => Bson::String(text.to_string()),
    }
}

fn equal(field: &Field, operand: &Value) -> OperatorPush {
    match operand_literal(field, operand) {
        Some(Bson::Null) if field.dotted => OperatorPush::Nothing,
        Some(value) => OperatorPush::Exact(single("$eq", value)),
        None => OperatorPush::Nothing,
    }
}

/// Negates an exact positive condition: exact on one-segment paths, a
/// superset on dotted ones, where FerretDB's negations match too much.
fn negate(
    field: &Field,
    operator: &str,
    positive: OperatorPush,
    value: Option<Bson>,
) -> OperatorPush {
    match (positive, value) {
        (OperatorPush::Exact(_), Some(value)) if field.dotted => {
            OperatorPush::Superset(single(operator, value))
        }
        (OperatorPush::Exact(_), Some(value)) => OperatorPush::Exact(single(operator, value)),
        _ => OperatorPush::Nothing,
    }
}

fn member_values(field: &Field, operand: &Value) -> Option<Vec<Bson>> {
    let Value::Array(items) = operand else {
        return None;
    };
    let values = items
        .iter()
        .map(|item| operand_literal(field, item))
        .collect::<Option<Vec<_>>>()?;
    if field.dotted && values.iter().any(|value| matches!(value, Bson::Null)) {
        return None;
    }
    Some(values)
}

fn member(field: &Field, operator: &str, operand: &Value) -> OperatorPush {
    match member_values(field, operand) {
        Some(values) => OperatorPush::Exact(single(operator, values)),
        None => OperatorPush::Nothing,
    }
}

fn negated_member(field: &Field, operand: &Value) -> OperatorPush {
    match member_values(field, operand) {
        Some(values) if field.dotted => OperatorPush::Superset(single("$nin", values)),
        Some(values) => OperatorPush::Exact(single("$nin", values)),
        None => OperatorPush::Nothing,
    }
}

fn range(field: &Field, operator: &str, operand: &Value) -> OperatorPush {
    match operand {
        // `$gte: null` and `$lte: null` mean `$eq: null`; `$gt` and `$lt` match nothing.
        Value::Null if matches!(operator, "$gte" | "$lte") => equal(field, operand),
        Value::Null | Value::Bool(_) | Value::Number(_) => match literal(Kind::Body, operand) {
            Some(value) => OperatorPush::Exact(single(operator, value)),
            None => OperatorPush::Nothing,
        },
        Value::String(text) => string_range(field, operator, text),
        Value::Array(_) | Value::Object(_) => OperatorPush::Nothing,
    }
}

/// Translates a range with a string bound. The Rust matcher compares
/// strings byte by byte, also where the server stores a date, so the bound
/// becomes a string condition for stored strings or a date condition,
/// widened to whole seconds, for stored dates.
fn string_range(field: &Field, operator: &str, text: &str) -> OperatorPush {
    let date = date_bound(operator, text);
    match (field.kind, date) {
        (Kind::Id, _) => OperatorPush::Exact(single(operator, text)),
        (Kind::Instant, Some(date)) => OperatorPush::Superset(date),
        (Kind::Body, Some(date)) => OperatorPush::AnyOf(vec![single(operator, text), date]),
        (_, None) => OperatorPush::Nothing,
    }
}

/// Builds a date condition that every stored date satisfies if its canonical string
/// satisfies `operator` against `text`: a string above `text` starts with a
/// second at or after `text`'s, and one below it with a second at or before.
fn date_bound(operator: &str, text: &str) -> Option<Document> {
    let second = second_prefix(text)?;
    let (bound_operator, bound) = match operator {
        "$gt" | "$gte" => ("$gte", second),
        _ => ("$lt", second.checked_add_signed(Duration::seconds(1))?),
    };
    let date = mongodb::bson::DateTime::from_chrono(bound);
    Some(single(bound_operator, date))
}

fn exists(operand: &Value) -> OperatorPush {
    let expected = match operand {
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        _ => return OperatorPush::Nothing,
    };
    OperatorPush::Exact(single("$exists", expected))
}

fn size(operand: &Value) -> OperatorPush {
    let count = operand.as_f64().filter(|n| n.fract() == 0.0 && *n >= 0.0);
    match count {
        // The parser accepts only counts that fit, so the cast is exact.
        Some(count) => OperatorPush::Exact(single("$size", count as i64)),
        None => OperatorPush::Nothing,
    }
}

fn not(field: &Field, operand: &Value) -> OperatorPush {
    let Value::Object(operators) = operand else {
        return OperatorPush::Nothing;
    };
    let mut inner = Document::new();
    for (operator, value) in operators {
        match translate_operator(field, operator, value) {
            OperatorPush::Exact(condition) => inner.extend(condition),
            _ => return OperatorPush::Nothing,
        }
    }
    let negated = single("$not", inner);
    if field.dotted {
        OperatorPush::Superset(negated)
    } else {
        OperatorPush::Exact(negated)
    }
}

/// Sends the element operators FerretDB implements (`$eq`, `$in` and the
/// ranges, with non-null scalars) and leaves out the others. FerretDB tests
/// each operator on its own element, so the result is a superset.
fn elem_match(operand: &Value) -> OperatorPush {
    let Value::Object(operators) = operand else {
        return OperatorPush::Nothing;
    };
    if !is_operator_object(operand) {
        return OperatorPush::Nothing;
    }
    let element = Field {
        path: String::new(),
        kind: Kind::Body,
        dotted: false,
    };
    let mut inner = Document::new();
    for (operator, value) in operators {
        let supported = matches!(
            operator.as_str(),
            "$eq" | "$in" | "$gt" | "$gte" | "$lt" | "$lte"
        );
        let has_null = value.is_null()
            || matches!(value, Value::Array(items) if items.iter().any(Value::is_null));
        if !supported || has_null {
            continue;
        }
        if let OperatorPush::Exact(condition) = translate_operator(&element, operator, value) {
            inner.extend(condition);
        }
    }
    if inner.is_empty() {
        return OperatorPush::Nothing;
    }
    OperatorPush::Superset(single("$elemMatch", inner))
}
