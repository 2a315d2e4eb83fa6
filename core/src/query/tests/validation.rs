//! Rejected filters: each error names the location and the fix.

use serde_json::json;

use super::assert_invalid;
use crate::query::Filter;

#[test]
fn unsupported_operators_are_named() {
    let cases = [
        (
            "where",
            json!({"$where": "this.a > 1"}),
            "filter.$where",
            "$where",
        ),
        (
            "expr",
            json!({"$expr": {"$gt": ["$a", 1]}}),
            "filter.$expr",
            "$expr",
        ),
        (
            "text",
            json!({"$text": {"$search": "x"}}),
            "filter.$text",
            "$text",
        ),
        (
            "comment",
            json!({"$comment": "x"}),
            "filter.$comment",
            "$comment",
        ),
        (
            "regex",
            json!({"a": {"$regex": "^x"}}),
            "filter.a.$regex",
            "$regex",
        ),
        (
            "type",
            json!({"a": {"$type": "string"}}),
            "filter.a.$type",
            "$type",
        ),
        (
            "mod",
            json!({"a": {"$mod": [2, 0]}}),
            "filter.a.$mod",
            "$mod",
        ),
        ("all", json!({"a": {"$all": [1]}}), "filter.a.$all", "$all"),
        (
            "unknown",
            json!({"a": {"$foo": 1}}),
            "filter.a.$foo",
            "$foo",
        ),
        (
            "inside not",
            json!({"a": {"$not": {"$regex": "x"}}}),
            "filter.a.$not.$regex",
            "$regex",
        ),
    ];
    for (label, filter, field, operator) in cases {
        let named = format!("operator {operator} is not supported");
        assert_invalid(
            label,
            filter,
            field,
            &[&named, "supported operators: $eq $ne"],
        );
    }
}

#[test]
fn field_operator_at_top_level() {
    assert_invalid(
        "gt at top level",
        json!({"$gt": 1}),
        "filter.$gt",
        &["$gt must be applied to a field", "$and $or $nor"],
    );
}

#[test]
fn logical_operator_under_field() {
    assert_invalid(
        "or under field",
        json!({"a": {"$or": [{"b": 1}]}}),
        "filter.a.$or",
        &["belongs at the top level"],
    );
}

#[test]
fn logical_operators_need_arrays_of_objects() {
    assert_invalid(
        "and object",
        json!({"$and": {"a": 1}}),
        "filter.$and",
        &["non-empty array"],
    );
    assert_invalid(
        "or empty",
        json!({"$or": []}),
        "filter.$or",
        &["got an empty array"],
    );
    assert_invalid(
        "nor scalar",
        json!({"$nor": 1}),
        "filter.$nor",
        &["non-empty array"],
    );
    assert_invalid(
        "and scalar entry",
        json!({"$and": [{"a": 1}, 5]}),
        "filter.$and.1",
        &["each entry of $and must be a filter object"],
    );
}

#[test]
fn nested_errors_carry_their_location() {
    assert_invalid(
        "bad operator inside or",
        json!({"$or": [{"a": 1}, {"b": {"$in": 3}}]}),
        "filter.$or.1.b.$in",
        &["$in needs an array"],
    );
    assert_invalid(
        "bad operator inside elemMatch",
        json!({"a": {"$elemMatch": {"b": {"$size": -1}}}}),
        "filter.a.$elemMatch.b.$size",
        &["non-negative integer"],
    );
}

#[test]
fn membership_operands_must_be_arrays() {
    assert_invalid(
        "in scalar",
        json!({"a": {"$in": 1}}),
        "filter.a.$in",
        &["$in needs an array"],
    );
    assert_invalid(
        "nin object",
        json!({"a": {"$nin": {"x": 1}}}),
        "filter.a.$nin",
        &["$nin needs an array"],
    );
    assert_invalid(
        "operator inside in",
        json!({"a": {"$in": [1, {"$gt": 2}]}}),
        "filter.a.$in.1",
        &["cannot contain operators"],
    );
}

#[test]
fn size_needs_non_negative_integer() {
    for (label, operand) in [
        ("negative", json!(-1)),
        ("fraction", json!(1.5)),
        ("string", json!("2")),
        ("null", json!(null)),
    ] {
        assert_invalid(
            label,
            json!({"a": {"$size": operand}}),
            "filter.a.$size",
            &["$size needs a non-negative integer"],
        );
    }
}

#[test]
fn exists_needs_boolean_or_number() {
    assert_invalid(
        "string",
        json!({"a": {"$exists": "yes"}}),
        "filter.a.$exists",
        &["true or false"],
    );
    assert_invalid(
        "null",
        json!({"a": {"$exists": null}}),
        "filter.a.$exists",
        &["true or false"],
    );
}

#[test]
fn not_needs_operator_object() {
    assert_invalid(
        "literal",
        json!({"a": {"$not": 5}}),
        "filter.a.$not",
        &["object of operators", "$ne"],
    );
    assert_invalid(
        "empty object",
        json!({"a": {"$not": {}}}),
        "filter.a.$not",
        &["object of operators"],
    );
    assert_invalid(
        "field object",
        json!({"a": {"$not": {"b": 1}}}),
        "filter.a.$not",
        &["object of operators"],
    );
}

#[test]
fn elem_match_needs_object() {
    assert_invalid(
        "array",
        json!({"a": {"$elemMatch": [1]}}),
        "filter.a.$elemMatch",
        &["needs an object"],
    );
    assert_invalid(
        "operators mixed with fields",
        json!({"a": {"$elemMatch": {"$gt": 1, "b": 2}}}),
        "filter.a.$elemMatch",
        &["mixes operators with field names (b)"],
    );
    assert_invalid(
        "field operator at query level",
        json!({"a": {"$elemMatch": {"b": 1, "$gt": 2}}}),
        "filter.a.$elemMatch.$gt",
        &["must be applied to a field"],
    );
}

#[test]
fn operators_mixed_with_fields() {
    assert_invalid(
        "operator first",
        json!({"a": {"$gt": 1, "b": 2}}),
        "filter.a",
        &["mixes operators with field names (b)", "dotted paths"],
    );
    assert_invalid(
        "field first",
        json!({"a": {"b": 2, "$gt": 1}}),
        "filter.a",
        &["mixes operators with field names (b)"],
    );
}

#[test]
fn malformed_paths() {
    assert_invalid(
        "empty key",
        json!({"": 1}),
        "filter.",
        &["field path is empty"],
    );
    assert_invalid(
        "double dot",
        json!({"a..b": 1}),
        "filter.a..b",
        &["empty segment"],
    );
    assert_invalid(
        "trailing dot",
        json!({"a.": 1}),
        "filter.a.",
        &["empty segment"],
    );
}

#[test]
fn filter_must_be_object() {
    assert_invalid(
        "array filter",
        json!([{"a": 1}]),
        "filter",
        &["must be a JSON object", "got an array"],
    );
    assert_invalid(
        "string filter",
        json!("a"),
        "filter",
        &["got the string \"a\""],
    );
}

#[test]
fn deep_nesting_is_rejected() {
    let mut filter = json!({"a": 1});
    for _ in 0..150 {
        filter = json!({"$and": [filter]});
    }
    let Err(error) = Filter::parse(&filter) else {
        panic!("a filter nested 150 levels deep parsed");
    };
    assert!(
        error.to_string().contains("nests more than 100 levels"),
        "{error}"
    );
}

#[test]
fn deep_not_nesting_is_rejected() {
    let mut operators = json!({"$gt": 1});
    for _ in 0..150 {
        operators = json!({"$not": operators});
    }
    let Err(error) = Filter::parse(&json!({"a": operators})) else {
        panic!("150 nested $not operators parsed");
    };
    assert!(
        error.to_string().contains("nests more than 100 levels"),
        "{error}"
    );
}

#[test]
fn error_message_format() {
    let Err(error) = Filter::parse(&json!({"$where": "1"})) else {
        panic!("$where parsed");
    };
    assert_eq!(error.code(), "VALIDATION");
    assert_eq!(
        error.to_string(),
        "invalid filter.$where: operator $where is not supported; supported operators: $eq $ne \
         $gt $gte $lt $lte $in $nin $exists $not $elemMatch $size $and $or $nor"
    );
}

#[test]
fn empty_filters_report_empty() {
    let from_null = Filter::parse(&json!(null));
    let from_object = Filter::parse(&json!({}));
    let with_field = Filter::parse(&json!({"a": 1}));
    assert!(from_null.is_ok_and(|f| f.is_empty()), "null filter");
    assert!(
        from_object.is_ok_and(|f| f.is_empty()),
        "empty object filter"
    );
    assert!(
        with_field.is_ok_and(|f| !f.is_empty()),
        "filter with a field"
    );
    assert!(Filter::default().is_empty(), "default filter");
    assert!(
        Filter::default().matches(&json!({"a": 1})),
        "default filter matches"
    );
}
