//! Cached values, their approximate size, and their text form in Redis.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::Row;

/// One page of a list query, as rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageRows {
    pub rows: Vec<Row>,
    pub next_cursor: Option<String>,
}

/// A cached value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub(crate) enum Cached {
    Row(Row),
    Page(PageRows),
    Json(Value),
}

impl Cached {
    /// Approximate bytes in memory, for the tier-1 size bound.
    pub fn weight(&self) -> u32 {
        let bytes = match self {
            Cached::Row(row) => row_size(row),
            Cached::Page(page) => page.rows.iter().map(row_size).sum::<usize>() + 64,
            Cached::Json(value) => value_size(value),
        };
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    pub fn to_payload(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    pub fn from_payload(text: &str) -> serde_json::Result<Cached> {
        serde_json::from_str(text)
    }
}

fn row_size(row: &Row) -> usize {
    96 + value_size(&row.body)
}

/// Counts strings by length and every other node as a fixed size, which is
/// close enough for a size bound and much cheaper than serializing.
fn value_size(value: &Value) -> usize {
    const NODE: usize = 32;
    match value {
        Value::String(text) => NODE + text.len(),
        Value::Array(items) => NODE + items.iter().map(value_size).sum::<usize>(),
        Value::Object(map) => {
            NODE + map
                .iter()
                .map(|(key, value)| key.len() + NODE + value_size(value))
                .sum::<usize>()
        }
        _ => NODE,
    }
}
