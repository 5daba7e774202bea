//! A Cliniko API key, and the shard (and so the host) it belongs to.

use crate::error::ConnectorError;
use reqwest::Url;
use std::fmt;

/// Where a shard's API lives; `{shard}` is replaced by the key's shard.
pub const BASE_URL_TEMPLATE: &str = "https://api.{shard}.cliniko.com/v1";

/// The shard of keys made before Cliniko added the suffix.
pub const DEFAULT_SHARD: &str = "au1";

/// A key as a clinic's user made it in Cliniko ("My Info" → "Manage API keys"). It is a secret:
/// it never shows in logs or errors.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(…-{})", self.shard())
    }
}

/// Two letters and one or two digits (`/\w{2}\d{1,2}/i`, as Cliniko advises checking).
pub fn is_shard(text: &str) -> bool {
    let bytes = text.as_bytes();
    (3..=4).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_alphabetic)
        && bytes[2..].iter().all(u8::is_ascii_digit)
}

impl ApiKey {
    /// A key as entered (surrounding blanks dropped); refused when it cannot be one.
    pub fn parse(raw: &str) -> Result<ApiKey, ConnectorError> {
        let key = raw.trim();
        let refuse = |detail: &str| ConnectorError::Settings {
            vendor: "Cliniko",
            detail: detail.into(),
        };
        if key.is_empty() {
            return Err(refuse("api_key is empty"));
        }
        if key.len() > 512 {
            return Err(refuse("api_key is longer than any Cliniko key"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) || key.contains(':') {
            return Err(refuse(
                "api_key may hold only printable characters without spaces or colons",
            ));
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// The shard: the key's suffix after its last `-`, or `au1` for a key without one.
    pub fn shard(&self) -> &str {
        match self.0.rsplit_once('-') {
            Some((_, shard)) if is_shard(shard) => shard,
            _ => DEFAULT_SHARD,
        }
    }

    /// The API's address for this key's shard, from `template` (see [`BASE_URL_TEMPLATE`]).
    pub fn base_url(&self, template: &str) -> Result<Url, ConnectorError> {
        let raw = template.replace("{shard}", &self.shard().to_ascii_lowercase());
        Url::parse(raw.trim_end_matches('/')).map_err(|e| ConnectorError::Settings {
            vendor: "Cliniko",
            detail: format!("the API address {raw:?} is not a URL ({e})"),
        })
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_is_the_suffix_and_picks_the_host() {
        let key = ApiKey::parse(" MS0xLWl4SzYYYYdtR3V2HNOTAREALKEYwvNHdeW0pd-au2 ").unwrap();
        assert_eq!(key.shard(), "au2");
        assert_eq!(
            key.base_url(BASE_URL_TEMPLATE).unwrap().as_str(),
            "https://api.au2.cliniko.com/v1"
        );
        assert_eq!(ApiKey::parse("MS0xLWl4SzYYYY").unwrap().shard(), "au1");
        assert_eq!(
            ApiKey::parse("abc-UK1")
                .unwrap()
                .base_url(BASE_URL_TEMPLATE)
                .unwrap()
                .host_str(),
            Some("api.uk1.cliniko.com")
        );
        assert_eq!(ApiKey::parse("abc-notashard").unwrap().shard(), "au1");
    }

    #[test]
    fn a_key_never_shows_and_garbage_is_refused() {
        let key = ApiKey::parse("secret-part-ca1").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(…-ca1)");
        for bad in ["", "   ", "has space-au1", "colon:inside", "tab\tkey"] {
            assert!(ApiKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
