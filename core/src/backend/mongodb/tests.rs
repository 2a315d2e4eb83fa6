//! Unit tests of the value conversions and the filter translation; they need
//! no server. `core/tests/mongodb_backend.rs` runs both against FerretDB.

use chrono::{TimeZone, Utc};
use mongodb::bson::{doc, Bson, Document};
use serde_json::{json, Value};

use super::convert::{
    canonical_instant, document_to_row, escape_name, row_to_document, second_prefix, to_bson,
    to_json, unescape_name, Encoding,
};
use super::filter::{key_conditions, translate};
use crate::backend::{KeyEquals, Row};
use crate::model::{Entity, GuaranteePoint};

const PLAIN: Encoding = Encoding {
    wrap_nested_arrays: false,
};
const WRAPPED: Encoding = Encoding {
    wrap_nested_arrays: true,
};

fn date(text: &str) -> Bson {
    let instant = chrono::DateTime::parse_from_rfc3339(text).unwrap();
    Bson::DateTime(mongodb::bson::DateTime::from_chrono(instant))
}

#[test]
fn canonical_instants_are_chrono_output_at_milliseconds() {
    for text in [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.123Z",
        "0001-01-01T00:00:00Z",
    ] {
        assert!(canonical_instant(text).is_some(), "{text}");
    }
    for text in [
        "2024-01-01T00:00:00.000Z",
        "2024-01-01T00:00:00.1Z",
        "2024-01-01T00:00:00.123456Z",
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T00:00:00z",
        "2024-01-01t00:00:00Z",
        "2024-01-01 00:00:00Z",
        "2024-12-31T23:59:60Z",
        "2024-02-30T00:00:00Z",
        "2024-01-01",
        "not a date at all!!Z",
    ] {
        assert!(canonical_instant(text).is_none(), "{text}");
    }
}

#[test]
fn second_prefix_needs_fixed_width_layout() {
    let expected = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 7).unwrap();
    assert_eq!(second_prefix("2024-05-01T10:00:07"), Some(expected));
    assert_eq!(second_prefix("2024-05-01T10:00:07.5Z"), Some(expected));
    for text in [
        "2024-05-01",
        "2024-5-01T10:00:07Z",
        "2024-05-01T10:00:60",
        "02024-05-01T10:00:0",
    ] {
        assert_eq!(second_prefix(text), None, "{text}");
    }
}

#[test]
fn names_escape_and_unescape() {
    for name in [
        "plain", "a.b", "$x", "x$", "100%", "%2E", "%25", "%array", "", "é.😀",
    ] {
        let escaped = escape_name(name);
        assert!(!escaped.contains('.'), "{escaped}");
        assert!(!escaped.starts_with('$'), "{escaped}");
        assert_eq!(unescape_name(&escaped), name);
    }
    assert_eq!(escape_name("a.b"), "a%2Eb");
    assert_eq!(escape_name("$x$"), "%24x$");
    // Names that other clients wrote with a bare % stay as they are.
    assert_eq!(unescape_name("50%off"), "50%off");
}

#[test]
fn values_round_trip_in_both_encodings() {
    let value = json!({
        "max": i64::MAX, "min": i64::MIN, "tenth": 0.1, "two": 2.0,
        "instant": "2024-01-31T12:34:56.789Z", "micros": "2024-01-31T12:34:56.789123Z",
        "nested": [[1, [2, "2024-01-31T12:34:56Z"]], [], [[]]],
        "names": { "a.b": 1, "$x": 2, "%array": [3], "": 4 },
    });
    for encoding in [PLAIN, WRAPPED] {
        let bson = to_bson(&value, "value", encoding).unwrap();
        assert_eq!(to_json(&bson).unwrap(), value, "{encoding:?}");
    }
    let Bson::Document(stored) = to_bson(&value, "value", WRAPPED).unwrap() else {
        panic!("expected a document");
    };
    assert_eq!(
        stored.get("instant"),
        Some(&date("2024-01-31T12:34:56.789Z"))
    );
    assert!(matches!(stored.get("micros"), Some(Bson::String(_))));
    let nested = stored.get_array("nested").unwrap();
    assert!(matches!(&nested[0], Bson::Document(d) if d.contains_key("%array")));
    let Bson::Document(plain) = to_bson(&value, "value", PLAIN).unwrap() else {
        panic!("expected a document");
    };
    assert!(matches!(
        &plain.get_array("nested").unwrap()[0],
        Bson::Array(_)
    ));
}

#[test]
fn integers_above_i64_are_rejected_with_their_path() {
    let error = to_bson(&json!({ "a": [1, u64::MAX] }), "value", PLAIN).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("value.a.1"), "{message}");
    assert!(message.contains(&u64::MAX.to_string()), "{message}");
}

#[test]
fn rows_round_trip_through_documents() {
    let row = Row {
        id: uuid::Uuid::now_v7(),
        version: 3,
        created_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        updated_at: Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        body: json!({ "name": "x", "at": "2024-01-01T00:00:00Z" }),
    };
    let document = row_to_document(&row, WRAPPED).unwrap();
    let keys: Vec<&str> = document.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["_id", "version", "createdAt", "updatedAt", "name", "at"]
    );
    let read = document_to_row(&document).unwrap();
    assert_eq!(read.id, row.id);
    assert_eq!(read.version, row.version);
    assert_eq!(read.created_at, row.created_at);
    assert_eq!(read.updated_at, row.updated_at);
    assert_eq!(read.body, row.body);

    let reserved = Row {
        body: json!({ "version": 1 }),
        ..row
    };
    assert!(row_to_document(&reserved, PLAIN).is_err());
    assert!(document_to_row(&doc! { "version": 1_i64 }).is_err());
}

fn spec() -> &'static crate::model::CollectionSpec {
    &<GuaranteePoint as Entity>::SPEC
}

fn translated(filter: Value) -> Option<Document> {
    translate(&filter, spec())
}

#[test]
fn exact_conditions_are_sent() {
    let cases = [
        (json!({ "value": 1 }), doc! { "value": { "$eq": 1_i64 } }),
        (
            json!({ "value": null }),
            doc! { "value": { "$eq": Bson::Null } },
        ),
        (json!({ "id": "x" }), doc! { "_id": { "$eq": "x" } }),
        (
            json!({ "value": { "$exists": 0 } }),
            doc! { "value": { "$exists": false } },
        ),
        (
            json!({ "metrics.a": { "$size": 2.0 } }),
            doc! { "metrics.a": { "$size": 2_i64 } },
        ),
        (json!({ "a.b%c": "x" }), doc! { "a.b%25c": { "$eq": "x" } }),
        (
            json!({ "value": "2024-05-01T10:00:00Z" }),
            doc! { "value": { "$eq": date("2024-05-01T10:00:00Z") } },
        ),
        (
            json!({ "createdAt": "2024-05-01T10:00:00.123000Z" }),
            doc! { "createdAt": { "$eq": date("2024-05-01T10:00:00.123Z") } },
        ),
        (
            json!({ "createdAt": "2024-05-01T10:00:00Z" }),
            doc! { "createdAt": { "$eq": "2024-05-01T10:00:00Z" } },
        ),
        (
            json!({ "$nor": [{ "value": { "$ne": 1 } }] }),
            doc! { "$nor": [{ "value": { "$ne": 1_i64 } }] },
        ),
        (
            json!({ "value": { "$not": { "$in": [1, null] } } }),
            doc! { "value": { "$not": { "$in": [1_i64, Bson::Null] } } },
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(translated(filter.clone()), Some(expected), "{filter}");
    }
}

#[test]
fn unsafe_conditions_are_left_out() {
    for filter in [
        json!({ "_id": "x" }),
        json!({ "value.0": 5 }),
        json!({ "metrics.a": null }),
        json!({ "metrics.a": { "$in": [1, null] } }),
        json!({ "value": { "b": 1 } }),
        json!({ "value": [1, 2] }),
        json!({ "value": { "$in": [[1]] } }),
        json!({ "value": u64::MAX }),
        json!({ "value": { "$elemMatch": { "b": 1 } } }),
        json!({ "value": { "$gt": "b" } }),
        json!({ "value": { "$not": { "$gt": "2024-05-01T10:00:00Z" } } }),
        json!({ "$nor": [{ "metrics.a": { "$ne": 1 } }] }),
        json!({ "$or": [{ "value": 1 }, { "value": { "b": 1 } }] }),
    ] {
        assert_eq!(translated(filter.clone()), None, "{filter}");
    }
}

#[test]
fn supersets_keep_the_safe_parts() {
    let filter = json!({ "value": 1, "metrics.a": null });
    assert_eq!(translated(filter), Some(doc! { "value": { "$eq": 1_i64 } }));

    let filter = json!({ "value": { "$elemMatch": { "$gt": 3, "$ne": 5 } } });
    let expected = doc! { "value": { "$elemMatch": { "$gt": 3_i64 } } };
    assert_eq!(translated(filter), Some(expected));

    let filter = json!({ "metrics.a": { "$ne": 1 } });
    assert_eq!(
        translated(filter),
        Some(doc! { "metrics.a": { "$ne": 1_i64 } })
    );
}

#[test]
fn string_ranges_also_bound_stored_dates() {
    let filter = json!({ "timestamp": { "$gt": "2024-05-01T10:00:00.5Z" } });
    let expected = doc! { "$or": [
        { "timestamp": { "$gt": "2024-05-01T10:00:00.5Z" } },
        { "timestamp": { "$gte": date("2024-05-01T10:00:00Z") } },
    ] };
    assert_eq!(translated(filter), Some(expected));

    let filter = json!({ "createdAt": { "$lte": "2024-05-01T10:00:00Z" } });
    let expected = doc! { "createdAt": { "$lt": date("2024-05-01T10:00:01Z") } };
    assert_eq!(translated(filter), Some(expected));

    let filter = json!({ "id": { "$gt": "01" } });
    assert_eq!(translated(filter), Some(doc! { "_id": { "$gt": "01" } }));
}

#[test]
fn key_equalities_use_body_paths() {
    let keys = [KeyEquals {
        column: "agreement_id",
        value: "sla-1".into(),
    }];
    let conditions = key_conditions(spec(), &keys).unwrap();
    assert_eq!(conditions, doc! { "agreementId": "sla-1" });
    let unknown = [KeyEquals {
        column: "missing",
        value: "x".into(),
    }];
    assert!(key_conditions(spec(), &unknown).is_err());
}
