//! Equality, paths, arrays and missing fields.

use serde_json::json;

use super::assert_cases;

#[test]
fn equality_on_scalars() {
    assert_cases(&[
        (
            "equal string",
            json!({"s": "open"}),
            json!({"s": "open"}),
            true,
        ),
        (
            "different string",
            json!({"s": "open"}),
            json!({"s": "closed"}),
            false,
        ),
        (
            "integer equals float",
            json!({"n": 1}),
            json!({"n": 1.0}),
            true,
        ),
        (
            "float equals integer",
            json!({"n": 2.0}),
            json!({"n": 2}),
            true,
        ),
        (
            "number is not its string",
            json!({"n": 1}),
            json!({"n": "1"}),
            false,
        ),
        ("true is not 1", json!({"b": true}), json!({"b": 1}), false),
        (
            "false equals false",
            json!({"b": false}),
            json!({"b": false}),
            true,
        ),
        (
            "missing field",
            json!({"s": "open"}),
            json!({"t": "open"}),
            false,
        ),
        (
            "every field must match",
            json!({"a": 1, "b": 2}),
            json!({"a": 1, "b": 3}),
            false,
        ),
        (
            "large unsigned integers",
            json!({"n": u64::MAX}),
            json!({"n": u64::MAX}),
            true,
        ),
        (
            "integers beyond f64 precision differ",
            json!({"n": 9_007_199_254_740_993_i64}),
            json!({"n": 9_007_199_254_740_992_i64}),
            false,
        ),
    ]);
}

#[test]
fn empty_filter_matches_everything() {
    assert_cases(&[
        ("empty object on document", json!({}), json!({"a": 1}), true),
        (
            "null filter on document",
            json!(null),
            json!({"a": 1}),
            true,
        ),
        ("empty object on empty document", json!({}), json!({}), true),
    ]);
}

#[test]
fn dotted_path_into_embedded_document() {
    assert_cases(&[
        (
            "nested field",
            json!({"a.b": 1}),
            json!({"a": {"b": 1}}),
            true,
        ),
        (
            "deeper nesting",
            json!({"a.b.c": "x"}),
            json!({"a": {"b": {"c": "x"}}}),
            true,
        ),
        (
            "nested mismatch",
            json!({"a.b": 1}),
            json!({"a": {"b": 2}}),
            false,
        ),
        (
            "path past scalar",
            json!({"a.b": 1}),
            json!({"a": 1}),
            false,
        ),
        (
            "literal dotted key is not a path",
            json!({"a.b": 1}),
            json!({"a.b": 1}),
            false,
        ),
    ]);
}

#[test]
fn dotted_path_through_arrays() {
    assert_cases(&[
        (
            "any element's field",
            json!({"a.b": 1}),
            json!({"a": [{"b": 1}, {"b": 2}]}),
            true,
        ),
        (
            "second element's field",
            json!({"a.b": 2}),
            json!({"a": [{"b": 1}, {"b": 2}]}),
            true,
        ),
        (
            "no element has it",
            json!({"a.b": 3}),
            json!({"a": [{"b": 1}, {"b": 2}]}),
            false,
        ),
        (
            "two levels of arrays of documents",
            json!({"a.b.c": 5}),
            json!({"a": [{"b": [{"c": 4}, {"c": 5}]}]}),
            true,
        ),
        (
            "leaf array under array of documents",
            json!({"a.b": 7}),
            json!({"a": [{"b": [6, 7]}]}),
            true,
        ),
        (
            "array nested directly in array is not traversed",
            json!({"a.b": 1}),
            json!({"a": [[{"b": 1}]]}),
            false,
        ),
        (
            "scalar elements are skipped",
            json!({"a.b": 1}),
            json!({"a": [1, {"b": 1}]}),
            true,
        ),
    ]);
}

#[test]
fn numeric_segment_selects_array_position() {
    assert_cases(&[
        (
            "first element",
            json!({"a.0": 5}),
            json!({"a": [5, 6]}),
            true,
        ),
        (
            "second element",
            json!({"a.1": 6}),
            json!({"a": [5, 6]}),
            true,
        ),
        (
            "wrong position",
            json!({"a.0": 6}),
            json!({"a": [5, 6]}),
            false,
        ),
        (
            "position out of range",
            json!({"a.5": 5}),
            json!({"a": [5, 6]}),
            false,
        ),
        (
            "position then field",
            json!({"a.0.b": 1}),
            json!({"a": [{"b": 1}]}),
            true,
        ),
        (
            "position then field mismatch",
            json!({"a.1.b": 1}),
            json!({"a": [{"b": 1}]}),
            false,
        ),
        (
            "field named 0 in element",
            json!({"a.0": 5}),
            json!({"a": [{"0": 5}]}),
            true,
        ),
        (
            "field named 0 in a later element",
            json!({"a.0": 5}),
            json!({"a": [1, {"0": 5}]}),
            true,
        ),
        (
            "field named 0 in object",
            json!({"a.0": 5}),
            json!({"a": {"0": 5}}),
            true,
        ),
        (
            "leading zero is a field name",
            json!({"a.00": 5}),
            json!({"a": [5]}),
            false,
        ),
        (
            "positions into nested arrays",
            json!({"a.0.1": 3}),
            json!({"a": [[2, 3]]}),
            true,
        ),
        (
            "selected nested array is not expanded",
            json!({"a.0": 2}),
            json!({"a": [[2, 3]]}),
            false,
        ),
        (
            "selected nested array equals literal",
            json!({"a.0": [2, 3]}),
            json!({"a": [[2, 3]]}),
            true,
        ),
    ]);
}

#[test]
fn implicit_array_matching() {
    assert_cases(&[
        (
            "scalar in array",
            json!({"tags": "x"}),
            json!({"tags": ["x", "y"]}),
            true,
        ),
        (
            "scalar not in array",
            json!({"tags": "z"}),
            json!({"tags": ["x", "y"]}),
            false,
        ),
        (
            "whole array equal",
            json!({"tags": ["x", "y"]}),
            json!({"tags": ["x", "y"]}),
            true,
        ),
        (
            "array order matters",
            json!({"tags": ["y", "x"]}),
            json!({"tags": ["x", "y"]}),
            false,
        ),
        (
            "array is not a subset",
            json!({"tags": ["x"]}),
            json!({"tags": ["x", "y"]}),
            false,
        ),
        (
            "array as an element",
            json!({"tags": ["x", "y"]}),
            json!({"tags": [["x", "y"], "z"]}),
            true,
        ),
        (
            "only one level of nesting expands",
            json!({"tags": "x"}),
            json!({"tags": [["x"]]}),
            false,
        ),
        (
            "empty array literal",
            json!({"tags": []}),
            json!({"tags": []}),
            true,
        ),
        (
            "empty array literal as element",
            json!({"tags": []}),
            json!({"tags": [[], 1]}),
            true,
        ),
        (
            "comparison on any element",
            json!({"n": {"$gt": 5}}),
            json!({"n": [1, 9]}),
            true,
        ),
        (
            "comparison on no element",
            json!({"n": {"$gt": 5}}),
            json!({"n": [1, 2]}),
            false,
        ),
        (
            "less than on any element",
            json!({"n": {"$lt": 2}}),
            json!({"n": [1, 9]}),
            true,
        ),
    ]);
}

#[test]
fn operators_may_match_different_elements() {
    assert_cases(&[
        (
            "gt and lt split across elements",
            json!({"n": {"$gt": 5, "$lt": 3}}),
            json!({"n": [1, 9]}),
            true,
        ),
        (
            "range on a scalar",
            json!({"n": {"$gt": 5, "$lt": 3}}),
            json!({"n": 4}),
            false,
        ),
        (
            "range held by one element",
            json!({"n": {"$gt": 1, "$lt": 3}}),
            json!({"n": [2]}),
            true,
        ),
        (
            "range held by none",
            json!({"n": {"$gt": 1, "$lt": 3}}),
            json!({"n": [0]}),
            false,
        ),
    ]);
}

#[test]
fn null_matches_null_and_missing() {
    assert_cases(&[
        (
            "literal null on missing",
            json!({"a": null}),
            json!({"b": 1}),
            true,
        ),
        (
            "literal null on null",
            json!({"a": null}),
            json!({"a": null}),
            true,
        ),
        (
            "literal null on value",
            json!({"a": null}),
            json!({"a": 0}),
            false,
        ),
        (
            "eq null on missing",
            json!({"a": {"$eq": null}}),
            json!({}),
            true,
        ),
        (
            "eq null on null",
            json!({"a": {"$eq": null}}),
            json!({"a": null}),
            true,
        ),
        (
            "null inside array",
            json!({"a": null}),
            json!({"a": [1, null]}),
            true,
        ),
        (
            "null on empty array",
            json!({"a": null}),
            json!({"a": []}),
            false,
        ),
        (
            "null on array without null",
            json!({"a": null}),
            json!({"a": [1, 2]}),
            false,
        ),
        (
            "dotted null past scalar",
            json!({"a.b": null}),
            json!({"a": 5}),
            true,
        ),
        (
            "dotted null where one element lacks field",
            json!({"a.b": null}),
            json!({"a": [{"b": 1}, {"c": 2}]}),
            true,
        ),
        (
            "dotted null where every element has field",
            json!({"a.b": null}),
            json!({"a": [{"b": 1}]}),
            false,
        ),
        (
            "dotted null on array of scalars",
            json!({"a.b": null}),
            json!({"a": [1, 2]}),
            false,
        ),
        (
            "dotted null on empty array",
            json!({"a.b": null}),
            json!({"a": []}),
            false,
        ),
        (
            "dotted null through empty nested array",
            json!({"a.b.c": null}),
            json!({"a": [{"b": []}, {"b": {"c": 1}}]}),
            false,
        ),
    ]);
}

#[test]
fn negations_on_missing_fields() {
    assert_cases(&[
        (
            "ne null on missing",
            json!({"a": {"$ne": null}}),
            json!({}),
            false,
        ),
        (
            "ne null on null",
            json!({"a": {"$ne": null}}),
            json!({"a": null}),
            false,
        ),
        (
            "ne null on value",
            json!({"a": {"$ne": null}}),
            json!({"a": 0}),
            true,
        ),
        (
            "ne value on missing",
            json!({"a": {"$ne": 1}}),
            json!({}),
            true,
        ),
        (
            "ne value on other value",
            json!({"a": {"$ne": 1}}),
            json!({"a": 2}),
            true,
        ),
        (
            "ne value on same value",
            json!({"a": {"$ne": 1}}),
            json!({"a": 1.0}),
            false,
        ),
        (
            "nin on missing",
            json!({"a": {"$nin": [1]}}),
            json!({}),
            true,
        ),
        (
            "nin with null on missing",
            json!({"a": {"$nin": [null]}}),
            json!({}),
            false,
        ),
        (
            "nin on listed value",
            json!({"a": {"$nin": [1, 2]}}),
            json!({"a": 2}),
            false,
        ),
        (
            "nin on other value",
            json!({"a": {"$nin": [1, 2]}}),
            json!({"a": 3}),
            true,
        ),
    ]);
}

#[test]
fn negations_on_arrays() {
    assert_cases(&[
        (
            "ne element present",
            json!({"tags": {"$ne": "x"}}),
            json!({"tags": ["x", "y"]}),
            false,
        ),
        (
            "ne element absent",
            json!({"tags": {"$ne": "z"}}),
            json!({"tags": ["x", "y"]}),
            true,
        ),
        (
            "ne whole array",
            json!({"tags": {"$ne": ["x", "y"]}}),
            json!({"tags": ["x", "y"]}),
            false,
        ),
        (
            "ne null with null element",
            json!({"a": {"$ne": null}}),
            json!({"a": [null, 1]}),
            false,
        ),
        (
            "nin element present",
            json!({"tags": {"$nin": ["x"]}}),
            json!({"tags": ["x", "y"]}),
            false,
        ),
        (
            "nin no element present",
            json!({"tags": {"$nin": ["z"]}}),
            json!({"tags": ["x", "y"]}),
            true,
        ),
        (
            "nin on empty array",
            json!({"tags": {"$nin": ["x"]}}),
            json!({"tags": []}),
            true,
        ),
        (
            "ne through array of documents",
            json!({"a.b": {"$ne": 1}}),
            json!({"a": [{"b": 1}, {"b": 2}]}),
            false,
        ),
    ]);
}

#[test]
fn object_equality_is_field_order_sensitive() {
    assert_cases(&[
        (
            "same order",
            json!({"a": {"x": 1, "y": 2}}),
            json!({"a": {"x": 1, "y": 2}}),
            true,
        ),
        (
            "other order",
            json!({"a": {"x": 1, "y": 2}}),
            json!({"a": {"y": 2, "x": 1}}),
            false,
        ),
        (
            "extra field",
            json!({"a": {"x": 1}}),
            json!({"a": {"x": 1, "y": 2}}),
            false,
        ),
        (
            "missing field",
            json!({"a": {"x": 1, "y": 2}}),
            json!({"a": {"x": 1}}),
            false,
        ),
        (
            "numbers compare by value",
            json!({"a": {"x": 1}}),
            json!({"a": {"x": 1.0}}),
            true,
        ),
        ("empty object", json!({"a": {}}), json!({"a": {}}), true),
        (
            "object in array",
            json!({"a": {"x": 1}}),
            json!({"a": [{"x": 1}, {"x": 2}]}),
            true,
        ),
        (
            "eq with operator-like literal",
            json!({"a": {"$eq": {"$gt": 1}}}),
            json!({"a": {"$gt": 1}}),
            true,
        ),
    ]);
}

#[test]
fn logical_operators() {
    let doc = json!({"a": 1, "b": 2});
    assert_cases(&[
        (
            "and both true",
            json!({"$and": [{"a": 1}, {"b": 2}]}),
            doc.clone(),
            true,
        ),
        (
            "and one false",
            json!({"$and": [{"a": 1}, {"b": 3}]}),
            doc.clone(),
            false,
        ),
        (
            "or one true",
            json!({"$or": [{"a": 5}, {"b": 2}]}),
            doc.clone(),
            true,
        ),
        (
            "or none true",
            json!({"$or": [{"a": 5}, {"b": 5}]}),
            doc.clone(),
            false,
        ),
        (
            "nor none true",
            json!({"$nor": [{"a": 5}, {"b": 5}]}),
            doc.clone(),
            true,
        ),
        (
            "nor one true",
            json!({"$nor": [{"a": 1}, {"b": 5}]}),
            doc.clone(),
            false,
        ),
        (
            "and with empty filter",
            json!({"$and": [{}]}),
            doc.clone(),
            true,
        ),
        (
            "or nested in and",
            json!({"$and": [{"$or": [{"a": 9}, {"a": 1}]}, {"b": {"$gte": 2}}]}),
            doc.clone(),
            true,
        ),
        (
            "or beside a field",
            json!({"a": 1, "$or": [{"b": 9}]}),
            doc.clone(),
            false,
        ),
        (
            "nor on missing field",
            json!({"$nor": [{"c": {"$exists": true}}]}),
            doc,
            true,
        ),
    ]);
}

#[test]
fn dates_compare_as_rfc3339_strings() {
    let doc = json!({"at": "2024-05-01T10:00:00Z"});
    assert_cases(&[
        (
            "after earlier instant",
            json!({"at": {"$gt": "2024-04-30T23:59:59Z"}}),
            doc.clone(),
            true,
        ),
        (
            "before later instant",
            json!({"at": {"$lt": "2024-05-01T10:00:01Z"}}),
            doc.clone(),
            true,
        ),
        (
            "equal instant",
            json!({"at": "2024-05-01T10:00:00Z"}),
            doc.clone(),
            true,
        ),
        (
            "range excludes",
            json!({"at": {"$gte": "2025-01-01T00:00:00Z"}}),
            doc,
            false,
        ),
    ]);
}
