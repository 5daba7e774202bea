//! Patients (participants): what a caller may send, what carebridge keeps, and the rules between.

use crate::checks::{self, MAX_ADDRESS_LINE, MAX_CITY, MAX_POSTCODE, MAX_PREFIX, MAX_REGION};
use crate::error::{FieldError, ValidationErrors};
use crate::external::{ExternalIds, parse_external_ids_into};
use crate::ids::{AgencyId, GroupId, ImportId, PatientId, PractitionerId};
use crate::normalize::{self, Country};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What validation needs to know beyond the input: the group's default country (for phones
/// without `+country` and for US address rules) and today's date (dates of birth).
#[derive(Debug, Clone)]
pub struct Context {
    pub default_country: Country,
    pub today: NaiveDate,
}

/// Sex as recorded for care. Vendors' vocabularies map to it through tables in their connectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Sex {
    Female,
    Male,
    Intersex,
    Other,
    Unknown,
}

impl Sex {
    /// Reads the common ways people write sex in forms and spreadsheets.
    #[inline(always)] // on every row of an import; see `checks`
    pub fn parse(raw: &str) -> Option<Sex> {
        const SPELLINGS: [(&str, Sex); 12] = [
            ("f", Sex::Female),
            ("female", Sex::Female),
            ("m", Sex::Male),
            ("male", Sex::Male),
            ("i", Sex::Intersex),
            ("intersex", Sex::Intersex),
            ("o", Sex::Other),
            ("x", Sex::Other),
            ("other", Sex::Other),
            ("u", Sex::Unknown),
            ("unknown", Sex::Unknown),
            ("not known", Sex::Unknown),
        ];
        let raw = normalize::trim(raw);
        SPELLINGS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(raw))
            .map(|&(_, sex)| sex)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Intersex => "intersex",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

/// A patient as a caller sends it: every value as typed, checked by [`PatientInput::validate`].
/// Unknown members are refused, so a misspelt field never silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatientInput {
    pub name_prefix: Option<String>,
    /// Required.
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    /// Required.
    pub last_name: Option<String>,
    /// Required: `YYYY-MM-DD` or `MM/DD/YYYY`, not in the future, not before 1900.
    pub date_of_birth: Option<String>,
    /// female, male, intersex, other or unknown (or F, M, I, O/X, U).
    pub sex: Option<String>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub home_phone: Option<String>,
    pub office_phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    /// For US addresses a state code or name; free text elsewhere.
    pub state: Option<String>,
    pub zip: Option<String>,
    /// ISO 3166 two-letter code; the group's default country when left out.
    pub country: Option<String>,
    /// The coach this patient is assigned to.
    pub practitioner_id: Option<String>,
    /// The agency (practice or site) this patient belongs to.
    pub agency_id: Option<String>,
    /// Ids of this person in other systems, e.g. `{"customer": "A-1001"}`.
    pub external_ids: Option<BTreeMap<String, String>>,
}

/// A patient's validated, normalised details.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatientFields {
    pub name_prefix: Option<String>,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Option<Sex>,
    pub email: Option<String>,
    /// E.164, e.g. `+14155552671`.
    pub mobile_phone: Option<String>,
    pub home_phone: Option<String>,
    pub office_phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<Country>,
    pub practitioner_id: Option<PractitionerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<AgencyId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub external_ids: ExternalIds,
}

/// A patient as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Patient {
    pub id: PatientId,
    pub group: GroupId,
    #[serde(flatten)]
    pub fields: PatientFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The participant-list row that wrote this version, if an import did. Any other write
    /// clears it. Completing an import relies on it to recognise its own earlier writes after a
    /// crash or a redelivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<ImportRow>,
    /// The outside records this patient was linked to until the other system archived or
    /// deleted them (Cliniko): carebridge keeps the patient, marked, and unlinks it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlinked: Vec<Unlinked>,
}

/// A link that ended because the other system archived or deleted its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unlinked {
    pub system: crate::external::ExternalSystem,
    /// The record's id in that system.
    pub external_id: String,
    pub reason: UnlinkReason,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UnlinkReason {
    Archived,
    Deleted,
}

/// One row of one participant-list import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRow {
    pub import_id: ImportId,
    /// 1-based participant row, as the import's results number it.
    pub row: u32,
}

/// One field that an update changes, with its value before and after (as the API shows them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub field: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

impl PatientFields {
    /// `incoming` laid over these fields: what `incoming` holds replaces ours, what it leaves blank
    /// keeps ours (a participant list with an empty cell never erases data), external ids merge.
    pub fn overlaid_with(&self, incoming: &PatientFields) -> PatientFields {
        macro_rules! keep_unless_given {
            ($($field:ident),*) => {
                PatientFields {
                    $($field: incoming.$field.clone().or_else(|| self.$field.clone()),)*
                    first_name: incoming.first_name.clone(),
                    last_name: incoming.last_name.clone(),
                    date_of_birth: incoming.date_of_birth,
                    external_ids: {
                        let mut ids = self.external_ids.clone();
                        ids.extend(incoming.external_ids.iter().map(|(s, id)| (*s, id.clone())));
                        ids
                    },
                }
            };
        }
        keep_unless_given!(
            name_prefix,
            middle_name,
            sex,
            email,
            mobile_phone,
            home_phone,
            office_phone,
            address_line1,
            address_line2,
            city,
            state,
            zip,
            country,
            practitioner_id,
            agency_id
        )
    }

    /// A vendor's copy laid over ours, for a vendor that keeps the patient's demographics: its
    /// names, date of birth, sex, e-mail, phones and address replace ours, blanks included (a
    /// number removed there is removed here). What the vendor does not keep stays ours: the name
    /// prefix, the country when it sends no address, the coach when it names none, and the ids
    /// of other systems.
    pub fn synced_from(&self, vendor: &PatientFields) -> PatientFields {
        let mut external_ids = self.external_ids.clone();
        external_ids.extend(vendor.external_ids.iter().map(|(s, id)| (*s, id.clone())));
        PatientFields {
            name_prefix: vendor.name_prefix.clone().or_else(|| self.name_prefix.clone()),
            country: vendor.country.clone().or_else(|| self.country.clone()),
            practitioner_id: vendor.practitioner_id.clone().or_else(|| self.practitioner_id.clone()),
            agency_id: vendor.agency_id.clone().or_else(|| self.agency_id.clone()),
            external_ids,
            ..vendor.clone()
        }
    }

    /// What every stored patient holds beyond its own fields' rules, applied to a whole record
    /// however it was made (a caller's create or patch, an imported row, a vendor's copy): an
    /// address without a country is in the group's default country, which is also how its state,
    /// ZIP code and phones were read.
    pub fn complete(&mut self, ctx: &Context) {
        let has_address = [
            &self.address_line1,
            &self.address_line2,
            &self.city,
            &self.state,
            &self.zip,
        ]
        .iter()
        .any(|part| part.is_some());
        if has_address && self.country.is_none() {
            self.country = Some(ctx.default_country.clone());
        }
    }

    /// The fields that differ from `before`, in field-name order.
    pub fn changes_from(&self, before: &PatientFields) -> Vec<Change> {
        changes_between(&PatientInput::from(before), &PatientInput::from(self))
    }
}

/// The members that differ between two records as the API shows them (their input forms), in
/// member-name order.
pub(crate) fn changes_between<T: Serialize>(before: &T, after: &T) -> Vec<Change> {
    let (serde_json::Value::Object(old), serde_json::Value::Object(new)) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    ) else {
        return Vec::new();
    };
    new.into_iter()
        .filter(|(field, value)| old.get(field) != Some(value))
        .map(|(field, to)| Change {
            from: old.get(&field).cloned().unwrap_or_default(),
            field,
            to,
        })
        .collect()
}

impl PatientInput {
    /// Checks and normalises every field of a whole record, reporting every problem at once,
    /// and completes it as every stored patient is ([`PatientFields::complete`]).
    pub fn validate(&self, ctx: &Context) -> Result<PatientFields, ValidationErrors> {
        let external_ids: Vec<(&str, &str)> = self
            .external_ids
            .iter()
            .flatten()
            .map(|(system, id)| (system.as_str(), id.as_str()))
            .collect();
        RawPatient {
            name_prefix: self.name_prefix.as_deref(),
            first_name: self.first_name.as_deref(),
            middle_name: self.middle_name.as_deref(),
            last_name: self.last_name.as_deref(),
            date_of_birth: self.date_of_birth.as_deref(),
            sex: self.sex.as_deref(),
            email: self.email.as_deref(),
            mobile_phone: self.mobile_phone.as_deref(),
            home_phone: self.home_phone.as_deref(),
            office_phone: self.office_phone.as_deref(),
            address_line1: self.address_line1.as_deref(),
            address_line2: self.address_line2.as_deref(),
            city: self.city.as_deref(),
            state: self.state.as_deref(),
            zip: self.zip.as_deref(),
            country: self.country.as_deref(),
            practitioner_id: self.practitioner_id.as_deref(),
            agency_id: self.agency_id.as_deref(),
            external_ids: &external_ids,
        }
        .validate(ctx)
        .map(|mut fields| {
            fields.complete(ctx);
            fields
        })
    }
}

/// A patient's values as typed, borrowed from wherever they were read (a request body, the cells
/// of a participant-list row), so reading a large file does not copy every cell first.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawPatient<'a> {
    pub name_prefix: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub middle_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub date_of_birth: Option<&'a str>,
    pub sex: Option<&'a str>,
    pub email: Option<&'a str>,
    pub mobile_phone: Option<&'a str>,
    pub home_phone: Option<&'a str>,
    pub office_phone: Option<&'a str>,
    pub address_line1: Option<&'a str>,
    pub address_line2: Option<&'a str>,
    pub city: Option<&'a str>,
    pub state: Option<&'a str>,
    pub zip: Option<&'a str>,
    pub country: Option<&'a str>,
    pub practitioner_id: Option<&'a str>,
    pub agency_id: Option<&'a str>,
    /// (system, id) pairs.
    pub external_ids: &'a [(&'a str, &'a str)],
}

impl RawPatient<'_> {
    /// Checks and normalises every field, reporting every problem at once.
    pub fn validate(&self, ctx: &Context) -> Result<PatientFields, ValidationErrors> {
        let mut fields = PatientFields::blank();
        self.validate_into(ctx, &mut fields)?;
        Ok(fields)
    }

    /// As [`RawPatient::validate`], writing into `fields` and reusing its text buffers: a
    /// participant-list preview validates every row into the same one. After an error, `fields`
    /// holds a mix of old and new values and means nothing.
    pub fn validate_into(&self, ctx: &Context, fields: &mut PatientFields) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        let country = checks::optional_country(e, "country", self.country);
        let region = country.as_ref().unwrap_or(&ctx.default_country);

        let first_name = checks::required_name(e, "first_name", self.first_name);
        let last_name = checks::required_name(e, "last_name", self.last_name);
        let date_of_birth = match checks::present(self.date_of_birth) {
            None => {
                e.push(FieldError::required("date_of_birth"));
                None
            }
            Some(raw) => {
                e.check(normalize::date_of_birth(raw, ctx.today).map_err(|why| checks::invalid("date_of_birth", why)))
            }
        };
        fields.sex = checks::present(self.sex).and_then(|raw| {
            let sex = Sex::parse(raw);
            if sex.is_none() {
                e.push(FieldError::new(
                    "sex",
                    "invalid_sex",
                    "sex must be one of female, male, intersex, other, unknown (or F, M, I, O, X, U)",
                ));
            }
            sex
        });
        fields.practitioner_id = checks::present(self.practitioner_id).and_then(|raw| {
            e.check(
                PractitionerId::parse(raw.trim())
                    .map_err(|why| FieldError::new("practitioner_id", "invalid_practitioner_id", why.to_string())),
            )
        });
        fields.agency_id = checks::optional_agency_id(e, self.agency_id);
        let state = checks::present(self.state).and_then(|raw| {
            if region.is_us() {
                e.check(normalize::us_state(raw).map_err(|why| checks::invalid("state", why)))
            } else {
                checks::optional_text(e, "state", self.state, MAX_REGION)
            }
        });
        set_optional(&mut fields.state, state);
        let zip = checks::present(self.zip).and_then(|raw| {
            if region.is_us() {
                e.check(normalize::us_zip(raw).map_err(|why| checks::invalid("zip", why)))
            } else {
                checks::optional_text(e, "zip", self.zip, MAX_POSTCODE).map(Cow::Borrowed)
            }
        });
        set_optional(&mut fields.zip, zip);
        let f = &mut *fields;
        set_optional(
            &mut f.name_prefix,
            checks::optional_name(e, "name_prefix", self.name_prefix, MAX_PREFIX),
        );
        let middle_name = checks::optional_name(e, "middle_name", self.middle_name, checks::MAX_NAME);
        set_optional(&mut f.middle_name, middle_name);
        checks::optional_email_into(e, "email", self.email, &mut f.email);
        set_optional(
            &mut f.mobile_phone,
            checks::optional_phone(e, "mobile_phone", self.mobile_phone, region),
        );
        set_optional(
            &mut f.home_phone,
            checks::optional_phone(e, "home_phone", self.home_phone, region),
        );
        set_optional(
            &mut f.office_phone,
            checks::optional_phone(e, "office_phone", self.office_phone, region),
        );
        let line1 = checks::optional_text(e, "address_line1", self.address_line1, MAX_ADDRESS_LINE);
        set_optional(&mut f.address_line1, line1);
        let line2 = checks::optional_text(e, "address_line2", self.address_line2, MAX_ADDRESS_LINE);
        set_optional(&mut f.address_line2, line2);
        set_optional(&mut f.city, checks::optional_name(e, "city", self.city, MAX_CITY));
        f.country = country;
        parse_external_ids_into(self.external_ids.iter().copied(), e, &mut f.external_ids);
        match (first_name, last_name, date_of_birth) {
            (Some(first_name), Some(last_name), Some(date_of_birth)) if errors.is_empty() => {
                set(&mut f.first_name, &first_name);
                set(&mut f.last_name, &last_name);
                f.date_of_birth = date_of_birth;
                Ok(())
            }
            _ => Err(errors),
        }
    }
}

/// Replaces `slot`'s text with `value`, keeping its buffer.
#[inline]
fn set(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

/// Replaces an optional text with `value`, keeping the buffer when there was and is a value.
#[inline(always)] // a dozen times a row of an import; see `checks`
fn set_optional<T: AsRef<str>>(slot: &mut Option<String>, value: Option<T>) {
    match (slot, value) {
        (Some(text), Some(value)) => set(text, value.as_ref()),
        (slot, value) => *slot = value.map(|value| value.as_ref().to_owned()),
    }
}

impl PatientFields {
    /// Fields with nothing in them, to validate into.
    pub fn blank() -> PatientFields {
        PatientFields {
            name_prefix: None,
            first_name: String::new(),
            middle_name: None,
            last_name: String::new(),
            date_of_birth: NaiveDate::MIN,
            sex: None,
            email: None,
            mobile_phone: None,
            home_phone: None,
            office_phone: None,
            address_line1: None,
            address_line2: None,
            city: None,
            state: None,
            zip: None,
            country: None,
            practitioner_id: None,
            agency_id: None,
            external_ids: ExternalIds::new(),
        }
    }
}

impl From<&PatientFields> for PatientInput {
    /// The input that validates back to these fields: the base a `PATCH` is merged onto.
    fn from(f: &PatientFields) -> Self {
        PatientInput {
            name_prefix: f.name_prefix.clone(),
            first_name: Some(f.first_name.clone()),
            middle_name: f.middle_name.clone(),
            last_name: Some(f.last_name.clone()),
            date_of_birth: Some(f.date_of_birth.format("%Y-%m-%d").to_string()),
            sex: f.sex.map(|s| s.as_str().to_owned()),
            email: f.email.clone(),
            mobile_phone: f.mobile_phone.clone(),
            home_phone: f.home_phone.clone(),
            office_phone: f.office_phone.clone(),
            address_line1: f.address_line1.clone(),
            address_line2: f.address_line2.clone(),
            city: f.city.clone(),
            state: f.state.clone(),
            zip: f.zip.clone(),
            country: f.country.clone().map(String::from),
            practitioner_id: f.practitioner_id.clone().map(String::from),
            agency_id: f.agency_id.clone().map(String::from),
            external_ids: (!f.external_ids.is_empty()).then(|| {
                f.external_ids
                    .iter()
                    .map(|(s, id)| (s.as_str().to_owned(), id.clone()))
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::external::ExternalSystem;

    /// The context the model's tests validate in: US default, a fixed today.
    pub(crate) fn ctx() -> Context {
        Context {
            default_country: Country::us(),
            today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        }
    }

    fn minimal() -> PatientInput {
        PatientInput {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            date_of_birth: Some("1984-03-07".into()),
            ..Default::default()
        }
    }

    fn codes(errors: &ValidationErrors) -> Vec<(&str, &str)> {
        errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn first_name_last_name_and_date_of_birth_are_required() {
        let errors = PatientInput::default().validate(&ctx()).unwrap_err();
        assert_eq!(
            codes(&errors),
            [
                ("first_name", "required"),
                ("last_name", "required"),
                ("date_of_birth", "required")
            ]
        );
    }

    #[test]
    fn an_address_without_a_country_is_in_the_groups_default_country() {
        let gb = Context {
            default_country: Country::parse("GB").unwrap(),
            ..ctx()
        };
        let with_city = PatientInput {
            city: Some("London".into()),
            ..minimal()
        };
        let fields = with_city.validate(&gb).unwrap();
        assert_eq!(fields.country, Some(Country::parse("GB").unwrap()));
        // A country given is kept, and a patient without an address gets none.
        let abroad = PatientInput {
            country: Some("FR".into()),
            ..with_city
        };
        assert_eq!(abroad.validate(&gb).unwrap().country, Country::parse("FR").ok());
        assert_eq!(minimal().validate(&gb).unwrap().country, None);
    }

    #[test]
    fn a_full_patient_is_normalised() {
        let input = PatientInput {
            name_prefix: Some(" Dr. ".into()),
            first_name: Some("  Ada ".into()),
            middle_name: Some("King".into()),
            last_name: Some("Lovelace  Byron".into()),
            date_of_birth: Some("03/07/1984".into()),
            sex: Some("F".into()),
            email: Some(" Ada@Example.COM".into()),
            mobile_phone: Some("(415) 555-2671".into()),
            address_line1: Some(" 1 Main St ".into()),
            city: Some("San  Francisco".into()),
            state: Some("california".into()),
            zip: Some("941031234".into()),
            external_ids: Some(BTreeMap::from([("customer".into(), "A-1".into())])),
            ..Default::default()
        };
        let fields = input.validate(&ctx()).unwrap();
        assert_eq!(fields.name_prefix.as_deref(), Some("Dr."));
        assert_eq!(fields.first_name, "Ada");
        assert_eq!(fields.last_name, "Lovelace Byron");
        assert_eq!(fields.date_of_birth, NaiveDate::from_ymd_opt(1984, 3, 7).unwrap());
        assert_eq!(fields.sex, Some(Sex::Female));
        assert_eq!(fields.email.as_deref(), Some("ada@example.com"));
        assert_eq!(fields.mobile_phone.as_deref(), Some("+14155552671"));
        assert_eq!(fields.city.as_deref(), Some("San Francisco"));
        assert_eq!(fields.state.as_deref(), Some("CA"));
        assert_eq!(fields.zip.as_deref(), Some("94103-1234"));
        assert_eq!(
            fields.external_ids.get(&ExternalSystem::Customer).map(String::as_str),
            Some("A-1")
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once_without_echoing_values() {
        let input = PatientInput {
            date_of_birth: Some("2031-01-01".into()),
            sex: Some("robot".into()),
            email: Some("ada(at)example.com".into()),
            home_phone: Some("555".into()),
            state: Some("Narnia".into()),
            zip: Some("ABCDE".into()),
            practitioner_id: Some("pat_0123".into()),
            ..minimal()
        };
        let errors = input.validate(&ctx()).unwrap_err();
        assert_eq!(
            codes(&errors),
            [
                ("date_of_birth", "future_date"),
                ("sex", "invalid_sex"),
                ("practitioner_id", "invalid_practitioner_id"),
                ("state", "invalid_us_state"),
                ("zip", "invalid_us_zip"),
                ("email", "invalid_email"),
                ("home_phone", "invalid_phone"),
            ]
        );
        for error in &errors.0 {
            assert!(
                !error.message.contains("robot") && !error.message.contains("ada(at)"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn addresses_outside_the_us_keep_their_own_state_and_postcode() {
        let input = PatientInput {
            country: Some("GB".into()),
            state: Some("Greater London".into()),
            zip: Some("SW1A 1AA".into()),
            mobile_phone: Some("07911 123456".into()),
            ..minimal()
        };
        let fields = input.validate(&ctx()).unwrap();
        assert_eq!(fields.state.as_deref(), Some("Greater London"));
        assert_eq!(fields.zip.as_deref(), Some("SW1A 1AA"));
        assert_eq!(fields.mobile_phone.as_deref(), Some("+447911123456"));
        assert_eq!(fields.country.map(String::from).as_deref(), Some("GB"));
    }

    #[test]
    fn blank_optional_values_are_absent_not_errors() {
        let input = PatientInput {
            email: Some("  ".into()),
            sex: Some("".into()),
            mobile_phone: Some(" ".into()),
            ..minimal()
        };
        let fields = input.validate(&ctx()).unwrap();
        assert_eq!((fields.email, fields.sex, fields.mobile_phone), (None, None, None));
    }

    #[test]
    fn unknown_members_are_refused_when_reading_json() {
        let err = serde_json::from_str::<PatientInput>(r#"{"first_name":"Ada","firstname":"Ada"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `firstname`"), "{err}");
    }

    #[test]
    fn an_overlay_keeps_what_the_incoming_record_leaves_blank() {
        let existing = PatientInput {
            email: Some("ada@example.org".into()),
            city: Some("London".into()),
            external_ids: Some(BTreeMap::from([("elation".into(), "42".into())])),
            ..minimal()
        }
        .validate(&ctx())
        .unwrap();
        let incoming = PatientInput {
            last_name: Some("Byron".into()),
            city: Some("Paris".into()),
            external_ids: Some(BTreeMap::from([("customer".into(), "A-1".into())])),
            ..minimal()
        }
        .validate(&ctx())
        .unwrap();
        let merged = existing.overlaid_with(&incoming);
        assert_eq!(merged.email.as_deref(), Some("ada@example.org"));
        assert_eq!(merged.city.as_deref(), Some("Paris"));
        assert_eq!(merged.external_ids.len(), 2);
        let changed: Vec<String> = merged.changes_from(&existing).into_iter().map(|c| c.field).collect();
        assert_eq!(changed, ["city", "external_ids", "last_name"]);
        assert!(existing.changes_from(&existing).is_empty());
    }

    #[test]
    fn validated_fields_round_trip_through_input() {
        let fields = PatientInput {
            sex: Some("male".into()),
            email: Some("a@b.co".into()),
            country: Some("US".into()),
            external_ids: Some(BTreeMap::from([("elation".into(), "42".into())])),
            ..minimal()
        }
        .validate(&ctx())
        .unwrap();
        assert_eq!(PatientInput::from(&fields).validate(&ctx()), Ok(fields));
    }
}
