//! pr-number: reads a GitHub API pull request URL such as
//! `https://api.github.com/repos/dev-019/ants/pulls/41` from each record and
//! stores the trailing pull request number as an integer.
//!
//! Params (both optional): `{"from": "pull_request_url", "to": "pr_number"}`
//! name the field that contains the URL and the field that receives the number.
//! A record that is not an object, lacks the `from` field or has a URL that
//! does not end in a number fails the whole batch with an error naming the
//! record's index.

use polystat_guest::serde_json::Value;

polystat_guest::transform!(add_pr_numbers);

const DEFAULT_FROM: &str = "pull_request_url";
const DEFAULT_TO: &str = "pr_number";

fn add_pr_numbers(records: Vec<Value>, params: &Value) -> Result<Vec<Value>, String> {
    let from = field_param(params, "from", DEFAULT_FROM)?;
    let to = field_param(params, "to", DEFAULT_TO)?;
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| add_pr_number(index, record, from, to))
        .collect()
}

/// Returns the string param `key`, or `default` when params or the key are absent.
fn field_param<'a>(params: &'a Value, key: &str, default: &'a str) -> Result<&'a str, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(name)) => Ok(name),
        Some(other) => Err(format!(
            "param \"{key}\" must be a field name string, got {other}"
        )),
    }
}

fn add_pr_number(index: usize, mut record: Value, from: &str, to: &str) -> Result<Value, String> {
    let Some(object) = record.as_object_mut() else {
        return Err(format!("record {index} is not a JSON object"));
    };
    let url = match object.get(from) {
        Some(Value::String(url)) => url,
        Some(other) => {
            return Err(format!(
                "record {index}: field \"{from}\" is not a string: {other}"
            ));
        }
        None => return Err(format!("record {index} has no field \"{from}\"")),
    };
    let number = trailing_number(url).ok_or_else(|| {
        format!("record {index}: field \"{from}\" value {url:?} does not end with a pull request number")
    })?;
    object.insert(to.to_string(), Value::from(number));
    Ok(record)
}

/// Parses the last path segment of `url` as an unsigned integer.
fn trailing_number(url: &str) -> Option<u64> {
    let segment = url.rsplit('/').next()?;
    if segment.is_empty() || !segment.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    segment.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polystat_guest::serde_json::json;

    #[test]
    fn trailing_number_cases() {
        let url = "https://api.github.com/repos/dev-019/ants/pulls/41";
        assert_eq!(trailing_number(url), Some(41));
        assert_eq!(trailing_number("pulls/41/"), None);
        assert_eq!(trailing_number("pulls/+41"), None);
        assert_eq!(trailing_number("pulls/4a"), None);
        assert_eq!(trailing_number("99999999999999999999999"), None);
    }

    #[test]
    fn adds_number_under_custom_names() {
        let records = vec![json!({"url": "https://api.github.com/repos/a/b/pulls/7"})];
        let params = json!({"from": "url", "to": "n"});
        let output = add_pr_numbers(records, &params).expect("valid records");
        assert_eq!(output[0]["n"], json!(7));
    }

    #[test]
    fn defaults_apply_without_params() {
        let records = vec![json!({"pull_request_url": "x/pulls/3"})];
        let output = add_pr_numbers(records, &Value::Null).expect("valid records");
        assert_eq!(output[0]["pr_number"], json!(3));
    }

    #[test]
    fn errors_name_the_record() {
        let records = vec![json!({"pull_request_url": "x/pulls/3"}), json!(5)];
        let error = add_pr_numbers(records, &Value::Null).expect_err("record 1 is invalid");
        assert_eq!(error, "record 1 is not a JSON object");
        let bad_param = add_pr_numbers(vec![], &json!({"from": 1})).expect_err("bad param");
        assert!(bad_param.contains("param \"from\""), "{bad_param}");
    }
}
