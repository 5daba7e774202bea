//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `GET /v1/openapi.json`, plus the response shapes that only exist on the wire.

use crate::problem::Problem;
use app::paging::Listing;
use model::FieldError;
use model::group::Group;
use model::import::job::{ImportJob, Upload};
use model::integration::Integration;
use model::patient::Patient;
use model::practitioner::Practitioner;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// A record with the version it was read at (also sent as the `ETag`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Versioned<T> {
    #[serde(flatten)]
    pub record: T,
    /// Goes up by one on every change; send it back in `If-Match` to update.
    pub version: u64,
}

impl<T> From<store::Versioned<T>> for Versioned<T> {
    fn from(v: store::Versioned<T>) -> Self {
        Versioned {
            record: v.value,
            version: v.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub items: Vec<Versioned<Group>>,
}

/// What `PUT …/credentials` takes: each vendor's own kind of credentials.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // a schema only: the vendor's folder reads the body
pub enum VendorCredentials {
    Elation(connectors::elation::CredentialsInput),
    Cliniko(ClinikoKey),
}

/// A Cliniko API key, as a user of the clinic made it in Cliniko ("My Info" → "Manage API keys").
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // a schema only
pub struct ClinikoKey {
    pub api_key: String,
}

/// Every integration carebridge offers, as the group has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    pub items: Vec<Versioned<Integration>>,
}

/// Declares one page of a listing of `T` whose items carry no version.
macro_rules! plain_page {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<Listing<$item>> for $name {
            fn from(listing: Listing<$item>) -> Self {
                $name {
                    items: listing.items,
                    next_cursor: listing.next_cursor,
                }
            }
        }
    };
}

plain_page!(
    /// One page of Cliniko's clients as carebridge would take them, those in error first.
    ClinikoClientPage,
    app::integrations::cliniko::clients::Client
);
plain_page!(
    /// One page of a group's copies of one kind of Ensora record, with their mappings.
    EnsoraRecordPage,
    app::integrations::ensora::admin::RecordView
);
plain_page!(
    /// One page of an integration's log, newest first.
    LogPage,
    model::integration_log::LogEntry
);
plain_page!(
    /// One page of a group's Hint ⇄ Salesforce links, by contact id.
    HintLinkPage,
    app::integrations::hint::admin::LinkView
);
plain_page!(
    /// One page of an integration run's results, practitioners first.
    PlanItemPage,
    model::sync::PlanItem
);
plain_page!(
    /// One page of an import's per-row results.
    ResultPage,
    model::import::RowResult
);
plain_page!(
    /// One page of a group's Hint ⇄ Salesforce batches, newest first.
    HintBatchPage,
    model::hint_batch::Batch
);
plain_page!(
    /// One page of a batch's per-record results, in the order the records were worked on.
    HintBatchResultPage,
    model::hint_batch::Item
);

/// Declares one page of a listing of `T`.
macro_rules! page {
    ($name:ident, $record:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<Versioned<$record>>,
            /// Pass as `cursor` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<Listing<store::Versioned<$record>>> for $name {
            fn from(listing: Listing<store::Versioned<$record>>) -> Self {
                $name {
                    items: listing.items.into_iter().map(Versioned::from).collect(),
                    next_cursor: listing.next_cursor,
                }
            }
        }
    };
}

page!(PatientPage, Patient);
page!(PractitionerPage, Practitioner);
page!(AgencyPage, model::agency::Agency);
page!(AppointmentPage, model::appointment::Appointment);
page!(ImportPage, ImportJob);
page!(RunPage, model::sync::SyncRun);
page!(PlanNotePage, model::plan_note::PlanNote);
page!(FailedProfilePage, app::integrations::cliniko::sync::FailedProfile);

/// A new import and where to upload its file.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedImport {
    #[serde(flatten)]
    pub import: Versioned<ImportJob>,
    pub upload: Upload,
}

impl From<app::imports::Created> for CreatedImport {
    fn from(created: app::imports::Created) -> Self {
        CreatedImport {
            import: Versioned::from(created.import),
            upload: created.upload,
        }
    }
}

/// The problems any operation may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Problems {
    #[response(
        status = 400,
        description = "Malformed JSON, unknown members, bad query or cursor",
        content_type = "application/problem+json"
    )]
    BadRequest(Problem),
    #[response(
        status = 401,
        description = "No valid token",
        content_type = "application/problem+json"
    )]
    Unauthenticated(Problem),
    #[response(
        status = 403,
        description = "The token does not reach this group, or lacks a role",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such group or record",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 409,
        description = "Already exists, or an external id is linked elsewhere",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 412,
        description = "The record changed since the version in If-Match",
        content_type = "application/problem+json"
    )]
    Stale(Problem),
    #[response(
        status = 413,
        description = "Body over 1 MiB",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Body is not JSON",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Fields failed validation; see `errors`",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
    #[response(
        status = 428,
        description = "If-Match is required",
        content_type = "application/problem+json"
    )]
    PreconditionRequired(Problem),
    #[response(
        status = 502,
        description = "A vendor could not be reached or failed; try again later (see Retry-After)",
        content_type = "application/problem+json"
    )]
    VendorUnavailable(Problem),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "carebridge API",
        version = "1",
        description = "Patient-data integration hub: groups, patients, practitioners, imports and integrations. Authenticate with a bearer JWT whose claims name your `groups` and `roles`."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "groups", description = "Customer groups (tenants)"),
        (name = "patients", description = "Patients (participants)"),
        (name = "practitioners", description = "Coaches, physicians and staff"),
        (name = "imports", description = "Participant-list (CSV) imports"),
        (name = "integrations", description = "Connections to vendors (Elation, Cliniko, Hint, Ensora) and their life cycle"),
    )
)]
pub struct ApiDoc;

/// The document: what every route file documents (`paths`) under carebridge's title, tags and
/// security scheme.
pub fn document(paths: impl IntoIterator<Item = utoipa::openapi::OpenApi>) -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    for documented in paths {
        doc.merge(documented);
    }
    serde_json::to_value(doc).unwrap_or_default()
}
