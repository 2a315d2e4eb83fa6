//! Conformance suite for the MongoDB query subset: the same filters and sorts
//! give the same documents on every backend, with MongoDB's semantics for
//! missing fields, null and arrays.

mod common;

use chrono::{TimeZone, Utc};
use polystat::model::{Computation, Period};
use polystat::{ListOptions, Store};
use serde_json::{json, Value};
use uuid::Uuid;

use common::{catalog, control};

/// Stores four computations, named a to d by `scope.name`, whose scopes and
/// values cover missing fields, null, arrays, nested arrays and mixed types.
async fn fixtures(store: &Store) {
    let cat = catalog(store, "c").await;
    let ctl = control(store, &cat, "x").await;
    let docs = [
        (
            json!({"name": "a", "team": "x", "tags": ["x", "y"], "n": 5}),
            json!([1, 9]),
        ),
        (
            json!({"name": "b", "team": null, "tags": [], "n": "10"}),
            json!({"x": 1, "y": 2}),
        ),
        (json!({"name": "c", "tags": "x", "n": 1.0}), Value::Null),
        (
            json!({"name": "d", "team": "y", "tags": [["x", "y"]], "n": [2, 12],
                   "items": [{"k": 1, "v": "p"}, {"k": 2, "v": "q"}]}),
            json!(7),
        ),
    ];
    for (scope, value) in docs {
        let computation = Computation {
            computation_group: Uuid::now_v7(),
            control_id: ctl.id,
            scope: scope.as_object().unwrap().clone(),
            period: Period {
                from: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
                to: Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap(),
            },
            value,
            evidences: Vec::new(),
        };
        store.computations().create(computation).await.unwrap();
    }
}

async fn names(store: &Store, options: ListOptions) -> Vec<String> {
    let page = store.computations().list(&options).await.unwrap();
    page.items
        .iter()
        .map(|r| r.data.scope["name"].as_str().unwrap().to_string())
        .collect()
}

/// Each filter with the names of the documents MongoDB returns for it.
fn filter_cases() -> Vec<(Value, Vec<&'static str>)> {
    vec![
        (json!({"scope.team": null}), vec!["b", "c"]),
        (json!({"scope.team": {"$eq": null}}), vec!["b", "c"]),
        (json!({"scope.team": {"$ne": null}}), vec!["a", "d"]),
        (json!({"scope.team": {"$exists": false}}), vec!["c"]),
        (
            json!({"scope.team": {"$exists": true}}),
            vec!["a", "b", "d"],
        ),
        (json!({"scope.team": {"$in": [null]}}), vec!["b", "c"]),
        (
            json!({"scope.team": {"$in": [null, "y"]}}),
            vec!["b", "c", "d"],
        ),
        (json!({"scope.team": {"$nin": ["x"]}}), vec!["b", "c", "d"]),
        (json!({"scope.tags": "x"}), vec!["a", "c"]),
        (json!({"scope.tags": ["x", "y"]}), vec!["a", "d"]),
        (json!({"scope.tags": {"$ne": "x"}}), vec!["b", "d"]),
        (json!({"scope.tags": {"$size": 0}}), vec!["b"]),
        (json!({"scope.tags": {"$size": 2}}), vec!["a"]),
        (json!({"scope.n": {"$gt": 4}}), vec!["a", "d"]),
        (json!({"scope.n": {"$gte": "1"}}), vec!["b"]),
        (json!({"scope.n": {"$gt": 4, "$lt": 3}}), vec!["d"]),
        (
            json!({"scope.n": {"$elemMatch": {"$gt": 4, "$lt": 3}}}),
            vec![],
        ),
        (
            json!({"scope.n": {"$elemMatch": {"$gt": 1, "$lt": 3}}}),
            vec!["d"],
        ),
        (json!({"scope.n": 1}), vec!["c"]),
        (json!({"scope.n": {"$in": [5, "10"]}}), vec!["a", "b"]),
        (json!({"scope.n": {"$nin": [5, "10"]}}), vec!["c", "d"]),
        (json!({"scope.items.k": 2}), vec!["d"]),
        (json!({"scope.items.0.v": "p"}), vec!["d"]),
        (
            json!({"scope.items": {"$elemMatch": {"k": 1, "v": "q"}}}),
            vec![],
        ),
        (
            json!({"scope.items": {"$elemMatch": {"k": 2, "v": "q"}}}),
            vec!["d"],
        ),
        (json!({"value": {"x": 1, "y": 2}}), vec!["b"]),
        (json!({"value": {"y": 2, "x": 1}}), vec![]),
        (json!({"value": {"$not": {"$gt": 5}}}), vec!["b", "c"]),
        (json!({"value": 9}), vec!["a"]),
        (
            json!({"$or": [{"scope.name": "a"}, {"value": 7}]}),
            vec!["a", "d"],
        ),
        (
            json!({"$nor": [{"scope.name": "a"}, {"value": 7}]}),
            vec!["b", "c"],
        ),
        (
            json!({"$and": [{"scope.team": {"$exists": true}}, {"scope.team": {"$in": [null, "y"]}}]}),
            vec!["b", "d"],
        ),
        (
            json!({"period.from": {"$gte": "2024-01-01T00:00:00Z"}}),
            vec!["a", "b", "c", "d"],
        ),
    ]
}

async fn filters_match_mongodb_semantics(store: Store) {
    fixtures(&store).await;
    let mut failures = Vec::new();
    for (filter, expected) in filter_cases() {
        let found = names(&store, ListOptions::new().filter(filter.clone())).await;
        let count = store.computations().count(&filter).await.unwrap();
        if found != expected || count != expected.len() as u64 {
            failures.push(format!(
                "{filter}: expected {expected:?}, found {found:?} (count {count})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "filters that differ from MongoDB:\n{}",
        failures.join("\n")
    );
}

async fn sort_orders_across_types(store: Store) {
    fixtures(&store).await;
    // Ascending: numbers before strings; an array sorts by its smallest element.
    let ascending = names(&store, ListOptions::new().sort(json!({"scope.n": 1}))).await;
    assert_eq!(ascending, ["c", "d", "a", "b"]);
    // Descending: an array sorts by its largest element.
    let descending = names(&store, ListOptions::new().sort(json!({"scope.n": -1}))).await;
    assert_eq!(descending, ["b", "d", "a", "c"]);
    // Missing and null sort first.
    let by_team = names(
        &store,
        ListOptions::new().sort(json!({"scope.team": 1, "scope.name": 1})),
    )
    .await;
    assert_eq!(by_team, ["b", "c", "a", "d"]);
}

async fn unsupported_operators_are_rejected(store: Store) {
    for operator in [
        "$where", "$regex", "$expr", "$type", "$all", "$text", "$mod",
    ] {
        let filter = json!({ "value": { operator: 1 } });
        let err = store.computations().count(&filter).await.unwrap_err();
        assert!(err.to_string().contains(operator), "{operator}: {err}");
    }
    let top_level = store
        .computations()
        .count(&json!({ "$where": "this.a == 1" }))
        .await
        .unwrap_err();
    assert!(top_level.to_string().contains("$where"), "{top_level}");
}

conformance!(
    filters_match_mongodb_semantics,
    sort_orders_across_types,
    unsupported_operators_are_rejected,
);
