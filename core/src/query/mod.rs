//! The subset of MongoDB's query language that polystat evaluates in memory.
//!
//! [`Filter`] parses and matches filter documents, [`SortSpec`] orders documents, and
//! [`compare_values`] is the cross-type order both use. Documents are `serde_json::Value`s, so
//! only the JSON types take part: instants stored as RFC 3339 strings compare as strings.
//! `docs/query.md` describes the supported operators and their semantics for users.

mod compare;
mod filter;
mod parse;
mod path;
mod sort;
mod walk;

#[cfg(test)]
mod tests;

pub use compare::compare_values;
pub use filter::Filter;
pub use path::get_path;
pub use sort::{SortDirection, SortSpec};
