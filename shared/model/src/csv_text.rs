//! CSV as carebridge writes its downloads: each cell quoted when it must be, and safe to open in
//! a spreadsheet.

/// A CSV cell, quoted when it must be; a cell a spreadsheet would run as a formula is prefixed
/// with `'` (ids and codes never start so, but a vendor's text might).
pub fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One CSV line of `cells`, with its line end.
pub fn line(cells: &[String]) -> String {
    let mut out: String = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_when_they_must_be_and_never_run_as_formulas() {
        assert_eq!(
            line(&["a".into(), "b,c".into(), "say \"hi\"".into(), "=1+1".into()]),
            "a,\"b,c\",\"say \"\"hi\"\"\",'=1+1\n"
        );
    }
}
