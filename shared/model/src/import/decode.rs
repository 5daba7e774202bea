//! Turning an uploaded file's bytes into text, or saying why it is not a CSV we can read.
//! UTF-8 (with or without BOM) and UTF-16 with BOM are read as they are; other bytes are read as
//! Windows-1252 (what Excel on Windows writes) with a warning; binary files are refused.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the file looks like {0}, not a CSV; save it as CSV (UTF-8) and upload that")]
    NotCsv(&'static str),
    #[error("the file is marked as UTF-16 but is not valid UTF-16; save it as CSV (UTF-8) and upload again")]
    BadUtf16,
}

/// What binary formats announce themselves with.
const SIGNATURES: &[(&[u8], &str)] = &[
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx)"),
    (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "an Excel 97-2003 workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"\x1F\x8B", "a gzip archive"),
];

pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Encoding), DecodeError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return match simdutf8::basic::from_utf8(rest) {
            Ok(text) => Ok((Cow::Borrowed(text), Encoding::Utf8Bom)),
            Err(_) => Err(DecodeError::NotCsv("a file marked as UTF-8 that is not valid UTF-8")),
        };
    }
    for (bom, encoding, label) in [
        (&b"\xFF\xFE"[..], encoding_rs::UTF_16LE, Encoding::Utf16Le),
        (&b"\xFE\xFF"[..], encoding_rs::UTF_16BE, Encoding::Utf16Be),
    ] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            let (text, malformed) = encoding.decode_without_bom_handling(rest);
            if malformed || text.contains('\0') {
                return Err(DecodeError::BadUtf16);
            }
            return Ok((Cow::Owned(text.into_owned()), label));
        }
    }
    if let Some((_, kind)) = SIGNATURES.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Err(DecodeError::NotCsv(kind));
    }
    if looks_binary(bytes) {
        return Err(DecodeError::NotCsv("a binary file"));
    }
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), Encoding::Utf8)),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok((Cow::Owned(text.into_owned()), Encoding::Windows1252))
        }
    }
}

/// NUL bytes or many control characters in the first 8 KiB mean this is not text.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    head.contains(&0) || controls * 20 > head.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(
            decode("a,b\n".as_bytes()).unwrap(),
            (Cow::Borrowed("a,b\n"), Encoding::Utf8)
        );
        assert_eq!(
            decode(b"\xEF\xBB\xBFJos\xC3\xA9\n").unwrap(),
            (Cow::Borrowed("José\n"), Encoding::Utf8Bom)
        );
    }

    #[test]
    fn utf16_with_bom_in_both_byte_orders() {
        let text = "First Name,Last\nZoë,Ñ\n";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode(&le).unwrap(), (Cow::Owned(text.to_owned()), Encoding::Utf16Le));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be).unwrap(), (Cow::Owned(text.to_owned()), Encoding::Utf16Be));
        assert_eq!(decode(&[0xFF, 0xFE, 0x00, 0xD8]), Err(DecodeError::BadUtf16));
    }

    #[test]
    fn windows_1252_is_read_with_its_own_characters() {
        let (text, encoding) = decode(b"Jos\xE9,Fran\xE7ois\n").unwrap();
        assert_eq!((text.as_ref(), encoding), ("José,François\n", Encoding::Windows1252));
    }

    #[test]
    fn spreadsheets_archives_and_binaries_are_named() {
        assert_eq!(
            decode(b"PK\x03\x04\x14\x00rest"),
            Err(DecodeError::NotCsv("a ZIP archive or an Excel workbook (.xlsx)"))
        );
        assert_eq!(
            decode(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"),
            Err(DecodeError::NotCsv("an Excel 97-2003 workbook (.xls)"))
        );
        assert_eq!(decode(b"abc\x00def\x01\x02"), Err(DecodeError::NotCsv("a binary file")));
    }
}
