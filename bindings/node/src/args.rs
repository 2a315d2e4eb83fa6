//! The argument object of one call, with getters that name the argument in
//! their validation errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use polystat::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

pub struct Args(Map<String, Value>);

impl Args {
    pub fn new(value: Value) -> Result<Args> {
        match value {
            Value::Object(map) => Ok(Args(map)),
            Value::Null => Ok(Args(Map::new())),
            _ => Err(Error::validation("arguments", "expected an object")),
        }
    }

    /// Returns the argument, or `None` when it is missing or null.
    pub fn optional(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    pub fn value(&self, name: &str) -> Result<&Value> {
        self.optional(name)
            .ok_or_else(|| Error::validation(name, "is required"))
    }

    pub fn str(&self, name: &str) -> Result<&str> {
        self.value(name)?
            .as_str()
            .ok_or_else(|| Error::validation(name, "must be a string"))
    }

    pub fn optional_str(&self, name: &str) -> Result<Option<&str>> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => self.str(name).map(Some),
        }
    }

    pub fn array(&self, name: &str) -> Result<&Vec<Value>> {
        self.value(name)?
            .as_array()
            .ok_or_else(|| Error::validation(name, "must be an array"))
    }

    pub fn id(&self, name: &str) -> Result<Uuid> {
        let text = self.str(name)?;
        Uuid::parse_str(text).map_err(|e| {
            Error::validation(
                name,
                format!(
                    "{} is not a UUID ({e}); pass the id of a record",
                    excerpt(text)
                ),
            )
        })
    }

    pub fn version(&self, name: &str) -> Result<i64> {
        self.value(name)?
            .as_i64()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                Error::validation(
                    name,
                    "must be a whole number of 1 or more: the version the record was read at",
                )
            })
    }

    pub fn optional_version(&self, name: &str) -> Result<Option<i64>> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => self.version(name).map(Some),
        }
    }

    pub fn u64(&self, name: &str) -> Result<u64> {
        self.value(name)?
            .as_u64()
            .ok_or_else(|| Error::validation(name, "must be a whole number of 0 or more"))
    }

    pub fn optional_usize(&self, name: &str) -> Result<Option<usize>> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => Ok(Some(usize::try_from(self.u64(name)?).unwrap_or(usize::MAX))),
        }
    }

    /// Seconds as a positive duration.
    pub fn seconds(&self, name: &str) -> Result<Duration> {
        let seconds = self
            .value(name)?
            .as_f64()
            .ok_or_else(|| Error::validation(name, "must be a number of seconds"))?;
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::validation(name, "must be a positive, finite number of seconds"))
    }

    pub fn object(&self, name: &str) -> Result<Map<String, Value>> {
        match self.value(name)? {
            Value::Object(map) => Ok(map.clone()),
            _ => Err(Error::validation(name, "must be an object")),
        }
    }

    /// The `filter` argument; a missing filter matches everything.
    pub fn filter(&self) -> Value {
        self.optional("filter").cloned().unwrap_or(Value::Null)
    }

    /// Name-to-path map of WebAssembly modules; empty when missing.
    pub fn transforms(&self) -> Result<BTreeMap<String, PathBuf>> {
        match self.optional("transforms") {
            None => Ok(BTreeMap::new()),
            Some(_) => self.parse("transforms"),
        }
    }

    /// Bytes given as standard base64 text.
    pub fn base64(&self, name: &str) -> Result<Vec<u8>> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(self.str(name)?)
            .map_err(|e| Error::validation(name, format!("is not valid base64 ({e})")))
    }

    /// Deserializes an argument into `T`.
    pub fn parse<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        serde_json::from_value(self.value(name)?.clone())
            .map_err(|e| Error::validation(name, format!("{e}; check the field names and types")))
    }
}

/// Maximum number of characters of a rejected value that a message quotes.
const EXCERPT_CHARS: usize = 64;

/// Quotes `text` for an error message, cut to [`EXCERPT_CHARS`] characters
/// so that a huge argument does not make a huge message.
fn excerpt(text: &str) -> String {
    let length = text.chars().count();
    if length <= EXCERPT_CHARS {
        return format!("{text:?}");
    }
    let start: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{start:?}... ({length} characters)")
}
