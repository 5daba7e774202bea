//! The participant-list columns: their template headers, what each holds, and the header
//! spellings people actually use. Headers match case-insensitively, ignoring spaces, `_`, `-`
//! and `.` (so `Date_of_Birth`, `date of birth` and `DOB` all mean the same column).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    ExternalId,
    NamePrefix,
    FirstName,
    MiddleName,
    LastName,
    DateOfBirth,
    Sex,
    Email,
    MobilePhone,
    HomePhone,
    OfficePhone,
    AddressLine1,
    AddressLine2,
    City,
    State,
    Zip,
    Country,
    PractitionerEmail,
}

struct Spec {
    column: Column,
    header: &'static str,
    required: bool,
    aliases: &'static [&'static str],
    description: &'static str,
}

/// One row per column, in template order: the single place its header, aliases and meaning live.
const SPECS: &[Spec] = &[
    Spec {
        column: Column::ExternalId,
        header: "External ID",
        required: false,
        aliases: &[
            "externalid",
            "externalidentifier",
            "participantid",
            "memberid",
            "clientid",
            "patientid",
            "mrn",
        ],
        description: "Your own id for the person. Matches an existing patient first; unique within the group.",
    },
    Spec {
        column: Column::NamePrefix,
        header: "Name Prefix",
        required: false,
        aliases: &["nameprefix", "prefix", "title", "salutation"],
        description: "Mr., Ms., Dr., …",
    },
    Spec {
        column: Column::FirstName,
        header: "First Name",
        required: true,
        aliases: &["firstname", "first", "givenname", "fname"],
        description: "Required.",
    },
    Spec {
        column: Column::MiddleName,
        header: "Middle Name",
        required: false,
        aliases: &["middlename", "middle", "middleinitial", "mi"],
        description: "",
    },
    Spec {
        column: Column::LastName,
        header: "Last Name",
        required: true,
        aliases: &["lastname", "last", "surname", "familyname", "lname"],
        description: "Required.",
    },
    Spec {
        column: Column::DateOfBirth,
        header: "Date of Birth",
        required: true,
        aliases: &[
            "dateofbirth",
            "dob",
            "birthdate",
            "birthday",
            "dateofbirthmmddyyyy",
            "dateofbirthyyyymmdd",
        ],
        description: "Required. YYYY-MM-DD or MM/DD/YYYY; not in the future, not before 1900.",
    },
    Spec {
        column: Column::Sex,
        header: "Sex",
        required: false,
        aliases: &["sex", "gender", "sexatbirth"],
        description: "female, male, intersex, other or unknown (or F, M, I, O/X, U).",
    },
    Spec {
        column: Column::Email,
        header: "Email",
        required: false,
        aliases: &["email", "emailaddress", "mail"],
        description: "Matches an existing patient when External ID does not.",
    },
    Spec {
        column: Column::MobilePhone,
        header: "Mobile Phone",
        required: false,
        aliases: &[
            "mobilephone",
            "mobile",
            "mobilenumber",
            "cellphone",
            "cell",
            "cellnumber",
            "phone",
            "phonenumber",
        ],
        description: "Any common format; stored in E.164. A number that cannot be read is dropped with a warning.",
    },
    Spec {
        column: Column::HomePhone,
        header: "Home Phone",
        required: false,
        aliases: &["homephone", "home", "homenumber", "phonehome"],
        description: "As Mobile Phone.",
    },
    Spec {
        column: Column::OfficePhone,
        header: "Office Phone",
        required: false,
        aliases: &[
            "officephone",
            "office",
            "workphone",
            "work",
            "businessphone",
            "phonework",
        ],
        description: "As Mobile Phone.",
    },
    Spec {
        column: Column::AddressLine1,
        header: "Address Line 1",
        required: false,
        aliases: &["addressline1", "address1", "address", "streetaddress", "street"],
        description: "",
    },
    Spec {
        column: Column::AddressLine2,
        header: "Address Line 2",
        required: false,
        aliases: &["addressline2", "address2", "apt", "suite", "unit"],
        description: "",
    },
    Spec {
        column: Column::City,
        header: "City",
        required: false,
        aliases: &["city", "town"],
        description: "",
    },
    Spec {
        column: Column::State,
        header: "State",
        required: false,
        aliases: &["state", "stateprovince", "province", "region"],
        description: "US: two-letter code or full name. Elsewhere: as written.",
    },
    Spec {
        column: Column::Zip,
        header: "Zip",
        required: false,
        aliases: &["zip", "zipcode", "postalcode", "postcode", "zippostalcode"],
        description: "US: 12345 or 12345-6789. Elsewhere: as written.",
    },
    Spec {
        column: Column::Country,
        header: "Country",
        required: false,
        aliases: &["country", "countrycode"],
        description: "Two-letter ISO code (US, CA, GB, …). Blank keeps the patient's own; an address without a country is in the group's default.",
    },
    Spec {
        column: Column::PractitionerEmail,
        header: "Practitioner Email",
        required: false,
        aliases: &[
            "practitioneremail",
            "coachemail",
            "coach",
            "practitioner",
            "provideremail",
        ],
        description: "E-mail of an existing practitioner: assigns the patient's coach.",
    },
];

impl Column {
    /// How many columns there are; `column as usize` is below it.
    pub const COUNT: usize = Column::PractitionerEmail as usize + 1;

    fn spec(self) -> &'static Spec {
        SPECS
            .iter()
            .find(|s| s.column == self)
            .expect("every column has a spec")
    }

    /// Every column, in template order.
    pub fn all() -> impl Iterator<Item = Column> {
        SPECS.iter().map(|s| s.column)
    }

    /// The header the published template uses.
    pub fn header(self) -> &'static str {
        self.spec().header
    }

    pub fn is_required(self) -> bool {
        self.spec().required
    }

    pub fn description(self) -> &'static str {
        self.spec().description
    }

    /// The column a header means, if any.
    pub fn recognise(header: &str) -> Option<Column> {
        let folded = fold_header(header);
        SPECS
            .iter()
            .find(|s| s.aliases.contains(&folded.as_str()))
            .map(|s| s.column)
    }
}

/// Lower-cases a header and drops spaces, `_`, `-`, `.` and a stray byte-order mark.
pub fn fold_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.' | '\u{feff}') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The published participant-list template: every column's header, then example rows. The file
/// in the repository is the template itself, so what people download and what is documented
/// cannot differ.
pub const TEMPLATE_CSV: &str = include_str!("template.csv");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_case_and_punctuation_insensitively_with_aliases() {
        for (header, column) in [
            ("First Name", Column::FirstName),
            ("first_name", Column::FirstName),
            ("FIRST-NAME", Column::FirstName),
            ("DOB", Column::DateOfBirth),
            ("Date of Birth", Column::DateOfBirth),
            ("Zip Code", Column::Zip),
            ("Email Address", Column::Email),
            ("E-mail", Column::Email),
            ("\u{feff}External ID", Column::ExternalId),
            ("Coach Email", Column::PractitionerEmail),
            ("Address", Column::AddressLine1),
        ] {
            assert_eq!(Column::recognise(header), Some(column), "{header:?}");
        }
        assert_eq!(Column::recognise("Favourite Colour"), None);
    }

    #[test]
    fn every_template_header_is_recognised_as_its_own_column() {
        for column in Column::all() {
            assert_eq!(Column::recognise(column.header()), Some(column));
        }
    }

    #[test]
    fn every_column_indexes_below_the_count() {
        assert_eq!(Column::all().count(), Column::COUNT);
        assert!(Column::all().all(|c| (c as usize) < Column::COUNT));
    }

    #[test]
    fn no_alias_belongs_to_two_columns() {
        let mut seen = std::collections::HashMap::new();
        for spec in SPECS {
            for alias in spec.aliases {
                assert_eq!(seen.insert(*alias, spec.column), None, "{alias} is claimed twice");
            }
        }
    }

    #[test]
    fn the_template_header_is_every_column_in_order() {
        let header = TEMPLATE_CSV.lines().next().unwrap();
        let expected: Vec<&str> = Column::all().map(Column::header).collect();
        assert_eq!(header, expected.join(","));
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's column table is what the code does: every column, its requirement and meaning.
    #[test]
    fn the_readme_describes_every_column() {
        let readme = include_str!("../../../../README.md");
        for column in Column::all() {
            let required = if column.is_required() { "yes" } else { "" };
            let row = format!("| {} | {} | {} |", column.header(), required, column.description());
            assert!(readme.contains(&row), "README.md lacks the row: {row}");
        }
    }
}
