//! review-rule: evidence for NIST SP 800-53 control CM-3 (configuration change
//! control) from GitHub data. A merged change passes when someone other than its
//! author reviewed it.
//!
//! Input rows are a left join of pull requests with their reviews: `number`
//! (integer), `author` (login), `merged_at` (string, or null while unmerged),
//! `reviewer` (review author login, or null/missing for a pull request without
//! reviews) and `review_state`. The output has one evidence record per merged
//! pull request, in ascending `number` order:
//!
//! ```json
//! {"key": "12", "value": {"number": 12, "author": "ann", "reviewers": ["bob"]}, "result": true}
//! ```
//!
//! `reviewers` lists the distinct logins other than the author that left any
//! review, sorted. `review_state` is not used: any submitted review by another
//! person counts, whatever its state. No params are read.

use std::collections::{BTreeMap, BTreeSet};

use polystat_guest::serde_json::{json, Value};

// The ABI exports only on wasm: their unmangled names would clash when a
// native binary links several transform crates.
#[cfg(target_arch = "wasm32")]
polystat_guest::transform!(evaluate);

/// One merged pull request, gathered from its joined rows.
struct PullRequest {
    author: String,
    reviewers: BTreeSet<String>,
}

/// Evaluates a batch of joined rows. It is public so that a host can run the
/// same logic natively, as the transform benchmark does.
pub fn evaluate(rows: Vec<Value>, _params: &Value) -> Result<Vec<Value>, String> {
    let mut merged: BTreeMap<u64, PullRequest> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        let number = row.get("number").and_then(Value::as_u64).ok_or_else(|| {
            format!("row {index}: \"number\" is missing or not a non-negative integer")
        })?;
        let author = string_field(row, "author")
            .ok_or_else(|| format!("row {index}: \"author\" is missing or not a string"))?;
        if is_null_or_missing(row, "merged_at") {
            continue;
        }
        let pull_request = merged.entry(number).or_insert_with(|| PullRequest {
            author: author.to_string(),
            reviewers: BTreeSet::new(),
        });
        if pull_request.author != author {
            return Err(format!(
                "row {index}: pull request {number} has author {author:?}, but an earlier row says {:?}",
                pull_request.author
            ));
        }
        match row.get("reviewer") {
            None | Some(Value::Null) => {}
            Some(Value::String(reviewer)) if *reviewer == pull_request.author => {}
            Some(Value::String(reviewer)) => {
                pull_request.reviewers.insert(reviewer.clone());
            }
            Some(other) => {
                return Err(format!(
                    "row {index}: \"reviewer\" is not a string: {other}"
                ))
            }
        }
    }
    Ok(merged
        .into_iter()
        .map(|(number, pr)| evidence(number, pr))
        .collect())
}

fn evidence(number: u64, pull_request: PullRequest) -> Value {
    let result = !pull_request.reviewers.is_empty();
    json!({
        "key": number.to_string(),
        "value": {
            "number": number,
            "author": pull_request.author,
            "reviewers": pull_request.reviewers,
        },
        "result": result,
    })
}

fn string_field<'a>(row: &'a Value, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

fn is_null_or_missing(row: &Value, key: &str) -> bool {
    row.get(key).is_none_or(Value::is_null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_review_does_not_count() {
        let rows = vec![
            json!({"number": 2, "author": "ann", "merged_at": "2024-01-01", "reviewer": "ann"}),
            json!({"number": 1, "author": "bob", "merged_at": "2024-01-01", "reviewer": "cat"}),
            json!({"number": 1, "author": "bob", "merged_at": "2024-01-01", "reviewer": "cat"}),
        ];
        let output = evaluate(rows, &Value::Null).expect("valid rows");
        assert_eq!(output.len(), 2);
        assert_eq!(output[0]["key"], json!("1"));
        assert_eq!(output[0]["value"]["reviewers"], json!(["cat"]));
        assert_eq!(output[0]["result"], json!(true));
        assert_eq!(output[1]["key"], json!("2"));
        assert_eq!(output[1]["result"], json!(false));
    }

    #[test]
    fn unmerged_pull_requests_are_skipped() {
        let rows =
            vec![json!({"number": 3, "author": "ann", "merged_at": null, "reviewer": "bob"})];
        assert!(evaluate(rows, &Value::Null).expect("valid rows").is_empty());
    }

    #[test]
    fn invalid_rows_are_named() {
        let rows = vec![json!({"number": "3", "author": "ann"})];
        let error = evaluate(rows, &Value::Null).expect_err("number is a string");
        assert!(error.starts_with("row 0: \"number\""), "{error}");
        let rows = vec![
            json!({"number": 3, "author": "ann", "merged_at": "x"}),
            json!({"number": 3, "author": "bob", "merged_at": "x"}),
        ];
        let error = evaluate(rows, &Value::Null).expect_err("authors differ");
        assert!(error.starts_with("row 1: pull request 3"), "{error}");
    }
}
