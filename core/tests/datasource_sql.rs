//! SQL datasources on SQLite and PostgreSQL, and MongoDB datasources on the
//! test MongoDB server.

mod common;

use polystat::datasource::projection::Projection;
use polystat::datasource::sql::check_read_only;
use polystat::model::{Datasource, DefinitionId, NewSecret, TestStatus};
use polystat::{Error, Store};
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;

use common::{open_store, server_url, unique_name};

fn datasource(definition: DefinitionId, config: Value) -> Datasource {
    let mut datasource = Datasource::file("db", "");
    datasource.definition_id = definition;
    datasource.config = config;
    datasource
}

async fn sqlite_evidence(dir: &TempDir) {
    let path = dir.path().join("evidence.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE reviews (id INTEGER, pr INTEGER, login TEXT, score REAL, raw BLOB)",
        "INSERT INTO reviews VALUES (1, 41, 'dev-1', 0.5, x'00ff'), (2, 41, 'dev-2', NULL, NULL), (3, 51, 'dev-3', 1.0, NULL)",
    ] {
        sqlx::query(statement).execute(&mut connection).await.unwrap();
    }
    connection.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_query_binds_parameters() {
    let (dir, store) = open_store().await;
    sqlite_evidence(&dir).await;
    let config = json!({
        "url": "sqlite://evidence.db",
        "query": "SELECT id, login, score, raw FROM reviews WHERE pr = ? ORDER BY id;",
        "params": [41]
    });
    let records = store
        .fetch_records(&datasource(DefinitionId::Sql, config), None)
        .await
        .unwrap();
    assert_eq!(
        records,
        [
            json!({ "id": 1, "login": "dev-1", "score": 0.5, "raw": "AP8=" }),
            json!({ "id": 2, "login": "dev-2", "score": null, "raw": null }),
        ]
    );
}

#[tokio::test]
async fn sqlite_path_stays_in_data_root() {
    let (_dir, store) = open_store().await;
    let config = json!({ "url": "sqlite://../outside.db", "query": "SELECT 1" });
    let err = store
        .fetch_records(&datasource(DefinitionId::Sql, config), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("datasource.config.url"), "{err}");
}

#[tokio::test]
async fn sqlite_connection_test_records_status() {
    let (dir, store) = open_store().await;
    sqlite_evidence(&dir).await;
    let good = json!({ "url": "sqlite://evidence.db", "query": "SELECT * FROM reviews" });
    let good = store
        .datasources()
        .create(datasource(DefinitionId::Sql, good))
        .await
        .unwrap();
    assert_eq!(
        store.test_datasource(good.id).await.unwrap().status,
        TestStatus::Ok
    );
    let mut bad = datasource(
        DefinitionId::Sql,
        json!({ "url": "sqlite://evidence.db", "query": "SELECT * FROM missing" }),
    );
    bad.name = "bad".into();
    let bad = store.datasources().create(bad).await.unwrap();
    let test = store.test_datasource(bad.id).await.unwrap();
    assert_eq!(test.status, TestStatus::Failed);
    let stored = store.datasources().get(bad.id).await.unwrap();
    assert_eq!(stored.data.test_status, TestStatus::Failed);
}

#[test]
fn read_only_check_accepts_queries() {
    for query in [
        "SELECT 1",
        "  select * from t;  ",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "-- note\nSELECT ';' AS semi /* ; */ ;",
        "(SELECT 1)",
        "SELECT \"a;b\" FROM t; -- trailing comment",
    ] {
        assert!(check_read_only(query).is_ok(), "{query}");
    }
}

#[test]
fn read_only_check_rejects_statements() {
    for query in [
        "",
        "  ;",
        "DELETE FROM t",
        "UPDATE t SET a = 1",
        "INSERT INTO t VALUES (1)",
        "DROP TABLE t",
        "SELECT 1; DROP TABLE t",
        "SELECT 1;;SELECT 2",
        "PRAGMA query_only = OFF",
        "/* SELECT */ DELETE FROM t",
        "SELECT 'unterminated",
        "ATTACH DATABASE 'x' AS y",
    ] {
        let err = check_read_only(query).unwrap_err();
        match err {
            Error::Validation { field, .. } => assert_eq!(field, "datasource.config.query"),
            other => panic!("{query}: {other}"),
        }
    }
}

#[test]
fn sql_config_errors_name_the_field() {
    let base = json!({ "url": "postgres://ci@127.0.0.1/db", "query": "SELECT 1" });
    let cases = [
        ("url", json!("mysql://h/db"), "datasource.config.url"),
        (
            "url",
            json!("postgres://ci:pw@127.0.0.1/db"),
            "datasource.config.url",
        ),
        ("query", json!("DELETE FROM t"), "datasource.config.query"),
        ("params", json!([[1]]), "datasource.config.params[0]"),
        ("timeoutMs", json!(0), "datasource.config.timeoutMs"),
    ];
    for (key, value, field) in cases {
        let mut config = base.clone();
        config[key] = value;
        let err =
            polystat::model::Entity::validate(&datasource(DefinitionId::Sql, config)).unwrap_err();
        match err {
            Error::Validation { field: got, .. } => assert_eq!(got, field, "{key}"),
            other => panic!("{key}: {other}"),
        }
    }
}

/// Splits the test server URL into the URL without its password, and the password.
fn split_password(url: &str) -> (String, Option<String>) {
    let mut parsed = url::Url::parse(url).expect("server URL");
    let password = parsed.password().map(str::to_string);
    parsed.set_password(None).expect("set password");
    (parsed.to_string(), password)
}

async fn postgres_store_with_table() -> (TempDir, Store, String, String) {
    let server = server_url("POLYSTAT_TEST_POSTGRES_URL");
    let schema = unique_name();
    let mut connection = sqlx::PgConnection::connect(&server).await.unwrap();
    for statement in [
        format!("CREATE SCHEMA {schema}"),
        format!("CREATE SEQUENCE {schema}.counter"),
        format!("CREATE TABLE {schema}.pulls (number int, merged boolean, meta jsonb, merged_at timestamptz)"),
        format!(
            "INSERT INTO {schema}.pulls VALUES (41, true, '{{\"a\": 1}}', '2021-01-02T03:04:05Z'), (42, false, NULL, NULL)"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    connection.close().await.unwrap();
    let (url, password) = split_password(&server);
    let (dir, store) = open_store().await;
    if let Some(password) = password {
        store
            .secrets()
            .create_secret(NewSecret::new("pg-password", password))
            .await
            .unwrap();
    }
    (dir, store, schema, url)
}

async fn drop_schema(schema: &str) {
    let server = server_url("POLYSTAT_TEST_POSTGRES_URL");
    let mut connection = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut connection)
        .await
        .unwrap();
}

fn postgres_datasource(url: &str, query: String, params: Value) -> Datasource {
    let mut datasource = datasource(
        DefinitionId::Sql,
        json!({ "url": url, "query": query, "params": params }),
    );
    datasource
        .credentials
        .insert("password".into(), json!({ "secret": "pg-password" }));
    datasource
}

#[tokio::test]
async fn postgres_rows_become_objects() {
    let (_dir, store, schema, url) = postgres_store_with_table().await;
    let query = format!("SELECT number, merged, meta, merged_at FROM {schema}.pulls WHERE merged = $1 OR number > $2 ORDER BY number");
    let records = store
        .fetch_records(&postgres_datasource(&url, query, json!([true, 41])), None)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["number"], 41);
    assert_eq!(records[0]["merged"], true);
    assert_eq!(records[0]["meta"], json!({ "a": 1 }));
    assert!(records[0]["merged_at"]
        .as_str()
        .unwrap()
        .starts_with("2021-01-02"));
    assert_eq!(
        records[1],
        json!({ "number": 42, "merged": false, "meta": null, "merged_at": null })
    );
    drop_schema(&schema).await;
}

#[tokio::test]
async fn postgres_writes_fail_in_read_only_transaction() {
    let (_dir, store, schema, url) = postgres_store_with_table().await;
    // Both pass the statement check; the server rejects them.
    let delete =
        format!("WITH gone AS (DELETE FROM {schema}.pulls RETURNING *) SELECT * FROM gone");
    let err = store
        .fetch_records(&postgres_datasource(&url, delete, json!([])), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");
    let write = format!("SELECT nextval('{schema}.counter') AS n");
    let err = store
        .fetch_records(&postgres_datasource(&url, write, json!([])), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let count = format!("SELECT count(*) AS n FROM {schema}.pulls");
    let rows = store
        .fetch_records(&postgres_datasource(&url, count, json!([])), None)
        .await
        .unwrap();
    assert_eq!(rows, [json!({ "n": 2 })]);
    drop_schema(&schema).await;
}

#[tokio::test]
async fn postgres_limit_and_connection_test() {
    let (_dir, store, schema, url) = postgres_store_with_table().await;
    let query = format!("SELECT number FROM {schema}.pulls ORDER BY number");
    let source = postgres_datasource(&url, query, json!([]));
    let records = store.fetch_records(&source, Some(1)).await.unwrap();
    assert_eq!(records, [json!({ "number": 41 })]);
    let created = store.datasources().create(source).await.unwrap();
    let test = store.test_datasource(created.id).await.unwrap();
    assert_eq!(test.status, TestStatus::Ok, "{:?}", test.message);
    drop_schema(&schema).await;
}

async fn mongo_collection() -> (String, String) {
    let server = server_url("POLYSTAT_TEST_MONGODB_URL");
    let database = unique_name();
    let client = mongodb::Client::with_uri_str(&server).await.unwrap();
    let collection = client
        .database(&database)
        .collection::<mongodb::bson::Document>("pulls");
    let documents = (1..=5).map(|n| {
        mongodb::bson::doc! { "number": n, "state": if n % 2 == 0 { "open" } else { "closed" } }
    });
    collection.insert_many(documents).await.unwrap();
    (server, database)
}

async fn drop_database(server: &str, database: &str) {
    let client = mongodb::Client::with_uri_str(server).await.unwrap();
    client.database(database).drop().await.unwrap();
}

#[tokio::test]
async fn mongodb_filter_and_limit() {
    let (server, database) = mongo_collection().await;
    let (_dir, store) = open_store().await;
    let config = json!({
        "url": server,
        "database": database,
        "collection": "pulls",
        "filter": { "state": "closed", "number": { "$gte": 2 } }
    });
    let source = datasource(DefinitionId::Mongodb, config.clone());
    let mut numbers: Vec<i64> = store
        .fetch_records(&source, None)
        .await
        .unwrap()
        .iter()
        .map(|r| r["number"].as_i64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, [3, 5]);

    let mut limited = config;
    limited["filter"] = json!({});
    limited["limit"] = json!(2);
    let records = store
        .fetch_records(&datasource(DefinitionId::Mongodb, limited), None)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);

    let created = store.datasources().create(source).await.unwrap();
    let test = store.test_datasource(created.id).await.unwrap();
    assert_eq!(test.status, TestStatus::Ok, "{:?}", test.message);
    drop_database(&server, &database).await;
}

#[tokio::test]
async fn mongodb_projection_keeps_fields_and_arrays() {
    let (server, database) = mongo_collection().await;
    let client = mongodb::Client::with_uri_str(&server).await.unwrap();
    let reviews = client
        .database(&database)
        .collection::<mongodb::bson::Document>("reviews");
    let labels = vec![mongodb::bson::doc! { "name": "bug", "color": "red" }];
    reviews
        .insert_one(mongodb::bson::doc! {
            "number": 4,
            "user": { "login": "ana", "id": 7 },
            "labels": labels,
            "body": "dropped",
        })
        .await
        .unwrap();
    let (_dir, store) = open_store().await;
    let config = json!({ "url": server, "database": database, "collection": "reviews" });
    let source = datasource(DefinitionId::Mongodb, config);

    let paths = ["number", "user.login", "labels.0.name"];
    let projection = Projection::new(paths);
    let records = store
        .fetch_projected(&source, None, Some(projection))
        .await
        .unwrap();
    let expected = json!({
        "number": 4,
        "user": { "login": "ana" },
        "labels": [{ "name": "bug", "color": "red" }]
    });
    assert_eq!(records, vec![expected]);

    let with_id = Projection::new(["_id", "number"]);
    let records = store
        .fetch_projected(&source, None, Some(with_id))
        .await
        .unwrap();
    let fields: Vec<&String> = records[0].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["_id", "number"]);

    // BSON keys cannot hold NUL, so such a name is pruned locally instead.
    let with_nul = Projection::new(["a\u{0}b", "number"]);
    let records = store
        .fetch_projected(&source, None, Some(with_nul))
        .await
        .unwrap();
    assert_eq!(records, vec![json!({ "number": 4 })]);
    drop_database(&server, &database).await;
}

#[test]
fn mongodb_config_errors_name_the_field() {
    let base = json!({ "url": "mongodb://127.0.0.1:1/", "database": "d", "collection": "c" });
    let cases = [
        ("url", json!("http://h/"), "datasource.config.url"),
        ("url", json!("mongodb://u:pw@h/"), "datasource.config.url"),
        ("database", json!("a.b"), "datasource.config.database"),
        (
            "collection",
            json!("system.users"),
            "datasource.config.collection",
        ),
        ("filter", json!([1]), "datasource.config.filter"),
        ("limit", json!(0), "datasource.config.limit"),
    ];
    for (key, value, field) in cases {
        let mut config = base.clone();
        config[key] = value;
        let err = polystat::model::Entity::validate(&datasource(DefinitionId::Mongodb, config))
            .unwrap_err();
        match err {
            Error::Validation { field: got, .. } => assert_eq!(got, field, "{key}"),
            other => panic!("{key}: {other}"),
        }
    }
    let mut unsupported = base;
    unsupported["filter"] = json!({ "$where": "sleep(1000)" });
    let err = polystat::model::Entity::validate(&datasource(DefinitionId::Mongodb, unsupported))
        .unwrap_err();
    assert!(
        err.to_string().contains("datasource.config.filter"),
        "{err}"
    );
}
