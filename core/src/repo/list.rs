//! Listing with a MongoDB-style filter, sort and cursor pagination.

use std::cmp::Ordering;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;
use uuid::Uuid;

use super::{from_row, into_record, row_json, Hooks, Repository};
use crate::backend::{KeyEquals, Row};
use crate::cache::{stable_hash, Cached, Key, PageRows};
use crate::error::{Error, Result};
use crate::model::{CollectionSpec, Record};
use crate::query::{Filter, SortSpec};
use crate::store::Store;

/// Page size used when a list call names none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: usize = 10_000;
/// Rows read from the database per round trip while filtering.
const SCAN_BATCH: usize = 1_000;

/// Options of a list call: a filter in the MongoDB query subset, a sort, a
/// page size and the cursor returned by the previous page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListOptions {
    #[serde(default)]
    pub filter: Value,
    #[serde(default)]
    pub sort: Value,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub cursor: Option<String>,
}

impl ListOptions {
    pub fn new() -> Self {
        ListOptions::default()
    }

    /// Sets the filter, e.g. `json!({"status": {"$in": ["draft"]}})`.
    pub fn filter(mut self, filter: Value) -> Self {
        self.filter = filter;
        self
    }

    /// Sets the sort, e.g. `json!({"name": 1, "createdAt": -1})`.
    pub fn sort(mut self, sort: Value) -> Self {
        self.sort = sort;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    fn page_size(&self) -> Result<usize> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(0) => Err(Error::validation("limit", "must be at least 1")),
            Some(n) if n > MAX_PAGE_SIZE => Err(Error::validation(
                "limit",
                format!("{n} is above the maximum page size {MAX_PAGE_SIZE}; page with the cursor"),
            )),
            Some(n) => Ok(n),
        }
    }

    /// Serializes the options to text that is identical in every process for
    /// the same options, to name cached pages.
    fn signature(&self) -> String {
        serde_json::to_string(self).expect("list options serialize")
    }
}

/// One page of a list; pass `next_cursor` to get the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<Record<T>>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Position after the last item of a page: its sort key values and id.
#[derive(Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "k")]
    keys: Vec<Value>,
    id: Uuid,
    /// The sort fields and directions the cursor was made for.
    #[serde(rename = "s", default)]
    sort: String,
    /// The collection listed; empty in cursors made before it was recorded.
    #[serde(rename = "c", default)]
    collection: String,
}

/// Describes a sort as text, so a cursor can be matched to its sort.
fn sort_signature(sort: &SortSpec) -> String {
    sort.fields()
        .iter()
        .map(|(path, direction)| format!("{path}:{direction:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, collection: &str, sort: &SortSpec) -> Result<Cursor> {
        let invalid = || {
            Error::validation(
                "cursor",
                "is not a cursor returned by this list; start again without a cursor",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if !cursor.collection.is_empty() && cursor.collection != collection {
            return Err(Error::validation(
                "cursor",
                format!(
                    "was made for a list of {}, not {collection}; start again without a cursor",
                    cursor.collection
                ),
            ));
        }
        if cursor.keys.len() != sort.fields().len() || cursor.sort != sort_signature(sort) {
            return Err(Error::validation(
                "cursor",
                "was made for a different sort; start again without a cursor",
            ));
        }
        Ok(cursor)
    }
}

impl<T: Hooks> Repository<T> {
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Lists one page of records matching the filter, in sort order, ties
    /// broken by id (creation order). Queries that pin an indexed key to one
    /// value (the computations of one control, say) repeat often and go
    /// through the cache; every write to the collection retires them.
    pub async fn list(&self, options: &ListOptions) -> Result<Page<T>> {
        let filter = Filter::parse(&options.filter)?;
        let sort = SortSpec::parse(&options.sort)?;
        let limit = options.page_size()?;
        let cursor = options
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, T::SPEC.name, &sort))
            .transpose()?;
        let span = tracing::debug_span!("polystat", operation = "list", entity = T::SPEC.entity);
        let load = || async {
            let page = if sort.fields().is_empty() {
                self.list_by_id(&filter, cursor, limit).await?
            } else {
                self.list_sorted(&filter, &sort, cursor, limit).await?
            };
            Ok(Some((Cached::Page(page), 0)))
        };
        let cached = if pushdown(&T::SPEC, &filter).is_empty() {
            load()
                .instrument(span)
                .await?
                .map(|(page, _)| Arc::new(page))
        } else {
            let cache = &self.store.inner.cache;
            let key = Key::List {
                collection: T::SPEC.name,
                generation: cache.list_generation(T::SPEC.name),
                query: stable_hash(&options.signature()),
            };
            cache.read(key, false, load).instrument(span).await?
        };
        match cached.as_deref() {
            Some(Cached::Page(page)) => Ok(Page {
                items: page.rows.iter().map(from_row).collect::<Result<_>>()?,
                next_cursor: page.next_cursor.clone(),
            }),
            _ => Err(Error::validation(
                T::SPEC.entity,
                "the cached list entry has the wrong kind; retry the read",
            )),
        }
    }

    /// Lists every record matching the filter, in the order of
    /// [`Repository::list`], after `options.cursor` when it is set.
    /// `options.limit` is ignored. The records come from one scan, which is
    /// one server cursor on MongoDB, and never from the cache.
    pub async fn list_all(&self, options: &ListOptions) -> Result<Vec<Record<T>>> {
        let filter = Filter::parse(&options.filter)?;
        let sort = SortSpec::parse(&options.sort)?;
        let cursor = options
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, T::SPEC.name, &sort))
            .transpose()?;
        let span =
            tracing::debug_span!("polystat", operation = "list_all", entity = T::SPEC.entity);
        let rows = async {
            if sort.fields().is_empty() {
                let mut rows = Vec::new();
                self.scan(&filter, cursor.map(|c| c.id), |row, _| {
                    rows.push(row);
                    true
                })
                .await?;
                return Ok::<_, Error>(rows);
            }
            let mut matches = self.sorted_matches(&filter, &sort).await?;
            let start = cursor.map_or(0, |c| position_after(&matches, &c, &sort));
            Ok(matches.drain(start..).map(|(_, row)| row).collect())
        }
        .instrument(span)
        .await?;
        rows.into_iter().map(into_record).collect()
    }

    /// Returns the first record matching the filter in id order.
    pub async fn find_one(&self, filter: Value) -> Result<Option<Record<T>>> {
        let page = self
            .list(&ListOptions::new().filter(filter).limit(1))
            .await?;
        Ok(page.items.into_iter().next())
    }

    /// Counts records matching the filter.
    pub async fn count(&self, filter: &Value) -> Result<u64> {
        let filter = Filter::parse(filter)?;
        let keys = pushdown(&T::SPEC, &filter);
        if filter.is_empty() {
            return self.backend().count(&T::SPEC, &keys).await;
        }
        let mut count = 0;
        self.scan(&filter, None, |_, _| {
            count += 1;
            true
        })
        .await?;
        Ok(count)
    }

    /// Pages in id order: the database does the ordering and the cursor is
    /// the last id, so each page costs one query (one cursor on MongoDB)
    /// that stops after the rows it needs.
    async fn list_by_id(
        &self,
        filter: &Filter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<PageRows> {
        let mut items = Vec::new();
        let mut more = false;
        self.scan(filter, cursor.map(|c| c.id), |row, _| {
            if items.len() == limit {
                more = true;
                return false;
            }
            items.push(row);
            true
        })
        .await?;
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(
                Cursor {
                    keys: Vec::new(),
                    id: last.id,
                    sort: String::new(),
                    collection: T::SPEC.name.to_string(),
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(PageRows {
            rows: items,
            next_cursor,
        })
    }

    /// Pages in an arbitrary sort order: every match is read and sorted, then
    /// the page after the cursor position is cut out.
    // NOTE: this reads all matching rows per page; sorts on large collections
    // should narrow the filter to an indexed key (for example controlId).
    async fn list_sorted(
        &self,
        filter: &Filter,
        sort: &SortSpec,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<PageRows> {
        let mut matches = self.sorted_matches(filter, sort).await?;
        let start = cursor.map_or(0, |c| position_after(&matches, &c, sort));
        let end = (start + limit).min(matches.len());
        let next_cursor = (end < matches.len()).then(|| {
            let (keys, row) = &matches[end - 1];
            Cursor {
                keys: keys.clone(),
                id: row.id,
                sort: sort_signature(sort),
                collection: T::SPEC.name.to_string(),
            }
            .encode()
        });
        let rows = matches.drain(start..end).map(|(_, row)| row).collect();
        Ok(PageRows { rows, next_cursor })
    }

    /// Reads every row matching the filter with its sort key, in sort order
    /// with ties broken by id.
    async fn sorted_matches(
        &self,
        filter: &Filter,
        sort: &SortSpec,
    ) -> Result<Vec<(Vec<Value>, Row)>> {
        let mut matches = Vec::new();
        self.scan(filter, None, |row, json| {
            let json = json.unwrap_or_else(|| row_json::<T>(&row));
            matches.push((sort.sort_key(&json), row));
            true
        })
        .await?;
        matches.sort_by(|(ka, ra), (kb, rb)| sort_order(sort, ka, &ra.id, kb, &rb.id));
        Ok(matches)
    }

    /// Streams the rows that match the filter, in id order after `after`,
    /// through `visit` until it returns false. `visit` also gets the record
    /// JSON when the filter was checked on it, so that it is built once.
    async fn scan(
        &self,
        filter: &Filter,
        after: Option<Uuid>,
        mut visit: impl FnMut(Row, Option<Value>) -> bool,
    ) -> Result<()> {
        let keys = pushdown(&T::SPEC, filter);
        let mut scan = self
            .backend()
            .scan(&T::SPEC, &keys, filter, after, SCAN_BATCH)?;
        loop {
            let rows = scan.next_batch().await?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in rows {
                let json = if filter.is_empty() {
                    None
                } else {
                    let json = row_json::<T>(&row);
                    if !filter.matches(&json) {
                        continue;
                    }
                    Some(json)
                };
                if !visit(row, json) {
                    return Ok(());
                }
            }
        }
    }
}

/// Orders rows by sort key, then by id.
fn sort_order(sort: &SortSpec, a: &[Value], a_id: &Uuid, b: &[Value], b_id: &Uuid) -> Ordering {
    sort.compare_keys(a, b).then_with(|| a_id.cmp(b_id))
}

/// Index of the first sorted match after the cursor position.
fn position_after(matches: &[(Vec<Value>, Row)], cursor: &Cursor, sort: &SortSpec) -> usize {
    matches.partition_point(|(keys, row)| {
        sort_order(sort, keys, &row.id, &cursor.keys, &cursor.id) != Ordering::Greater
    })
}

/// Equalities on string values at indexed paths, which the database can use.
/// The filter still runs on every row, so this only narrows the read.
fn pushdown(spec: &CollectionSpec, filter: &Filter) -> Vec<KeyEquals> {
    filter
        .required_equalities()
        .into_iter()
        .filter_map(|(path, value)| match (spec.column_for_path(&path), value) {
            (Some(column), Value::String(text)) => Some(KeyEquals {
                column,
                value: text,
            }),
            _ => None,
        })
        .collect()
}
