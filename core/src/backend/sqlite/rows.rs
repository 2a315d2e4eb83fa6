//! Row operations on the per-collection tables.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Row as _, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{unavailable, SqliteBackend};
use crate::backend::{KeyEquals, Row};
use crate::error::{Error, Result};
use crate::model::{format_instant, key_value, parse_instant, CollectionSpec};
use crate::query::Filter;

impl SqliteBackend {
    pub async fn insert(&self, spec: &CollectionSpec, rows: &[Row]) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| self.failed("begin", e))?;
        for row in rows {
            insert_row(&mut tx, spec, row)
                .await
                .map_err(|e| self.map_write(spec, row.id, e))?;
        }
        tx.commit().await.map_err(|e| self.failed("commit", e))
    }

    pub async fn replace(
        &self,
        spec: &CollectionSpec,
        delete_ids: &[Uuid],
        rows: &[Row],
    ) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| self.failed("begin", e))?;
        let delete = format!("DELETE FROM {} WHERE id = ?", spec.name);
        for id in delete_ids {
            sqlx::query(trusted(delete.clone()))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.map_write(spec, *id, e))?;
        }
        for row in rows {
            insert_row(&mut tx, spec, row)
                .await
                .map_err(|e| self.map_write(spec, row.id, e))?;
        }
        tx.commit().await.map_err(|e| self.failed("commit", e))
    }

    pub async fn get(&self, spec: &CollectionSpec, id: Uuid) -> Result<Option<Row>> {
        let sql = format!(
            "SELECT id, version, created_at, updated_at, data FROM {} WHERE id = ?",
            spec.name
        );
        let row = sqlx::query(trusted(sql.clone()))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed("read", e))?;
        row.map(|r| decode_row(spec, &r)).transpose()
    }

    pub async fn update(
        &self,
        spec: &CollectionSpec,
        row: &Row,
        expected_version: i64,
    ) -> Result<bool> {
        let mut sql = format!(
            "UPDATE {} SET version = ?, updated_at = ?, data = ?",
            spec.name
        );
        for key in spec.keys {
            sql.push_str(&format!(", {} = ?", key.column));
        }
        sql.push_str(" WHERE id = ? AND version = ?");
        let mut args = SqliteArguments::default();
        add(&mut args, row.version)?;
        add(&mut args, format_instant(&row.updated_at))?;
        add(&mut args, row.body.to_string())?;
        bind_keys(&mut args, spec, &row.body)?;
        add(&mut args, row.id.to_string())?;
        add(&mut args, expected_version)?;
        let result = sqlx::query_with(trusted(sql), args)
            .execute(&self.pool)
            .await
            .map_err(|e| self.map_write(spec, row.id, e))?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn delete(
        &self,
        spec: &CollectionSpec,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        let sql = match expected_version {
            Some(_) => format!("DELETE FROM {} WHERE id = ? AND version = ?", spec.name),
            None => format!("DELETE FROM {} WHERE id = ?", spec.name),
        };
        let mut query = sqlx::query(trusted(sql.clone())).bind(id.to_string());
        if let Some(version) = expected_version {
            query = query.bind(version);
        }
        let result = query
            .execute(&self.pool)
            .await
            .map_err(|e| self.map_write(spec, id, e))?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn scan(
        &self,
        spec: &CollectionSpec,
        keys: &[KeyEquals],
        _filter: &Filter,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let (where_sql, mut args) = key_conditions(keys, after)?;
        let sql = format!(
            "SELECT id, version, created_at, updated_at, data FROM {}{where_sql} ORDER BY id LIMIT ?",
            spec.name
        );
        add(&mut args, i64::try_from(limit).unwrap_or(i64::MAX))?;
        let rows = sqlx::query_with(trusted(sql), args)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed("read", e))?;
        rows.iter().map(|r| decode_row(spec, r)).collect()
    }

    pub async fn count(&self, spec: &CollectionSpec, keys: &[KeyEquals]) -> Result<u64> {
        let (where_sql, args) = key_conditions(keys, None)?;
        let sql = format!("SELECT COUNT(*) FROM {}{where_sql}", spec.name);
        let count: i64 = sqlx::query_scalar_with(trusted(sql), args)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed("count", e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn failed(&self, what: &str, error: sqlx::Error) -> Error {
        unavailable(&self.path, &format!("{what} failed"), error)
    }

    /// Turns constraint violations into conflict and reference errors that
    /// name the columns, instead of passing the driver's message through.
    fn map_write(&self, spec: &CollectionSpec, id: Uuid, error: sqlx::Error) -> Error {
        if let Some(db) = error.as_database_error() {
            if db.is_unique_violation() {
                let columns = constraint_columns(db.message());
                return Error::Conflict {
                    entity: spec.entity,
                    id: id.to_string(),
                    reason: format!("another {} already has the same {columns}", spec.entity),
                };
            }
            // ON DELETE RESTRICT reports extended code 1811 rather than the
            // foreign key code, so the message is checked as well.
            if db.is_foreign_key_violation()
                || db.message().contains("FOREIGN KEY constraint failed")
            {
                return Error::Reference {
                    entity: spec.entity,
                    id: id.to_string(),
                    reason:
                        "a referenced record is missing, or other records still reference this one"
                            .into(),
                };
            }
        }
        self.failed("write", error)
    }
}

async fn insert_row(
    conn: &mut SqliteConnection,
    spec: &CollectionSpec,
    row: &Row,
) -> Result<(), sqlx::Error> {
    let mut columns = String::from("id, version, created_at, updated_at, data");
    let mut marks = String::from("?, ?, ?, ?, ?");
    for key in spec.keys {
        columns.push_str(", ");
        columns.push_str(key.column);
        marks.push_str(", ?");
    }
    let sql = format!("INSERT INTO {} ({columns}) VALUES ({marks})", spec.name);
    let mut args = SqliteArguments::default();
    args.add(row.id.to_string()).map_err(sqlx::Error::Encode)?;
    args.add(row.version).map_err(sqlx::Error::Encode)?;
    args.add(format_instant(&row.created_at))
        .map_err(sqlx::Error::Encode)?;
    args.add(format_instant(&row.updated_at))
        .map_err(sqlx::Error::Encode)?;
    args.add(row.body.to_string())
        .map_err(sqlx::Error::Encode)?;
    for key in spec.keys {
        args.add(key_text(&row.body, key.path))
            .map_err(sqlx::Error::Encode)?;
    }
    sqlx::query_with(trusted(sql), args).execute(conn).await?;
    Ok(())
}

/// Marks SQL text as safe to run. Every statement here is assembled only from
/// table and column names in the static collection specs; values are always
/// bound as parameters.
fn trusted(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// Key columns hold text: strings as they are, other scalars as JSON.
fn key_text(body: &Value, path: &str) -> Option<String> {
    key_value(body, path).map(|value| match value {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn bind_keys(args: &mut SqliteArguments, spec: &CollectionSpec, body: &Value) -> Result<()> {
    for key in spec.keys {
        add(args, key_text(body, key.path))?;
    }
    Ok(())
}

fn key_conditions(keys: &[KeyEquals], after: Option<Uuid>) -> Result<(String, SqliteArguments)> {
    let mut clauses = Vec::new();
    let mut args = SqliteArguments::default();
    for key in keys {
        clauses.push(format!("{} = ?", key.column));
        add(&mut args, key.value.clone())?;
    }
    if let Some(after) = after {
        clauses.push("id > ?".to_string());
        add(&mut args, after.to_string())?;
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    Ok((sql, args))
}

fn add<'q, T>(args: &mut SqliteArguments, value: T) -> Result<()>
where
    T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    args.add(value)
        .map_err(|e| Error::validation("value", format!("cannot bind value: {e}")))
}

fn decode_row(spec: &CollectionSpec, row: &sqlx::sqlite::SqliteRow) -> Result<Row> {
    let corrupt = |what: &str| Error::Unavailable {
        backend: "sqlite".into(),
        reason: format!("stored {} row has an invalid {what}", spec.entity),
        source: None,
    };
    let id: String = row.try_get("id").map_err(|_| corrupt("id"))?;
    let data: String = row.try_get("data").map_err(|_| corrupt("data"))?;
    let created: String = row
        .try_get("created_at")
        .map_err(|_| corrupt("created_at"))?;
    let updated: String = row
        .try_get("updated_at")
        .map_err(|_| corrupt("updated_at"))?;
    Ok(Row {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        version: row.try_get("version").map_err(|_| corrupt("version"))?,
        created_at: parse_time(&created)?,
        updated_at: parse_time(&updated)?,
        body: serde_json::from_str(&data).map_err(|_| corrupt("data"))?,
    })
}

fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    parse_instant("timestamp", text)
}

/// Extracts `username` from SQLite's "UNIQUE constraint failed: users.username".
fn constraint_columns(message: &str) -> String {
    let columns = message.rsplit(": ").next().unwrap_or(message);
    columns
        .split(", ")
        .map(|c| c.rsplit('.').next().unwrap_or(c))
        .collect::<Vec<_>>()
        .join(" and ")
}
