//! REST API datasources against in-test servers on loopback: pagination,
//! authentication, retries, timeouts, redirects, limits and bad configs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polystat::datasource::credentials::REDACTED;
use polystat::model::{Datasource, DefinitionId, NewSecret, TestStatus};
use polystat::{Error, Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use common::http::{link_page, Request, Response, TestServer};
use common::TEST_MASTER_KEY;

async fn open_store(dir: &TempDir) -> Store {
    let config = StoreConfig::embedded(dir.path().join("polystat.db"))
        .with_master_key(TEST_MASTER_KEY)
        .expect("master key")
        .with_data_root(dir.path())
        .with_http_allow(["127.0.0.1"]);
    Store::open(config).await.expect("open store")
}

fn rest(config: Value) -> Datasource {
    let mut datasource = Datasource::file("api", "");
    datasource.definition_id = DefinitionId::RestApi;
    datasource.config = config;
    datasource
}

fn items(count: usize) -> Vec<Value> {
    (1..=count).map(|n| json!({ "id": n })).collect()
}

/// Builds a config that reads `/items` from `server` with fast retries.
fn items_config(server: &TestServer) -> Value {
    json!({
        "baseUrl": format!("{}/v1", server.url()),
        "endpoints": { "items": { "path": "/items" } },
        "limits": { "backoffMs": 10, "maxBackoffMs": 50 }
    })
}

#[tokio::test]
async fn page_number_pagination_reads_all_pages() {
    let all = items(5);
    let server = TestServer::start(move |request| {
        let page = request.query_usize("page").unwrap_or(1);
        let size = request.query_usize("size").unwrap_or(2);
        let start = ((page - 1) * size).min(all.len());
        let end = (start + size).min(all.len());
        Response::json(&json!({ "data": { "items": all[start..end] } }))
    })
    .await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["recordsPath"] = json!("data.items");
    config["pagination"] = json!({ "type": "pageNumber", "sizeParam": "size", "pageSize": 2 });
    let records = store.fetch_records(&rest(config), None).await.unwrap();
    assert_eq!(records, items(5));
    let pages: Vec<Option<usize>> = server
        .requests()
        .iter()
        .map(|r| r.query_usize("page"))
        .collect();
    assert_eq!(pages, [Some(1), Some(2), Some(3)]);
    assert_eq!(server.requests()[0].path, "/v1/items");
}

#[tokio::test]
async fn link_header_pagination_follows_next() {
    let all = items(7);
    let server = TestServer::start(move |request| {
        let base = format!("http://{}{}", request.header("host").unwrap(), request.path);
        link_page(request, &all, &base, "")
    })
    .await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["pagination"] = json!({ "type": "linkHeader" });
    config["endpoints"]["items"]["query"] = json!({ "per_page": "3" });
    let records = store
        .fetch_records(&rest(config.clone()), None)
        .await
        .unwrap();
    assert_eq!(records, items(7));
    assert_eq!(server.requests().len(), 3);

    config["limits"]["maxPages"] = json!(2);
    let err = store.fetch_records(&rest(config), None).await.unwrap_err();
    assert!(err.to_string().contains("maxPages"), "{err}");
}

/// Echoes the credential headers of each request as one record.
fn echo_headers(request: &Request) -> Response {
    let header = |name: &str| request.header(name).map(str::to_string);
    Response::json(&json!([{
        "authorization": header("authorization"),
        "cookie": header("cookie"),
        "apiKey": header("x-api-key"),
        "accept": header("accept"),
    }]))
}

#[tokio::test]
async fn auth_schemes_send_their_headers() {
    let server = TestServer::start(echo_headers).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    store
        .secrets()
        .create_secret(NewSecret::new("api-secret", "s3cret"))
        .await
        .unwrap();
    let cases = [
        (
            json!({ "type": "bearer" }),
            "token",
            "authorization",
            "Bearer s3cret",
        ),
        (
            json!({ "type": "basic", "username": "ci" }),
            "password",
            "authorization",
            "Basic Y2k6czNjcmV0",
        ),
        (
            json!({ "type": "apiKey", "header": "X-API-Key" }),
            "apiKey",
            "apiKey",
            "s3cret",
        ),
        (
            json!({ "type": "cookie", "name": "session" }),
            "cookie",
            "cookie",
            "session=s3cret",
        ),
    ];
    for (auth, role, echoed, expected) in cases {
        let mut config = items_config(&server);
        config["auth"] = auth.clone();
        config["headers"] = json!({ "Accept": "application/json" });
        let mut datasource = rest(config);
        datasource
            .credentials
            .insert(role.into(), json!({ "secret": "api-secret" }));
        let records = store.fetch_records(&datasource, None).await.unwrap();
        assert_eq!(records[0][echoed], expected, "{auth}");
        assert_eq!(records[0]["accept"], "application/json", "{auth}");
    }
}

#[tokio::test]
async fn missing_credential_names_the_role() {
    let server = TestServer::start(echo_headers).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["auth"] = json!({ "type": "bearer" });
    let err = store.fetch_records(&rest(config), None).await.unwrap_err();
    assert!(
        err.to_string().contains("datasource.credentials.token"),
        "{err}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn inline_credential_is_sealed_and_redacted() {
    let server = TestServer::start(echo_headers).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["auth"] = json!({ "type": "bearer" });
    let mut datasource = rest(config);
    datasource
        .credentials
        .insert("token".into(), json!({ "value": "inline-token" }));
    let created = store.datasources().create(datasource).await.unwrap();
    let read = store.datasources().get(created.id).await.unwrap();
    let text = serde_json::to_string(&read.data).unwrap();
    assert!(!text.contains("inline-token"), "{text}");
    assert_eq!(read.data.credentials["token"]["value"], REDACTED);
    assert!(read.data.credentials["token"]["sealed"].is_object());
    assert!(!format!("{:?}", read.data).contains("inline-token"));

    let records = store.fetch_records(&read.data, None).await.unwrap();
    assert_eq!(records[0]["authorization"], "Bearer inline-token");

    // Sending the record back unchanged keeps the sealed value.
    let updated = store
        .datasources()
        .update(read.id, read.version, read.data.clone())
        .await
        .unwrap();
    let records = store.fetch_records(&updated.data, None).await.unwrap();
    assert_eq!(records[0]["authorization"], "Bearer inline-token");

    let mut marker_only = read.data.clone();
    marker_only
        .credentials
        .insert("token".into(), json!({ "value": REDACTED }));
    let err = store
        .datasources()
        .update(updated.id, updated.version, marker_only)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("datasource.credentials.token"),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = TestServer::start(move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 => Response::status(503),
        1 => Response::status(429).header("retry-after", "0"),
        _ => Response::json(&json!([{ "ok": true }])),
    })
    .await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let records = store
        .fetch_records(&rest(items_config(&server)), None)
        .await
        .unwrap();
    assert_eq!(records, [json!({ "ok": true })]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_end_with_unavailable() {
    let server = TestServer::start(|_| Response::status(500)).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["limits"]["maxRetries"] = json!(2);
    let err = store.fetch_records(&rest(config), None).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn long_retry_after_is_rate_limited() {
    let server = TestServer::start(|_| Response::status(429).header("retry-after", "3600")).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let err = store
        .fetch_records(&rest(items_config(&server)), None)
        .await
        .unwrap_err();
    match err {
        Error::RateLimited { retry_after } => assert_eq!(retry_after, Duration::from_secs(3600)),
        other => panic!("{other}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn slow_response_times_out() {
    let server =
        TestServer::start(|_| Response::json(&json!([])).delayed(Duration::from_secs(5))).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["limits"]["timeoutMs"] = json!(200);
    let started = Instant::now();
    let err = store.fetch_records(&rest(config), None).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn refused_connection_is_retried_then_fails() {
    // Binding and dropping a listener gives a port with no listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let config = json!({
        "baseUrl": format!("http://127.0.0.1:{port}"),
        "endpoints": { "items": { "path": "/items" } },
        "limits": { "maxRetries": 2, "backoffMs": 10, "maxBackoffMs": 20 }
    });
    let err = store.fetch_records(&rest(config), None).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn oversized_response_is_rejected() {
    let server =
        TestServer::start(|_| Response::json(&json!([{ "blob": "x".repeat(4096) }]))).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let mut config = items_config(&server);
    config["limits"]["maxResponseBytes"] = json!(1024);
    let err = store.fetch_records(&rest(config), None).await.unwrap_err();
    assert!(err.to_string().contains("maxResponseBytes"), "{err}");
}

#[tokio::test]
async fn redirects_keep_credentials_on_origin() {
    let other = TestServer::start(echo_headers).await;
    let other_url = other.url();
    let server = TestServer::start(move |request| match request.path.as_str() {
        "/old" => Response::status(302).header("location", "/items"),
        "/away" => Response::status(307).header("location", format!("{other_url}/items")),
        "/loop" => Response::status(302).header("location", "/loop"),
        _ => echo_headers(request),
    })
    .await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let fetch = |path: &str| {
        let mut config = items_config(&server);
        config["baseUrl"] = json!(server.url());
        config["endpoints"]["items"]["path"] = json!(path);
        config["auth"] = json!({ "type": "bearer" });
        let mut datasource = rest(config);
        datasource
            .credentials
            .insert("token".into(), json!({ "value": "t0ken" }));
        let store = store.clone();
        async move { store.fetch_records(&datasource, None).await }
    };

    let same_origin = fetch("/old").await.unwrap();
    assert_eq!(same_origin[0]["authorization"], "Bearer t0ken");

    let cross_origin = fetch("/away").await.unwrap();
    assert_eq!(cross_origin[0]["authorization"], Value::Null);
    assert_eq!(other.requests().len(), 1);

    let err = fetch("/loop").await.unwrap_err();
    assert!(err.to_string().contains("redirected more than"), "{err}");
}

#[tokio::test]
async fn redirect_to_blocked_address_is_rejected() {
    let server = TestServer::start(|_| {
        Response::status(302).header("location", "http://169.254.169.254/latest/meta-data/")
    })
    .await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let err = store
        .fetch_records(&rest(items_config(&server)), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("metadata"), "{err}");
}

#[tokio::test]
async fn connection_test_records_outcome() {
    let server = TestServer::start(|_| Response::json(&json!([{ "id": 1 }]))).await;
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir).await;
    let created = store
        .datasources()
        .create(rest(items_config(&server)))
        .await
        .unwrap();
    let test = store.test_datasource(created.id).await.unwrap();
    assert_eq!(test.status, TestStatus::Ok);
    let stored = store.datasources().get(created.id).await.unwrap();
    assert_eq!(stored.data.test_status, TestStatus::Ok);
    assert!(stored.data.last_tested_at.is_some());
}

#[test]
fn config_errors_name_the_field() {
    let base = json!({
        "baseUrl": "https://api.example.org",
        "endpoints": { "items": { "path": "/items" } }
    });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "baseUrl",
            json!("api.example.org"),
            "datasource.config.baseUrl",
        ),
        (
            "baseUrl",
            json!("https://u:p@api.example.org"),
            "datasource.config.baseUrl",
        ),
        ("endpoints", json!({}), "datasource.config.endpoints"),
        (
            "endpoints",
            json!({ "x": { "path": "https://evil.example/" } }),
            "datasource.config.endpoints.x.path",
        ),
        (
            "endpoints",
            json!({ "a": { "path": "/a" }, "b": { "path": "/b" } }),
            "datasource.config.defaultEndpoint",
        ),
        (
            "defaultEndpoint",
            json!("nope"),
            "datasource.config.defaultEndpoint",
        ),
        (
            "headers",
            json!({ "Authorization": "Bearer x" }),
            "datasource.config.headers.Authorization",
        ),
        (
            "headers",
            json!({ "bad header": "x" }),
            "datasource.config.headers.bad header",
        ),
        (
            "auth",
            json!({ "type": "basic", "username": "" }),
            "datasource.config.auth.username",
        ),
        (
            "auth",
            json!({ "type": "apiKey", "header": "a b" }),
            "datasource.config.auth.header",
        ),
        (
            "recordsPath",
            json!("data..items"),
            "datasource.config.recordsPath",
        ),
        (
            "pagination",
            json!({ "type": "pageNumber", "pageSize": 0 }),
            "datasource.config.pagination.pageSize",
        ),
        (
            "limits",
            json!({ "timeoutMs": 0 }),
            "datasource.config.limits.timeoutMs",
        ),
        (
            "limits",
            json!({ "maxRetries": 99 }),
            "datasource.config.limits.maxRetries",
        ),
        ("password", json!("x"), "datasource.config.password"),
    ];
    for (key, value, field) in cases {
        let mut config = base.clone();
        config[key] = value;
        let err = polystat::model::Entity::validate(&rest(config)).unwrap_err();
        match err {
            Error::Validation { field: got, reason } => {
                assert_eq!(got, field, "{key}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{key}: {other}"),
        }
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("baseUrl");
    let err = polystat::model::Entity::validate(&rest(missing)).unwrap_err();
    assert!(
        err.to_string().contains("datasource.config.baseUrl"),
        "{err}"
    );
    polystat::model::Entity::validate(&rest(base)).unwrap();
}

#[test]
fn credential_entries_are_checked() {
    let config = json!({
        "baseUrl": "https://api.example.org",
        "endpoints": { "items": { "path": "/items" } }
    });
    for entry in [
        json!("plain"),
        json!({ "value": "" }),
        json!({ "secret": 5 }),
    ] {
        let mut datasource = rest(config.clone());
        datasource.credentials.insert("token".into(), entry.clone());
        let err = polystat::model::Entity::validate(&datasource).unwrap_err();
        assert!(
            err.to_string().contains("datasource.credentials.token"),
            "{entry}: {err}"
        );
    }
}
