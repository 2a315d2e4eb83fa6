//! Cross-type comparison, sort specifications and plain path lookup.

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::error::Error;
use crate::query::{compare_values, get_path, SortDirection, SortSpec};

#[test]
fn type_order_follows_mongodb() {
    let ascending = [
        json!(null),
        json!(-5),
        json!(3.5),
        json!(""),
        json!("a"),
        json!({}),
        json!({"a": 1}),
        json!([]),
        json!([1]),
        json!(false),
        json!(true),
    ];
    for pair in ascending.windows(2) {
        assert_eq!(
            compare_values(&pair[0], &pair[1]),
            Ordering::Less,
            "{} before {}",
            pair[0],
            pair[1]
        );
        assert_eq!(
            compare_values(&pair[1], &pair[0]),
            Ordering::Greater,
            "{} after {}",
            pair[1],
            pair[0]
        );
    }
}

#[test]
fn numbers_compare_by_value() {
    let cases = [
        (
            "integer equals float",
            json!(1),
            json!(1.0),
            Ordering::Equal,
        ),
        (
            "negative zero equals zero",
            json!(-0.0),
            json!(0),
            Ordering::Equal,
        ),
        (
            "integer below fraction",
            json!(2),
            json!(2.5),
            Ordering::Less,
        ),
        (
            "fraction above integer",
            json!(2.5),
            json!(2),
            Ordering::Greater,
        ),
        (
            "negative fraction",
            json!(-2),
            json!(-2.5),
            Ordering::Greater,
        ),
        (
            "u64 above i64",
            json!(u64::MAX),
            json!(i64::MAX),
            Ordering::Greater,
        ),
        (
            "huge float above u64",
            json!(1e300),
            json!(u64::MAX),
            Ordering::Greater,
        ),
        (
            "tiny float below i64",
            json!(-1e300),
            json!(i64::MIN),
            Ordering::Less,
        ),
        (
            "exact beyond f64 precision",
            json!(9_007_199_254_740_993_i64),
            json!(9_007_199_254_740_992.0),
            Ordering::Greater,
        ),
    ];
    for (label, a, b, expected) in cases {
        assert_eq!(compare_values(&a, &b), expected, "{label}");
    }
}

#[test]
fn containers_compare_in_order() {
    let cases = [
        (
            "array prefix is less",
            json!([1, 2]),
            json!([1, 2, 3]),
            Ordering::Less,
        ),
        (
            "array by first difference",
            json!([1, 9]),
            json!([2]),
            Ordering::Less,
        ),
        (
            "array element types",
            json!(["a"]),
            json!([1]),
            Ordering::Greater,
        ),
        (
            "object field order matters",
            json!({"x": 1, "y": 2}),
            json!({"y": 2, "x": 1}),
            Ordering::Less,
        ),
        (
            "object value type before name",
            json!({"b": 1}),
            json!({"a": "x"}),
            Ordering::Less,
        ),
        (
            "object name before value",
            json!({"a": 9}),
            json!({"b": 1}),
            Ordering::Less,
        ),
        (
            "object value",
            json!({"a": 1}),
            json!({"a": 2}),
            Ordering::Less,
        ),
        (
            "object prefix is less",
            json!({"a": 1}),
            json!({"a": 1, "b": 0}),
            Ordering::Less,
        ),
        (
            "equal objects",
            json!({"a": [1, {"b": 2}]}),
            json!({"a": [1.0, {"b": 2}]}),
            Ordering::Equal,
        ),
        ("strings by bytes", json!("B"), json!("a"), Ordering::Less),
    ];
    for (label, a, b, expected) in cases {
        assert_eq!(compare_values(&a, &b), expected, "{label}");
    }
}

fn spec(value: Value) -> SortSpec {
    match SortSpec::parse(&value) {
        Ok(spec) => spec,
        Err(error) => panic!("sort {value} failed to parse: {error}"),
    }
}

#[test]
fn sort_spec_keeps_key_order() {
    let parsed = spec(json!({"z": 1, "a.b": -1, "m": 1.0}));
    let fields: Vec<(&str, SortDirection)> = parsed
        .fields()
        .iter()
        .map(|(path, direction)| (path.as_str(), *direction))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("z", SortDirection::Ascending),
            ("a.b", SortDirection::Descending),
            ("m", SortDirection::Ascending),
        ]
    );
    assert!(spec(json!(null)).is_empty(), "null sort");
    assert!(spec(json!({})).is_empty(), "empty sort");
}

#[test]
fn sort_spec_rejects_bad_input() {
    let cases = [
        (
            "zero direction",
            json!({"a": 0}),
            "sort.a",
            "must be 1 (ascending) or -1",
        ),
        ("two", json!({"a": 2}), "sort.a", "got 2"),
        (
            "string direction",
            json!({"a": "asc"}),
            "sort.a",
            "got \"asc\"",
        ),
        (
            "meta object",
            json!({"a": {"$meta": "textScore"}}),
            "sort.a",
            "must be 1",
        ),
        (
            "empty segment",
            json!({"a..b": 1}),
            "sort.a..b",
            "empty segment",
        ),
        (
            "array spec",
            json!([["a", 1]]),
            "sort",
            "must be a JSON object",
        ),
    ];
    for (label, value, field, fragment) in cases {
        match SortSpec::parse(&value) {
            Err(Error::Validation {
                field: actual,
                reason,
            }) => {
                assert_eq!(actual, field, "{label}: field");
                assert!(reason.contains(fragment), "{label}: reason {reason:?}");
            }
            other => panic!("{label}: expected a validation error, got {other:?}"),
        }
    }
}

#[test]
fn sort_key_values() {
    let ascending = spec(json!({"a": 1}));
    let descending = spec(json!({"a": -1}));
    let nested = spec(json!({"a.b": 1}));
    let cases = [
        ("missing is null", &ascending, json!({}), json!(null)),
        ("scalar", &ascending, json!({"a": 4}), json!(4)),
        (
            "array ascending takes smallest",
            &ascending,
            json!({"a": [3, 1, 2]}),
            json!(1),
        ),
        (
            "array descending takes largest",
            &descending,
            json!({"a": [3, 1, 2]}),
            json!(3),
        ),
        (
            "mixed types ascending",
            &ascending,
            json!({"a": ["x", 5, null]}),
            json!(null),
        ),
        (
            "mixed types descending",
            &descending,
            json!({"a": ["x", 5, true]}),
            json!(true),
        ),
        ("empty array", &ascending, json!({"a": []}), json!([])),
        (
            "nested array element",
            &descending,
            json!({"a": [[1], 2]}),
            json!([1]),
        ),
        (
            "through documents",
            &nested,
            json!({"a": [{"b": 4}, {"b": 2}]}),
            json!(2),
        ),
        (
            "element lacking field",
            &nested,
            json!({"a": [{"b": 4}, {"c": 2}]}),
            json!(null),
        ),
        ("path past scalar", &nested, json!({"a": 7}), json!(null)),
        (
            "object value",
            &ascending,
            json!({"a": {"x": 1}}),
            json!({"x": 1}),
        ),
    ];
    for (label, sort, doc, expected) in cases {
        assert_eq!(sort.sort_key(&doc), vec![expected], "{label}");
    }
}

#[test]
fn sort_key_positional_path() {
    let sort = spec(json!({"a.1": 1}));
    assert_eq!(sort.sort_key(&json!({"a": [5, 6]})), vec![json!(6)]);
}

fn sorted_ids(sort: &SortSpec, docs: &[Value]) -> Vec<i64> {
    let mut keyed: Vec<(Vec<Value>, &Value)> =
        docs.iter().map(|doc| (sort.sort_key(doc), doc)).collect();
    keyed.sort_by(|(a, _), (b, _)| sort.compare_keys(a, b));
    keyed
        .iter()
        .map(|(_, doc)| doc["id"].as_i64().unwrap_or(-1))
        .collect()
}

#[test]
fn sorting_documents_ascending() {
    let docs = [
        json!({"id": 1, "a": "text"}),
        json!({"id": 2, "a": 10}),
        json!({"id": 3}),
        json!({"id": 4, "a": []}),
        json!({"id": 5, "a": 2.5}),
        json!({"id": 6, "a": [20, 1]}),
        json!({"id": 7, "a": null}),
        json!({"id": 8, "a": true}),
    ];
    // Stable sort keeps 3 before 7 because missing and null share the key null.
    assert_eq!(
        sorted_ids(&spec(json!({"a": 1})), &docs),
        vec![4, 3, 7, 6, 5, 2, 1, 8]
    );
}

#[test]
fn sorting_documents_descending() {
    let docs = [
        json!({"id": 1, "a": 5}),
        json!({"id": 2, "a": [1, 9]}),
        json!({"id": 3, "a": []}),
        json!({"id": 4}),
    ];
    assert_eq!(sorted_ids(&spec(json!({"a": -1})), &docs), vec![2, 1, 4, 3]);
}

#[test]
fn sorting_by_two_fields() {
    let docs = [
        json!({"id": 1, "g": "b", "n": 1}),
        json!({"id": 2, "g": "a", "n": 1}),
        json!({"id": 3, "g": "b", "n": 3}),
        json!({"id": 4, "g": "a", "n": 2}),
    ];
    let sort = spec(json!({"g": 1, "n": -1}));
    assert_eq!(sorted_ids(&sort, &docs), vec![4, 2, 3, 1]);
    assert_eq!(
        sort.compare_documents(&docs[0], &docs[2]),
        Ordering::Greater,
        "same group, smaller n sorts later"
    );
}

#[test]
fn get_path_plain_lookup() {
    let doc = json!({"a": {"b": [10, {"c": "x"}]}, "d": null, "0": "zero"});
    let cases = [
        ("top field", "d", Some(json!(null))),
        ("nested field", "a.b", Some(json!([10, {"c": "x"}]))),
        ("array position", "a.b.0", Some(json!(10))),
        ("field inside element", "a.b.1.c", Some(json!("x"))),
        ("numeric field name", "0", Some(json!("zero"))),
        ("no traversal through arrays", "a.b.c", None),
        ("position out of range", "a.b.5", None),
        ("leading zero is no position", "a.b.01", None),
        ("missing field", "a.z", None),
        ("past scalar", "d.e", None),
        ("empty path is the document", "", Some(doc.clone())),
    ];
    for (label, path, expected) in cases {
        assert_eq!(get_path(&doc, path).cloned(), expected, "{label}");
    }
}
