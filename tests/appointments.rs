//! Agencies and appointments through the API: created, read, patched at a version and listed
//! by agency and date range, with the usual roles and problems.

use e2e::*;
use serde_json::Value;

async fn created(path: &str, admin: &str, body: Value) -> Value {
    let reply = post(path).token(admin).json(&body).send().await;
    assert_status(&reply, 201);
    assert_eq!(reply.header("location").map(|l| l.starts_with(path)), Some(true));
    reply.body
}

struct Practice {
    group: String,
    admin: String,
    north: String,
    south: String,
    patient: String,
    practitioner: String,
}

async fn new_practice() -> Practice {
    let group = new_group().await;
    let admin = token(&[&group], &[GROUP_ADMIN]);
    let agencies = format!("/v1/groups/{group}/agencies");
    let north = created(
        &agencies,
        &admin,
        json!({"name": "North Clinic", "time_zone": "America/Chicago"}),
    )
    .await;
    let south = created(
        &agencies,
        &admin,
        json!({"name": "South Clinic", "time_zone": "America/New_York"}),
    )
    .await;
    let patient = create_patient(&group, ada()).await;
    assert_status(&patient, 201);
    let practitioner = created(
        &format!("/v1/groups/{group}/practitioners"),
        &admin,
        json!({"first_name": "Tess", "last_name": "Ng", "email": "tess@clinic.example"}),
    )
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    Practice {
        north: id(&north),
        south: id(&south),
        patient: id(&patient.body),
        practitioner: id(&practitioner),
        group,
        admin,
    }
}

impl Practice {
    fn appointments(&self) -> String {
        format!("/v1/groups/{}/appointments", self.group)
    }

    async fn book(&self, agency: &str, date: &str, start: &str, end: &str) -> Value {
        let body = json!({"agency_id": agency, "patient_id": self.patient, "practitioner_id": self.practitioner,
            "date": date, "start": start, "end": end});
        created(&self.appointments(), &self.admin, body).await
    }

    async fn listed(&self, query: &str) -> (Vec<(String, String)>, Option<String>) {
        let reply = get(&format!("{}?{query}", self.appointments()))
            .token(&token(&[&self.group], &[]))
            .send()
            .await;
        assert_status(&reply, 200);
        let items = reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["date"].as_str().unwrap().to_owned(),
                    a["start"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (items, reply.body["next_cursor"].as_str().map(str::to_owned))
    }
}

#[tokio::test]
async fn an_agency_has_a_name_and_a_time_zone_and_is_read_patched_and_listed() {
    let practice = new_practice().await;
    let path = format!("/v1/groups/{}/agencies/{}", practice.group, practice.north);
    let renamed = patch(&path)
        .token(&practice.admin)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "North Clinic (Main St)"}))
        .send()
        .await;
    assert_status(&renamed, 200);
    assert_eq!(
        (
            renamed.body["name"].as_str(),
            renamed.body["time_zone"].as_str(),
            renamed.body["version"].as_u64()
        ),
        (Some("North Clinic (Main St)"), Some("America/Chicago"), Some(2))
    );
    let stale = patch(&path)
        .token(&practice.admin)
        .header("if-match", "\"1\"")
        .json(&json!({"time_zone": "UTC"}))
        .send()
        .await;
    assert_status(&stale, 412);
    let listing = get(&format!("/v1/groups/{}/agencies", practice.group))
        .token(&token(&[&practice.group], &[]))
        .send()
        .await;
    assert_eq!(listing.body["items"].as_array().unwrap().len(), 2);

    let reader = token(&[&practice.group], &[]);
    let refused = post(&format!("/v1/groups/{}/agencies", practice.group))
        .token(&reader)
        .json(&json!({"name": "East", "time_zone": "UTC"}))
        .send()
        .await;
    assert_status(&refused, 403);
    let invalid = post(&format!("/v1/groups/{}/agencies", practice.group))
        .token(&practice.admin)
        .json(&json!({"name": " ", "time_zone": "Mars/Olympus"}))
        .send()
        .await;
    assert_status(&invalid, 422);
    assert_eq!(
        invalid.field_errors(),
        [
            ("name".into(), "required".into()),
            ("time_zone".into(), "invalid_time_zone".into())
        ]
    );
}

#[tokio::test]
async fn appointments_list_in_date_order_by_agency_and_date_range_a_page_at_a_time() {
    let practice = new_practice().await;
    practice.book(&practice.north, "2026-11-03", "09:00", "10:00").await;
    practice.book(&practice.south, "2026-11-02", "13:00", "13:45").await;
    practice.book(&practice.north, "2026-11-01", "08:30", "09:15").await;
    practice.book(&practice.north, "2026-11-05", "11:00", "12:00").await;

    let (all, _) = practice.listed("").await;
    let dates: Vec<&str> = all.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(dates, ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"]);
    let (north, _) = practice.listed(&format!("agency_id={}", practice.north)).await;
    assert_eq!(north.len(), 3);
    let (range, cursor) = practice
        .listed(&format!("agency_id={}&from=2026-11-02&to=2026-11-03", practice.north))
        .await;
    assert_eq!(range, [("2026-11-03".to_owned(), "09:00:00".to_owned())]);
    assert_eq!(cursor, None, "nothing past the range is another page");
    let (first, cursor) = practice.listed("from=2026-11-02&limit=2").await;
    assert_eq!(first.len(), 2);
    let (rest, _) = practice
        .listed(&format!("from=2026-11-02&limit=2&cursor={}", cursor.unwrap()))
        .await;
    assert_eq!(rest, [("2026-11-05".to_owned(), "11:00:00".to_owned())]);

    let bad = get(&format!("{}?from=Nov 2", practice.appointments()))
        .token(&practice.admin)
        .send()
        .await;
    assert_status(&bad, 400);
    let backwards = get(&format!("{}?from=2026-11-05&to=2026-11-01", practice.appointments()))
        .token(&practice.admin)
        .send()
        .await;
    assert_status(&backwards, 400);
}

#[tokio::test]
async fn an_appointment_names_records_of_the_group_and_a_rescheduling_moves_it_in_the_listing() {
    let practice = new_practice().await;
    let appointment = practice.book(&practice.north, "2026-11-03", "09:00", "10:00").await;
    assert_eq!(appointment["status"], "scheduled");
    let path = format!("{}/{}", practice.appointments(), appointment["id"].as_str().unwrap());
    let moved = patch(&path)
        .token(&practice.admin)
        .header("if-match", "\"1\"")
        .json(&json!({"date": "2026-11-10", "agency_id": practice.south, "results_notes": "Moved at the family's request."}))
        .send()
        .await;
    assert_status(&moved, 200);
    let (old_day, _) = practice.listed("from=2026-11-03&to=2026-11-03").await;
    assert!(old_day.is_empty(), "the old date's entry went with the change");
    let (at_south, _) = practice.listed(&format!("agency_id={}", practice.south)).await;
    assert_eq!(at_south, [("2026-11-10".to_owned(), "09:00:00".to_owned())]);
    let (at_north, _) = practice.listed(&format!("agency_id={}", practice.north)).await;
    assert!(at_north.is_empty());

    let elsewhere = new_group().await;
    let stranger = post(&practice.appointments())
        .token(&practice.admin)
        .json(&json!({"agency_id": practice.north, "patient_id": "pat_0192a0b0c0d0e0f00112233445566778", "practitioner_id": practice.practitioner,
            "date": "2026-11-03", "start": "09:00", "end": "08:00", "status": "rendered"}))
        .send()
        .await;
    assert_status(&stranger, 422);
    assert_eq!(
        stranger.field_errors(),
        [
            ("end".into(), "end_before_start".into()),
            ("status".into(), "rendered_by_session_note".into())
        ]
    );
    let unknown = post(&practice.appointments())
        .token(&practice.admin)
        .json(&json!({"agency_id": practice.north, "patient_id": "pat_0192a0b0c0d0e0f00112233445566778", "practitioner_id": practice.practitioner,
            "date": "2026-11-03", "start": "09:00", "end": "10:00"}))
        .send()
        .await;
    assert_status(&unknown, 422);
    assert_eq!(unknown.field_errors(), [("patient_id".into(), "not_found".into())]);
    let other_group = get(&path).token(&token(&[&elsewhere], &[GROUP_ADMIN])).send().await;
    assert_status(&other_group, 403);
    let cancelled = patch(&path)
        .token(&practice.admin)
        .header("if-match", "\"2\"")
        .json(&json!({"status": "cancelled"}))
        .send()
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
}

#[tokio::test]
async fn patients_and_practitioners_belong_to_an_agency_of_their_group() {
    let practice = new_practice().await;
    let path = format!("/v1/groups/{}/patients/{}", practice.group, practice.patient);
    let placed = patch(&path)
        .token(&practice.admin)
        .header("if-match", "\"1\"")
        .json(&json!({"agency_id": practice.north}))
        .send()
        .await;
    assert_status(&placed, 200);
    assert_eq!(placed.body["agency_id"].as_str(), Some(practice.north.as_str()));
    let coach = post(&format!("/v1/groups/{}/practitioners", practice.group))
        .token(&practice.admin)
        .json(&json!({"first_name": "Ray", "last_name": "Ortiz", "email": "ray@clinic.example", "agency_id": practice.south}))
        .send()
        .await;
    assert_status(&coach, 201);
    assert_eq!(coach.body["agency_id"].as_str(), Some(practice.south.as_str()));

    let elsewhere = new_practice().await;
    let foreign = patch(&path)
        .token(&practice.admin)
        .header("if-match", "\"2\"")
        .json(&json!({"agency_id": elsewhere.north}))
        .send()
        .await;
    assert_status(&foreign, 422);
    assert_eq!(foreign.field_errors(), [("agency_id".into(), "unknown_agency".into())]);
    let garbled = post(&format!("/v1/groups/{}/practitioners", practice.group))
        .token(&practice.admin)
        .json(&json!({"first_name": "Ray", "last_name": "Ortiz", "email": "ray@clinic.example", "agency_id": "North"}))
        .send()
        .await;
    assert_eq!(
        garbled.field_errors(),
        [("agency_id".into(), "invalid_agency_id".into())]
    );
}
