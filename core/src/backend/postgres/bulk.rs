//! Inserts through `INSERT … SELECT * FROM UNNEST(…)`: each column travels as
//! one array parameter, so one statement stores a whole chunk of rows.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::PgConnection;
use uuid::Uuid;

use super::errors::Target;
use super::rows::{bind, key_text, key_uuid, trusted};
use super::PostgresBackend;
use crate::backend::Row;
use crate::error::Result;
use crate::model::{CollectionSpec, KeyKind};

/// Rows per INSERT statement. The parameter count stays at 5 plus the key
/// columns whatever the row count, so this bounds the size of one statement.
const CHUNK_ROWS: usize = 20_000;

/// Serialized body bytes per INSERT statement, by an upper-bound estimate.
/// PostgreSQL cannot store a value over 1 GB (its field size limit), and the
/// body array is one value, so this keeps a chunk of large bodies far below
/// the limit.
const CHUNK_BYTES: usize = 64 * 1024 * 1024;

/// Row count from which an insert requests a generic plan, as described on
/// `PostgresBackend::prefer_generic_plan`.
const GENERIC_PLAN_ROWS: usize = 256;

impl PostgresBackend {
    /// Inserts all rows in one transaction, one statement per chunk.
    pub async fn insert(&self, spec: &CollectionSpec, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_for_write().await?;
        self.prefer_generic_plan(&mut tx, rows.len()).await?;
        self.insert_chunks(&mut tx, spec, rows).await?;
        tx.commit().await.map_err(|e| self.failed("commit", e))
    }

    /// Turns off custom plans for the rest of the transaction when it inserts
    /// at least [`GENERIC_PLAN_ROWS`] rows.
    ///
    /// PostgreSQL plans the first five executions of a prepared statement on
    /// each connection with the parameter values inlined, which for UNNEST
    /// means copying every column array into the plan. For a chunk of 20,000
    /// rows that was about a quarter of the insert's time. The pool spreads inserts
    /// over its connections, so each one stays in that phase for long. The
    /// INSERT has no predicate whose plan could depend on the values, so the
    /// generic plan is the same plan without the copy. Small inserts skip the
    /// extra round trip, because their arrays cost little to copy.
    async fn prefer_generic_plan(&self, conn: &mut PgConnection, rows: usize) -> Result<()> {
        if rows < GENERIC_PLAN_ROWS {
            return Ok(());
        }
        sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await
            .map_err(|e| self.failed("set plan_cache_mode", e))?;
        Ok(())
    }

    /// Deletes `delete_ids` and inserts `rows` in one transaction.
    pub async fn replace(
        &self,
        spec: &CollectionSpec,
        delete_ids: &[Uuid],
        rows: &[Row],
    ) -> Result<()> {
        let mut tx = self.begin_for_write().await?;
        if !delete_ids.is_empty() {
            let sql = format!("DELETE FROM {} WHERE id = ANY($1)", spec.name);
            sqlx::query(trusted(sql))
                .bind(delete_ids)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.write_failed(spec, Target::Ids(delete_ids), e))?;
        }
        self.prefer_generic_plan(&mut tx, rows.len()).await?;
        self.insert_chunks(&mut tx, spec, rows).await?;
        tx.commit().await.map_err(|e| self.failed("commit", e))
    }

    /// Sends `rows` chunk by chunk on a connection inside a transaction. A
    /// failing chunk returns early, and dropping the transaction rolls back
    /// the chunks already sent.
    async fn insert_chunks(
        &self,
        conn: &mut PgConnection,
        spec: &CollectionSpec,
        rows: &[Row],
    ) -> Result<()> {
        let mut rest = rows;
        while !rest.is_empty() {
            let chunk = Chunk::take(spec, &mut rest)?;
            let sql = insert_sql(spec, chunk.shared_metadata().is_some());
            sqlx::query_with(trusted(sql), chunk.arguments()?)
                .execute(&mut *conn)
                .await
                .map_err(|e| self.write_failed(spec, Target::Rows(chunk.rows), e))?;
        }
        Ok(())
    }
}

/// Builds `INSERT INTO t (id, …) SELECT * FROM UNNEST($1::uuid[], …)`.
/// With `shared_metadata`, the
/// version and both timestamps are the same for every row and go as three
/// scalars ($2 to $4), which spares the server parsing three arrays.
fn insert_sql(spec: &CollectionSpec, shared_metadata: bool) -> String {
    let mut columns = String::from("id, version, created_at, updated_at, data");
    let mut arrays = if shared_metadata {
        String::from("$1::uuid[], $5::jsonb[]")
    } else {
        String::from("$1::uuid[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::jsonb[]")
    };
    let mut aliases = String::from("id, data");
    for (index, key) in spec.keys.iter().enumerate() {
        let sql_type = match key.kind {
            KeyKind::Text => "text",
            KeyKind::Uuid => "uuid",
        };
        columns.push_str(&format!(", {}", key.column));
        arrays.push_str(&format!(", ${}::{sql_type}[]", index + 6));
        aliases.push_str(&format!(", {}", key.column));
    }
    if !shared_metadata {
        return format!(
            "INSERT INTO {} ({columns}) SELECT * FROM UNNEST({arrays})",
            spec.name
        );
    }
    let keys: String = spec
        .keys
        .iter()
        .map(|key| format!(", u.{}", key.column))
        .collect();
    format!(
        "INSERT INTO {} ({columns}) SELECT u.id, $2::bigint, $3::timestamptz, $4::timestamptz, u.data{keys} \
         FROM UNNEST({arrays}) AS u({aliases})",
        spec.name
    )
}

/// Returns an upper bound of the length of `value` serialized as JSON, computed
/// without serializing: the chunk limit needs the size before the bodies are
/// encoded, and an estimate that never falls short keeps chunks under it.
fn serialized_size_bound(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) => 5,
        // The maximum length of an i64, u64 or f64 in JSON is 24 characters.
        Value::Number(_) => 24,
        Value::String(text) => quoted_len(text),
        Value::Array(items) => {
            2 + items
                .iter()
                .map(|v| serialized_size_bound(v) + 1)
                .sum::<usize>()
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(key, v)| quoted_len(key) + 1 + serialized_size_bound(v) + 1)
                .sum::<usize>()
        }
    }
}

/// Length of `text` as a JSON string: quotes, and escapes for quotes,
/// backslashes and control characters (`\\u00XX` at most).
fn quoted_len(text: &str) -> usize {
    let escapes: usize = text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' => 1,
            0x00..=0x1f => 5,
            _ => 0,
        })
        .sum();
    text.len() + escapes + 2
}

/// One key column of a chunk, typed like the column.
enum KeyArray {
    Text(Vec<Option<String>>),
    Uuid(Vec<Option<Uuid>>),
}

/// The column arrays of up to [`CHUNK_ROWS`] rows.
struct Chunk<'a> {
    rows: &'a [Row],
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    created: Vec<DateTime<Utc>>,
    updated: Vec<DateTime<Utc>>,
    bodies: Vec<sqlx::types::Json<&'a serde_json::Value>>,
    keys: Vec<KeyArray>,
}

impl<'a> Chunk<'a> {
    /// Takes rows from the front of `rest` until the row or byte limit.
    fn take(spec: &CollectionSpec, rest: &mut &'a [Row]) -> Result<Chunk<'a>> {
        let mut chunk = Chunk::with_keys(spec);
        let mut bytes = 0;
        for row in rest.iter().take(CHUNK_ROWS) {
            let size = serialized_size_bound(&row.body);
            if !chunk.ids.is_empty() && bytes + size > CHUNK_BYTES {
                break;
            }
            bytes += size;
            chunk.push(spec, row)?;
        }
        let (taken, remaining) = rest.split_at(chunk.ids.len());
        chunk.rows = taken;
        *rest = remaining;
        Ok(chunk)
    }

    fn with_keys(spec: &CollectionSpec) -> Chunk<'a> {
        let keys = spec
            .keys
            .iter()
            .map(|key| match key.kind {
                KeyKind::Text => KeyArray::Text(Vec::new()),
                KeyKind::Uuid => KeyArray::Uuid(Vec::new()),
            })
            .collect();
        Chunk {
            rows: &[],
            ids: Vec::new(),
            versions: Vec::new(),
            created: Vec::new(),
            updated: Vec::new(),
            bodies: Vec::new(),
            keys,
        }
    }

    fn push(&mut self, spec: &CollectionSpec, row: &'a Row) -> Result<()> {
        for (key, array) in spec.keys.iter().zip(&mut self.keys) {
            match array {
                KeyArray::Text(values) => values.push(key_text(&row.body, key.path)),
                KeyArray::Uuid(values) => values.push(key_uuid(spec, key, &row.body)?),
            }
        }
        self.ids.push(row.id);
        self.versions.push(row.version);
        self.created.push(row.created_at);
        self.updated.push(row.updated_at);
        self.bodies.push(sqlx::types::Json(&row.body));
        Ok(())
    }

    /// Version and timestamps when every row of the chunk has the same ones,
    /// as rows of one bulk insert do.
    fn shared_metadata(&self) -> Option<(i64, DateTime<Utc>, DateTime<Utc>)> {
        let first = (*self.versions.first()?, self.created[0], self.updated[0]);
        let same = self.versions.iter().all(|v| *v == first.0)
            && self.created.iter().all(|c| *c == first.1)
            && self.updated.iter().all(|u| *u == first.2);
        same.then_some(first)
    }

    /// Binds the parameters in the order of [`insert_sql`].
    fn arguments(&self) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        bind(&mut args, &self.ids)?;
        match self.shared_metadata() {
            Some((version, created, updated)) => {
                bind(&mut args, version)?;
                bind(&mut args, created)?;
                bind(&mut args, updated)?;
            }
            None => {
                bind(&mut args, &self.versions)?;
                bind(&mut args, &self.created)?;
                bind(&mut args, &self.updated)?;
            }
        }
        bind(&mut args, &self.bodies)?;
        for array in &self.keys {
            match array {
                KeyArray::Text(values) => bind(&mut args, values)?,
                KeyArray::Uuid(values) => bind(&mut args, values)?,
            };
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyColumn, StoreKind};
    use serde_json::{json, Value};

    const SPEC: CollectionSpec = CollectionSpec {
        name: "controls",
        entity: "control",
        kind: StoreKind::Relational,
        keys: &[
            KeyColumn {
                column: "catalog_id",
                path: "catalog_id",
                kind: KeyKind::Uuid,
            },
            KeyColumn {
                column: "external_id",
                path: "external_id",
                kind: KeyKind::Text,
            },
        ],
    };

    fn row(body: Value) -> Row {
        let now = Utc::now();
        Row {
            id: Uuid::now_v7(),
            version: 1,
            created_at: now,
            updated_at: now,
            body,
        }
    }

    #[test]
    fn insert_sql_casts_one_array_per_column() {
        assert_eq!(
            insert_sql(&SPEC, false),
            "INSERT INTO controls (id, version, created_at, updated_at, data, catalog_id, external_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], \
             $5::jsonb[], $6::uuid[], $7::text[])"
        );
    }

    #[test]
    fn insert_sql_sends_shared_metadata_as_scalars() {
        assert_eq!(
            insert_sql(&SPEC, true),
            "INSERT INTO controls (id, version, created_at, updated_at, data, catalog_id, external_id) \
             SELECT u.id, $2::bigint, $3::timestamptz, $4::timestamptz, u.data, u.catalog_id, u.external_id \
             FROM UNNEST($1::uuid[], $5::jsonb[], $6::uuid[], $7::text[]) AS u(id, data, catalog_id, external_id)"
        );
    }

    #[test]
    fn chunks_detect_shared_metadata() {
        let shared = row(json!({}));
        let rows = vec![
            shared.clone(),
            Row {
                id: Uuid::now_v7(),
                ..shared.clone()
            },
        ];
        let mut rest = rows.as_slice();
        let chunk = Chunk::take(&SPEC, &mut rest).expect("chunk");
        assert!(chunk.shared_metadata().is_some());
        let mixed = vec![
            shared.clone(),
            Row {
                version: 2,
                ..shared
            },
        ];
        let mut rest = mixed.as_slice();
        let chunk = Chunk::take(&SPEC, &mut rest).expect("chunk");
        assert!(chunk.shared_metadata().is_none());
    }

    #[test]
    fn size_bound_is_never_below_the_serialized_length() {
        let values = [
            json!(null),
            json!(true),
            json!(-9_223_372_036_854_775_808i64),
            json!(18_446_744_073_709_551_615u64),
            json!(-1.234_567_890_123_456_7e-300),
            json!("plain"),
            json!("quote \" backslash \\ newline \n bell \u{7} é 😀"),
            json!({ "a\"b": [1, "x", { "c": null }], "": {} }),
            json!([]),
        ];
        for value in values {
            let text = serde_json::to_string(&value).unwrap();
            assert!(
                serialized_size_bound(&value) >= text.len(),
                "{text}: bound {} below {}",
                serialized_size_bound(&value),
                text.len()
            );
        }
    }

    #[test]
    fn chunks_stop_at_the_row_limit() {
        let rows: Vec<Row> = (0..CHUNK_ROWS + 1)
            .map(|i| row(json!({ "n": i })))
            .collect();
        let mut rest = rows.as_slice();
        let first = Chunk::take(&SPEC, &mut rest).expect("first chunk");
        assert_eq!(first.rows.len(), CHUNK_ROWS);
        assert_eq!(first.ids.len(), CHUNK_ROWS);
        let second = Chunk::take(&SPEC, &mut rest).expect("second chunk");
        assert_eq!(second.rows.len(), 1);
        assert_eq!(second.rows[0].id, rows[CHUNK_ROWS].id);
        assert!(rest.is_empty());
    }

    #[test]
    fn chunks_stop_at_the_byte_limit() {
        let big = "x".repeat(CHUNK_BYTES / 2);
        let rows: Vec<Row> = (0..3).map(|_| row(json!({ "text": big }))).collect();
        let mut rest = rows.as_slice();
        let first = Chunk::take(&SPEC, &mut rest).expect("first chunk");
        assert_eq!(first.rows.len(), 1);
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn chunk_rejects_a_bad_uuid_key() {
        let rows = vec![row(json!({ "catalog_id": "nope" }))];
        let mut rest = rows.as_slice();
        let error = Chunk::take(&SPEC, &mut rest).err().expect("error");
        assert!(
            matches!(error, crate::error::Error::Validation { .. }),
            "{error}"
        );
    }
}
