//! redact: hashes or drops personal fields before records are stored.
//!
//! Params (every member optional):
//! `{"hash": ["author.email"], "drop": ["phone"], "emails": true, "salt": "s"}`.
//!
//! - `hash`: dotted paths whose values are replaced by their hash.
//! - `drop`: dotted paths that are removed.
//! - `emails`: when true (the default), every string anywhere in a record that
//!   looks like an e-mail address is replaced by its hash, whatever its field.
//! - `salt`: text hashed before each value, so that the hashes of well-known
//!   addresses cannot be looked up without it.
//!
//! A hash is `"sha256:"` and 64 hex digits of SHA-256 over the salt and the
//! value (a string's text, or the JSON of any other value). Equal values give
//! equal hashes, so redacted fields can still be joined and counted. Records
//! must be JSON objects; a path that a record lacks is skipped.

use polystat_guest::serde_json::{Map, Value};
use sha2::{Digest, Sha256};

polystat_guest::transform!(redact);

/// Parsed params.
struct Rules {
    hash: Vec<Vec<String>>,
    drop: Vec<Vec<String>>,
    emails: bool,
    salt: String,
}

fn redact(records: Vec<Value>, params: &Value) -> Result<Vec<Value>, String> {
    let rules = parse_rules(params)?;
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| match record {
            Value::Object(object) => Ok(Value::Object(redact_record(object, &rules))),
            _ => Err(format!("record {index} is not a JSON object")),
        })
        .collect()
}

fn parse_rules(params: &Value) -> Result<Rules, String> {
    if !(params.is_null() || params.is_object()) {
        return Err("params must be a JSON object or null".to_string());
    }
    let emails = match params.get("emails") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(emails)) => *emails,
        Some(other) => return Err(format!("param \"emails\" must be a boolean, got {other}")),
    };
    let salt = match params.get("salt") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(salt)) => salt.clone(),
        Some(other) => return Err(format!("param \"salt\" must be a string, got {other}")),
    };
    Ok(Rules {
        hash: parse_paths(params, "hash")?,
        drop: parse_paths(params, "drop")?,
        emails,
        salt,
    })
}

fn parse_paths(params: &Value, name: &str) -> Result<Vec<Vec<String>>, String> {
    let Some(list) = params.get(name).filter(|value| !value.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(items) = list.as_array() else {
        return Err(format!("param {name:?} must be an array of dotted paths"));
    };
    items
        .iter()
        .map(|item| {
            let path = item
                .as_str()
                .ok_or_else(|| format!("param {name:?}: {item} is not a string"))?;
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            if segments.iter().any(String::is_empty) {
                return Err(format!(
                    "param {name:?}: path {path:?} has an empty segment"
                ));
            }
            Ok(segments)
        })
        .collect()
}

fn redact_record(mut object: Map<String, Value>, rules: &Rules) -> Map<String, Value> {
    for path in &rules.drop {
        if let Some((parent, last)) = parent_of(&mut object, path) {
            parent.shift_remove(last);
        }
    }
    for path in &rules.hash {
        if let Some((parent, last)) = parent_of(&mut object, path) {
            if let Some(value) = parent.get_mut(last) {
                *value = Value::String(hash_value(value, &rules.salt));
            }
        }
    }
    if rules.emails {
        for value in object.values_mut() {
            hash_emails(value, &rules.salt);
        }
    }
    object
}

/// Returns the object that holds the last segment of `path`, and that segment.
fn parent_of<'a, 'p>(
    object: &'a mut Map<String, Value>,
    path: &'p [String],
) -> Option<(&'a mut Map<String, Value>, &'p str)> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for segment in parents {
        current = current.get_mut(segment)?.as_object_mut()?;
    }
    Some((current, last.as_str()))
}

fn hash_emails(value: &mut Value, salt: &str) {
    match value {
        Value::String(text) if looks_like_email(text) => {
            *value = Value::String(hash_text(text, salt));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| hash_emails(item, salt)),
        Value::Object(fields) => fields.values_mut().for_each(|item| hash_emails(item, salt)),
        _ => {}
    }
}

/// Matches `local@domain.tld` with no spaces: the shape of an address, not a
/// full RFC 5322 check, which is enough to find addresses in evidence data.
fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    !local.is_empty() && domain_ok && !text.chars().any(char::is_whitespace)
}

fn hash_value(value: &Value, salt: &str) -> String {
    match value {
        Value::String(text) => hash_text(text, salt),
        other => hash_text(&other.to_string(), salt),
    }
}

fn hash_text(text: &str, salt: &str) -> String {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(text.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use polystat_guest::serde_json::json;

    #[test]
    fn emails_anywhere_are_hashed() {
        let records = vec![json!({
            "author": {"login": "octocat", "email": "octo@example.org"},
            "reviewers": ["rev@example.org", "not an email"],
            "id": 7
        })];
        let output = redact(records, &Value::Null).expect("default params");
        let record = &output[0];
        // SHA-256 of "octo@example.org".
        let expected = hash_text("octo@example.org", "");
        assert_eq!(record["author"]["email"], json!(expected));
        assert!(record["reviewers"][0]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        assert_eq!(record["reviewers"][1], "not an email");
        assert_eq!(record["author"]["login"], "octocat");
        assert_eq!(record["id"], 7);
    }

    #[test]
    fn hash_matches_known_digest() {
        assert_eq!(
            hash_text("abc", ""),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(hash_text("abc", "salt"), hash_text("abc", ""));
    }

    #[test]
    fn listed_paths_are_hashed_or_dropped() {
        let records = vec![json!({"name": "Ada", "phone": "+1 555", "meta": {"ip": "10.0.0.1"}})];
        let params = json!({"hash": ["name", "meta.ip", "missing.path"], "drop": ["phone"]});
        let output = redact(records, &params).expect("valid params");
        let record = output[0].as_object().unwrap();
        assert!(!record.contains_key("phone"));
        assert_eq!(record["name"], json!(hash_text("Ada", "")));
        assert_eq!(record["meta"]["ip"], json!(hash_text("10.0.0.1", "")));
    }

    #[test]
    fn invalid_params_and_records_are_reported() {
        let error = redact(vec![], &json!({"hash": "name"})).expect_err("not an array");
        assert!(error.contains("array of dotted paths"), "{error}");
        let error = redact(vec![], &json!({"drop": ["a..b"]})).expect_err("empty segment");
        assert!(error.contains("empty segment"), "{error}");
        let error = redact(vec![json!(1)], &Value::Null).expect_err("not an object");
        assert_eq!(error, "record 0 is not a JSON object");
        let kept =
            redact(vec![json!({"e": "a@b.org"})], &json!({"emails": false})).expect("emails off");
        assert_eq!(kept[0]["e"], "a@b.org");
    }
}
