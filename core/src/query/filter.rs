//! The parsed form of a filter and its evaluation against documents.

use std::cmp::Ordering;

use serde_json::Value;

use super::compare::{compare_values, type_rank};
use super::path::FieldPath;
use super::walk::{any_value, LeafArrays};
use crate::error::Result;

/// A parsed and validated filter in MongoDB's query syntax.
///
/// The default filter has no conditions and matches every document. Build one with
/// [`Filter::parse`]. `docs/query.md` lists the supported operators and their semantics.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Conditions that must all hold.
    pub(crate) clauses: Vec<Clause>,
    /// The validated filter document, kept on the top-level filter so that a
    /// MongoDB backend can send it to the server.
    pub(crate) source: Option<std::sync::Arc<Value>>,
}

/// One top-level entry of a filter object.
#[derive(Clone, Debug)]
pub(crate) enum Clause {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Nor(Vec<Filter>),
    /// `{path: literal}` or `{path: {operators}}`. Every condition must hold.
    Field {
        path: FieldPath,
        conditions: Vec<Condition>,
    },
}

/// One operator applied to the values at a path.
#[derive(Clone, Debug)]
pub(crate) enum Condition {
    Compare(CompareOp, Value),
    NotEqual(Value),
    In(ValueSet),
    NotIn(ValueSet),
    Exists(bool),
    /// Negation of all inner conditions together.
    Not(Vec<Condition>),
    Size(usize),
    /// `$elemMatch` with operators, applied to each element as a single value.
    ElemMatchValue(Vec<Condition>),
    /// `$elemMatch` with a query, applied to each object element as a document.
    ElemMatchDocument(Filter),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CompareOp {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Gte => ordering != Ordering::Less,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Lte => ordering != Ordering::Greater,
        }
    }
}

/// The operand of `$in` and `$nin`, sorted so that lookups are binary searches.
#[derive(Clone, Debug)]
pub(crate) struct ValueSet {
    sorted: Vec<Value>,
    has_null: bool,
}

impl ValueSet {
    pub(crate) fn new(mut values: Vec<Value>) -> ValueSet {
        let has_null = values.iter().any(Value::is_null);
        values.sort_by(compare_values);
        values.dedup_by(|a, b| compare_values(a, b) == Ordering::Equal);
        ValueSet {
            sorted: values,
            has_null,
        }
    }

    /// Tests one candidate. A null in the set also accepts a missing value, as `$eq: null` does.
    fn contains(&self, candidate: Option<&Value>) -> bool {
        match candidate {
            None => self.has_null,
            Some(value) => self
                .sorted
                .binary_search_by(|probe| compare_values(probe, value))
                .is_ok(),
        }
    }
}

impl Filter {
    /// Parses a filter object such as `{"status": "open", "score": {"$gte": 10}}`.
    ///
    /// `null` and `{}` parse to a filter that matches every document. Returns
    /// [`Error::Validation`](crate::error::Error::Validation) naming the path or operator for an
    /// unsupported operator or a malformed operand.
    pub fn parse(value: &Value) -> Result<Filter> {
        let mut filter = super::parse::parse_filter(value)?;
        if !filter.clauses.is_empty() {
            filter.source = Some(std::sync::Arc::new(value.clone()));
        }
        Ok(filter)
    }

    /// Returns the filter document this filter was parsed from; `None` for an
    /// empty filter or a nested one.
    pub fn source(&self) -> Option<&Value> {
        self.source.as_deref()
    }

    /// Tests `doc` with MongoDB's semantics for arrays, missing fields and cross-type values.
    pub fn matches(&self, doc: &Value) -> bool {
        self.clauses.iter().all(|clause| clause.matches(doc))
    }

    /// Returns the `(path, value)` equalities that every matching document satisfies.
    ///
    /// These come from top-level `{path: literal}` and `{path: {"$eq": literal}}` entries,
    /// including those inside a top-level `$and`, in filter order. They keep MongoDB's equality
    /// semantics, which are wider than SQL `=`: a null value also matches a missing field, an
    /// array element equal to the value matches, and `1` equals `1.0`. A caller that pushes them
    /// into SQL must still run [`Filter::matches`] on the rows it gets back unless the column
    /// holds only scalars of the value's type.
    pub fn required_equalities(&self) -> Vec<(String, Value)> {
        let mut equalities = Vec::new();
        self.collect_equalities(&mut equalities);
        equalities
    }

    /// Returns true when the filter has no conditions, as parsed from `null` or `{}`.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    fn collect_equalities(&self, equalities: &mut Vec<(String, Value)>) {
        for clause in &self.clauses {
            match clause {
                Clause::Field { path, conditions } => {
                    for condition in conditions {
                        if let Condition::Compare(CompareOp::Eq, value) = condition {
                            equalities.push((path.dotted.clone(), value.clone()));
                        }
                    }
                }
                Clause::And(filters) => {
                    for filter in filters {
                        filter.collect_equalities(equalities);
                    }
                }
                Clause::Or(_) | Clause::Nor(_) => {}
            }
        }
    }
}

impl Clause {
    fn matches(&self, doc: &Value) -> bool {
        match self {
            Clause::And(filters) => filters.iter().all(|filter| filter.matches(doc)),
            Clause::Or(filters) => filters.iter().any(|filter| filter.matches(doc)),
            Clause::Nor(filters) => !filters.iter().any(|filter| filter.matches(doc)),
            Clause::Field { path, conditions } => conditions
                .iter()
                .all(|condition| condition.matches_path(doc, path)),
        }
    }
}

impl Condition {
    /// Tests the condition against every value `path` reaches in `doc`.
    ///
    /// Positive operators match when any reached value matches. The negations (`$ne`, `$nin`,
    /// `$not`, `$exists: false`) negate the positive test over the whole path, so
    /// `{"tags": {"$ne": "x"}}` rejects `{"tags": ["x", "y"]}`.
    fn matches_path(&self, doc: &Value, path: &FieldPath) -> bool {
        let segments = &path.segments;
        match self {
            Condition::NotEqual(value) => !any_value(doc, segments, LeafArrays::Expand, &mut |c| {
                compare_matches(CompareOp::Eq, c, value)
            }),
            Condition::NotIn(set) => {
                !any_value(doc, segments, LeafArrays::Expand, &mut |c| set.contains(c))
            }
            Condition::Exists(expected) => {
                any_value(doc, segments, LeafArrays::Whole, &mut |c| c.is_some()) == *expected
            }
            Condition::Not(inner) => !inner
                .iter()
                .all(|condition| condition.matches_path(doc, path)),
            Condition::Size(_) | Condition::ElemMatchValue(_) | Condition::ElemMatchDocument(_) => {
                any_value(doc, segments, LeafArrays::Whole, &mut |c| {
                    self.matches_single(c)
                })
            }
            Condition::Compare(..) | Condition::In(_) => {
                any_value(doc, segments, LeafArrays::Expand, &mut |c| {
                    self.matches_single(c)
                })
            }
        }
    }

    /// Tests the condition against one value, or a missing one (`None`), with no array expansion.
    fn matches_single(&self, candidate: Option<&Value>) -> bool {
        match self {
            Condition::Compare(op, value) => compare_matches(*op, candidate, value),
            Condition::NotEqual(value) => !compare_matches(CompareOp::Eq, candidate, value),
            Condition::In(set) => set.contains(candidate),
            Condition::NotIn(set) => !set.contains(candidate),
            Condition::Exists(expected) => candidate.is_some() == *expected,
            Condition::Not(inner) => !inner
                .iter()
                .all(|condition| condition.matches_single(candidate)),
            Condition::Size(size) => {
                matches!(candidate, Some(Value::Array(items)) if items.len() == *size)
            }
            Condition::ElemMatchValue(conditions) => array_items(candidate).iter().any(|item| {
                conditions
                    .iter()
                    .all(|condition| condition.matches_single(Some(item)))
            }),
            // MongoDB treats object and array elements as documents here, and an array's field
            // names are its positions.
            Condition::ElemMatchDocument(filter) => array_items(candidate)
                .iter()
                .any(|item| (item.is_object() || item.is_array()) && filter.matches(item)),
        }
    }
}

fn array_items(candidate: Option<&Value>) -> &[Value] {
    match candidate {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

/// Applies a comparison operator to one value.
///
/// Values of different types never match, except that a missing value matches a null operand
/// of `$eq`, `$gte` and `$lte`, as in MongoDB.
fn compare_matches(op: CompareOp, candidate: Option<&Value>, operand: &Value) -> bool {
    match candidate {
        None => operand.is_null() && matches!(op, CompareOp::Eq | CompareOp::Gte | CompareOp::Lte),
        Some(value) => {
            type_rank(value) == type_rank(operand) && op.accepts(compare_values(value, operand))
        }
    }
}
