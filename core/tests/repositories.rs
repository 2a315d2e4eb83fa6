//! Conformance suite for repositories: create, get, update with a version,
//! delete, list with filter, sort and cursor, count and bulk insert, run on
//! the embedded store, on PostgreSQL + MongoDB + Redis, and on PostgreSQL
//! with embedded documents.

mod common;

use chrono::{TimeZone, Utc};
use polystat::model::{
    Catalog, CatalogStatus, Computation, Datasource, Folder, GuaranteePoint, Linker, Mashup,
    NewServiceAccount, NewUser, Period, Role, Scope,
};
use polystat::{Error, ListOptions, Store};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use common::{catalog, control};

fn computation(control_id: Uuid, day: u32, value: Value) -> Computation {
    Computation {
        computation_group: Uuid::now_v7(),
        control_id,
        scope: Map::new(),
        period: Period {
            from: Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2024, 1, day + 1, 0, 0, 0).unwrap(),
        },
        value,
        evidences: Vec::new(),
    }
}

async fn catalog_crud_round_trip(store: Store) {
    let created = catalog(&store, "Baseline").await;
    assert_eq!(created.version, 1);

    let read = store.catalogs().get(created.id).await.unwrap();
    assert_eq!(read, created);

    let mut data = read.data.clone();
    data.description = "updated".into();
    let updated = store.catalogs().update(created.id, 1, data).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(
        store
            .catalogs()
            .get(created.id)
            .await
            .unwrap()
            .data
            .description,
        "updated"
    );

    store.catalogs().delete(created.id, Some(2)).await.unwrap();
    let missing = store.catalogs().get(created.id).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
}

async fn update_with_stale_version_conflicts(store: Store) {
    let created = catalog(&store, "Baseline").await;
    let first = store
        .catalogs()
        .update(created.id, 1, created.data.clone())
        .await
        .unwrap();
    assert_eq!(first.version, 2);

    let stale = store
        .catalogs()
        .update(created.id, 1, created.data.clone())
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Conflict { .. }), "{stale}");
    assert!(stale.to_string().contains("expected version 1"), "{stale}");

    let stale_delete = store
        .catalogs()
        .delete(created.id, Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(stale_delete, Error::Conflict { .. }),
        "{stale_delete}"
    );
    assert_eq!(store.catalogs().get(created.id).await.unwrap().version, 2);
}

async fn concurrent_updates_one_wins(store: Store) {
    let created = catalog(&store, "Baseline").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut data = created.data.clone();
        data.description = format!("writer {i}");
        tasks.push(tokio::spawn(async move {
            store.catalogs().update(created.id, 1, data).await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.catalogs().get(created.id).await.unwrap().version, 2);
}

async fn unique_violation_is_conflict(store: Store) {
    let scope = Scope {
        name: "team".into(),
        description: String::new(),
        scope_type: "string".into(),
        default_value: Value::Null,
    };
    store.scopes().create(scope.clone()).await.unwrap();
    let duplicate = store.scopes().create(scope).await.unwrap_err();
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate}");
    assert!(duplicate.to_string().contains("name"), "{duplicate}");
}

async fn validation_names_the_field(store: Store) {
    let bad_scope = Scope {
        name: "Team Name".into(),
        description: String::new(),
        scope_type: "string".into(),
        default_value: Value::Null,
    };
    match store.scopes().create(bad_scope).await.unwrap_err() {
        Error::Validation { field, .. } => assert_eq!(field, "scope.name"),
        other => panic!("expected validation error, got {other}"),
    }
    let mut bad_catalog = Catalog::new("x");
    bad_catalog.end_date = Some(bad_catalog.start_date - chrono::Duration::days(1));
    match store.catalogs().create(bad_catalog).await.unwrap_err() {
        Error::Validation { field, .. } => assert_eq!(field, "catalog.end_date"),
        other => panic!("expected validation error, got {other}"),
    }
    assert_eq!(store.catalogs().count(&Value::Null).await.unwrap(), 0);
}

async fn finalized_control_cannot_return_to_draft(store: Store) {
    let cat = catalog(&store, "c").await;
    let ctl = control(&store, &cat, "cm-3").await;
    let mut data = ctl.data.clone();
    data.status = CatalogStatus::Finalized;
    let finalized = store
        .controls()
        .update(ctl.id, 1, data.clone())
        .await
        .unwrap();
    data.status = CatalogStatus::Draft;
    let err = store
        .controls()
        .update(ctl.id, finalized.version, data)
        .await
        .unwrap_err();
    match err {
        Error::Validation { field, .. } => assert_eq!(field, "control.status"),
        other => panic!("expected validation error, got {other}"),
    }
}

fn scopes(names: &[&str]) -> Vec<Scope> {
    names
        .iter()
        .map(|name| Scope {
            name: (*name).into(),
            description: String::new(),
            scope_type: "string".into(),
            default_value: Value::Null,
        })
        .collect()
}

async fn bulk_insert_is_all_or_nothing(store: Store) {
    let err = store
        .scopes()
        .bulk_insert(scopes(&["a", "b", "a"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(store.scopes().count(&Value::Null).await.unwrap(), 0);

    let err = store
        .scopes()
        .bulk_insert(scopes(&["a", "b", ""]))
        .await
        .unwrap_err();
    let Error::Validation { field, reason } = err else {
        panic!("expected a validation error, got {err}");
    };
    assert_eq!(field, "scope.name");
    assert!(reason.starts_with("item 2: "), "{reason}");
    assert_eq!(store.scopes().count(&Value::Null).await.unwrap(), 0);

    let good: Vec<Scope> = (0..50)
        .map(|i| Scope {
            name: format!("s{i}"),
            description: String::new(),
            scope_type: "string".into(),
            default_value: Value::Null,
        })
        .collect();
    let stored = store.scopes().bulk_insert(good).await.unwrap();
    assert_eq!(stored.len(), 50);
    assert_eq!(store.scopes().count(&Value::Null).await.unwrap(), 50);
}

async fn computation_needs_existing_control(store: Store) {
    let err = store
        .computations()
        .create(computation(Uuid::now_v7(), 1, json!(true)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Reference { .. }), "{err}");
    assert_eq!(store.computations().count(&Value::Null).await.unwrap(), 0);

    let cat = catalog(&store, "c").await;
    let ctl = control(&store, &cat, "cm-3").await;
    store
        .computations()
        .create(computation(ctl.id, 1, json!(true)))
        .await
        .unwrap();
    let in_use = store.controls().delete(ctl.id, None).await.unwrap_err();
    assert!(matches!(in_use, Error::Reference { .. }), "{in_use}");
    let catalog_in_use = store.catalogs().delete(cat.id, None).await.unwrap_err();
    assert!(
        matches!(catalog_in_use, Error::Reference { .. }),
        "{catalog_in_use}"
    );
}

fn linker_using(datasource: &str) -> Linker {
    let spec =
        serde_json::from_value(json!({ "sources": [{ "datasource": datasource }] })).unwrap();
    Linker {
        name: format!("uses-{datasource}"),
        spec,
        execution_status: Default::default(),
        last_run_at: None,
    }
}

async fn datasource_in_use_cannot_be_deleted(store: Store) {
    let pulls = store
        .datasources()
        .create(Datasource::file("pulls", "pulls.json"))
        .await
        .unwrap();
    let free = store
        .datasources()
        .create(Datasource::file("free", "free.json"))
        .await
        .unwrap();
    let linker = store.linkers().create(linker_using("pulls")).await.unwrap();
    let mashup = store
        .mashups()
        .create(Mashup {
            name: "flow".into(),
            folder_id: None,
            nodes: vec![json!({ "type": "databinder", "datasourceId": pulls.id.to_string() })],
        })
        .await
        .unwrap();

    let usage = store.datasources().usage(pulls.id).await.unwrap();
    assert_eq!(usage.linkers, vec![linker.id]);
    assert_eq!(usage.mashups, vec![mashup.id]);

    let err = store
        .datasources()
        .delete(pulls.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Reference { .. }), "{err}");
    assert!(err.to_string().contains(&linker.id.to_string()), "{err}");
    assert!(store.datasources().get(pulls.id).await.is_ok());

    assert!(store.datasources().usage(free.id).await.unwrap().is_empty());
    store.datasources().delete(free.id, None).await.unwrap();
}

async fn datasource_rejects_inline_credentials(store: Store) {
    let mut datasource = Datasource::file("pulls", "pulls.json");
    datasource
        .credentials
        .insert("token".into(), json!("ghp_plaintext"));
    match store.datasources().create(datasource).await.unwrap_err() {
        Error::Validation { field, .. } => assert_eq!(field, "datasource.credentials.token"),
        other => panic!("expected validation error, got {other}"),
    }
}

async fn folder_tree_rejects_cycles(store: Store) {
    let root = store
        .folders()
        .create(Folder {
            name: "root".into(),
            parent_id: None,
        })
        .await
        .unwrap();
    let child = store
        .folders()
        .create(Folder {
            name: "child".into(),
            parent_id: Some(root.id),
        })
        .await
        .unwrap();
    let grandchild = store
        .folders()
        .create(Folder {
            name: "grandchild".into(),
            parent_id: Some(child.id),
        })
        .await
        .unwrap();

    let cycle = Folder {
        name: "root".into(),
        parent_id: Some(grandchild.id),
    };
    let err = store
        .folders()
        .update(root.id, root.version, cycle)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");

    let self_parent = Folder {
        name: "child".into(),
        parent_id: Some(child.id),
    };
    assert!(store
        .folders()
        .update(child.id, child.version, self_parent)
        .await
        .is_err());

    let missing_parent = Folder {
        name: "orphan".into(),
        parent_id: Some(Uuid::now_v7()),
    };
    let err = store.folders().create(missing_parent).await.unwrap_err();
    assert!(matches!(err, Error::Reference { .. }), "{err}");

    let has_children = store.folders().delete(root.id, None).await.unwrap_err();
    assert!(
        matches!(has_children, Error::Reference { .. }),
        "{has_children}"
    );
}

async fn guarantee_points_unique_on_tuple(store: Store) {
    let point = GuaranteePoint {
        agreement_id: "sla-1".into(),
        guarantee_id: "uptime".into(),
        value: json!(99.9),
        result: true,
        timestamp: Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(),
        metrics: Map::new(),
        scope: json!({ "team": "a" }).as_object().unwrap().clone(),
        computation_group: None,
        unique_key: String::new(),
    };
    store
        .guarantee_points()
        .create(point.clone())
        .await
        .unwrap();
    let duplicate = store
        .guarantee_points()
        .create(point.clone())
        .await
        .unwrap_err();
    assert!(matches!(duplicate, Error::Conflict { .. }), "{duplicate}");

    let mut other_scope = point;
    other_scope.scope = json!({ "team": "b" }).as_object().unwrap().clone();
    store.guarantee_points().create(other_scope).await.unwrap();
    assert_eq!(
        store.guarantee_points().count(&Value::Null).await.unwrap(),
        2
    );
}

async fn users_hash_passwords_with_argon2id(store: Store) {
    let new_user = NewUser {
        username: "ana".into(),
        email: "ana@example.org".into(),
        password: "correct horse".into(),
        role: Role::Developer,
    };
    let user = store.users().register(new_user).await.unwrap();
    assert!(user.data.password_hash.starts_with("$argon2id$"));
    assert!(!user.data.password_hash.contains("correct horse"));
    assert!(!format!("{:?}", user.data).contains("argon2"));

    assert_eq!(
        store
            .users()
            .verify_password("ana", "correct horse")
            .await
            .unwrap()
            .id,
        user.id
    );
    let wrong = store
        .users()
        .verify_password("ana", "wrong password")
        .await
        .unwrap_err();
    assert!(matches!(wrong, Error::Unauthorized { .. }), "{wrong}");
    let unknown = store
        .users()
        .verify_password("nobody", "correct horse")
        .await
        .unwrap_err();
    assert!(matches!(unknown, Error::Unauthorized { .. }), "{unknown}");

    let short = NewUser {
        username: "bo".into(),
        email: "bo@example.org".into(),
        password: "short".into(),
        role: Role::User,
    };
    assert!(matches!(
        store.users().register(short).await.unwrap_err(),
        Error::Validation { .. }
    ));
    let bad_email = NewUser {
        username: "cy".into(),
        email: "not-an-email".into(),
        password: "long enough".into(),
        role: Role::User,
    };
    match store.users().register(bad_email).await.unwrap_err() {
        Error::Validation { field, .. } => assert_eq!(field, "user.email"),
        other => panic!("expected validation error, got {other}"),
    }
    let duplicate = NewUser {
        username: "ana".into(),
        email: "other@example.org".into(),
        password: "long enough".into(),
        role: Role::User,
    };
    assert!(matches!(
        store.users().register(duplicate).await.unwrap_err(),
        Error::Conflict { .. }
    ));

    let enabled = store
        .users()
        .enable_two_factor(user.id, user.version, "JBSWY3DPEHPK3PXP")
        .await
        .unwrap();
    assert!(enabled.data.two_factor_enabled);
    let sealed = enabled.data.two_factor_secret.unwrap();
    assert!(!sealed.ciphertext.contains("JBSWY3DPEHPK3PXP"));
}

async fn service_accounts_authenticate_by_key(store: Store) {
    let (account, key) = store
        .service_accounts()
        .create_account(NewServiceAccount {
            name: "node-red".into(),
            role: Role::Developer,
            expires_at: None,
        })
        .await
        .unwrap();
    assert!(!account.data.key_hash.contains(&key));
    assert_eq!(
        store
            .service_accounts()
            .authenticate(&key)
            .await
            .unwrap()
            .id,
        account.id
    );

    let mut tampered = key.clone();
    tampered.push('x');
    assert!(matches!(
        store
            .service_accounts()
            .authenticate(&tampered)
            .await
            .unwrap_err(),
        Error::Unauthorized { .. }
    ));
    assert!(matches!(
        store
            .service_accounts()
            .authenticate("garbage")
            .await
            .unwrap_err(),
        Error::Unauthorized { .. }
    ));

    let mut disabled = account.data.clone();
    disabled.disabled = true;
    store
        .service_accounts()
        .update(account.id, 1, disabled)
        .await
        .unwrap();
    let err = store
        .service_accounts()
        .authenticate(&key)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");

    let (_expired, expired_key) = store
        .service_accounts()
        .create_account(NewServiceAccount {
            name: "old".into(),
            role: Role::User,
            expires_at: Some(Utc::now() - chrono::Duration::hours(1)),
        })
        .await
        .unwrap();
    let err = store
        .service_accounts()
        .authenticate(&expired_key)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

async fn list_pages_by_id_with_cursor(store: Store) {
    let cat = catalog(&store, "c").await;
    let ctl = control(&store, &cat, "x").await;
    let items: Vec<Computation> = (1..=25)
        .map(|d| computation(ctl.id, d, json!(d % 2 == 0)))
        .collect();
    let stored = store.computations().bulk_insert(items).await.unwrap();

    let mut seen = Vec::new();
    let mut options = ListOptions::new().limit(10);
    loop {
        let page = store.computations().list(&options).await.unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next_cursor {
            Some(cursor) => options = options.cursor(cursor),
            None => break,
        }
    }
    let expected: Vec<Uuid> = stored.iter().map(|r| r.id).collect();
    assert_eq!(seen, expected);

    let filtered = ListOptions::new().filter(json!({ "value": true })).limit(5);
    let page = store.computations().list(&filtered).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.next_cursor.is_some());
    assert_eq!(
        store
            .computations()
            .count(&json!({ "value": true }))
            .await
            .unwrap(),
        12
    );
}

async fn list_sorted_pages_are_stable(store: Store) {
    let cat = catalog(&store, "c").await;
    let ctl = control(&store, &cat, "x").await;
    // Values repeat so that ties are broken by id.
    let items: Vec<Computation> = (1..=20)
        .map(|d| computation(ctl.id, d, json!(d % 4)))
        .collect();
    store.computations().bulk_insert(items).await.unwrap();

    let mut values = Vec::new();
    let mut ids = Vec::new();
    let mut options = ListOptions::new()
        .sort(json!({ "value": -1, "period.from": 1 }))
        .limit(3);
    loop {
        let page = store.computations().list(&options).await.unwrap();
        for item in &page.items {
            values.push(item.data.value.as_i64().unwrap());
            ids.push(item.id);
        }
        match page.next_cursor {
            Some(cursor) => options = options.cursor(cursor),
            None => break,
        }
    }
    assert_eq!(values.len(), 20);
    let mut sorted = values.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(values, sorted);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "no item repeated or skipped across pages");
}

async fn list_rejects_bad_options(store: Store) {
    let where_op = store
        .computations()
        .list(&ListOptions::new().filter(json!({ "$where": "1" })))
        .await
        .unwrap_err();
    assert!(where_op.to_string().contains("$where"), "{where_op}");
    let too_big = store
        .computations()
        .list(&ListOptions::new().limit(1_000_000))
        .await
        .unwrap_err();
    match too_big {
        Error::Validation { field, .. } => assert_eq!(field, "limit"),
        other => panic!("expected validation error, got {other}"),
    }
    let bad_cursor = store
        .computations()
        .list(&ListOptions::new().cursor("not-a-cursor"))
        .await
        .unwrap_err();
    match bad_cursor {
        Error::Validation { field, .. } => assert_eq!(field, "cursor"),
        other => panic!("expected validation error, got {other}"),
    }
    let bad_sort = store
        .computations()
        .list(&ListOptions::new().sort(json!({ "value": 2 })))
        .await
        .unwrap_err();
    assert!(matches!(bad_sort, Error::Validation { .. }), "{bad_sort}");
}

async fn filter_values_are_bound_not_spliced(store: Store) {
    let cat = catalog(&store, "c").await;
    control(&store, &cat, "x").await;
    let injection = json!({ "catalog_id": "' OR 1=1 --" });
    assert_eq!(store.controls().count(&injection).await.unwrap(), 0);
    let page = store
        .controls()
        .list(&ListOptions::new().filter(injection))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(store.controls().count(&Value::Null).await.unwrap(), 1);
}

async fn every_entity_supports_find_and_count(store: Store) {
    let cat = catalog(&store, "c").await;
    control(&store, &cat, "x").await;
    store
        .mashups()
        .create(Mashup {
            name: "m".into(),
            folder_id: None,
            nodes: vec![],
        })
        .await
        .unwrap();
    store
        .linkers()
        .create(linker_using("nothing"))
        .await
        .unwrap();
    assert_eq!(
        store
            .catalogs()
            .count(&json!({ "name": "c" }))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .controls()
            .count(&json!({ "name": { "$in": ["x", "y"] } }))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .mashups()
            .count(&json!({ "nodes": { "$size": 0 } }))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .linkers()
            .count(&json!({ "spec.sources.datasource": "nothing" }))
            .await
            .unwrap(),
        1
    );
    assert!(store
        .mashups()
        .find_one(json!({ "name": "zzz" }))
        .await
        .unwrap()
        .is_none());
}

async fn large_integers_rejected_everywhere(store: Store) {
    let cat = catalog(&store, "c").await;
    let ctl = control(&store, &cat, "x").await;
    let too_large = computation(ctl.id, 1, json!({ "n": [1, u64::MAX] }));
    match store.computations().create(too_large).await.unwrap_err() {
        Error::Validation { field, reason } => {
            assert_eq!(field, "computation.value.n[1]");
            assert!(reason.contains("18446744073709551615"), "{reason}");
        }
        other => panic!("expected validation error, got {other}"),
    }
    let largest = computation(
        ctl.id,
        2,
        json!({ "n": i64::MAX, "f": 0.1, "negative": i64::MIN }),
    );
    let stored = store.computations().create(largest).await.unwrap();
    let read = store.computations().get(stored.id).await.unwrap();
    assert_eq!(read.data.value["n"], json!(i64::MAX));
    assert_eq!(read.data.value["negative"], json!(i64::MIN));
    assert_eq!(read.data.value["f"], json!(0.1));
}

conformance!(
    large_integers_rejected_everywhere,
    catalog_crud_round_trip,
    update_with_stale_version_conflicts,
    concurrent_updates_one_wins,
    unique_violation_is_conflict,
    validation_names_the_field,
    finalized_control_cannot_return_to_draft,
    bulk_insert_is_all_or_nothing,
    computation_needs_existing_control,
    datasource_in_use_cannot_be_deleted,
    datasource_rejects_inline_credentials,
    folder_tree_rejects_cycles,
    guarantee_points_unique_on_tuple,
    users_hash_passwords_with_argon2id,
    service_accounts_authenticate_by_key,
    list_pages_by_id_with_cursor,
    list_sorted_pages_are_stable,
    list_rejects_bad_options,
    filter_values_are_bound_not_spliced,
    every_entity_supports_find_and_count,
);
