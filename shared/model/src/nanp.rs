//! A fast, exact validity check for North American numbers (country code 1), which make up most
//! phone numbers carebridge reads. It applies libphonenumber's own metadata patterns, compiled
//! once, in the same order and with the same rules as `phonenumber::is_valid` (region by leading
//! digits or by type, then "general pattern and some type pattern match"), but without the
//! general parser and the shared regex cache that make each call cost ~18 µs.
//!
//! The patterns are compiled to fully built DFAs: the numbers checked here are ten ASCII digits,
//! so a check is ten table steps, without a regex engine's per-search set-up.

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use std::sync::LazyLock;

/// A metadata pattern compiled as the phonenumber crate compiles it (white space ignored),
/// matched from the start of the number as libphonenumber matches it. `\d` reads ASCII digits
/// only: every number given to it is ASCII digits, and Unicode classes would make the tables
/// needlessly large.
struct AnchoredDfa {
    dfa: dense::DFA<Vec<u32>>,
    start: regex_automata::util::primitives::StateID,
}

impl AnchoredDfa {
    fn new(pattern: &str) -> Option<AnchoredDfa> {
        let dfa = dense::Builder::new()
            .syntax(syntax::Config::new().ignore_whitespace(true).unicode(false).utf8(false))
            .configure(dense::Config::new().start_kind(StartKind::Anchored))
            .build(pattern)
            .ok()?;
        let start = dfa.start_state_forward(&Input::new("").anchored(Anchored::Yes)).ok()?;
        Some(AnchoredDfa { dfa, start })
    }

    /// Whether the pattern matches some start of `digits` (what an anchored `is_match` asks).
    fn is_match(&self, digits: &[u8]) -> bool {
        let dfa = &self.dfa;
        let mut state = self.start;
        for &byte in digits {
            state = dfa.next_state(state, byte);
            // Match and dead states are "special" (one comparison tells); a match state lags one
            // byte behind: it says a match ended before `byte`.
            if dfa.is_special_state(state) {
                if dfa.is_match_state(state) {
                    return true;
                }
                if dfa.is_dead_state(state) {
                    return false;
                }
            }
        }
        dfa.is_match_state(dfa.next_eoi_state(state))
    }
}

/// One pattern as libphonenumber applies it: allowed lengths, then a match at the start.
struct Pattern {
    lengths: Lengths,
    regex: AnchoredDfa,
}

/// The number lengths a pattern allows, one bit per length; no lengths listed allows any.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Lengths(u64);

impl Lengths {
    fn new(possible: &[u16]) -> Lengths {
        if possible.is_empty() {
            return Lengths(u64::MAX);
        }
        Lengths(possible.iter().filter(|&&l| l < 64).fold(0, |bits, &l| bits | 1 << l))
    }

    fn allow(self, length: usize) -> bool {
        length < 64 && self.0 & (1 << length) != 0
    }
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Option<Pattern> {
        let regex = AnchoredDfa::new(descriptor.national_number().as_str())?;
        Some(Pattern {
            lengths: Lengths::new(descriptor.possible_length()),
            regex,
        })
    }

    fn matches(&self, national: &[u8]) -> bool {
        self.lengths.allow(national.len()) && self.regex.is_match(national)
    }
}

struct Region {
    leading_digits: Option<AnchoredDfa>,
    general: Pattern,
    /// Every specific number type (fixed line, mobile, toll free, …), the types that allow the
    /// same lengths joined into one alternation: "some type matches" then takes one search per
    /// group instead of one per type.
    types: Vec<Pattern>,
}

/// Joins type patterns that allow the same lengths into one pattern each.
fn grouped_by_length(descriptors: &[&Descriptor]) -> Option<Vec<Pattern>> {
    let mut groups: Vec<(Lengths, Vec<&str>)> = Vec::new();
    for descriptor in descriptors {
        let lengths = Lengths::new(descriptor.possible_length());
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
                regex: AnchoredDfa::new(&joined)?,
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
                Some(pattern) => Some(AnchoredDfa::new(pattern.as_str())?),
                None => None,
            },
            general: Pattern::new(d.general())?,
            types: grouped_by_length(&types.into_iter().flatten().collect::<Vec<_>>())?,
        })
    }

    fn has_type(&self, national: &[u8]) -> bool {
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
pub(crate) fn is_valid(national: &[u8]) -> Option<bool> {
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
pub(crate) fn plain_digits(raw: &str, region_is_nanp: bool) -> Option<[u8; 10]> {
    let trimmed = crate::normalize::trim(raw);
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if !international && !region_is_nanp {
        return None;
    }
    let mut digits = [0u8; 11];
    let mut count = 0;
    // Byte by byte: every character allowed is ASCII except the no-break space (C2 A0 in UTF-8).
    let mut bytes = rest.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'0'..=b'9' => {
                *digits.get_mut(count)? = byte;
                count += 1;
            }
            b' ' | b'(' | b')' | b'-' | b'.' => {}
            0xC2 if bytes.next() == Some(0xA0) => {}
            _ => return None,
        }
    }
    let national = match count {
        11 if digits[0] == b'1' => &digits[1..],
        10 if !international => &digits[..10],
        _ => return None,
    };
    national.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_north_american_pattern_compiles_so_the_fast_path_is_taken() {
        assert_eq!(is_valid(b"4155552671"), Some(true));
        assert_eq!(is_valid(b"1005552671"), Some(false));
    }

    #[test]
    fn plainly_written_numbers_give_their_ten_digits() {
        for written in ["(415) 555-2671", "415.555.2671", " 1 415 555 2671 ", "+1-415-555-2671"] {
            assert_eq!(plain_digits(written, true), Some(*b"4155552671"), "{written}");
        }
        assert_eq!(plain_digits("415\u{a0}555\u{a0}2671", true), Some(*b"4155552671"));
        for other in [
            "415 555 267",
            "415\u{a1}555 2671",
            "+44 20 7946 0958",
            "415 555 2671 x12",
            "4155552671234",
        ] {
            assert_eq!(plain_digits(other, true), None, "{other}");
        }
        assert_eq!(plain_digits("415 555 2671", false), None);
        assert_eq!(plain_digits("+1 415 555 2671", false), Some(*b"4155552671"));
    }
}
