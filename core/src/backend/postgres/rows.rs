//! Single-row operations, scans and counts on the per-collection tables.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::types::Json;
use sqlx::{Arguments, Postgres, Row as _};
use uuid::Uuid;

use super::errors::Target;
use super::PostgresBackend;
use crate::backend::{KeyEquals, Row};
use crate::error::{Error, Result};
use crate::model::{key_value, CollectionSpec, KeyColumn, KeyKind};
use crate::query::Filter;

/// Columns every table has, in the order `decode_row` reads them.
const ROW_COLUMNS: &str = "id, version, created_at, updated_at, data";

impl PostgresBackend {
    pub async fn get(&self, spec: &CollectionSpec, id: Uuid) -> Result<Option<Row>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM {} WHERE id = $1", spec.name);
        let row = self
            .retry("get", || {
                sqlx::query(trusted(sql.clone()))
                    .bind(id)
                    .fetch_optional(&self.pool)
            })
            .await
            .map_err(|e| self.read_failed("get", e))?;
        row.map(|r| self.decode_row(spec, &r)).transpose()
    }

    pub async fn update(
        &self,
        spec: &CollectionSpec,
        row: &Row,
        expected_version: i64,
    ) -> Result<bool> {
        let mut args = PgArguments::default();
        let mut sql = format!(
            "UPDATE {} SET version = {}, updated_at = {}, data = {}",
            spec.name,
            bind(&mut args, row.version)?,
            bind(&mut args, row.updated_at)?,
            bind(&mut args, Json(&row.body))?,
        );
        for key in spec.keys {
            let mark = bind_key(&mut args, spec, key, &row.body)?;
            sql.push_str(&format!(", {} = {mark}", key.column));
        }
        let id_mark = bind(&mut args, row.id)?;
        let version_mark = bind(&mut args, expected_version)?;
        sql.push_str(&format!(
            " WHERE id = {id_mark} AND version = {version_mark}"
        ));
        let mut conn = self.acquire_for_write().await?;
        let result = sqlx::query_with(trusted(sql), args)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.write_failed(spec, Target::Id(row.id), e))?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn delete(
        &self,
        spec: &CollectionSpec,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        let mut args = PgArguments::default();
        let mut sql = format!(
            "DELETE FROM {} WHERE id = {}",
            spec.name,
            bind(&mut args, id)?
        );
        if let Some(version) = expected_version {
            sql.push_str(&format!(" AND version = {}", bind(&mut args, version)?));
        }
        let mut conn = self.acquire_for_write().await?;
        let result = sqlx::query_with(trusted(sql), args)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.write_failed(spec, Target::Id(id), e))?;
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
        let Some((where_sql, mut args)) = key_conditions(spec, keys, after)? else {
            return Ok(Vec::new());
        };
        let limit_mark = bind(&mut args, i64::try_from(limit).unwrap_or(i64::MAX))?;
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM {}{where_sql} ORDER BY id LIMIT {limit_mark}",
            spec.name
        );
        let rows = self
            .retry("scan", || {
                sqlx::query_with(trusted(sql.clone()), args.clone()).fetch_all(&self.pool)
            })
            .await
            .map_err(|e| self.read_failed("scan", e))?;
        rows.iter().map(|r| self.decode_row(spec, r)).collect()
    }

    pub async fn count(&self, spec: &CollectionSpec, keys: &[KeyEquals]) -> Result<u64> {
        let Some((where_sql, args)) = key_conditions(spec, keys, None)? else {
            return Ok(0);
        };
        let sql = format!("SELECT COUNT(*) FROM {}{where_sql}", spec.name);
        let count: i64 = self
            .retry("count", || {
                sqlx::query_scalar_with(trusted(sql.clone()), args.clone()).fetch_one(&self.pool)
            })
            .await
            .map_err(|e| self.read_failed("count", e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn decode_row(&self, spec: &CollectionSpec, row: &PgRow) -> Result<Row> {
        let corrupt = |column: &str, error: sqlx::Error| {
            self.unavailable(
                &format!("stored {} row has an invalid {column}", spec.entity),
                error,
            )
        };
        let body: Json<Value> = row.try_get("data").map_err(|e| corrupt("data", e))?;
        let created_at: DateTime<Utc> = row
            .try_get("created_at")
            .map_err(|e| corrupt("created_at", e))?;
        let updated_at: DateTime<Utc> = row
            .try_get("updated_at")
            .map_err(|e| corrupt("updated_at", e))?;
        Ok(Row {
            id: row.try_get("id").map_err(|e| corrupt("id", e))?,
            version: row.try_get("version").map_err(|e| corrupt("version", e))?,
            created_at,
            updated_at,
            body: body.0,
        })
    }
}

/// Marks SQL text as safe to run. Every statement here is assembled only from
/// table and column names in the static collection specs and from `$N`
/// placeholders. Values are always bound as parameters.
pub(super) fn trusted(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// Adds a parameter and returns its placeholder, such as `$3`.
pub(super) fn bind<'q, T>(args: &mut PgArguments, value: T) -> Result<String>
where
    T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
{
    args.add(value)
        .map_err(|e| Error::validation("value", format!("cannot bind value: {e}")))?;
    Ok(format!("${}", args.len()))
}

/// Binds a key column's value from the body with the column's SQL type.
fn bind_key(
    args: &mut PgArguments,
    spec: &CollectionSpec,
    key: &KeyColumn,
    body: &Value,
) -> Result<String> {
    match key.kind {
        KeyKind::Text => bind(args, key_text(body, key.path)),
        KeyKind::Uuid => bind(args, key_uuid(spec, key, body)?),
    }
}

/// Reads a text key column's value from the body: strings as they are, other
/// scalars as JSON text, as the SQLite backend stores them.
pub(super) fn key_text(body: &Value, path: &str) -> Option<String> {
    key_value(body, path).map(|value| match value {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// Reads a UUID key column's value from the body, rejecting anything but a
/// UUID string with an error that names the field.
pub(super) fn key_uuid(
    spec: &CollectionSpec,
    key: &KeyColumn,
    body: &Value,
) -> Result<Option<Uuid>> {
    let field = || format!("{}.{}", spec.entity, key.path);
    match key_value(body, key.path) {
        None => Ok(None),
        Some(Value::String(text)) => Uuid::parse_str(&text)
            .map(Some)
            .map_err(|e| Error::validation(field(), format!("{text:?} is not a UUID ({e})"))),
        Some(other) => Err(Error::validation(
            field(),
            format!("expected a UUID string, got {other}"),
        )),
    }
}

/// Builds ` WHERE …` for key equalities and the cursor. Returns `None` when
/// no row can match: a UUID column compared with text that is not a UUID.
fn key_conditions(
    spec: &CollectionSpec,
    keys: &[KeyEquals],
    after: Option<Uuid>,
) -> Result<Option<(String, PgArguments)>> {
    let mut clauses = Vec::new();
    let mut args = PgArguments::default();
    for condition in keys {
        let kind = spec
            .keys
            .iter()
            .find(|k| k.column == condition.column)
            .map_or(KeyKind::Text, |k| k.kind);
        let mark = match kind {
            KeyKind::Text => bind(&mut args, condition.value.clone())?,
            KeyKind::Uuid => match Uuid::parse_str(&condition.value) {
                Ok(id) => bind(&mut args, id)?,
                Err(_) => return Ok(None),
            },
        };
        clauses.push(format!("{} = {mark}", condition.column));
    }
    if let Some(after) = after {
        clauses.push(format!("id > {}", bind(&mut args, after)?));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    Ok(Some((sql, args)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoreKind;
    use serde_json::json;

    const SPEC: CollectionSpec = CollectionSpec {
        name: "controls",
        entity: "control",
        kind: StoreKind::Relational,
        keys: &[KeyColumn {
            column: "catalog_id",
            path: "catalog_id",
            kind: KeyKind::Uuid,
        }],
    };

    #[test]
    fn uuid_key_reads_uuid_strings() {
        let id = Uuid::now_v7();
        let body = json!({ "catalog_id": id.to_string() });
        let value = key_uuid(&SPEC, &SPEC.keys[0], &body).expect("uuid");
        assert_eq!(value, Some(id));
        let missing = key_uuid(&SPEC, &SPEC.keys[0], &json!({})).expect("missing");
        assert_eq!(missing, None);
    }

    #[test]
    fn uuid_key_rejects_other_values() {
        for bad in [json!("cm-3"), json!(42)] {
            let body = json!({ "catalog_id": bad });
            let error = key_uuid(&SPEC, &SPEC.keys[0], &body).unwrap_err();
            let Error::Validation { field, .. } = &error else {
                panic!("expected a validation error, got {error}");
            };
            assert_eq!(field, "control.catalog_id");
        }
    }

    #[test]
    fn key_conditions_skip_query_for_invalid_uuid() {
        let keys = [KeyEquals {
            column: "catalog_id",
            value: "not-a-uuid".into(),
        }];
        assert!(key_conditions(&SPEC, &keys, None)
            .expect("conditions")
            .is_none());
    }

    #[test]
    fn key_conditions_number_placeholders() {
        let keys = [KeyEquals {
            column: "catalog_id",
            value: Uuid::now_v7().to_string(),
        }];
        let (sql, args) = key_conditions(&SPEC, &keys, Some(Uuid::now_v7()))
            .expect("conditions")
            .expect("some");
        assert_eq!(sql, " WHERE catalog_id = $1 AND id > $2");
        assert_eq!(args.len(), 2);
    }
}
