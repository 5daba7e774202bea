//! Normalisation of the values people type: one canonical form per value, so matching and
//! de-duplication compare like with like. Each function returns the canonical value or says
//! (without repeating the value) what form it expects.

use chrono::{Datelike, NaiveDate};
use std::borrow::Cow;
use std::str::FromStr;

/// `raw` without leading and trailing white space, as `str::trim` gives it. Most values people
/// type begin and end with a printable ASCII character, and many cells are empty: those are
/// answered from at most two bytes.
pub fn trim(raw: &str) -> &str {
    match raw.as_bytes() {
        [] => raw,
        [first, .., last] | [first @ last] if first.is_ascii_graphic() && last.is_ascii_graphic() => raw,
        _ => raw.trim(),
    }
}

/// Trims a name and folds runs of white space to one space; blank becomes `None`. Most names
/// need neither and come back borrowed.
#[inline(always)] // on every row of an import; see `checks`
pub fn name(raw: &str) -> Option<Cow<'_, str>> {
    let trimmed = trim(raw);
    let folded = if is_single_spaced(trimmed) {
        Cow::Borrowed(trimmed)
    } else {
        Cow::Owned(trimmed.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    (!folded.is_empty()).then_some(folded)
}

/// Whether white space in `text` only ever comes as one plain space at a time.
fn is_single_spaced(text: &str) -> bool {
    // Most names: printable ASCII without a space, told by one comparison a byte.
    if text.bytes().all(|byte| byte.is_ascii_graphic()) {
        return true;
    }
    if !text.is_ascii() {
        return !text.contains(|c: char| c.is_whitespace() && c != ' ') && !text.contains("  ");
    }
    let mut after_space = false;
    for &byte in text.as_bytes() {
        let space = byte == b' ';
        if (space && after_space) || (!space && is_ascii_white_space(byte)) {
            return false;
        }
        after_space = space;
    }
    true
}

/// `char::is_whitespace` for an ASCII byte (which, unlike `u8::is_ascii_whitespace`, counts the
/// vertical tab).
fn is_ascii_white_space(byte: u8) -> bool {
    byte.is_ascii_whitespace() || byte == 0x0B
}

/// Why a value could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("is not a valid e-mail address")]
    Email,
    #[error("is not a phone number that can be dialled in {region} or internationally (+country code)")]
    Phone { region: String },
    #[error("must be a date in YYYY-MM-DD or MM/DD/YYYY form")]
    DateFormat,
    #[error("is not a real calendar date")]
    ImpossibleDate,
    #[error("is in the future")]
    FutureDate,
    #[error("is before 1900")]
    TooOld,
    #[error("must be a US state or territory: its two-letter code or full name")]
    UsState,
    #[error("must be a US ZIP code: 5 digits or ZIP+4")]
    UsZip,
    #[error("must be a country: an ISO 3166 two-letter code such as US or CA")]
    Country,
    #[error("is longer than {0} characters")]
    TooLong(usize),
}

impl Invalid {
    /// A stable code for API clients and row-level import reasons.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Email => "invalid_email",
            Invalid::Phone { .. } => "invalid_phone",
            Invalid::DateFormat => "invalid_date_format",
            Invalid::ImpossibleDate => "impossible_date",
            Invalid::FutureDate => "future_date",
            Invalid::TooOld => "date_before_1900",
            Invalid::UsState => "invalid_us_state",
            Invalid::UsZip => "invalid_us_zip",
            Invalid::Country => "invalid_country",
            Invalid::TooLong(_) => "too_long",
        }
    }
}

/// Lower-cases and checks an e-mail address. The check is deliberately plain (one `@`, a dotted
/// domain of letters, digits and hyphens, no spaces): it catches typing and column mix-ups
/// without refusing unusual but deliverable addresses.
pub fn email(raw: &str) -> Result<Cow<'_, str>, Invalid> {
    let trimmed = trim(raw);
    if !trimmed.is_ascii() {
        let lower = trimmed.to_lowercase();
        check_email(&lower)?;
        return Ok(Cow::Owned(lower));
    }
    // For ASCII the rules do not depend on case: check first, lower-case only if needed.
    check_email(trimmed)?;
    Ok(if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    })
}

/// As [`email`], written into `out`, whose buffer is reused: a preview lower-cases an e-mail on
/// many rows without allocating for each.
pub fn email_into(raw: &str, out: &mut String) -> Result<(), Invalid> {
    let trimmed = trim(raw);
    if !trimmed.is_ascii() {
        let lower = email(trimmed)?;
        out.clear();
        out.push_str(&lower);
        return Ok(());
    }
    check_email(trimmed)?;
    out.clear();
    out.push_str(trimmed);
    out.make_ascii_lowercase();
    Ok(())
}

fn check_email(email: &str) -> Result<(), Invalid> {
    let at = memchr::memchr(b'@', email.as_bytes()).ok_or(Invalid::Email)?;
    let (local, domain) = (&email[..at], &email[at + 1..]);
    let well_formed = if email.is_ascii() {
        // Most addresses: the same rules read byte by byte, without decoding UTF-8.
        is_ascii_mailbox(local.as_bytes()) && is_ascii_mail_domain(domain.as_bytes())
    } else {
        is_mailbox(local.chars()) && is_mail_domain(domain.chars())
    };
    if email.len() <= 254 && !local.is_empty() && local.len() <= 64 && well_formed {
        Ok(())
    } else {
        Err(Invalid::Email)
    }
}

/// Characters a mailbox may not hold even though they are visible: address punctuation.
const MAILBOX_PUNCTUATION: &[u8] = b"@<>()[]\\,;:\"";

/// The ASCII characters a mailbox may hold, as a bit set: visible, and not address punctuation.
const MAILBOX_ASCII: u128 = {
    let mut set = 0u128;
    let mut byte = 0u8;
    while byte < 128 {
        let mut punctuation = false;
        let mut i = 0;
        while i < MAILBOX_PUNCTUATION.len() {
            punctuation |= MAILBOX_PUNCTUATION[i] == byte;
            i += 1;
        }
        if byte.is_ascii_graphic() && !punctuation {
            set |= 1 << byte;
        }
        byte += 1;
    }
    set
};

/// What each byte may be in an all-ASCII address, as bits: in a mailbox, in a domain.
const EMAIL_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0u8;
    while byte < 128 {
        if MAILBOX_ASCII >> byte & 1 == 1 {
            table[byte as usize] |= IN_MAILBOX;
        }
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' {
            table[byte as usize] |= IN_DOMAIN;
        }
        byte += 1;
    }
    table
};
const IN_MAILBOX: u8 = 1;
const IN_DOMAIN: u8 = 2;

/// [`is_mailbox`] for ASCII, as a table lookup per byte and a look at each pair of neighbours
/// (no `..`): branch-free, since nearly every row of an import has an e-mail to check.
fn is_ascii_mailbox(local: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (local.first(), local.last()) else {
        return false;
    };
    let mut ok = (first != b'.') & (last != b'.') & (EMAIL_BYTES[usize::from(first)] & IN_MAILBOX != 0);
    let mut previous = first;
    for &byte in &local[1..] {
        ok &= (EMAIL_BYTES[usize::from(byte)] & IN_MAILBOX != 0) & !((byte == b'.') & (previous == b'.'));
        previous = byte;
    }
    ok
}

/// [`is_mail_domain`] for ASCII in the same way: letters, digits, `-` and `.`; a letter or digit
/// at each end; no `..`, `.-` or `-.` (an empty label, or one starting or ending with `-`); and
/// at least one dot.
fn is_ascii_mail_domain(domain: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (domain.first(), domain.last()) else {
        return false;
    };
    let mut ok = first.is_ascii_alphanumeric() & last.is_ascii_alphanumeric();
    let mut dots = 0u32;
    let mut previous = first;
    for &byte in &domain[1..] {
        let (dot, hyphen) = (byte == b'.', byte == b'-');
        let separated = (dot & ((previous == b'.') | (previous == b'-'))) | (hyphen & (previous == b'.'));
        ok &= (EMAIL_BYTES[usize::from(byte)] & IN_DOMAIN != 0) & !separated;
        dots += u32::from(dot);
        previous = byte;
    }
    ok & (dots > 0)
}

/// The part before `@` (1 to 64 bytes, checked by the caller): no space, control or address
/// punctuation, and dots only between other characters.
fn is_mailbox(local: impl Iterator<Item = char>) -> bool {
    let allowed = |c: char| {
        if c.is_ascii() {
            MAILBOX_ASCII >> (c as u32) & 1 == 1
        } else {
            // Beyond ASCII: anything visible.
            !c.is_whitespace() && !c.is_control()
        }
    };
    let mut after_dot = true; // so a leading dot is refused like a doubled one
    for c in local {
        if c == '.' {
            if after_dot {
                return false;
            }
            after_dot = true;
        } else if allowed(c) {
            after_dot = false;
        } else {
            return false;
        }
    }
    !after_dot
}

/// The part after `@`: two or more dot-separated labels of letters, digits and hyphens, none
/// empty and none starting or ending with a hyphen.
fn is_mail_domain(domain: impl Iterator<Item = char>) -> bool {
    let mut labels = 1;
    let mut label_start = true;
    let mut previous = '.';
    for c in domain {
        if c == '.' {
            if label_start || previous == '-' {
                return false;
            }
            labels += 1;
            label_start = true;
        } else if c.is_ascii_alphanumeric() || (c == '-' && !label_start) || (!c.is_ascii() && c.is_alphanumeric()) {
            label_start = false;
        } else {
            return false;
        }
        previous = c;
    }
    labels >= 2 && !label_start && previous != '-'
}

/// What libphonenumber knows of a region, read once: its id and whether it shares the North
/// American Numbering Plan (+1).
struct RegionInfo {
    id: phonenumber::country::Id,
    nanp: bool,
}

/// Every region libphonenumber knows, in the place of its two-letter code (`AA` first, `ZZ`
/// last): each row of an import looks its country up once or more, and an index is cheaper
/// than hashing.
static REGIONS: std::sync::LazyLock<Vec<Option<RegionInfo>>> = std::sync::LazyLock::new(|| {
    let mut regions: Vec<Option<RegionInfo>> = (0..26 * 26).map(|_| None).collect();
    for meta in phonenumber::metadata::DATABASE.iter() {
        let Ok(id) = phonenumber::country::Id::from_str(meta.id()) else {
            continue;
        };
        if let Some(place) = meta.id().as_bytes().try_into().ok().and_then(region_place) {
            regions[place] = Some(RegionInfo {
                id,
                nanp: meta.country_code() == 1,
            });
        }
    }
    regions
});

/// Where an upper-case two-letter code's region is kept in [`REGIONS`].
fn region_place([first, second]: [u8; 2]) -> Option<usize> {
    let letter = |byte: u8| byte.is_ascii_uppercase().then(|| usize::from(byte - b'A'));
    Some(letter(first)? * 26 + letter(second)?)
}

fn region_info(code: [u8; 2]) -> Option<&'static RegionInfo> {
    REGIONS.get(region_place(code)?)?.as_ref()
}

/// Loads libphonenumber's metadata and compiles the North American fast path now rather than on
/// the first phone or country read. Loading compiles every region's patterns (a few hundred
/// milliseconds), so functions call this while they start, outside any request.
pub fn load_phone_metadata() {
    std::sync::LazyLock::force(&REGIONS);
    crate::nanp::load();
}

/// A country as its ISO 3166-1 alpha-2 code (upper case). Also the region phone numbers are
/// read in when they carry no `+country` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "US"))]
pub struct Country([u8; 2]);

impl Country {
    pub fn us() -> Self {
        Country(*b"US")
    }

    /// The country of a code libphonenumber knows, in any case.
    fn known(code: &[u8]) -> Result<Self, Invalid> {
        let [a, b] = code else { return Err(Invalid::Country) };
        let code = Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]);
        if region_info(code.0).is_some() {
            Ok(code)
        } else {
            Err(Invalid::Country)
        }
    }

    #[inline(always)] // on every row of an import; see `checks`
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = trim(raw);
        if trimmed.len() == 2 {
            return Country::known(trimmed.as_bytes());
        }
        let folded = trimmed.to_ascii_uppercase().replace('.', "");
        let code = match folded.as_str() {
            "USA" | "UNITED STATES" | "UNITED STATES OF AMERICA" => "US",
            "CANADA" => "CA",
            "UNITED KINGDOM" | "UK" | "GREAT BRITAIN" => "GB",
            "AUSTRALIA" => "AU",
            "NEW ZEALAND" => "NZ",
            "MEXICO" => "MX",
            "IRELAND" => "IE",
            other => other,
        };
        Country::known(code.as_bytes())
    }

    pub fn as_str(&self) -> &str {
        // Only ever two ASCII letters (see `known`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn is_us(&self) -> bool {
        &self.0 == b"US"
    }
}

impl TryFrom<String> for Country {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Country::parse(&value)
    }
}

impl From<Country> for String {
    fn from(value: Country) -> Self {
        value.as_str().to_owned()
    }
}

/// A phone number in E.164 form (`+` and at most 15 digits), held inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E164 {
    bytes: [u8; 16],
    len: u8,
}

impl E164 {
    fn new(text: &str) -> Option<E164> {
        let mut bytes = [0; 16];
        bytes.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
        let valid = text.starts_with('+') && text.len() > 1 && text[1..].bytes().all(|b| b.is_ascii_digit());
        valid.then_some(E164 {
            bytes,
            len: text.len() as u8,
        })
    }

    fn north_american(national: &[u8; 10]) -> E164 {
        let mut bytes = [0; 16];
        bytes[..2].copy_from_slice(b"+1");
        bytes[2..12].copy_from_slice(national);
        E164 { bytes, len: 12 }
    }

    pub fn as_str(&self) -> &str {
        // Only ever `+` and ASCII digits (see `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A phone number in E.164 (`+15551234567`). Numbers without a `+country` prefix are read as
/// numbers of `region`. Plainly written North American numbers take an exact fast path (see
/// `nanp`); everything else goes through libphonenumber's parser.
pub fn phone(raw: &str, region: &Country) -> Result<E164, Invalid> {
    let invalid = || Invalid::Phone {
        region: region.as_str().to_owned(),
    };
    let info = region_info(region.0).ok_or_else(invalid)?;
    if let Some(national) = crate::nanp::plain_digits(raw, info.nanp)
        && let Some(valid) = crate::nanp::is_valid(&national)
    {
        return if valid {
            Ok(E164::north_american(&national))
        } else {
            Err(invalid())
        };
    }
    parsed_phone(raw, info.id)
        .as_deref()
        .and_then(E164::new)
        .ok_or_else(invalid)
}

/// The general path: libphonenumber's parser, validity check and E.164 formatting.
fn parsed_phone(raw: &str, region: phonenumber::country::Id) -> Option<String> {
    let number = phonenumber::parse(Some(region), raw.trim()).ok()?;
    phonenumber::is_valid(&number).then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

/// A calendar date typed as ISO `YYYY-MM-DD` or US `MM/DD/YYYY` (one-digit month and day allowed).
#[inline(always)] // on every row of an import; see `checks`
pub fn date(raw: &str) -> Result<NaiveDate, Invalid> {
    let trimmed = trim(raw).as_bytes();
    common_date(trimmed).unwrap_or_else(|| any_width_date(trimmed))
}

/// The forms most files use, read from fixed places as [`any_width_date`] would read them (every
/// row of an import has a date): ISO `YYYY-MM-DD`, and US dates with a one- or two-digit month
/// and day (`3/7/1984`, as spreadsheets write them, or `03/07/1984`). `None` for any other text.
fn common_date(text: &[u8]) -> Option<Result<NaiveDate, Invalid>> {
    let (year, month, day) = match *text {
        [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] => ([y1, y2, y3, y4], [m1, m2], [d1, d2]),
        _ => {
            // A one- or two-digit number and a slash, twice, then four digits.
            fn short(text: &[u8]) -> Option<([u8; 2], &[u8])> {
                match *text {
                    [digit, b'/', ..] => Some(([b'0', digit], &text[2..])),
                    [tens, ones, b'/', ..] => Some(([tens, ones], &text[3..])),
                    _ => None,
                }
            }
            let (month, rest) = short(text)?;
            let (day, rest) = short(rest)?;
            (*rest.first_chunk::<4>().filter(|_| rest.len() == 4)?, month, day)
        }
    };
    let ([y1, y2, y3, y4], [m1, m2], [d1, d2]) = (year, month, day);
    let digits = [y1, y2, y3, y4, m1, m2, d1, d2].map(|byte| byte.wrapping_sub(b'0'));
    if digits.iter().any(|&digit| digit > 9) {
        return None;
    }
    let number = |digits: &[u8]| digits.iter().fold(0, |n, &digit| n * 10 + u32::from(digit));
    let year = number(&digits[..4]) as i32; // at most 9999
    Some(NaiveDate::from_ymd_opt(year, number(&digits[4..6]), number(&digits[6..])).ok_or(Invalid::ImpossibleDate))
}

/// Any date form [`date`] reads, in one pass over the bytes: three runs of digits with one kind
/// of separator between them, `-` or `/`.
fn any_width_date(text: &[u8]) -> Result<NaiveDate, Invalid> {
    let mut parts = [(0u32, 0usize); 3]; // each part's value and number of digits
    let mut part = 0;
    let mut separator = None;
    for &byte in text {
        match byte {
            b'0'..=b'9' => {
                let (value, digits) = &mut parts[part];
                if *digits == 4 {
                    return Err(Invalid::DateFormat);
                }
                *value = *value * 10 + u32::from(byte - b'0');
                *digits += 1;
            }
            b'-' | b'/' if part < 2 && separator.is_none_or(|s| s == byte) => {
                separator = Some(byte);
                part += 1;
            }
            _ => return Err(Invalid::DateFormat),
        }
    }
    let [first, second, third] = parts;
    let ((year, year_digits), month, day) = match separator {
        Some(b'-') => (first, second, third),
        Some(_) => (third, first, second),
        None => return Err(Invalid::DateFormat),
    };
    let short = |(_, digits): (u32, usize)| (1..=2).contains(&digits);
    if part != 2 || year_digits != 4 || !short(month) || !short(day) {
        return Err(Invalid::DateFormat);
    }
    let year = i32::try_from(year).map_err(|_| Invalid::DateFormat)?;
    NaiveDate::from_ymd_opt(year, month.0, day.0).ok_or(Invalid::ImpossibleDate)
}

/// A date of birth: a real date, not after `today` and not before 1900.
pub fn date_of_birth(raw: &str, today: NaiveDate) -> Result<NaiveDate, Invalid> {
    let date = date(raw)?;
    if date > today {
        Err(Invalid::FutureDate)
    } else if date.year() < 1900 {
        Err(Invalid::TooOld)
    } else {
        Ok(date)
    }
}

/// US states, the District of Columbia, territories and military "states", by code and name.
const US_STATES: &[(&str, &str)] = &[
    ("AL", "ALABAMA"),
    ("AK", "ALASKA"),
    ("AZ", "ARIZONA"),
    ("AR", "ARKANSAS"),
    ("CA", "CALIFORNIA"),
    ("CO", "COLORADO"),
    ("CT", "CONNECTICUT"),
    ("DE", "DELAWARE"),
    ("DC", "DISTRICT OF COLUMBIA"),
    ("FL", "FLORIDA"),
    ("GA", "GEORGIA"),
    ("HI", "HAWAII"),
    ("ID", "IDAHO"),
    ("IL", "ILLINOIS"),
    ("IN", "INDIANA"),
    ("IA", "IOWA"),
    ("KS", "KANSAS"),
    ("KY", "KENTUCKY"),
    ("LA", "LOUISIANA"),
    ("ME", "MAINE"),
    ("MD", "MARYLAND"),
    ("MA", "MASSACHUSETTS"),
    ("MI", "MICHIGAN"),
    ("MN", "MINNESOTA"),
    ("MS", "MISSISSIPPI"),
    ("MO", "MISSOURI"),
    ("MT", "MONTANA"),
    ("NE", "NEBRASKA"),
    ("NV", "NEVADA"),
    ("NH", "NEW HAMPSHIRE"),
    ("NJ", "NEW JERSEY"),
    ("NM", "NEW MEXICO"),
    ("NY", "NEW YORK"),
    ("NC", "NORTH CAROLINA"),
    ("ND", "NORTH DAKOTA"),
    ("OH", "OHIO"),
    ("OK", "OKLAHOMA"),
    ("OR", "OREGON"),
    ("PA", "PENNSYLVANIA"),
    ("RI", "RHODE ISLAND"),
    ("SC", "SOUTH CAROLINA"),
    ("SD", "SOUTH DAKOTA"),
    ("TN", "TENNESSEE"),
    ("TX", "TEXAS"),
    ("UT", "UTAH"),
    ("VT", "VERMONT"),
    ("VA", "VIRGINIA"),
    ("WA", "WASHINGTON"),
    ("WV", "WEST VIRGINIA"),
    ("WI", "WISCONSIN"),
    ("WY", "WYOMING"),
    ("AS", "AMERICAN SAMOA"),
    ("GU", "GUAM"),
    ("MP", "NORTHERN MARIANA ISLANDS"),
    ("PR", "PUERTO RICO"),
    ("VI", "U.S. VIRGIN ISLANDS"),
    ("UM", "U.S. MINOR OUTLYING ISLANDS"),
    ("AA", "ARMED FORCES AMERICAS"),
    ("AE", "ARMED FORCES EUROPE"),
    ("AP", "ARMED FORCES PACIFIC"),
];

/// A US state as its two-letter USPS code, from the code or the full name in any case.
pub fn us_state(raw: &str) -> Result<&'static str, Invalid> {
    // Most files hold the two-letter code: look it up without building a folded copy.
    static BY_CODE: std::sync::LazyLock<rustc_hash::FxHashMap<[u8; 2], &'static str>> =
        std::sync::LazyLock::new(|| {
            US_STATES
                .iter()
                .map(|&(code, _)| ([code.as_bytes()[0], code.as_bytes()[1]], code))
                .collect()
        });
    if let [a, b] = trim(raw).as_bytes() {
        return BY_CODE
            .get(&[a.to_ascii_uppercase(), b.to_ascii_uppercase()])
            .copied()
            .ok_or(Invalid::UsState);
    }
    static BY_SPELLING: std::sync::LazyLock<rustc_hash::FxHashMap<Vec<u8>, &'static str>> =
        std::sync::LazyLock::new(|| {
            let mut buffer = [0; FOLDED_STATE_MAX];
            US_STATES
                .iter()
                .flat_map(|&(code, name)| [(code, code), (name, code)])
                .filter_map(|(spelling, code)| Some((fold_state(spelling, &mut buffer)?.to_vec(), code)))
                .collect()
        });
    let mut buffer = [0; FOLDED_STATE_MAX];
    fold_state(raw, &mut buffer)
        .and_then(|folded| BY_SPELLING.get(folded))
        .copied()
        .ok_or(Invalid::UsState)
}

/// Longer than any state's folded name ("NORTHERN MARIANA ISLANDS" is 24 bytes).
const FOLDED_STATE_MAX: usize = 32;

/// Upper case, single spaces, no dots: how state spellings are compared. Written into `buffer`
/// rather than a new string, since one row in several spells its state out; `None` if it
/// would not fit, and so is no state.
fn fold_state<'b>(raw: &str, buffer: &'b mut [u8; FOLDED_STATE_MAX]) -> Option<&'b [u8]> {
    let mut length = 0;
    let mut in_word = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            in_word = false;
            continue;
        }
        // A word after the first is set off by one space (a word of dots leaves its space).
        let space = !in_word && length > 0;
        in_word = true;
        if space {
            *buffer.get_mut(length)? = b' ';
            length += 1;
        }
        if c != '.' {
            let upper = c.to_ascii_uppercase();
            let piece = buffer.get_mut(length..length + upper.len_utf8())?;
            length += upper.encode_utf8(piece).len();
        }
    }
    Some(&buffer[..length])
}

/// A US ZIP code as `12345` or `12345-6789` (nine bare digits gain their hyphen).
#[inline(always)] // on every row of an import; see `checks`
pub fn us_zip(raw: &str) -> Result<Cow<'_, str>, Invalid> {
    let zip = trim(raw);
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match zip.len() {
        5 if all_digits(zip) => Ok(Cow::Borrowed(zip)),
        9 if all_digits(zip) => Ok(Cow::Owned(format!("{}-{}", &zip[..5], &zip[5..]))),
        10 if all_digits(&zip[..5]) && &zip[5..6] == "-" && all_digits(&zip[6..]) => Ok(Cow::Borrowed(zip)),
        _ => Err(Invalid::UsZip),
    }
}

/// A free-text value trimmed, blank as `None`, refused past `max` characters.
pub fn text(raw: &str, max: usize) -> Result<Option<&str>, Invalid> {
    let value = trim(raw);
    if value.len() > max && value.chars().count() > max {
        Err(Invalid::TooLong(max))
    } else {
        Ok((!value.is_empty()).then_some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(raw: &str, region: &Country) -> Result<String, Invalid> {
        phone(raw, region).map(|number| number.as_str().to_owned())
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn names_are_trimmed_and_inner_spaces_folded() {
        assert_eq!(name("  Mary   Ann \t"), Some("Mary Ann".into()));
        assert_eq!(name("   "), None);
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        for good in [
            "a@b.co",
            "o'neil-smith@mail.example-health.org",
            "jörg@münchen.de",
            "x@1.2",
            "jo!#$%&'*+-/=?^_`{|}~@example.org",
        ] {
            assert_eq!(email(good).as_deref(), Ok(good), "{good:?}");
        }
        assert_eq!(
            email(&format!("{}@example.org", "a".repeat(64))).map(|e| e.len()),
            Ok(76)
        );
        assert_eq!(email(&format!("{}@example.org", "a".repeat(65))), Err(Invalid::Email));
        assert_eq!(
            email("  Jo.Smith+care@Example.ORG "),
            Ok("jo.smith+care@example.org".into())
        );
        for bad in [
            "",
            "jo",
            "jo@",
            "@example.org",
            "jo@example",
            "jo smith@example.org",
            "jo@@example.org",
            "jo@exa_mple.org",
            "jo..s@example.org",
            ".jo@example.org",
            "jo.@example.org",
            "jo@example.org.",
            "jo@.example.org",
            "jo@example..org",
            "jo@-example.org",
            "jo@example-.org",
            "jo<x>@example.org",
            "jo\u{a0}s@example.org",
            "jo(x)@example.org",
            "jo[x]@example.org",
            "jo\\x@example.org",
            "jo,x@example.org",
            "jo;x@example.org",
            "jo:x@example.org",
            "jo\"x@example.org",
            "jo\tx@example.org",
            "jo\u{7f}x@example.org",
        ] {
            assert_eq!(email(bad), Err(Invalid::Email), "{bad:?}");
        }
    }

    #[test]
    fn ascii_addresses_are_judged_by_the_same_rules_as_any_other() {
        // Every text of up to six bytes from letters, digits, the characters the rules treat
        // apart (`.`, `-`, `@`) and ones a mailbox or a domain may not hold.
        const ALPHABET: &[u8] = b"a0.-@_ (";
        let mut text = Vec::new();
        let mut checked = 0;
        for length in 0..=6u32 {
            for mut n in 0..ALPHABET.len().pow(length) {
                text.clear();
                for _ in 0..length {
                    text.push(ALPHABET[n % ALPHABET.len()]);
                    n /= ALPHABET.len();
                }
                let chars = || text.iter().map(|&b| char::from(b));
                let shown = String::from_utf8_lossy(&text);
                assert_eq!(is_ascii_mailbox(&text), is_mailbox(chars()), "mailbox {shown:?}");
                assert_eq!(is_ascii_mail_domain(&text), is_mail_domain(chars()), "domain {shown:?}");
                checked += 1;
            }
        }
        assert!(checked > 250_000);
    }

    #[test]
    fn an_email_written_into_a_buffer_is_the_same_email() {
        for raw in [
            "a@b.co",
            "  Jo.Smith+care@Example.ORG ",
            "JÖRG@MÜNCHEN.DE",
            "jo@@example.org",
            "JO..S@EXAMPLE.ORG",
            "",
        ] {
            let mut buffer = String::from("a stale value from an earlier row");
            let written = email_into(raw, &mut buffer).map(|()| buffer.clone());
            assert_eq!(written, email(raw).map(Cow::into_owned), "{raw:?}");
        }
    }

    #[test]
    fn phones_become_e164_in_the_group_region() {
        let us = Country::us();
        assert_eq!(e164("(415) 555-2671", &us), Ok("+14155552671".into()));
        assert_eq!(e164("415.555.2671", &us), Ok("+14155552671".into()));
        assert_eq!(e164("+44 20 7946 0958", &us), Ok("+442079460958".into()));
        let gb = Country::parse("GB").unwrap();
        assert_eq!(e164("020 7946 0958", &gb), Ok("+442079460958".into()));
        assert!(matches!(phone("12345", &us), Err(Invalid::Phone { .. })));
        assert!(matches!(phone("call me", &us), Err(Invalid::Phone { .. })));
    }

    #[test]
    fn the_north_american_fast_path_agrees_with_libphonenumber() {
        let us = Country::us();
        let mut checked = 0;
        // Area codes across the whole range (US, Canada, the Caribbean, toll free, unassigned),
        // exchanges valid and not, and several ways of writing each number.
        for area in (100..1000).step_by(7) {
            for exchange in [100, 211, 555, 650, 999] {
                let digits = format!("{area}{exchange}{:04}", (area * 7 + exchange) % 10_000);
                for written in [
                    format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..]),
                    format!("1 {}.{}.{}", &digits[..3], &digits[3..6], &digits[6..]),
                    format!("+1-{digits}"),
                ] {
                    let slow = parsed_phone(&written, phonenumber::country::Id::US);
                    assert_eq!(e164(&written, &us).ok(), slow, "{written}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000);
        let canada = Country::parse("CA").unwrap();
        assert_eq!(
            e164("604 555 0199", &canada).ok(),
            parsed_phone("604 555 0199", phonenumber::country::Id::CA)
        );
    }

    #[test]
    fn dates_in_common_forms_read_as_any_other_date() {
        // Each common form, with every digit and separator in every place and real and
        // impossible dates among them: the fixed-place reading gives what the general one does.
        let mut checked = 0;
        for template in ["2000-12-31", "12/31/2000", "3/7/1984", "3/31/1984", "12/7/1984"] {
            for place in 0..template.len() {
                for byte in b"0123456789-/ a".iter().copied() {
                    let mut text = template.as_bytes().to_vec();
                    text[place] = byte;
                    if let Some(common) = common_date(&text) {
                        assert_eq!(common, any_width_date(&text), "{:?}", String::from_utf8_lossy(&text));
                        checked += 1;
                    }
                }
            }
        }
        for year in [1900, 1999, 2024, 2026] {
            for month in 0..=13 {
                for day in 0..=32 {
                    for text in [
                        format!("{year}-{month:02}-{day:02}"),
                        format!("{month:02}/{day:02}/{year}"),
                        format!("{month}/{day}/{year}"),
                        format!("{month:02}/{day}/{year}"),
                        format!("{month}/{day:02}/{year}"),
                    ] {
                        let common = common_date(text.as_bytes()).expect("a date in a common form");
                        assert_eq!(common, any_width_date(text.as_bytes()), "{text}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 3000);
    }

    #[test]
    fn dates_are_read_in_iso_and_us_forms() {
        assert_eq!(date("1984-03-07"), Ok(day(1984, 3, 7)));
        assert_eq!(date("03/07/1984"), Ok(day(1984, 3, 7)));
        assert_eq!(date("3/7/1984"), Ok(day(1984, 3, 7)));
        assert_eq!(date(" 1984-3-7 "), Ok(day(1984, 3, 7)));
        assert_eq!(date("1984-02-30"), Err(Invalid::ImpossibleDate));
        assert_eq!(date("02/30/1984"), Err(Invalid::ImpossibleDate));
        for bad in [
            "",
            "1984",
            "07.03.1984",
            "84-03-07",
            "1984-3-x",
            "March 7 1984",
            "1984-03-07T00:00:00Z",
            "1984-03/07",
            "1984--03",
            "-03-07",
            "1984-03-07-",
            "19840-03-07",
            "1984-003-07",
            "03/07/84",
            "03-07-1984",
            "１９８４-03-07",
        ] {
            assert_eq!(date(bad), Err(Invalid::DateFormat), "{bad:?}");
        }
    }

    #[test]
    fn dates_of_birth_are_neither_future_nor_before_1900() {
        let today = day(2026, 11, 21);
        assert_eq!(date_of_birth("2026-11-21", today), Ok(today));
        assert_eq!(date_of_birth("2026-11-22", today), Err(Invalid::FutureDate));
        assert_eq!(date_of_birth("1899-12-31", today), Err(Invalid::TooOld));
        assert_eq!(date_of_birth("1900-01-01", today), Ok(day(1900, 1, 1)));
    }

    #[test]
    fn us_states_by_code_or_name() {
        assert_eq!(us_state("ca"), Ok("CA"));
        assert_eq!(us_state(" new  york "), Ok("NY"));
        assert_eq!(us_state("District of Columbia"), Ok("DC"));
        assert_eq!(us_state("PR"), Ok("PR"));
        assert_eq!(us_state("u.s. virgin islands"), Ok("VI"));
        assert_eq!(us_state("US Virgin Islands"), Ok("VI"));
        assert_eq!(us_state("Californ"), Err(Invalid::UsState));
        assert_eq!(us_state("XX"), Err(Invalid::UsState));
        // Every state's own spelling, however long, and dots and spaces that fold away.
        for (code, name) in US_STATES {
            assert_eq!(us_state(&name.to_lowercase()), Ok(*code), "{name}");
        }
        assert_eq!(us_state("N.o.r.t.h.e.r.n.  M.a.r.i.a.n.a.  I.s.l.a.n.d.s."), Ok("MP"));
        assert_eq!(
            us_state("Northern Mariana Islands and more words than any state has"),
            Err(Invalid::UsState)
        );
        assert_eq!(us_state("Nëw York"), Err(Invalid::UsState));
    }

    #[test]
    fn us_zip_codes() {
        assert_eq!(us_zip("02139"), Ok("02139".into()));
        assert_eq!(us_zip("021391234"), Ok("02139-1234".into()));
        assert_eq!(us_zip("02139-1234"), Ok("02139-1234".into()));
        for bad in ["2139", "02139-12", "ABCDE", "02139 1234"] {
            assert_eq!(us_zip(bad), Err(Invalid::UsZip), "{bad:?}");
        }
    }

    #[test]
    fn countries_by_code_or_common_name() {
        assert_eq!(Country::parse("us").unwrap().as_str(), "US");
        assert_eq!(Country::parse("U.S.A.").unwrap().as_str(), "US");
        assert_eq!(Country::parse("Canada").unwrap().as_str(), "CA");
        assert_eq!(Country::parse("ZZ"), Err(Invalid::Country));
        assert_eq!(Country::parse("Atlantis"), Err(Invalid::Country));
        // Every region libphonenumber knows, in either case, and nothing that is not a code.
        let mut known = 0;
        for meta in phonenumber::metadata::DATABASE
            .iter()
            .filter(|meta| meta.id().len() == 2)
        {
            assert_eq!(Country::parse(&meta.id().to_lowercase()).unwrap().as_str(), meta.id());
            known += 1;
        }
        assert!(known > 200);
        for other in ["U1", "1U", "@A", "A[", "`a", "Ü1"] {
            assert_eq!(Country::parse(other), Err(Invalid::Country), "{other}");
        }
    }

    #[test]
    fn free_text_is_trimmed_and_bounded() {
        assert_eq!(text("  Apt 4 ", 10), Ok(Some("Apt 4")));
        assert_eq!(text("   ", 10), Ok(None));
        assert_eq!(text("abcdefghijk", 10), Err(Invalid::TooLong(10)));
    }
}
