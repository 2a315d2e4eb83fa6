//! Field projection: keeps the parts of each record that a linker reads and
//! drops the rest as early as the datasource allows.
//!
//! A file datasource applies a projection while it parses, so the fields it
//! drops are checked as in a whole parse but never built. Other datasources
//! prune each record after reading it, which still spares the transforms and
//! the join the unread fields.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The fields a reader keeps, built from dotted paths such as `user.login`.
///
/// A path keeps its whole value, and the objects on the way to it keep only
/// the fields that some path names. Projection reaches into objects only: an
/// array, or a value that is not an object where a path goes on, is kept
/// whole. So `labels.0.name` keeps the whole `labels` array, and `user.login`
/// keeps a `user` that is a string. Values that are not objects at the top
/// level are kept as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    fields: Fields,
}

type Fields = HashMap<String, Node>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Whole,
    Fields(Fields),
}

impl Projection {
    /// Builds the projection that keeps every path in `paths`.
    ///
    /// A path that another one contains wins: `user` with `user.login`
    /// keeps all of `user`. Segments are split on dots, and the caller
    /// rejects empty segments first.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut projection = Projection::default();
        for path in paths {
            projection.insert(path);
        }
        projection
    }

    fn insert(&mut self, path: &str) {
        let mut fields = &mut self.fields;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                fields.insert(segment.to_string(), Node::Whole);
                return;
            }
            let node = fields
                .entry(segment.to_string())
                .or_insert_with(|| Node::Fields(Fields::new()));
            match node {
                Node::Whole => return,
                Node::Fields(children) => fields = children,
            }
        }
    }

    /// Returns `true` when the value at `path` survives the projection whole.
    pub fn keeps(&self, path: &str) -> bool {
        let mut fields = &self.fields;
        for segment in path.split('.') {
            match fields.get(segment) {
                None => return false,
                Some(Node::Whole) => return true,
                Some(Node::Fields(children)) => fields = children,
            }
        }
        false
    }

    /// Returns the names of the top-level fields the projection keeps, whole
    /// or in part.
    pub fn top_level_fields(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// Removes from `record` every field the projection does not keep.
    pub fn prune(&self, record: &mut Value) {
        prune_fields(&self.fields, record);
    }

    /// Deserializes a JSON document whose records form a top-level array,
    /// projecting each object element as it is parsed. A document that is
    /// not an array comes back whole, for the caller to reject.
    pub fn parse_records<'de, D: Deserializer<'de>>(
        &self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ProjectingVisitor {
            fields: &self.fields,
            level: Level::Document,
        })
    }

    /// Deserializes one record, projecting it when it is an object.
    pub fn parse_record<'de, D: Deserializer<'de>>(
        &self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        Projected(&self.fields).deserialize(deserializer)
    }
}

fn prune_fields(fields: &Fields, value: &mut Value) {
    if let Value::Object(object) = value {
        object.retain(|name, child| match fields.get(name) {
            None => false,
            Some(Node::Whole) => true,
            Some(Node::Fields(children)) => {
                prune_fields(children, child);
                true
            }
        });
    }
}

/// Deserializes a value and projects it with `fields` when it is an object.
struct Projected<'a>(&'a Fields);

impl<'de> DeserializeSeed<'de> for Projected<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ProjectingVisitor {
            fields: self.0,
            level: Level::Record,
        })
    }
}

/// The position of a [`ProjectingVisitor`]: the document, whose array
/// elements are the records, or a record or a field inside one.
#[derive(Clone, Copy)]
enum Level {
    Document,
    Record,
}

struct ProjectingVisitor<'a> {
    fields: &'a Fields,
    level: Level,
}

impl<'de> Visitor<'de> for ProjectingVisitor<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so only a foreign deserializer
        // reaches the `Null` branch, as it does in `serde_json::Value`.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut elements = Vec::with_capacity(access.size_hint().unwrap_or(0));
        match self.level {
            Level::Document => {
                while let Some(record) = access.next_element_seed(Projected(self.fields))? {
                    elements.push(record);
                }
            }
            Level::Record => {
                while let Some(element) = access.next_element::<Value>()? {
                    elements.push(element);
                }
            }
        }
        Ok(Value::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        if let Level::Document = self.level {
            while let Some((name, value)) = access.next_entry::<String, Value>()? {
                object.insert(name, value);
            }
            return Ok(Value::Object(object));
        }
        while let Some(kept) = access.next_key_seed(KeptField(self.fields))? {
            match kept {
                None => {
                    access.next_value::<Checked>()?;
                }
                Some((name, Node::Whole)) => {
                    object.insert(name, access.next_value::<Value>()?);
                }
                Some((name, Node::Fields(children))) => {
                    object.insert(name, access.next_value_seed(Projected(children))?);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

/// A dropped value, parsed as fully as a kept one but never built.
///
/// `IgnoredAny` would let serde_json skip the value with a looser scan that
/// accepts numbers out of range, lone surrogates, invalid UTF-8 and nesting
/// past the recursion limit, so a file could read with a projection and fail
/// without one. Parsing through `deserialize_any` applies every check of a
/// whole parse, and borrowed strings need no allocation.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_none<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Checked, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Checked, A::Error> {
        while access.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Checked, A::Error> {
        while access.next_key::<Checked>()?.is_some() {
            access.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// Reads an object key and returns it with its projection node when the
/// projection keeps the field, without allocating the names it drops.
struct KeptField<'a>(&'a Fields);

impl<'de, 'a> DeserializeSeed<'de> for KeptField<'a> {
    type Value = Option<(String, &'a Node)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'a> Visitor<'de> for KeptField<'a> {
    type Value = Option<(String, &'a Node)>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.get(name).map(|node| (name.to_string(), node)))
    }
}

#[cfg(test)]
mod tests;
