//! Field checks shared by the entities.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// Maximum length of any entity name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Requires a non-blank name of at most [`MAX_NAME_CHARS`] characters.
pub fn name(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(Error::validation(
            field,
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Requires a plausible e-mail address: one `@`, a local part and a dotted domain.
pub fn email(field: &str, value: &str) -> Result<()> {
    let invalid = || {
        Error::validation(
            field,
            format!("{value:?} is not a valid e-mail address; use name@example.org"),
        )
    };
    let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || !domain_ok || value.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    Ok(())
}

/// Requires `end`, when present, to come after `start`.
pub fn date_range(field: &str, start: &DateTime<Utc>, end: Option<&DateTime<Utc>>) -> Result<()> {
    match end {
        Some(end) if end < start => Err(Error::validation(
            field,
            format!("end {end} is before start {start}"),
        )),
        _ => Ok(()),
    }
}

/// Requires a snake_case identifier: lowercase letters, digits and underscores,
/// starting with a letter.
pub fn snake_case(field: &str, value: &str) -> Result<()> {
    let mut chars = value.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !starts_with_letter || !rest_ok {
        return Err(Error::validation(
            field,
            format!("{value:?} must be lowercase letters, digits and underscores, starting with a letter"),
        ));
    }
    Ok(())
}
