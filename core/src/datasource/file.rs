//! File datasources: JSON, NDJSON and CSV files under a configured data root.
//!
//! Every configured path is relative to the data root, and [`resolve_path`]
//! rejects paths that reach a file outside it, whether through `..`, an
//! absolute path or a symbolic link.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::projection::Projection;
use crate::error::{Error, Result};
use crate::link::mapping::{dotted_path_to_pointer, json_type_name};

const PATH_FIELD: &str = "datasource.config.path";
const FORMAT_FIELD: &str = "datasource.config.format";
const RECORDS_PATH_FIELD: &str = "datasource.config.recordsPath";
const BACKEND: &str = "file datasource";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Configuration of a file datasource.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileConfig {
    /// Path of the file, relative to the data root.
    pub path: String,
    /// File format. When absent, the extension decides: `.json`, `.ndjson`
    /// or `.jsonl`, and `.csv`, in any letter case.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// Dotted path to the records array inside a JSON document, such as
    /// `data.items`. Numeric segments index arrays. Only valid for `json`.
    #[serde(default)]
    pub records_path: Option<String>,
}

/// Layout of a datasource file.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One JSON document whose records form an array.
    Json,
    /// Newline-delimited JSON: one JSON value per non-empty line.
    Ndjson,
    /// Comma-separated values whose first row names the columns.
    Csv,
}

impl FileFormat {
    /// Infers the format from the extension of `path`, ignoring letter case.
    pub fn from_extension(path: &str) -> Option<FileFormat> {
        let extension = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" => Some(FileFormat::Json),
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

impl FileConfig {
    /// Checks the configuration without touching the file system.
    pub fn validate(&self) -> Result<()> {
        check_relative(&self.path)?;
        let format = self.resolved_format()?;
        if let Some(records_path) = &self.records_path {
            if format != FileFormat::Json {
                return Err(Error::validation(
                    RECORDS_PATH_FIELD,
                    "recordsPath applies only to the json format; remove it or set format to json",
                ));
            }
            check_records_path(records_path)?;
        }
        Ok(())
    }

    /// Returns the configured format, or the one the file extension implies.
    pub fn resolved_format(&self) -> Result<FileFormat> {
        if let Some(format) = self.format {
            return Ok(format);
        }
        FileFormat::from_extension(&self.path).ok_or_else(|| {
            Error::validation(
                FORMAT_FIELD,
                format!(
                    "cannot infer the format of {}; use a .json, .ndjson, .jsonl or .csv \
                     extension or set format to json, ndjson or csv",
                    self.path
                ),
            )
        })
    }
}

/// Reads all records of the file that `config` names, at most `limit` when set.
///
/// The path is relative to `root`, the configured data root. Absolute paths,
/// `..` components that leave the root and symbolic links that resolve outside
/// it are rejected (see [`resolve_path`]).
///
/// Records by format:
/// - `json`: the elements of the top-level array, or of the array at
///   `recordsPath`. Any other value there is a validation error.
/// - `ndjson`: one value per line. Blank lines are skipped, and an invalid
///   line fails the whole read with an error that gives its 1-based number.
/// - `csv`: one object per data row, keyed by the header row. Every value is
///   a string, except that an empty cell becomes `null`. A row whose field
///   count differs from the header fails the read with its 1-based row number.
///
/// A UTF-8 byte order mark at the start of the file is ignored. The parsing
/// runs on the blocking thread pool, so it does not stall the async runtime.
pub async fn read_records(
    root: &Path,
    config: &FileConfig,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    read_projected(root, config, limit, None).await
}

/// Reads records as [`read_records`] does, keeping only the fields that
/// `projection` names.
///
/// JSON array and NDJSON records are projected while they are parsed. The
/// dropped fields are checked as in a whole parse, so the same files fail
/// with the same errors, but they are never built. Records of a
/// `recordsPath` document and CSV rows are pruned after parsing.
pub async fn read_projected(
    root: &Path,
    config: &FileConfig,
    limit: Option<usize>,
    projection: Option<Projection>,
) -> Result<Vec<Value>> {
    config.validate()?;
    let root = root.to_path_buf();
    let config = config.clone();
    let relative = config.path.clone();
    tokio::task::spawn_blocking(move || {
        read_records_blocking(&root, &config, limit, projection.as_ref())
    })
    .await
    .map_err(|error| Error::Unavailable {
        backend: BACKEND.to_string(),
        reason: format!("reading {relative} did not finish: {error}"),
        source: Some(Box::new(error)),
    })?
}

/// Resolves `relative` against `root` and returns the canonical path of the file.
///
/// Both paths are canonicalized, so symbolic links are followed, and the result
/// must lie under the canonical root. A missing file is a validation error on
/// `datasource.config.path` with the text `file not found: <relative>`.
// NOTE: the check runs before the file is opened, so a link swapped in between
// the two steps could still escape the root. Keep the data root writable only
// by trusted processes.
pub fn resolve_path(root: &Path, relative: &str) -> Result<PathBuf> {
    check_relative(relative)?;
    let canonical_root = root.canonicalize().map_err(|error| {
        Error::configuration(format!(
            "data root {} cannot be opened: {error}; set it to an existing directory",
            root.display()
        ))
    })?;
    let resolved = canonical_root
        .join(relative)
        .canonicalize()
        .map_err(|error| open_error(relative, error))?;
    if !resolved.starts_with(&canonical_root) {
        return Err(Error::validation(
            PATH_FIELD,
            format!(
                "{relative} resolves to a location outside the data root, for example \
                 through a symbolic link; point it at a file inside the data root"
            ),
        ));
    }
    if !resolved.is_file() {
        return Err(Error::validation(
            PATH_FIELD,
            format!("{relative} is not a regular file; point it at a data file"),
        ));
    }
    Ok(resolved)
}

/// Rejects empty and absolute paths and `..` components that climb above the
/// root, before any file system access.
fn check_relative(relative: &str) -> Result<()> {
    if relative.trim().is_empty() {
        return Err(Error::validation(
            PATH_FIELD,
            "must not be empty; give a file path relative to the data root",
        ));
    }
    let mut depth: usize = 0;
    for component in Path::new(relative).components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return Err(Error::validation(
                    PATH_FIELD,
                    format!(
                        "absolute paths are not allowed: {relative}; give a path relative \
                         to the data root"
                    ),
                ));
            }
            Component::ParentDir => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    Error::validation(
                        PATH_FIELD,
                        format!(
                            "{relative} leaves the data root through '..'; give a path \
                             inside the data root"
                        ),
                    )
                })?;
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    Ok(())
}

fn check_records_path(records_path: &str) -> Result<()> {
    if records_path.split('.').any(str::is_empty) {
        return Err(Error::validation(
            RECORDS_PATH_FIELD,
            format!(
                "{records_path:?} has an empty segment; write field names separated by \
                 single dots, such as data.items"
            ),
        ));
    }
    Ok(())
}

fn read_records_blocking(
    root: &Path,
    config: &FileConfig,
    limit: Option<usize>,
    projection: Option<&Projection>,
) -> Result<Vec<Value>> {
    let relative = config.path.as_str();
    let path = resolve_path(root, relative)?;
    let records_path = config.records_path.as_deref();
    let mut records = match config.resolved_format()? {
        FileFormat::Json => {
            let bytes = std::fs::read(&path).map_err(|error| open_error(relative, error))?;
            let parse_projection = projection.filter(|_| records_path.is_none());
            let mut records = read_json(&bytes, relative, records_path, parse_projection)?;
            if records_path.is_some() {
                prune_all(projection, &mut records);
            }
            records
        }
        FileFormat::Ndjson => read_ndjson(open(&path, relative)?, relative, limit, projection)?,
        FileFormat::Csv => {
            let mut records = read_csv(open(&path, relative)?, relative, limit)?;
            prune_all(projection, &mut records);
            records
        }
    };
    if let Some(limit) = limit {
        records.truncate(limit);
    }
    Ok(records)
}

fn prune_all(projection: Option<&Projection>, records: &mut [Value]) {
    if let Some(projection) = projection {
        records
            .iter_mut()
            .for_each(|record| projection.prune(record));
    }
}

fn open(path: &Path, relative: &str) -> Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|error| open_error(relative, error))
}

/// Maps an I/O failure on the datasource file to an error: not-found becomes a
/// validation error the user can fix, anything else an unavailable backend.
fn open_error(relative: &str, error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        return Error::validation(
            PATH_FIELD,
            format!("file not found: {relative}; paths are relative to the data root"),
        );
    }
    Error::Unavailable {
        backend: BACKEND.to_string(),
        reason: format!("cannot read {relative}: {error}"),
        source: Some(Box::new(error)),
    }
}

/// Parses a JSON document and returns the records array in it. With a
/// projection, the elements of a top-level array are projected as they are
/// parsed.
fn read_json(
    bytes: &[u8],
    relative: &str,
    records_path: Option<&str>,
    projection: Option<&Projection>,
) -> Result<Vec<Value>> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let mut document = parse_document(bytes, projection).map_err(|error| {
        Error::validation(PATH_FIELD, format!("invalid JSON in {relative}: {error}"))
    })?;
    let (field, location, selected) = match records_path {
        None => (PATH_FIELD, "the top level".to_string(), document),
        Some(records_path) => {
            let pointer = dotted_path_to_pointer(records_path);
            let selected = document
                .pointer_mut(&pointer)
                .map(Value::take)
                .ok_or_else(|| {
                    Error::validation(
                        RECORDS_PATH_FIELD,
                        format!("{relative} has no value at {records_path}; check recordsPath"),
                    )
                })?;
            (RECORDS_PATH_FIELD, records_path.to_string(), selected)
        }
    };
    match selected {
        Value::Array(records) => Ok(records),
        other => Err(Error::validation(
            field,
            format!(
                "expected an array of records at {location} of {relative}, found {}; \
                 set recordsPath to the array that holds the records",
                json_type_name(&other)
            ),
        )),
    }
}

fn parse_document(bytes: &[u8], projection: Option<&Projection>) -> serde_json::Result<Value> {
    let Some(projection) = projection else {
        return serde_json::from_slice(bytes);
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document = projection.parse_records(&mut deserializer)?;
    deserializer.end()?;
    Ok(document)
}

fn parse_line(text: &str, projection: Option<&Projection>) -> serde_json::Result<Value> {
    let Some(projection) = projection else {
        return serde_json::from_str(text);
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let record = projection.parse_record(&mut deserializer)?;
    deserializer.end()?;
    Ok(record)
}

fn read_ndjson(
    reader: impl BufRead,
    relative: &str,
    limit: Option<usize>,
    projection: Option<&Projection>,
) -> Result<Vec<Value>> {
    let mut records = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        if limit.is_some_and(|limit| records.len() >= limit) {
            break;
        }
        let line_number = index + 1;
        let line = line.map_err(|error| ndjson_read_error(relative, line_number, error))?;
        let text = if index == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line.as_str()
        };
        if text.trim().is_empty() {
            continue;
        }
        let record = parse_line(text, projection).map_err(|error| {
            Error::validation(
                PATH_FIELD,
                format!(
                    "invalid JSON on line {line_number}, column {} of {relative}: {}",
                    error.column(),
                    json_error_reason(&error)
                ),
            )
        })?;
        records.push(record);
    }
    Ok(records)
}

fn ndjson_read_error(relative: &str, line_number: usize, error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::InvalidData {
        return Error::validation(
            PATH_FIELD,
            format!("line {line_number} of {relative} is not valid UTF-8"),
        );
    }
    open_error(relative, error)
}

/// Returns the serde_json message without its " at line L column C" suffix,
/// which would count from the start of the single NDJSON line.
fn json_error_reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(reason) => reason.to_string(),
        None => message,
    }
}

fn read_csv(
    reader: impl std::io::Read,
    relative: &str,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = csv_reader
        .headers()
        .map_err(|error| csv_error(relative, 0, error))?
        .clone();
    check_csv_headers(&headers, relative)?;
    let mut records = Vec::new();
    let mut row = csv::StringRecord::new();
    loop {
        if limit.is_some_and(|limit| records.len() >= limit) {
            break;
        }
        let row_number = records.len() + 1;
        match csv_reader.read_record(&mut row) {
            Ok(true) => records.push(csv_row_to_object(&headers, &row)),
            Ok(false) => break,
            Err(error) => return Err(csv_error(relative, row_number, error)),
        }
    }
    Ok(records)
}

/// Rejects repeated column names, which would silently drop all but one cell.
fn check_csv_headers(headers: &csv::StringRecord, relative: &str) -> Result<()> {
    for (index, name) in headers.iter().enumerate() {
        if headers.iter().take(index).any(|earlier| earlier == name) {
            return Err(Error::validation(
                PATH_FIELD,
                format!(
                    "the CSV header of {relative} repeats the column {name:?}; give each \
                     column a unique name"
                ),
            ));
        }
    }
    Ok(())
}

fn csv_row_to_object(headers: &csv::StringRecord, row: &csv::StringRecord) -> Value {
    let mut object = Map::new();
    for (name, cell) in headers.iter().zip(row.iter()) {
        let value = if cell.is_empty() {
            Value::Null
        } else {
            Value::String(cell.to_string())
        };
        object.insert(name.to_string(), value);
    }
    Value::Object(object)
}

/// Builds the error for a CSV failure at data row `row_number` (1-based, 0 for
/// the header row).
fn csv_error(relative: &str, row_number: usize, error: csv::Error) -> Error {
    let row = if row_number == 0 {
        "the header row".to_string()
    } else {
        format!("data row {row_number}")
    };
    let line = error
        .position()
        .map(|position| format!(" (line {})", position.line()))
        .unwrap_or_default();
    let detail = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("it has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "it is not valid UTF-8".to_string(),
        csv::ErrorKind::Io(_) => {
            return Error::Unavailable {
                backend: BACKEND.to_string(),
                reason: format!("cannot read {relative}: {error}"),
                source: Some(Box::new(error)),
            };
        }
        _ => error.to_string(),
    };
    Error::validation(
        PATH_FIELD,
        format!("invalid CSV in {relative} at {row}{line}: {detail}"),
    )
}

#[cfg(test)]
mod tests;
