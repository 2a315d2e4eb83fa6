//! Data shared by the suites: a store with one control and computations
//! shaped like those the main job writes.

use chrono::{TimeZone, Utc};
use polystat::model::{Catalog, Computation, Control, Evidence, Period};
use polystat::Store;
use serde_json::{json, Map};
use uuid::Uuid;

/// Creates the catalog and control that computations reference.
pub async fn control(store: &Store) -> anyhow::Result<Uuid> {
    let catalog = store
        .catalogs()
        .create(Catalog::new(format!("bench {}", Uuid::now_v7())))
        .await?;
    let control = store
        .controls()
        .create(Control::new(catalog.id, "cm-3"))
        .await?;
    Ok(control.id)
}

/// `count` computations of `control_id`, each with three evidences.
pub fn computations(control_id: Uuid, count: usize) -> Vec<Computation> {
    let group = Uuid::now_v7();
    (0..count)
        .map(|i| {
            let from = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(i as i64);
            let to = from + chrono::Duration::hours(1);
            let evidences = (0..3)
                .map(|e| Evidence {
                    id: format!("cm-3:{i}:{e}"),
                    key: format!("{}", i * 3 + e),
                    value: json!({ "number": i * 3 + e, "author": "dev-001", "reviewers": ["dev-002"] }),
                    result: e != 2,
                    from: Some(from),
                    to: Some(to),
                })
                .collect();
            let mut scope = Map::new();
            scope.insert("repository".into(), json!("ants"));
            Computation {
                computation_group: group,
                control_id,
                scope,
                period: Period { from, to },
                value: json!(false),
                evidences,
            }
        })
        .collect()
}

/// Items per second.
pub fn throughput(count: usize, elapsed: std::time::Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Reads a server URL from `variable`; it must start with `scheme`, such as
/// `postgres://`. The error names the variable and never shows the URL,
/// which may carry a password.
pub fn required_url(variable: &str, scheme: &str) -> anyhow::Result<String> {
    match std::env::var(variable) {
        Ok(url) if url.starts_with(scheme) => Ok(url),
        Ok(_) => anyhow::bail!("{variable} is not a {scheme} URL; set it to one"),
        Err(_) => anyhow::bail!("{variable} is not set; set it to a {scheme} URL"),
    }
}

/// Returns a unique name for a run's PostgreSQL schema, MongoDB database and Redis
/// key prefix, so runs never see each other's data.
pub fn fresh_name() -> String {
    format!("bench_{}", Uuid::now_v7().simple())
}

pub fn with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options[search_path]={schema}")
}

/// Returns the MongoDB URL with `database` as its path, keeping hosts and
/// options.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mongodb", url));
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    let options = path.split_once('?').map(|(_, query)| query);
    match options {
        Some(query) => format!("{scheme}://{hosts}/{database}?{query}"),
        None => format!("{scheme}://{hosts}/{database}"),
    }
}

/// Returns the Redis URL that puts every cache key under the prefix `NAME:`.
pub fn with_prefix(url: &str, name: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}prefix={name}:")
}

/// Drops a schema that [`with_schema`] named, with everything in it.
pub async fn drop_schema(postgres_url: &str, schema: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(postgres_url).await?;
    let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await?;
    Ok(())
}
