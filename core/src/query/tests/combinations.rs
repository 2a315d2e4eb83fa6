//! Operators nested inside one another, and properties of the parsed filter.

use std::cmp::Ordering;

use serde_json::json;

use super::assert_cases;
use crate::query::{Filter, SortSpec};

#[test]
fn elem_match_nested_in_elem_match() {
    assert_cases(&[
        (
            "inner array holds a match",
            json!({"m": {"$elemMatch": {"tags": {"$elemMatch": {"$eq": "x"}}}}}),
            json!({"m": [{"tags": ["y"]}, {"tags": ["x"]}]}),
            true,
        ),
        (
            "no inner array holds a match",
            json!({"m": {"$elemMatch": {"tags": {"$elemMatch": {"$eq": "x"}}}}}),
            json!({"m": [{"tags": ["y"]}, {"tags": "x"}]}),
            false,
        ),
    ]);
}

#[test]
fn negations_inside_elem_match() {
    let filter =
        json!({"items": {"$elemMatch": {"qty": {"$not": {"$gt": 3}}, "sku": {"$nin": ["a"]}}}});
    assert_cases(&[
        (
            "second element qualifies",
            filter.clone(),
            json!({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}),
            true,
        ),
        (
            "no element qualifies",
            filter.clone(),
            json!({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 9}]}),
            false,
        ),
        (
            "missing fields qualify",
            filter,
            json!({"items": [{}]}),
            true,
        ),
    ]);
}

#[test]
fn not_elem_match() {
    let filter = json!({"s": {"$not": {"$elemMatch": {"$gt": 5}}}});
    assert_cases(&[
        (
            "array without large element",
            filter.clone(),
            json!({"s": [1, 2]}),
            true,
        ),
        (
            "array with large element",
            filter.clone(),
            json!({"s": [1, 9]}),
            false,
        ),
        ("missing array", filter.clone(), json!({}), true),
        ("scalar", filter, json!({"s": 9}), true),
    ]);
}

#[test]
fn exists_inside_elem_match() {
    assert_cases(&[
        (
            "element has field",
            json!({"a": {"$elemMatch": {"b": {"$exists": true}}}}),
            json!({"a": [{"c": 1}, {"b": null}]}),
            true,
        ),
        (
            "no element has field",
            json!({"a": {"$elemMatch": {"b": {"$exists": true}}}}),
            json!({"a": [{"c": 1}]}),
            false,
        ),
    ]);
}

#[test]
fn logical_operators_over_arrays() {
    let doc = json!({"tags": ["x", "y"], "n": [1, 9]});
    assert_cases(&[
        (
            "or over elements",
            json!({"$or": [{"tags": "z"}, {"n": 9}]}),
            doc.clone(),
            true,
        ),
        (
            "nor over elements",
            json!({"$nor": [{"tags": "x"}]}),
            doc.clone(),
            false,
        ),
        (
            "and of ranges on one array",
            json!({"$and": [{"n": {"$lt": 2}}, {"n": {"$gt": 8}}]}),
            doc,
            true,
        ),
    ]);
}

#[test]
fn array_document_root() {
    assert_cases(&[
        ("position as field", json!({"0": 1}), json!([1, 2]), true),
        (
            "name on array root",
            json!({"a": null}),
            json!([1, 2]),
            true,
        ),
        (
            "scalar root has no fields",
            json!({"a": {"$exists": true}}),
            json!(5),
            false,
        ),
    ]);
}

#[test]
fn filter_is_reusable_and_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<Filter>();
    assert_send_sync::<SortSpec>();
    let parsed = Filter::parse(&json!({"a": {"$in": [1, 2]}}));
    let Ok(filter) = parsed else {
        panic!("filter failed to parse");
    };
    let copy = filter.clone();
    assert!(copy.matches(&json!({"a": 2})), "clone matches");
    assert!(filter.matches(&json!({"a": 1})), "original still matches");
    assert!(
        format!("{filter:?}").contains("In"),
        "debug output shows the operator"
    );
}

#[test]
fn matching_many_documents() {
    let parsed = Filter::parse(&json!({
        "status": {"$in": ["open", "review"]},
        "score": {"$gte": 50},
        "tags": {"$ne": "archived"}
    }));
    let Ok(filter) = parsed else {
        panic!("filter failed to parse");
    };
    let matched = (0..10_000)
        .map(|i| {
            let status = if i % 3 == 0 { "open" } else { "closed" };
            let tags = if i % 2 == 0 {
                json!(["a", "archived"])
            } else {
                json!(["a"])
            };
            json!({"status": status, "score": i % 100, "tags": tags})
        })
        .filter(|doc| filter.matches(doc))
        .count();
    // Odd multiples of 3 have status "open" and no "archived" tag; the score must also be >= 50.
    let expected = (0..10_000)
        .filter(|i| i % 2 == 1 && i % 3 == 0 && i % 100 >= 50)
        .count();
    assert_eq!(matched, expected);
}

#[test]
fn empty_sort_spec_compares_equal() {
    let Ok(sort) = SortSpec::parse(&json!({})) else {
        panic!("empty sort failed to parse");
    };
    assert!(sort.sort_key(&json!({"a": 1})).is_empty(), "no key values");
    assert_eq!(
        sort.compare_documents(&json!({"a": 1}), &json!({"a": 2})),
        Ordering::Equal
    );
}
