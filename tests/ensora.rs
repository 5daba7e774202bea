//! Ensora data collection through the dev host and the Ensora sandbox over HTTP: the
//! credentials handshake, the poll, the guide's Auto mappings with every unmapped reason, the
//! session grace on each side, appointments completed from SOAP notes, revised and deleted
//! notes, and a poll that fails part-way.

use e2e::ensora::{Connected, activated_group, admin, organization, store_credentials};
use e2e::*;
use serde_json::Value;

fn answers(notes: &str, signature: Option<&str>) -> Value {
    let mut responses = vec![
        json!({"questionText": "Notes", "answer": notes}),
        json!({"questionText": "Location", "answer": "Clinic room 2"}),
        json!({"questionText": "Guardian / Caregiver / Parent Name", "answer": "Rosa Ruiz"}),
        json!({"questionText": "Relationship", "answer": "Mother"}),
        json!({"questionText": "Guardian Signature", "answer": "data:image/png;base64,R0lG"}),
    ];
    if let Some(signature) = signature {
        responses.push(json!({"questionText": "Therapist Signature", "answer": signature}));
    }
    Value::Array(responses)
}

/// A note as the therapist publishes it, its Date, Start Time and End Time answered too.
fn note(student: &str, user: &str, date: &str, start: &str, end: &str, responses: Value) -> Value {
    let mut responses = responses.as_array().unwrap().clone();
    responses.push(json!({"questionText": "Date", "answer": date}));
    responses.push(json!({"questionText": "Start Time", "answer": start}));
    responses.push(json!({"questionText": "End Time", "answer": end}));
    json!({"patientId": student, "userId": user, "date": date, "startTime": start, "endTime": end, "responses": responses})
}

fn id(made: &Value, field: &str) -> String {
    made[field].as_str().unwrap().to_owned()
}

/// One practice on both sides: carebridge's agency, patients, practitioner and appointments,
/// and Ensora's sites, students, users and notes, with the records each rule should leave
/// unmapped and why.
struct Practice {
    ensora: Connected,
    north: String,
    /// The first of two agencies named Twin Oaks.
    twin: String,
    ana: String,
    cara: String,
    tess: String,
    /// Ana with Tess, 2026-11-02 09:00–10:00 and 2026-11-03 09:00–10:00; Ben with Tess
    /// 2026-11-02 11:00–12:00.
    ana_monday: String,
    ana_tuesday: String,
    ben_monday: String,
    students: Vec<String>,
    sites: Vec<String>,
    users: Vec<String>,
    /// Exactly 5 minutes late on both ends, complete: maps and renders.
    complete: String,
    /// Starts 5 minutes and 1 second late: does not map.
    late: String,
    /// Exactly 5 minutes early, without the therapist's signature: maps, not rendered.
    unsigned: String,
}

async fn practice() -> Practice {
    let ensora = Connected::new().await;
    let north = ensora
        .create(
            "agencies",
            json!({"name": "North Clinic", "time_zone": "America/Chicago"}),
        )
        .await;
    let mut twins = Vec::new();
    for _ in 0..2 {
        twins.push(
            ensora
                .create("agencies", json!({"name": "Twin Oaks", "time_zone": "America/Chicago"}))
                .await,
        );
    }
    let patient = |first: &str, last: &str, born: &str| json!({"first_name": first, "last_name": last, "date_of_birth": born, "agency_id": north});
    let ana = ensora.create("patients", patient("Ana", "Ruiz", "2015-02-03")).await;
    let ben = ensora.create("patients", patient("Ben", "Cole", "2014-05-06")).await;
    let cara = ensora.create("patients", patient("Cara", "Diaz", "2016-01-01")).await;
    let tess = ensora
        .create(
            "practitioners",
            json!({"first_name": "Tess", "last_name": "Ng", "email": "tess@clinic.example", "agency_id": north}),
        )
        .await;
    let appointment = |patient: &str, date: &str, start: &str, end: &str| json!({"agency_id": north, "patient_id": patient, "practitioner_id": tess, "date": date, "start": start, "end": end});
    let ana_monday = ensora
        .create("appointments", appointment(&ana, "2026-11-02", "09:00", "10:00"))
        .await;
    let ana_tuesday = ensora
        .create("appointments", appointment(&ana, "2026-11-03", "09:00", "10:00"))
        .await;
    let ben_monday = ensora
        .create("appointments", appointment(&ben, "2026-11-02", "11:00", "12:00"))
        .await;

    let sites = ensora
        .ensora_add(
            "sites",
            json!([{"name": " north  clinic", "timeZone": "America/Chicago"}, {"name": "Twin Oaks"}, {"name": "South Clinic"}]),
        )
        .await;
    let site = |n: usize| id(&sites[n], "siteId");
    let students = ensora
        .ensora_add(
            "patients",
            json!([
                {"firstName": "ANA ", "lastName": "ruiz", "dateOfBirth": "2015-02-03T00:00:00", "siteId": site(0)},
                {"firstName": "Ben", "lastName": "Cole", "dateOfBirth": "2014-05-06", "siteId": site(0)},
                {"firstName": "Cara", "lastName": "Diaz", "dateOfBirth": "2016-01-02", "siteId": site(0)},
                {"firstName": "Dan", "lastName": "Wu", "dateOfBirth": "2013-03-03", "siteId": site(1)},
                {"firstName": "Eve", "lastName": "Park", "dateOfBirth": "2012-02-02", "siteId": site(0)},
            ]),
        )
        .await;
    let users = ensora
        .ensora_add(
            "users",
            json!([
                {"firstName": "Tess", "lastName": "Ng", "email": "TESS@clinic.example", "siteAssignments": [{"siteId": site(0)}]},
                {"firstName": "Uma", "lastName": "Roy", "email": "uma@clinic.example", "siteAssignments": [{"siteId": site(0)}]},
            ]),
        )
        .await;
    let student = |n: usize| id(&students[n], "patientId");
    let tess_user = id(&users[0], "userId");
    let notes = ensora
        .ensora_add(
            "notes",
            json!([
                note(
                    &student(0),
                    &tess_user,
                    "2026-11-02",
                    "09:05",
                    "10:05",
                    answers("Worked on turn taking.", Some("T. Ng"))
                ),
                note(
                    &student(1),
                    &tess_user,
                    "2026-11-02",
                    "11:05:01",
                    "12:00",
                    answers("Matched colours.", Some("T. Ng"))
                ),
                note(
                    &student(0),
                    &tess_user,
                    "2026-11-03",
                    "08:55",
                    "09:55",
                    answers("Counted to twenty.", None)
                ),
            ]),
        )
        .await;
    Practice {
        north,
        twin: twins.remove(0),
        ana,
        cara,
        tess,
        ana_monday,
        ana_tuesday,
        ben_monday,
        students: (0..5).map(student).collect(),
        sites: (0..3).map(site).collect(),
        users: vec![tess_user, id(&users[1], "userId")],
        complete: id(&notes[0], "soapNoteId"),
        late: id(&notes[1], "soapNoteId"),
        unsigned: id(&notes[2], "soapNoteId"),
        ensora,
    }
}

fn mapped_to(record: &Value) -> Option<&str> {
    (record["mapping"]["status"] == "mapped").then(|| record["mapping"]["target_id"].as_str().unwrap())
}

fn reason(record: &Value) -> (&str, &Value) {
    assert_eq!(record["mapping"]["status"], "unmapped", "{record}");
    (record["mapping"]["reason"].as_str().unwrap(), &record["mapping"])
}

#[tokio::test]
async fn the_credentials_take_an_admin_of_both_systems_and_start_the_first_poll() {
    let group = activated_group().await;
    let client = organization().await;
    let integrations_only = token(&[&group], &[INTEGRATION_ADMIN]);
    let refused = store_credentials(&group, &integrations_only, &client).await;
    assert_status(&refused, 403);
    assert!(refused.text.contains("group_admin"), "{}", refused.text);
    let mut wrong = client.clone();
    wrong["client_secret"] = json!("not-the-secret");
    let bad = store_credentials(&group, &admin(&group), &wrong).await;
    assert_status(&bad, 422);
    assert_eq!(bad.problem(), "vendor-refused");

    let ensora = Connected {
        organization: client["organization"].as_str().unwrap().to_owned(),
        group: group.clone(),
        client,
    };
    let connected = ensora.connect().await;
    assert_eq!(connected["status"], "active", "{connected}");
    ensora.polled(1).await;
    assert!(!connected.to_string().contains("client_secret"));

    // The schedule's function, run now by the dev host's manual trigger, queues this group's poll.
    let invoked = reqwest::Client::new()
        .post(format!("{}/_dev/functions/EnsoraPollerFunction/invoke", stack().url))
        .send()
        .await
        .unwrap();
    assert_eq!(invoked.status(), 200);
    let queued: Value = invoked.json().await.unwrap();
    assert!(queued["polls"].as_u64().unwrap() >= 1, "{queued}");
    ensora.polled(2).await;
}

#[tokio::test]
async fn a_first_poll_maps_by_the_guides_rules_and_says_why_the_rest_are_not_mapped() {
    let p = practice().await;
    p.ensora.connect().await;
    p.ensora.polled(1).await;

    let sites = p.ensora.mapped("sites").await;
    assert_eq!(
        mapped_to(&sites[&p.sites[0]]),
        Some(p.north.as_str()),
        "name, case and spacing aside"
    );
    let (why, twin) = reason(&sites[&p.sites[1]]);
    assert_eq!(
        (why, twin["candidates"].as_array().unwrap().len()),
        ("several_candidates", 2)
    );
    assert_eq!(reason(&sites[&p.sites[2]]).0, "no_candidate");

    let students = p.ensora.mapped("students").await;
    assert_eq!(mapped_to(&students[&p.students[0]]), Some(p.ana.as_str()));
    assert!(mapped_to(&students[&p.students[1]]).is_some());
    let (why, cara) = reason(&students[&p.students[2]]);
    assert_eq!((why, cara["field"].as_str()), ("differs", Some("date_of_birth")));
    assert_eq!(
        reason(&students[&p.students[3]]).0,
        "unresolved",
        "Dan's site maps to no agency"
    );
    assert_eq!(reason(&students[&p.students[4]]).0, "no_candidate");
    assert_eq!(students[&p.students[0]]["mapping"]["source"], "Auto");

    let users = p.ensora.mapped("users").await;
    assert_eq!(
        mapped_to(&users[&p.users[0]]),
        Some(p.tess.as_str()),
        "e-mail case aside"
    );
    assert_eq!(reason(&users[&p.users[1]]).0, "no_candidate");

    let sessions = p.ensora.mapped("sessions").await;
    let complete = &sessions[&p.complete];
    assert_eq!(
        mapped_to(complete),
        Some(p.ana_monday.as_str()),
        "exactly 5 minutes maps"
    );
    assert_eq!(complete["note"]["rendered"], true);
    let (why, late) = reason(&sessions[&p.late]);
    assert_eq!(
        (why, late["field"].as_str(), late["nearest"].as_str()),
        ("differs", Some("start_time"), Some(p.ben_monday.as_str())),
        "5 minutes and 1 second does not"
    );
    let unsigned = &sessions[&p.unsigned];
    assert_eq!(
        mapped_to(unsigned),
        Some(p.ana_tuesday.as_str()),
        "exactly 5 minutes early maps"
    );
    assert_eq!(unsigned["note"]["rendered"], false);
    assert_eq!(
        unsigned["note"]["not_rendered"],
        json!([{"reason": "missing", "field": "therapist_signature"}])
    );

    let rendered = p.ensora.read("appointments", &p.ana_monday).await;
    assert_eq!(rendered["status"], "rendered");
    assert_eq!(rendered["results_notes"], "Worked on turn taking.");
    assert!(rendered["rendered_at"].is_string());
    let signature = &rendered["signature_data"];
    assert_eq!(
        (
            signature["guardian_name"].as_str(),
            signature["relationship"].as_str(),
            signature["therapist_signature"].as_str(),
            signature["render_location"].as_str(),
            signature["start_time"].as_str(),
        ),
        (
            Some("Rosa Ruiz"),
            Some("Mother"),
            Some("T. Ng"),
            Some("Clinic room 2"),
            Some("09:05:00")
        )
    );
    let edit = patch(&format!("/v1/groups/{}/appointments/{}", p.ensora.group, p.ana_monday))
        .token(&admin(&p.ensora.group))
        .header("if-match", &format!("\"{}\"", rendered["version"]))
        .json(&json!({"results_notes": "changed"}))
        .send()
        .await;
    assert_status(&edit, 409);
    let not_rendered = p.ensora.read("appointments", &p.ana_tuesday).await;
    assert_eq!(
        (not_rendered["status"].as_str(), not_rendered["results_notes"].as_str()),
        (Some("scheduled"), Some("Counted to twenty."))
    );
    let untouched = p.ensora.read("appointments", &p.ben_monday).await;
    assert_eq!(untouched["version"], 1);

    let unmapped = get(&format!(
        "/v1/groups/{}/integrations/ensora/students?mapping=unmapped",
        p.ensora.group
    ))
    .token(&admin(&p.ensora.group))
    .send()
    .await;
    assert_eq!(unmapped.body["items"].as_array().unwrap().len(), 3);
    let refused = get(&format!("/v1/groups/{}/integrations/ensora/students", p.ensora.group))
        .token(&token(&[&p.ensora.group], &[GROUP_ADMIN]))
        .send()
        .await;
    assert_status(&refused, 403);

    let reports = format!("/v1/groups/{}/integrations/ensora/reports", p.ensora.group);
    let clients = get(&format!("{reports}/clients"))
        .token(&admin(&p.ensora.group))
        .send()
        .await;
    assert_status(&clients, 200);
    let rows = clients.body["items"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows.iter().filter(|r| r["status"] == "mapped").count(), 2);
    let csv = get(&format!("{reports}/appointments"))
        .token(&admin(&p.ensora.group))
        .header("accept", "text/csv")
        .send()
        .await;
    assert_status(&csv, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(lines[0].starts_with("ensora_id,name,detail,status,source,carebridge_id"));
    assert_eq!(lines.len(), 4, "{}", csv.text);
    let late_line = lines.iter().find(|l| l.starts_with(&p.late)).unwrap();
    assert!(
        late_line.contains(",unmapped,") && late_line.contains("start_time differs from"),
        "{late_line}"
    );
    let unsigned_line = lines.iter().find(|l| l.starts_with(&p.unsigned)).unwrap();
    assert!(
        unsigned_line.ends_with(",false,missing therapist_signature"),
        "{unsigned_line}"
    );
    let staff = get(&format!("{reports}/staff"))
        .token(&admin(&p.ensora.group))
        .send()
        .await;
    assert_eq!(staff.body["items"].as_array().unwrap().len(), 2);
    assert_status(
        &get(&format!("{reports}/invoices"))
            .token(&admin(&p.ensora.group))
            .send()
            .await,
        404,
    );
}

#[tokio::test]
async fn revised_and_deleted_notes_reach_their_appointments_once_even_after_a_poll_that_failed() {
    let p = practice().await;
    p.ensora.connect().await;
    p.ensora.polled(1).await;
    // A patient added since is found now: a mapping that failed is tried again.
    p.ensora
        .create(
            "patients",
            json!({"first_name": "Eve", "last_name": "Park", "date_of_birth": "2012-02-02", "agency_id": p.north}),
        )
        .await;
    // The rendered note is revised; the unsigned one is signed; a new note for Ben is written
    // and then deleted before anyone renders it.
    p.ensora
        .ensora_edit(
            "notes",
            &p.complete,
            json!({"responses": answers("Worked on turn taking; tolerated waiting.", Some("T. Ng"))}),
        )
        .await;
    let mut signed = answers("Counted to twenty.", Some("T. Ng")).as_array().unwrap().clone();
    for (question, answer) in [("Date", "2026-11-03"), ("Start Time", "08:55"), ("End Time", "09:55")] {
        signed.push(json!({"questionText": question, "answer": answer}));
    }
    p.ensora
        .ensora_edit("notes", &p.unsigned, json!({"responses": signed}))
        .await;
    // The worker's next writes for the group: the lease, then the first appointment; the one
    // after fails, halfway through the poll. The job is tried again and completes it.
    stack()
        .observations
        .fail_write_after(&p.ensora.group, "SyncWorkerFunction", 2);
    p.ensora.poll().await;
    assert_eq!(stack().observations.failures_injected(&p.ensora.group), 1);

    let revised = p.ensora.read("appointments", &p.ana_monday).await;
    assert_eq!(revised["results_notes"], "Worked on turn taking.", "the render stands");
    let revisions = revised["revisions_after_render"].as_array().unwrap();
    assert_eq!(revisions.len(), 1, "recorded once: {revisions:?}");
    assert_eq!(
        revisions[0]["results_notes"],
        "Worked on turn taking; tolerated waiting."
    );
    let signed = p.ensora.read("appointments", &p.ana_tuesday).await;
    assert_eq!(signed["status"], "rendered");
    assert_eq!(
        signed["version"], 3,
        "written by the first poll and once by the revision"
    );
    let students = p.ensora.mapped("students").await;
    assert!(mapped_to(&students[&p.students[4]]).is_some(), "Eve is found now");

    let ben_note = p
        .ensora
        .ensora_add(
            "notes",
            note(
                &p.students[1],
                &p.users[0],
                "2026-11-02",
                "11:00",
                "12:00",
                answers("Sorted shapes.", None),
            ),
        )
        .await;
    let ben_note = id(&ben_note, "soapNoteId");
    p.ensora.poll().await;
    let written = p.ensora.read("appointments", &p.ben_monday).await;
    assert_eq!(
        (written["status"].as_str(), written["results_notes"].as_str()),
        (Some("scheduled"), Some("Sorted shapes."))
    );
    p.ensora.ensora_delete_note(&ben_note).await;
    p.ensora.poll().await;
    let removed = p.ensora.read("appointments", &p.ben_monday).await;
    assert!(
        removed["results_notes"].is_null() && removed["signature_data"].is_null(),
        "{removed}"
    );
    let sessions = p.ensora.mapped("sessions").await;
    assert_eq!(reason(&sessions[&ben_note]).0, "deleted");
}

async fn set_mapping(p: &Practice, kind: &str, ensora_id: &str, target: &str) -> Reply {
    put(&format!(
        "/v1/groups/{}/integrations/ensora/{kind}/{ensora_id}/mapping",
        p.ensora.group
    ))
    .token(&admin(&p.ensora.group))
    .json(&json!({"target_id": target}))
    .send()
    .await
}

async fn delete_mapping(p: &Practice, kind: &str, ensora_id: &str) -> Reply {
    call(
        request_method("DELETE"),
        &format!(
            "/v1/groups/{}/integrations/ensora/{kind}/{ensora_id}/mapping",
            p.ensora.group
        ),
    )
    .token(&admin(&p.ensora.group))
    .send()
    .await
}

#[tokio::test]
async fn a_person_maps_what_the_rules_could_not_once_every_site_is_and_deletes_only_what_nothing_needs() {
    let p = practice().await;
    p.ensora.connect().await;
    p.ensora.polled(1).await;

    let gated = set_mapping(&p, "students", &p.students[2], &p.cara).await;
    assert_status(&gated, 409);
    assert!(gated.text.contains("2 Ensora site(s)"), "{}", gated.text);
    assert_status(&set_mapping(&p, "sites", &p.sites[1], &p.twin).await, 200);
    let unknown = set_mapping(&p, "sites", &p.sites[2], "agy_0192a0b0c0d0e0f00112233445566778").await;
    assert_status(&unknown, 422);
    assert_eq!(unknown.field_errors(), [("target_id".into(), "not_found".into())]);
    assert_status(&set_mapping(&p, "sites", &p.sites[2], &p.north).await, 200);

    let cara = set_mapping(&p, "students", &p.students[2], &p.cara).await;
    assert_status(&cara, 200);
    assert_eq!(
        (
            cara.body["mapping"]["source"].as_str(),
            cara.body["mapping"]["target_id"].as_str()
        ),
        (Some("User"), Some(p.cara.as_str()))
    );
    let auto = delete_mapping(&p, "sites", &p.sites[0]).await;
    assert_status(&auto, 409);
    assert!(auto.text.contains("only a User mapping"), "{}", auto.text);

    // A session of Cara's, mapped by hand, depends on her mapping.
    let written = p
        .ensora
        .ensora_add(
            "notes",
            note(
                &p.students[2],
                &p.users[0],
                "2026-11-05",
                "09:00",
                "10:00",
                answers("Read aloud.", Some("T. Ng")),
            ),
        )
        .await;
    let session = id(&written, "soapNoteId");
    p.ensora.poll().await;
    assert_status(&set_mapping(&p, "sessions", &session, &p.ana_tuesday).await, 200);
    let needed = delete_mapping(&p, "students", &p.students[2]).await;
    assert_status(&needed, 409);
    assert!(needed.text.contains("1 session mapping(s)"), "{}", needed.text);
    assert_status(&delete_mapping(&p, "sessions", &session).await, 200);
    let freed = delete_mapping(&p, "students", &p.students[2]).await;
    assert_status(&freed, 200);
    assert_eq!(freed.body["mapping"]["status"], "unmapped");

    // Dan is in Twin Oaks now: the next poll maps him within the site's agency, which then
    // cannot lose its mapping.
    p.ensora
        .create(
            "patients",
            json!({"first_name": "Dan", "last_name": "Wu", "date_of_birth": "2013-03-03", "agency_id": p.twin}),
        )
        .await;
    p.ensora.poll().await;
    let students = p.ensora.mapped("students").await;
    assert_eq!(
        students[&p.students[3]]["mapping"]["agency_id"].as_str(),
        Some(p.twin.as_str())
    );
    let site_needed = delete_mapping(&p, "sites", &p.sites[1]).await;
    assert_status(&site_needed, 409);
    assert!(
        site_needed.text.contains("1 student, user or session mapping(s)"),
        "{}",
        site_needed.text
    );
    let editor_only = get(&format!("/v1/groups/{}/integrations/ensora/sites", p.ensora.group))
        .token(&token(&[&p.ensora.group], &[INTEGRATION_ADMIN]))
        .send()
        .await;
    assert_status(&editor_only, 403);
}

#[tokio::test]
async fn a_group_admin_makes_carebridge_records_from_ensora_ones_and_others_are_told_the_role() {
    let p = practice().await;
    p.ensora.connect().await;
    p.ensora.polled(1).await;
    let create = |kind: &str, ensora_id: &str, caller: String| {
        let path = format!(
            "/v1/groups/{}/integrations/ensora/{kind}/{ensora_id}/create",
            p.ensora.group
        );
        async move { post(&path).token(&caller).send().await }
    };
    let editor = token(&[&p.ensora.group], &["mapping_editor"]);
    let refused = create("sites", &p.sites[2], editor).await;
    assert_status(&refused, 403);
    assert!(refused.text.contains("group_admin"), "{}", refused.text);
    let no_zone = create("sites", &p.sites[1], admin(&p.ensora.group)).await;
    assert_status(&no_zone, 422);
    assert_eq!(no_zone.field_errors(), [("time_zone".into(), "required".into())]);
    assert_status(&set_mapping(&p, "sites", &p.sites[1], &p.twin).await, 200);
    assert_status(&set_mapping(&p, "sites", &p.sites[2], &p.north).await, 200);

    let eve = create("students", &p.students[4], admin(&p.ensora.group)).await;
    assert_status(&eve, 201);
    assert_eq!(eve.body["mapping"]["source"], "User");
    let patient = p
        .ensora
        .read("patients", eve.body["mapping"]["target_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (
            patient["first_name"].as_str(),
            patient["date_of_birth"].as_str(),
            patient["agency_id"].as_str()
        ),
        (Some("Eve"), Some("2012-02-02"), Some(p.north.as_str()))
    );
    let uma = create("users", &p.users[1], admin(&p.ensora.group)).await;
    assert_status(&uma, 201);
    let again = create("users", &p.users[1], admin(&p.ensora.group)).await;
    assert_status(&again, 409);
    let session = create("sessions", &p.late, admin(&p.ensora.group)).await;
    assert_status(&session, 409);
}
