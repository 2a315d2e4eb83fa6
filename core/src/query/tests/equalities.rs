//! Equalities offered for pushing into SQL.

use serde_json::{json, Value};

use crate::query::Filter;

fn equalities(filter: Value) -> Vec<(String, Value)> {
    match Filter::parse(&filter) {
        Ok(parsed) => parsed.required_equalities(),
        Err(error) => panic!("filter {filter} failed to parse: {error}"),
    }
}

#[test]
fn literal_and_eq_fields() {
    let found = equalities(json!({"status": "open", "owner.id": {"$eq": 7}, "n": {"$gt": 1}}));
    assert_eq!(
        found,
        vec![
            ("status".to_owned(), json!("open")),
            ("owner.id".to_owned(), json!(7)),
        ]
    );
}

#[test]
fn eq_beside_other_operators() {
    let found = equalities(json!({"n": {"$gt": 1, "$eq": 4}}));
    assert_eq!(found, vec![("n".to_owned(), json!(4))]);
}

#[test]
fn inside_top_level_and() {
    let found = equalities(json!({"$and": [{"a": 1}, {"$and": [{"b": "x"}]}], "c": null}));
    assert_eq!(
        found,
        vec![
            ("a".to_owned(), json!(1)),
            ("b".to_owned(), json!("x")),
            ("c".to_owned(), json!(null)),
        ]
    );
}

#[test]
fn not_from_or_nor_not_or_elem_match() {
    let found = equalities(json!({
        "$or": [{"a": 1}, {"a": 2}],
        "$nor": [{"b": 1}],
        "c": {"$not": {"$eq": 1}},
        "d": {"$elemMatch": {"x": 1}},
        "e": {"$ne": 1},
        "f": {"$in": [1]}
    }));
    assert!(found.is_empty(), "got {found:?}");
}

#[test]
fn empty_filter_has_none() {
    assert!(equalities(json!({})).is_empty());
}

#[test]
fn literal_object_and_array_values() {
    let found = equalities(json!({"a": {"x": 1}, "b": [1, 2]}));
    assert_eq!(
        found,
        vec![
            ("a".to_owned(), json!({"x": 1})),
            ("b".to_owned(), json!([1, 2])),
        ]
    );
}
