//! Maps PostgreSQL errors to polystat error kinds by SQLSTATE code.

use sqlx::postgres::PgDatabaseError;
use uuid::Uuid;

use super::rows::key_text;
use super::PostgresBackend;
use crate::backend::Row;
use crate::error::Error;
use crate::model::CollectionSpec;

pub(super) const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
/// Raised when `statement_timeout` cancels a statement.
const QUERY_CANCELED: &str = "57014";
/// jsonb rejects the escape `\u0000`.
const UNTRANSLATABLE_CHARACTER: &str = "22P05";
/// text rejects a NUL byte.
const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";

/// The rows a failed write touched, to name the record in the error.
pub(super) enum Target<'a> {
    Id(Uuid),
    Ids(&'a [Uuid]),
    Rows(&'a [Row]),
}

/// SQLSTATE code of a database error, such as `23505`.
pub(super) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    let code = error.as_database_error()?.code()?;
    Some(code.into_owned())
}

fn pg_error(error: &sqlx::Error) -> Option<&PgDatabaseError> {
    error
        .as_database_error()?
        .try_downcast_ref::<PgDatabaseError>()
}

impl PostgresBackend {
    /// Maps a failed read: a canceled statement is a timeout, anything else
    /// means the backend is unavailable.
    pub(super) fn read_failed(&self, operation: &str, error: sqlx::Error) -> Error {
        if sqlstate(&error).as_deref() == Some(QUERY_CANCELED) {
            return self.timed_out(operation);
        }
        self.failed(operation, error)
    }

    /// Turns constraint violations into conflict and reference errors that
    /// name the columns, instead of passing the driver's message through.
    pub(super) fn write_failed(
        &self,
        spec: &CollectionSpec,
        target: Target<'_>,
        error: sqlx::Error,
    ) -> Error {
        let detail = pg_error(&error).and_then(PgDatabaseError::detail);
        let key = detail.and_then(parse_key_detail);
        let id = || record_id(spec, &target, key.as_ref());
        match sqlstate(&error).as_deref() {
            Some(UNIQUE_VIOLATION) => Error::Conflict {
                entity: spec.entity,
                id: id(),
                reason: conflict_reason(spec, key.as_ref(), pg_error(&error)),
            },
            Some(FOREIGN_KEY_VIOLATION) => Error::Reference {
                entity: spec.entity,
                id: id(),
                reason: reference_reason(detail, key.as_ref()),
            },
            Some(UNTRANSLATABLE_CHARACTER | CHARACTER_NOT_IN_REPERTOIRE) => Error::validation(
                spec.entity,
                "contains a NUL character (\\u0000), which PostgreSQL cannot store in text or jsonb; remove it",
            ),
            Some(QUERY_CANCELED) => self.timed_out("write"),
            _ => self.failed("write", error),
        }
    }

    fn timed_out(&self, operation: &str) -> Error {
        Error::Timeout {
            operation: format!("{} {operation}", self.label),
            after: self.statement_timeout,
        }
    }
}

/// The columns and values of a constraint error's detail, such as
/// `Key (catalog_id, external_id)=(0190…, ac-1) already exists.`
#[derive(Debug, PartialEq)]
struct KeyDetail {
    columns: Vec<String>,
    /// The values as PostgreSQL prints them: joined with ", ", unquoted.
    values: String,
}

fn parse_key_detail(detail: &str) -> Option<KeyDetail> {
    let rest = detail.strip_prefix("Key (")?;
    let (columns, rest) = rest.split_once(")=(")?;
    let values = &rest[..rest.rfind(')')?];
    Some(KeyDetail {
        columns: columns.split(", ").map(str::to_string).collect(),
        values: values.to_string(),
    })
}

/// Id of the record that broke the constraint: the target id, or the row
/// whose key values match the detail. Falls back to a row count when the
/// detail is missing, for example for a role without SELECT on the table.
fn record_id(spec: &CollectionSpec, target: &Target<'_>, key: Option<&KeyDetail>) -> String {
    let rows = match target {
        Target::Id(id) | Target::Ids([id]) => return id.to_string(),
        Target::Ids(ids) => return deleted_id(ids, key),
        Target::Rows([row]) => return row.id.to_string(),
        Target::Rows(rows) => rows,
    };
    let matching = key.and_then(|key| {
        rows.iter()
            .find(|row| rendered_key(spec, row, &key.columns).as_deref() == Some(&key.values))
    });
    match matching {
        Some(row) => row.id.to_string(),
        None => format!("(one of {} rows)", rows.len()),
    }
}

/// Finds the id among `ids` that the detail names, as for `Key (id)=(…) is still
/// referenced`.
fn deleted_id(ids: &[Uuid], key: Option<&KeyDetail>) -> String {
    let named = key
        .filter(|key| key.columns == ["id"])
        .and_then(|key| ids.iter().find(|id| id.to_string() == key.values));
    match named {
        Some(id) => id.to_string(),
        None => format!("(one of {} records)", ids.len()),
    }
}

/// Renders the row's values for `columns` the way PostgreSQL prints them in
/// an error detail.
fn rendered_key(spec: &CollectionSpec, row: &Row, columns: &[String]) -> Option<String> {
    let mut values = Vec::with_capacity(columns.len());
    for column in columns {
        if column == "id" {
            values.push(row.id.to_string());
            continue;
        }
        let key = spec.keys.iter().find(|k| k.column == column)?;
        values.push(key_text(&row.body, key.path)?);
    }
    Some(values.join(", "))
}

fn conflict_reason(
    spec: &CollectionSpec,
    key: Option<&KeyDetail>,
    error: Option<&PgDatabaseError>,
) -> String {
    let subject = match (key, error.and_then(PgDatabaseError::constraint)) {
        (Some(key), _) => key.columns.join(" and "),
        (None, Some(constraint)) => format!("values under unique constraint {constraint}"),
        (None, None) => "unique key".to_string(),
    };
    format!("another {} already has the same {subject}", spec.entity)
}

fn reference_reason(detail: Option<&str>, key: Option<&KeyDetail>) -> String {
    let table = detail.and_then(quoted_table);
    let columns = key.map(|k| k.columns.join(" and "));
    let in_use = detail.is_some_and(|d| d.contains("is still referenced from table"));
    match (in_use, table, columns) {
        (true, Some(table), _) => {
            format!("records in {table} still reference it; delete or move them first")
        }
        (false, Some(table), Some(columns)) => {
            format!("the {columns} it references does not exist in {table}")
        }
        _ => "a referenced record is missing, or other records still reference this one".into(),
    }
}

/// Returns the table name between the first pair of double quotes.
fn quoted_table(detail: &str) -> Option<&str> {
    let (_, rest) = detail.split_once('"')?;
    let (table, _) = rest.split_once('"')?;
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_detail_with_two_columns() {
        let key = parse_key_detail("Key (catalog_id, external_id)=(0190, ac-1) already exists.")
            .expect("parsed");
        assert_eq!(key.columns, vec!["catalog_id", "external_id"]);
        assert_eq!(key.values, "0190, ac-1");
    }

    #[test]
    fn key_detail_of_reference_error() {
        let detail = "Key (id)=(0190) is still referenced from table \"controls\".";
        let key = parse_key_detail(detail).expect("parsed");
        assert_eq!(key.columns, vec!["id"]);
        assert_eq!(key.values, "0190");
        assert_eq!(quoted_table(detail), Some("controls"));
        let reason = reference_reason(Some(detail), Some(&key));
        assert!(reason.contains("records in controls"), "{reason}");
    }

    #[test]
    fn bulk_conflict_names_the_matching_row() {
        let spec = CollectionSpec {
            name: "scopes",
            entity: "scope",
            kind: crate::model::StoreKind::Relational,
            keys: &[crate::model::KeyColumn {
                column: "name",
                path: "name",
                kind: crate::model::KeyKind::Text,
            }],
        };
        let rows: Vec<Row> = ["team", "project"]
            .iter()
            .map(|name| Row {
                id: Uuid::now_v7(),
                version: 1,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
                body: serde_json::json!({ "name": name }),
            })
            .collect();
        let key = parse_key_detail("Key (name)=(project) already exists.");
        let id = record_id(&spec, &Target::Rows(&rows), key.as_ref());
        assert_eq!(id, rows[1].id.to_string());
        let unknown = parse_key_detail("Key (name)=(other) already exists.");
        let id = record_id(&spec, &Target::Rows(&rows), unknown.as_ref());
        assert_eq!(id, "(one of 2 rows)");
    }

    #[test]
    fn key_detail_rejects_other_text() {
        assert_eq!(parse_key_detail("Failing row contains (1)."), None);
    }
}
