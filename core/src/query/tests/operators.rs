//! Comparison, membership, existence, negation and array operators.

use serde_json::json;

use super::assert_cases;

#[test]
fn comparisons_stay_within_type() {
    assert_cases(&[
        ("gt number", json!({"a": {"$gt": 5}}), json!({"a": 6}), true),
        (
            "gt equal number",
            json!({"a": {"$gt": 5}}),
            json!({"a": 5}),
            false,
        ),
        (
            "gte equal number",
            json!({"a": {"$gte": 5}}),
            json!({"a": 5.0}),
            true,
        ),
        (
            "lt float against integer",
            json!({"a": {"$lt": 5}}),
            json!({"a": 4.5}),
            true,
        ),
        (
            "lte integer against float",
            json!({"a": {"$lte": 4.5}}),
            json!({"a": 5}),
            false,
        ),
        (
            "gt number on numeric string",
            json!({"a": {"$gt": 5}}),
            json!({"a": "10"}),
            false,
        ),
        (
            "lt string on number",
            json!({"a": {"$lt": "z"}}),
            json!({"a": 1}),
            false,
        ),
        (
            "gt string",
            json!({"a": {"$gt": "apple"}}),
            json!({"a": "banana"}),
            true,
        ),
        (
            "strings compare bytewise",
            json!({"a": {"$lt": "a"}}),
            json!({"a": "Z"}),
            true,
        ),
        (
            "gt number on bool",
            json!({"a": {"$gt": 0}}),
            json!({"a": true}),
            false,
        ),
        (
            "gt false on true",
            json!({"a": {"$gt": false}}),
            json!({"a": true}),
            true,
        ),
        (
            "gt number on missing",
            json!({"a": {"$gt": 0}}),
            json!({}),
            false,
        ),
        (
            "lt number on null",
            json!({"a": {"$lt": 0}}),
            json!({"a": null}),
            false,
        ),
        (
            "gt object",
            json!({"a": {"$gt": {"x": 1}}}),
            json!({"a": {"x": 2}}),
            true,
        ),
        (
            "gte array operand on equal array",
            json!({"a": {"$gte": [1, 2]}}),
            json!({"a": [1, 2]}),
            true,
        ),
        (
            "lt array operand on longer array",
            json!({"a": {"$lt": [1, 2]}}),
            json!({"a": [1, 2, 3]}),
            false,
        ),
    ]);
}

#[test]
fn comparisons_with_null_operand() {
    assert_cases(&[
        (
            "gt null on null",
            json!({"a": {"$gt": null}}),
            json!({"a": null}),
            false,
        ),
        (
            "gt null on missing",
            json!({"a": {"$gt": null}}),
            json!({}),
            false,
        ),
        (
            "gt null on number",
            json!({"a": {"$gt": null}}),
            json!({"a": 1}),
            false,
        ),
        (
            "lt null on missing",
            json!({"a": {"$lt": null}}),
            json!({}),
            false,
        ),
        (
            "gte null on null",
            json!({"a": {"$gte": null}}),
            json!({"a": null}),
            true,
        ),
        (
            "gte null on missing",
            json!({"a": {"$gte": null}}),
            json!({}),
            true,
        ),
        (
            "lte null on missing",
            json!({"a": {"$lte": null}}),
            json!({}),
            true,
        ),
        (
            "gte null on number",
            json!({"a": {"$gte": null}}),
            json!({"a": 3}),
            false,
        ),
    ]);
}

#[test]
fn in_operator() {
    assert_cases(&[
        (
            "value listed",
            json!({"a": {"$in": [1, 2]}}),
            json!({"a": 2}),
            true,
        ),
        (
            "value not listed",
            json!({"a": {"$in": [1, 2]}}),
            json!({"a": 3}),
            false,
        ),
        (
            "float matches listed integer",
            json!({"a": {"$in": [1, 2]}}),
            json!({"a": 2.0}),
            true,
        ),
        (
            "mixed types listed",
            json!({"a": {"$in": ["x", 1, true]}}),
            json!({"a": true}),
            true,
        ),
        (
            "empty list",
            json!({"a": {"$in": []}}),
            json!({"a": 1}),
            false,
        ),
        (
            "null listed on missing",
            json!({"a": {"$in": [null, 5]}}),
            json!({}),
            true,
        ),
        (
            "null listed on null",
            json!({"a": {"$in": [null]}}),
            json!({"a": null}),
            true,
        ),
        (
            "missing without null listed",
            json!({"a": {"$in": [5]}}),
            json!({}),
            false,
        ),
        (
            "any array element listed",
            json!({"a": {"$in": [3, 9]}}),
            json!({"a": [1, 9]}),
            true,
        ),
        (
            "whole array listed",
            json!({"a": {"$in": [[1, 2]]}}),
            json!({"a": [1, 2]}),
            true,
        ),
        (
            "listed array as element",
            json!({"a": {"$in": [[1, 2]]}}),
            json!({"a": [[1, 2], 3]}),
            true,
        ),
        (
            "listed array differs",
            json!({"a": {"$in": [[2, 1]]}}),
            json!({"a": [1, 2]}),
            false,
        ),
        (
            "object listed",
            json!({"a": {"$in": [{"x": 1}]}}),
            json!({"a": {"x": 1}}),
            true,
        ),
    ]);
}

#[test]
fn exists_operator() {
    assert_cases(&[
        (
            "true on present",
            json!({"a": {"$exists": true}}),
            json!({"a": 1}),
            true,
        ),
        (
            "true on null",
            json!({"a": {"$exists": true}}),
            json!({"a": null}),
            true,
        ),
        (
            "true on missing",
            json!({"a": {"$exists": true}}),
            json!({}),
            false,
        ),
        (
            "false on missing",
            json!({"a": {"$exists": false}}),
            json!({}),
            true,
        ),
        (
            "false on null",
            json!({"a": {"$exists": false}}),
            json!({"a": null}),
            false,
        ),
        (
            "false on empty array",
            json!({"a": {"$exists": false}}),
            json!({"a": []}),
            false,
        ),
        (
            "number 1 means true",
            json!({"a": {"$exists": 1}}),
            json!({"a": 0}),
            true,
        ),
        (
            "number 0 means false",
            json!({"a": {"$exists": 0}}),
            json!({}),
            true,
        ),
        (
            "true through array when one element has it",
            json!({"a.b": {"$exists": true}}),
            json!({"a": [{"c": 1}, {"b": 2}]}),
            true,
        ),
        (
            "false through array when one element has it",
            json!({"a.b": {"$exists": false}}),
            json!({"a": [{"c": 1}, {"b": 2}]}),
            false,
        ),
        (
            "true on array position",
            json!({"a.1": {"$exists": true}}),
            json!({"a": [1, 2]}),
            true,
        ),
        (
            "false past array end",
            json!({"a.2": {"$exists": false}}),
            json!({"a": [1, 2]}),
            true,
        ),
    ]);
}

#[test]
fn not_operator() {
    assert_cases(&[
        (
            "not gt on missing",
            json!({"a": {"$not": {"$gt": 5}}}),
            json!({}),
            true,
        ),
        (
            "not gt on smaller",
            json!({"a": {"$not": {"$gt": 5}}}),
            json!({"a": 5}),
            true,
        ),
        (
            "not gt on larger",
            json!({"a": {"$not": {"$gt": 5}}}),
            json!({"a": 6}),
            false,
        ),
        (
            "not gt on string",
            json!({"a": {"$not": {"$gt": 5}}}),
            json!({"a": "x"}),
            true,
        ),
        (
            "not gt on array with larger",
            json!({"a": {"$not": {"$gt": 5}}}),
            json!({"a": [1, 9]}),
            false,
        ),
        (
            "not range inside",
            json!({"a": {"$not": {"$gt": 1, "$lt": 5}}}),
            json!({"a": 3}),
            false,
        ),
        (
            "not range outside",
            json!({"a": {"$not": {"$gt": 1, "$lt": 5}}}),
            json!({"a": 7}),
            true,
        ),
        (
            "not in",
            json!({"a": {"$not": {"$in": [1, 2]}}}),
            json!({"a": 3}),
            true,
        ),
        (
            "not exists",
            json!({"a": {"$not": {"$exists": true}}}),
            json!({}),
            true,
        ),
        (
            "not size",
            json!({"a": {"$not": {"$size": 2}}}),
            json!({"a": [1]}),
            true,
        ),
        (
            "not beside another operator",
            json!({"a": {"$not": {"$gt": 5}, "$gt": 1}}),
            json!({"a": 3}),
            true,
        ),
    ]);
}

#[test]
fn elem_match_on_values() {
    let filter = json!({"s": {"$elemMatch": {"$gt": 1, "$lt": 3}}});
    assert_cases(&[
        (
            "one element in range",
            filter.clone(),
            json!({"s": [0, 2, 5]}),
            true,
        ),
        (
            "range split across elements",
            filter.clone(),
            json!({"s": [0, 5]}),
            false,
        ),
        ("empty array", filter.clone(), json!({"s": []}), false),
        (
            "scalar in range is not an array",
            filter.clone(),
            json!({"s": 2}),
            false,
        ),
        ("missing field", filter, json!({}), false),
        (
            "eq element",
            json!({"s": {"$elemMatch": {"$eq": "x"}}}),
            json!({"s": ["x"]}),
            true,
        ),
        (
            "ne element",
            json!({"s": {"$elemMatch": {"$ne": "x"}}}),
            json!({"s": ["x", "y"]}),
            true,
        ),
        (
            "ne only element",
            json!({"s": {"$elemMatch": {"$ne": "x"}}}),
            json!({"s": ["x"]}),
            false,
        ),
        (
            "in element",
            json!({"s": {"$elemMatch": {"$in": [7, 8]}}}),
            json!({"s": [1, 8]}),
            true,
        ),
        (
            "nested array elements are not expanded",
            json!({"s": {"$elemMatch": {"$eq": 1}}}),
            json!({"s": [[1]]}),
            false,
        ),
        (
            "size of nested array",
            json!({"s": {"$elemMatch": {"$size": 2}}}),
            json!({"s": [[1], [1, 2]]}),
            true,
        ),
    ]);
}

#[test]
fn elem_match_on_documents() {
    let items = json!({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]});
    assert_cases(&[
        (
            "both fields in one element",
            json!({"items": {"$elemMatch": {"sku": "b", "qty": {"$gt": 2}}}}),
            items.clone(),
            true,
        ),
        (
            "fields only in different elements",
            json!({"items": {"$elemMatch": {"sku": "a", "qty": {"$gt": 2}}}}),
            items.clone(),
            false,
        ),
        (
            "implicit matching allows different elements",
            json!({"items.sku": "a", "items.qty": {"$gt": 2}}),
            items.clone(),
            true,
        ),
        (
            "or inside element query",
            json!({"items": {"$elemMatch": {"$or": [{"sku": "z"}, {"qty": 5}]}}}),
            items.clone(),
            true,
        ),
        (
            "and inside element query",
            json!({"items": {"$elemMatch": {"$and": [{"sku": "a"}, {"qty": 5}]}}}),
            items.clone(),
            false,
        ),
        (
            "empty query matches any document element",
            json!({"items": {"$elemMatch": {}}}),
            items,
            true,
        ),
        (
            "empty query skips scalars",
            json!({"items": {"$elemMatch": {}}}),
            json!({"items": [1, "x"]}),
            false,
        ),
        (
            "object field is not an array",
            json!({"items": {"$elemMatch": {"sku": "a"}}}),
            json!({"items": {"sku": "a"}}),
            false,
        ),
        (
            "dotted path to array",
            json!({"order.items": {"$elemMatch": {"sku": "a"}}}),
            json!({"order": {"items": [{"sku": "a"}]}}),
            true,
        ),
        (
            "nested array element read by position",
            json!({"m": {"$elemMatch": {"0": 1}}}),
            json!({"m": [[1, 2]]}),
            true,
        ),
    ]);
}

#[test]
fn size_operator() {
    assert_cases(&[
        (
            "exact size",
            json!({"a": {"$size": 2}}),
            json!({"a": [1, 2]}),
            true,
        ),
        (
            "other size",
            json!({"a": {"$size": 2}}),
            json!({"a": [1]}),
            false,
        ),
        (
            "zero on empty array",
            json!({"a": {"$size": 0}}),
            json!({"a": []}),
            true,
        ),
        (
            "zero on missing",
            json!({"a": {"$size": 0}}),
            json!({}),
            false,
        ),
        (
            "on string",
            json!({"a": {"$size": 1}}),
            json!({"a": "x"}),
            false,
        ),
        (
            "on object",
            json!({"a": {"$size": 1}}),
            json!({"a": {"x": 1}}),
            false,
        ),
        (
            "counts the outer array only",
            json!({"a": {"$size": 1}}),
            json!({"a": [[1, 2]]}),
            true,
        ),
        (
            "whole-number float",
            json!({"a": {"$size": 2.0}}),
            json!({"a": [1, 2]}),
            true,
        ),
        (
            "through array of documents",
            json!({"a.b": {"$size": 2}}),
            json!({"a": [{"b": [1]}, {"b": [1, 2]}]}),
            true,
        ),
    ]);
}
