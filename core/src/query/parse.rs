//! Validation of filter JSON into the [`Filter`] tree.
//!
//! Error locations start at `filter` and add one step per key or array position, such as
//! `filter.$and.0.score.$gt`, so a caller can find the offending part of a nested filter.

use serde_json::{Map, Value};

use super::filter::{Clause, CompareOp, Condition, Filter, ValueSet};
use super::path::FieldPath;
use crate::error::{Error, Result};

const FIELD_OPERATORS: &str = "$eq $ne $gt $gte $lt $lte $in $nin $exists $not $elemMatch $size";
const LOGICAL_OPERATORS: &str = "$and $or $nor";

/// Deepest nesting of `$and`, `$or`, `$nor`, `$not` and `$elemMatch` accepted, which keeps
/// parsing and matching of hostile filters from exhausting the stack.
const MAX_DEPTH: usize = 100;

pub(crate) fn parse_filter(value: &Value) -> Result<Filter> {
    match value {
        Value::Null => Ok(Filter::default()),
        Value::Object(map) => parse_document(map, "filter", 0),
        other => Err(Error::validation(
            "filter",
            format!(
                "a filter must be a JSON object, got {}; write {{}} to match every document",
                describe(other)
            ),
        )),
    }
}

/// Parses a query object: the whole filter, an entry of `$and`/`$or`/`$nor`, or the query form
/// of `$elemMatch`.
fn parse_document(map: &Map<String, Value>, location: &str, depth: usize) -> Result<Filter> {
    check_depth(depth, location)?;
    let mut clauses = Vec::with_capacity(map.len());
    for (key, value) in map {
        let child_location = format!("{location}.{key}");
        let clause = if key.starts_with('$') {
            parse_logical(key, value, &child_location, depth)?
        } else {
            parse_field(key, value, &child_location, depth)?
        };
        clauses.push(clause);
    }
    Ok(Filter {
        clauses,
        source: None,
    })
}

fn check_depth(depth: usize, location: &str) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::validation(
            location,
            format!("the filter nests more than {MAX_DEPTH} levels of operators; flatten it"),
        ));
    }
    Ok(())
}

fn parse_logical(operator: &str, value: &Value, location: &str, depth: usize) -> Result<Clause> {
    let build: fn(Vec<Filter>) -> Clause = match operator {
        "$and" => Clause::And,
        "$or" => Clause::Or,
        "$nor" => Clause::Nor,
        _ => return Err(misplaced_operator(operator, location)),
    };
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        other => {
            return Err(Error::validation(
                location,
                format!(
                    "operator {operator} needs a non-empty array of filter objects, got {}; \
                     write {{\"{operator}\": [{{\"a\": 1}}, {{\"b\": 2}}]}}",
                    describe(other)
                ),
            ))
        }
    };
    let mut filters = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        let entry_location = format!("{location}.{position}");
        let Value::Object(map) = item else {
            return Err(Error::validation(
                entry_location,
                format!(
                    "each entry of {operator} must be a filter object, got {}",
                    describe(item)
                ),
            ));
        };
        filters.push(parse_document(map, &entry_location, depth + 1)?);
    }
    Ok(build(filters))
}

/// Builds the error for a `$` key where a field name or `$and`/`$or`/`$nor` belongs.
fn misplaced_operator(operator: &str, location: &str) -> Error {
    let reason = if FIELD_OPERATORS.split(' ').any(|known| known == operator) {
        format!(
            "operator {operator} must be applied to a field, as in {{\"score\": \
             {{\"{operator}\": ...}}}}; operators allowed at this level: {LOGICAL_OPERATORS}"
        )
    } else {
        unsupported(operator)
    };
    Error::validation(location, reason)
}

fn unsupported(operator: &str) -> String {
    format!(
        "operator {operator} is not supported; supported operators: {FIELD_OPERATORS} \
         {LOGICAL_OPERATORS}"
    )
}

fn parse_field(key: &str, value: &Value, location: &str, depth: usize) -> Result<Clause> {
    let path = FieldPath::parse(key).map_err(|reason| Error::validation(location, reason))?;
    let conditions = match operator_object(value, location)? {
        Some(operators) => parse_operators(operators, location, depth)?,
        None => vec![Condition::Compare(CompareOp::Eq, value.clone())],
    };
    Ok(Clause::Field { path, conditions })
}

/// Returns the object when `value` contains only operators, and `None` when it is a literal.
///
/// An object that mixes `$` keys with field names is rejected, because MongoDB reads it either
/// as an unknown operator or as a literal, depending on key order.
fn operator_object<'a>(value: &'a Value, location: &str) -> Result<Option<&'a Map<String, Value>>> {
    let Value::Object(map) = value else {
        return Ok(None);
    };
    let operators = map.keys().filter(|key| key.starts_with('$')).count();
    if operators == 0 {
        return Ok(None);
    }
    if operators == map.len() {
        return Ok(Some(map));
    }
    let fields: Vec<&str> = map
        .keys()
        .filter(|key| !key.starts_with('$'))
        .map(String::as_str)
        .collect();
    Err(Error::validation(
        location,
        format!(
            "the object mixes operators with field names ({}); use only operators such as \
             {{\"$gt\": 1}}, or match embedded fields with dotted paths such as \"a.b\"",
            fields.join(", ")
        ),
    ))
}

fn parse_operators(
    operators: &Map<String, Value>,
    location: &str,
    depth: usize,
) -> Result<Vec<Condition>> {
    check_depth(depth, location)?;
    let mut conditions = Vec::with_capacity(operators.len());
    for (operator, operand) in operators {
        let operator_location = format!("{location}.{operator}");
        conditions.push(parse_operator(
            operator,
            operand,
            &operator_location,
            depth,
        )?);
    }
    Ok(conditions)
}

fn parse_operator(
    operator: &str,
    operand: &Value,
    location: &str,
    depth: usize,
) -> Result<Condition> {
    let compare = |op| Ok(Condition::Compare(op, operand.clone()));
    match operator {
        "$eq" => compare(CompareOp::Eq),
        "$gt" => compare(CompareOp::Gt),
        "$gte" => compare(CompareOp::Gte),
        "$lt" => compare(CompareOp::Lt),
        "$lte" => compare(CompareOp::Lte),
        "$ne" => Ok(Condition::NotEqual(operand.clone())),
        "$in" => Ok(Condition::In(parse_value_set(operator, operand, location)?)),
        "$nin" => Ok(Condition::NotIn(parse_value_set(
            operator, operand, location,
        )?)),
        "$exists" => Ok(Condition::Exists(parse_exists(operand, location)?)),
        "$size" => Ok(Condition::Size(parse_size(operand, location)?)),
        "$not" => parse_not(operand, location, depth + 1),
        "$elemMatch" => parse_elem_match(operand, location, depth + 1),
        "$and" | "$or" | "$nor" => Err(Error::validation(
            location,
            format!(
                "operator {operator} combines whole filters and belongs at the top level, as in \
                 {{\"{operator}\": [{{\"a\": 1}}, {{\"b\": 2}}]}}; supported operators on a \
                 field: {FIELD_OPERATORS}"
            ),
        )),
        _ => Err(Error::validation(location, unsupported(operator))),
    }
}

fn parse_value_set(operator: &str, operand: &Value, location: &str) -> Result<ValueSet> {
    let Value::Array(items) = operand else {
        return Err(Error::validation(
            location,
            format!(
                "operator {operator} needs an array of values, got {}; write {{\"{operator}\": \
                 [1, 2]}}",
                describe(operand)
            ),
        ));
    };
    for (position, item) in items.iter().enumerate() {
        let nested = matches!(item, Value::Object(map) if map.keys().any(|k| k.starts_with('$')));
        if nested {
            return Err(Error::validation(
                format!("{location}.{position}"),
                format!(
                    "entries of {operator} are literal values and cannot contain operators; \
                     combine conditions with $or instead"
                ),
            ));
        }
    }
    Ok(ValueSet::new(items.clone()))
}

fn parse_exists(operand: &Value, location: &str) -> Result<bool> {
    match operand {
        Value::Bool(flag) => Ok(*flag),
        // MongoDB reads numbers as flags: 0 is false, anything else true.
        Value::Number(number) => Ok(number.as_f64().is_some_and(|n| n != 0.0)),
        other => Err(Error::validation(
            location,
            format!(
                "operator $exists needs true or false, got {}",
                describe(other)
            ),
        )),
    }
}

fn parse_size(operand: &Value, location: &str) -> Result<usize> {
    let size = match operand {
        Value::Number(number) => match number.as_u64() {
            Some(size) => usize::try_from(size).ok(),
            None => number
                .as_f64()
                .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u32::MAX as f64)
                .map(|n| n as usize),
        },
        _ => None,
    };
    size.ok_or_else(|| {
        Error::validation(
            location,
            format!(
                "operator $size needs a non-negative integer, got {}; combine $size with $not \
                 for other counts",
                describe(operand)
            ),
        )
    })
}

fn parse_not(operand: &Value, location: &str, depth: usize) -> Result<Condition> {
    match operator_object(operand, location)? {
        Some(operators) => Ok(Condition::Not(parse_operators(operators, location, depth)?)),
        None => Err(Error::validation(
            location,
            format!(
                "operator $not needs an object of operators such as {{\"$not\": {{\"$gt\": 5}}}}, \
                 got {}; use $ne to exclude a single value",
                describe(operand)
            ),
        )),
    }
}

/// Parses `$elemMatch` in one of MongoDB's two forms.
///
/// When the first key is a field operator (`{"$gt": 1, "$lt": 3}`) each element is tested as a
/// single value. Otherwise the object is a query (`{"sku": "a", "qty": {"$gt": 2}}`, which may
/// use `$and`/`$or`/`$nor`) and each object element is tested as a document.
fn parse_elem_match(operand: &Value, location: &str, depth: usize) -> Result<Condition> {
    let Value::Object(map) = operand else {
        return Err(Error::validation(
            location,
            format!(
                "operator $elemMatch needs an object, got {}; write {{\"$elemMatch\": {{\"$gt\": \
                 1}}}} for values or {{\"$elemMatch\": {{\"sku\": \"a\"}}}} for documents",
                describe(operand)
            ),
        ));
    };
    let value_form = map.keys().next().is_some_and(|first| {
        first.starts_with('$') && !matches!(first.as_str(), "$and" | "$or" | "$nor")
    });
    if value_form {
        let operators = operator_object(operand, location)?.unwrap_or(map);
        return Ok(Condition::ElemMatchValue(parse_operators(
            operators, location, depth,
        )?));
    }
    Ok(Condition::ElemMatchDocument(parse_document(
        map, location, depth,
    )?))
}

/// Names a JSON value's type, with a short preview, for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) if text.chars().count() <= 40 => format!("the string {value}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(items) if items.is_empty() => "an empty array".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(map) if map.is_empty() => "an empty object".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
