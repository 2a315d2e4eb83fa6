//! Scaled copies of the recorded GitHub pull requests and reviews, written as
//! JSON array files that every side of the `link` suite reads.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value};

/// Added to a record's PR number per copy. It is above the largest recorded
/// number (211), so the numbers of different copies never collide.
const NUMBER_STRIDE: u64 = 1_000;

/// Added to a record's id per copy. It is above the largest recorded id
/// (842,184,289), and 10^9 times the copy count stays below 2^53, so
/// every id is still exact in a JSON reader that parses numbers as doubles.
const ID_STRIDE: u64 = 1_000_000_000;

/// Subfolder of the shared data folder with the recorded repository.
const RECORDED: &str = "github/ants";

/// The two scaled input files and the record counts in them.
pub struct Inputs {
    pub pulls: PathBuf,
    pub reviews: PathBuf,
    pub pull_count: usize,
    pub review_count: usize,
}

/// Returns the folder of the recorded data: `POLYSTAT_SHARED_DATA` when it is
/// set, otherwise `../shared/data` next to the repository root.
pub fn shared_data_dir(repo_root: &Path) -> PathBuf {
    match std::env::var_os("POLYSTAT_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root.join("../shared/data"),
    }
}

/// Writes `pulls.json` and `reviews.json` into `dir`: whole copies of the
/// recorded data, as many as it takes to reach `min_records` in total.
///
/// Copy `c` adds `c * 1000` to every PR number, also inside the URLs that end
/// with it, and `c * 10^9` to every id, so each review still joins the pull
/// request of its own copy and no other.
pub fn write_inputs(data_dir: &Path, dir: &Path, min_records: usize) -> anyhow::Result<Inputs> {
    let pulls = read_recorded(&data_dir.join(RECORDED).join("pulls.json"))?;
    let reviews = read_recorded(&data_dir.join(RECORDED).join("pull_reviews.json"))?;
    let per_copy = pulls.len() + reviews.len();
    anyhow::ensure!(per_copy > 0, "the recorded pull and review files are empty");
    let copies = min_records.div_ceil(per_copy);

    let pulls_path = dir.join("pulls.json");
    let reviews_path = dir.join("reviews.json");
    write_copies(&pulls_path, &pulls, copies, "url")?;
    write_copies(&reviews_path, &reviews, copies, "pull_request_url")?;
    Ok(Inputs {
        pulls: pulls_path,
        reviews: reviews_path,
        pull_count: pulls.len() * copies,
        review_count: reviews.len() * copies,
    })
}

/// Reads one recorded array and trims each record as [`trim`] describes.
fn read_recorded(path: &Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let text = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {}; set POLYSTAT_SHARED_DATA to the folder that contains \
             github/ants",
            path.display()
        )
    })?;
    let records: Vec<Map<String, Value>> = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a JSON array of objects", path.display()))?;
    Ok(records.into_iter().map(trim).collect())
}

/// Keeps the top-level fields whose values are neither objects nor arrays,
/// and `user` cut down to `login`, `id` and `type`.
///
/// A recorded pull request is about 15 KB, most of it the `head` and `base`
/// repository objects. Copied whole, a million records would need about
/// 10 GB of JSON, more than pandas can load on a 24 GiB machine. The fields
/// the job reads, and the text fields such as `title` and `body`, stay.
fn trim(record: Map<String, Value>) -> Map<String, Value> {
    record
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::Object(user) if key == "user" => {
                let user_fields = ["login", "id", "type"]
                    .into_iter()
                    .filter_map(|field| Some((field.to_string(), user.get(field)?.clone())))
                    .collect();
                Some((key, Value::Object(user_fields)))
            }
            Value::Object(_) | Value::Array(_) => None,
            other => Some((key, other)),
        })
        .collect()
}

/// Writes `copies` renumbered copies of `records` as one JSON array.
/// `url_field` names the URL that ends with the PR number.
fn write_copies(
    path: &Path,
    records: &[Map<String, Value>],
    copies: usize,
    url_field: &str,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    out.write_all(b"[")?;
    let mut first = true;
    for copy in 0..copies as u64 {
        for record in records {
            if !first {
                out.write_all(b",\n")?;
            }
            first = false;
            serde_json::to_writer(&mut out, &renumber(record, copy, url_field))?;
        }
    }
    out.write_all(b"]\n")?;
    out.flush()?;
    Ok(())
}

fn renumber(record: &Map<String, Value>, copy: u64, url_field: &str) -> Map<String, Value> {
    let mut record = record.clone();
    if let Some(id) = record.get("id").and_then(Value::as_u64) {
        record.insert("id".into(), Value::from(id + copy * ID_STRIDE));
    }
    if let Some(number) = record.get("number").and_then(Value::as_u64) {
        record.insert("number".into(), Value::from(number + copy * NUMBER_STRIDE));
    }
    let renumbered_url = record
        .get(url_field)
        .and_then(Value::as_str)
        .and_then(|url| url.rsplit_once('/'))
        .and_then(|(prefix, last)| {
            let number: u64 = last.parse().ok()?;
            Some(format!("{prefix}/{}", number + copy * NUMBER_STRIDE))
        });
    if let Some(url) = renumbered_url {
        record.insert(url_field.into(), Value::from(url));
    }
    record
}
