//! Property mapping: copies values at dotted source paths into top-level
//! output fields.

use std::collections::HashSet;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Ordered map from a dotted source path to an output field name.
///
/// Entries keep the order of the configuration, which is the order of the
/// mapped fields in each output record. A source path may appear only once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropertyMapping {
    entries: Vec<(String, String)>,
}

impl PropertyMapping {
    /// Creates an empty mapping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `source_path` to `output`, replacing and returning an earlier
    /// output name for the same path.
    pub fn insert(
        &mut self,
        source_path: impl Into<String>,
        output: impl Into<String>,
    ) -> Option<String> {
        let source_path = source_path.into();
        let output = output.into();
        match self
            .entries
            .iter_mut()
            .find(|(path, _)| *path == source_path)
        {
            Some((_, existing)) => Some(std::mem::replace(existing, output)),
            None => {
                self.entries.push((source_path, output));
                None
            }
        }
    }

    /// Iterates over `(source path, output field)` pairs in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(path, output)| (path.as_str(), output.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns `true` if the mapping has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for PropertyMapping {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut mapping = PropertyMapping::new();
        for (source_path, output) in iter {
            mapping.insert(source_path, output);
        }
        mapping
    }
}

impl Serialize for PropertyMapping {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for PropertyMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PropertyMappingVisitor)
    }
}

struct PropertyMappingVisitor;

impl<'de> Visitor<'de> for PropertyMappingVisitor {
    type Value = PropertyMapping;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object from source paths to output field names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut mapping = PropertyMapping::new();
        while let Some((source_path, output)) = access.next_entry::<String, String>()? {
            if mapping.iter().any(|(path, _)| path == source_path) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate source path {source_path:?} in propertyMapping"
                )));
            }
            mapping.entries.push((source_path, output));
        }
        Ok(mapping)
    }
}

/// Converts a dotted path such as `user.labels.0` into a JSON Pointer
/// (RFC 6901), escaping `~` and `/` inside segments.
///
/// A numeric segment indexes an array, or names a field of an object.
pub(crate) fn dotted_path_to_pointer(path: &str) -> String {
    let mut pointer = String::with_capacity(path.len() + 1);
    for segment in path.split('.') {
        pointer.push('/');
        pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    }
    pointer
}

/// Name of the JSON type of `value`, for error messages.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Applies `mapping` to every record.
///
/// An empty mapping returns the records unchanged. Otherwise each record
/// becomes an object with the mapped fields in mapping order, `null` where
/// the source path is missing. With `keep_unmapped`, the record's other
/// top-level fields follow in their original order. A top-level field counts
/// as mapped when some source path starts with it, and a mapped output field
/// wins over an original field of the same name.
pub(crate) fn apply_mapping(
    mapping: &PropertyMapping,
    keep_unmapped: bool,
    records: Vec<Value>,
) -> Vec<Value> {
    if mapping.is_empty() {
        return records;
    }
    let compiled = CompiledMapping::new(mapping, keep_unmapped);
    records
        .into_iter()
        .map(|record| compiled.apply(record))
        .collect()
}

/// A mapping with its source paths converted to JSON Pointers once per batch.
struct CompiledMapping<'a> {
    entries: Vec<(String, &'a str)>,
    mapped_top_level: HashSet<&'a str>,
    keep_unmapped: bool,
}

impl<'a> CompiledMapping<'a> {
    fn new(mapping: &'a PropertyMapping, keep_unmapped: bool) -> Self {
        let entries = mapping
            .iter()
            .map(|(path, output)| (dotted_path_to_pointer(path), output))
            .collect();
        let mapped_top_level = mapping
            .iter()
            .filter_map(|(path, _)| path.split('.').next())
            .collect();
        CompiledMapping {
            entries,
            mapped_top_level,
            keep_unmapped,
        }
    }

    fn apply(&self, record: Value) -> Value {
        let mut output = Map::new();
        for (pointer, field) in &self.entries {
            let value = record.pointer(pointer).cloned().unwrap_or(Value::Null);
            output.insert((*field).to_string(), value);
        }
        if !self.keep_unmapped {
            return Value::Object(output);
        }
        if let Value::Object(fields) = record {
            for (name, value) in fields {
                if !self.mapped_top_level.contains(name.as_str()) && !output.contains_key(&name) {
                    output.insert(name, value);
                }
            }
        }
        Value::Object(output)
    }
}
