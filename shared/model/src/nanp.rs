//! A fast, exact validity check for North American numbers (country code 1), which make up most
//! phone numbers carebridge reads. It applies libphonenumber's own metadata patterns, compiled
//! once, in the same order and with the same rules as `phonenumber::is_valid` (region by leading
//! digits or by type, then "general pattern and some type pattern match"), but without the
//! general parser and the shared regex cache that make each call cost ~18 µs.

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};
use std::sync::LazyLock;

/// A metadata pattern compiled as the phonenumber crate compiles it (white space ignored),
/// anchored at the start as its matching requires.
fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// One pattern as libphonenumber applies it: allowed lengths, then a match at the start.
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Option<Pattern> {
        let regex = anchored(descriptor.national_number().as_str())?;
        Some(Pattern {
            lengths: descriptor.possible_length().to_vec(),
            regex,
        })
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16))) && self.regex.is_match(national)
    }
}

struct Region {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// Every specific number type (fixed line, mobile, toll free, …), the types that allow the
    /// same lengths joined into one alternation: "some type matches" then takes one search per
    /// group instead of one per type.
    types: Vec<Pattern>,
}

/// Joins type patterns that allow the same lengths into one pattern each.
fn grouped_by_length(descriptors: &[&Descriptor]) -> Option<Vec<Pattern>> {
    let mut groups: Vec<(Vec<u16>, Vec<&str>)> = Vec::new();
    for descriptor in descriptors {
        let lengths = descriptor.possible_length().to_vec();
        let pattern = descriptor.national_number().as_str();
        match groups.iter_mut().find(|(l, _)| *l == lengths) {
            Some((_, patterns)) => patterns.push(pattern),
            None => groups.push((lengths, vec![pattern])),
        }
    }
    groups
        .into_iter()
        .map(|(lengths, patterns)| {
            let joined = patterns
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|");
            Some(Pattern {
                lengths,
                regex: anchored(&joined)?,
            })
        })
        .collect()
}

impl Region {
    fn new(meta: &Metadata) -> Option<Region> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Region {
            leading_digits: match meta.leading_digits() {
                Some(pattern) => Some(anchored(pattern.as_str())?),
                None => None,
            },
            general: Pattern::new(d.general())?,
            types: grouped_by_length(&types.into_iter().flatten().collect::<Vec<_>>())?,
        })
    }

    fn has_type(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

/// The NANP regions in libphonenumber's order; `None` if the metadata could not be compiled, in
/// which case callers use the general parser.
static REGIONS: LazyLock<Option<Vec<Region>>> = LazyLock::new(|| {
    DATABASE
        .region(&1)?
        .into_iter()
        .map(|id| DATABASE.by_id(id).and_then(Region::new))
        .collect()
});

/// Compiles the fast path's patterns now (see `normalize::load_phone_metadata`).
pub(crate) fn load() {
    LazyLock::force(&REGIONS);
}

/// Whether the ten-digit national number is a valid +1 number, exactly as libphonenumber decides.
/// `None` when the fast path is unavailable.
pub(crate) fn is_valid(national: &str) -> Option<bool> {
    let regions = REGIONS.as_ref()?;
    for region in regions {
        match &region.leading_digits {
            Some(leading) if leading.is_match(national) => return Some(region.has_type(national)),
            Some(_) => {}
            None if region.has_type(national) => return Some(true),
            None => {}
        }
    }
    Some(false)
}

/// The ten national digits of a plainly written North American number (`(415) 555-2671`,
/// `415.555.2671`, `1 415 555 2671`, `+1-415-555-2671`), or `None` for anything else.
pub(crate) fn plain_digits(raw: &str, region_is_nanp: bool) -> Option<String> {
    let trimmed = raw.trim();
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if !international && !region_is_nanp {
        return None;
    }
    let mut digits = String::with_capacity(11);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '(' | ')' | '-' | '.' | '\u{a0}' => {}
            _ => return None,
        }
    }
    match digits.len() {
        11 if digits.starts_with('1') => Some(digits[1..].to_owned()),
        10 if !international => Some(digits),
        _ => None,
    }
}
