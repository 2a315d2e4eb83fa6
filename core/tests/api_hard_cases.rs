//! Library API hard cases: cursors, secret renames and URL redaction.

mod common;

use polystat::model::{Mashup, NewSecret};
use polystat::{ListOptions, StoreConfig};
use serde_json::json;

use common::open_store;

#[tokio::test]
async fn cursor_from_other_sort_is_rejected() {
    let (_dir, store) = open_store().await;
    let mashups = (0..10)
        .map(|i| Mashup {
            name: format!("m{i}"),
            folder_id: None,
            nodes: vec![json!({"w": i})],
        })
        .collect();
    store.mashups().bulk_insert(mashups).await.unwrap();
    let page = store
        .mashups()
        .list(&ListOptions::new().sort(json!({"name": 1})).limit(3))
        .await
        .unwrap();
    let cursor = page.next_cursor.expect("more pages");
    let other = ListOptions::new()
        .sort(json!({"nodes.w": 1}))
        .cursor(cursor);
    let result = store.mashups().list(&other).await;
    assert!(
        result.is_err(),
        "cursor of a name sort was accepted by a nodes.w sort: {:?}",
        result.map(|page| page.items.len())
    );
}

#[tokio::test]
async fn renamed_secret_still_reveals() {
    let (_dir, store) = open_store().await;
    let secret = store
        .secrets()
        .create_secret(NewSecret::new("github-token", "value-1"))
        .await
        .unwrap();
    let mut renamed = secret.data.clone();
    renamed.name = "renamed-token".into();
    let updated = store
        .secrets()
        .update(secret.id, secret.version, renamed)
        .await;
    if updated.is_err() {
        return; // Rejecting a rename through update is also acceptable.
    }
    let value = store.secrets().reveal(secret.id).await;
    assert_eq!(
        value.ok().as_deref(),
        Some("value-1"),
        "rename made the secret unreadable"
    );
}

#[test]
fn store_config_debug_hides_url_password() {
    let config = StoreConfig {
        relational_url: "postgres://polystat:pw-SENTINEL@127.0.0.1/polystat".into(),
        ..StoreConfig::default()
    };
    let debug = format!("{config:?}");
    assert!(!debug.contains("pw-SENTINEL"), "{debug}");
}

#[test]
fn redact_url_hides_password_with_at_sign() {
    let redacted = polystat::config::redact_url("postgres://user:p@ss@db.internal/polystat");
    assert!(!redacted.contains("ss@db"), "{redacted}");
}

#[test]
fn redact_url_hides_query_password() {
    let redacted = polystat::config::redact_url(
        "postgres://polystat@127.0.0.1/polystat?Password=pw-SENTINEL&sslmode=disable",
    );
    assert!(!redacted.contains("pw-SENTINEL"), "{redacted}");
    assert!(redacted.ends_with("&sslmode=disable"), "{redacted}");
    let with_at =
        polystat::config::redact_url("postgres://db.internal/polystat?password=p@ss-SENTINEL");
    assert!(!with_at.contains("SENTINEL"), "{with_at}");
}

#[test]
fn redact_url_hides_password_without_host() {
    // A URL missing its `@host` reads the password as a port.
    let redacted = polystat::config::redact_url("postgres://polystat:pw-SENTINEL");
    assert!(!redacted.contains("pw-SENTINEL"), "{redacted}");
}

#[test]
fn redact_url_hides_password_with_question_mark() {
    let redacted = polystat::config::redact_url(
        "postgres://user:pa?ss-SENTINEL@db.internal/polystat?sslmode=disable",
    );
    assert!(!redacted.contains("SENTINEL"), "{redacted}");
    assert!(
        redacted.ends_with("@db.internal/polystat?sslmode=disable"),
        "{redacted}"
    );
}

#[test]
fn redact_url_keeps_numeric_ports() {
    let url = "mongodb://[::1]:27017,127.0.0.1:27018/polystat?replicaSet=rs0";
    assert_eq!(polystat::config::redact_url(url), url);
}

#[tokio::test]
async fn cursor_from_other_collection_is_rejected() {
    let (_dir, store) = open_store().await;
    let mashups = (0..3)
        .map(|i| Mashup {
            name: format!("m{i}"),
            folder_id: None,
            nodes: Vec::new(),
        })
        .collect();
    store.mashups().bulk_insert(mashups).await.unwrap();
    let page = store
        .mashups()
        .list(&ListOptions::new().limit(1))
        .await
        .unwrap();
    let cursor = page.next_cursor.expect("more pages");
    let result = store
        .folders()
        .list(&ListOptions::new().limit(1).cursor(cursor))
        .await;
    let error = result.expect_err("a mashups cursor was accepted by folders");
    assert_eq!(error.code(), "VALIDATION", "{error}");
}
