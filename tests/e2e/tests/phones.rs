//! Phone numbers as libphonenumber reads them (SPEC section 6, "Phone
//! numbers"; issue #10), through the built `webhook` binary over moto_server
//! and the kvCORE fake: a number that is not valid is never matched on or
//! written, and one written with a country code matches its E.164 form.

use kvsync_e2e::{World, event, json, kvsync_cli};
use serde_json::Value;

/// Builds the workflow's phone index (SPEC section 9) with `kvsync index
/// build`, as an operator would before the first phone lookup; until then a
/// phone lookup answers 503 `phone_index_building`.
async fn build_phone_index(world: &World, workflow_id: &str) {
    let (ok, out, err) = kvsync_cli(&world.stack, &["index", "build", workflow_id]).await;
    assert!(ok, "kvsync index build {workflow_id}: {out}{err}");
}

/// A Google People API person with these names, emails and phones.
fn google_person(resource: &str, name: &str, emails: &[&str], phones: &[&str]) -> Value {
    json!({
        "resourceName": resource,
        "etag": "%EgUBAgMuNz0=",
        "names": [{"metadata": {"primary": true}, "givenName": name}],
        "emailAddresses": emails.iter().map(|e| json!({"value": e})).collect::<Vec<_>>(),
        "phoneNumbers": phones.iter().map(|p| json!({"value": p, "type": "home"})).collect::<Vec<_>>(),
    })
}

/// Issue #10: `555-0102` (no area code) was written `+15550102`, and a
/// second person with only that number was matched to the first one's
/// contact and overwrote its email. Now it is not a phone at all.
#[tokio::test]
async fn a_number_without_its_area_code_never_merges_two_people() {
    let world = World::start().await;
    world
        .workflow(
            "google",
            json!({"source": {"S": "google"}, "auth": {"S": "token"}}),
        )
        .await;

    let first = world
        .send(
            "google",
            &google_person("people/c1", "Ada", &["ada@example.com"], &["555-0102"]),
        )
        .await;
    let first = first.result();
    assert_eq!(first["outcome"], "created", "{first}");
    let problem = first["problems"][0].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("phoneNumbers[0].value is not a valid +1 number"),
        "{first}"
    );
    assert!(!problem.contains("0102"), "no phone in results: {problem}");
    let contacts = world.kvcore().contacts();
    assert_eq!(contacts.len(), 1);
    let ada = contacts[0]["id"].as_u64().expect("id");
    for field in ["cell_phone_1", "home_phone", "work_phone"] {
        let phone = contacts[0][field].as_str().unwrap_or_default();
        assert!(phone.is_empty(), "{field} written: {phone}");
    }

    let writes_before = world.kvcore_writes().len();
    let second = world
        .send(
            "google",
            &google_person("people/c2", "Bea", &[], &["555-0102"]),
        )
        .await;
    let second = second.result();
    assert_eq!(second["outcome"], "skipped", "{second}");
    assert_eq!(second["reason"], "no_email_or_phone");
    assert_eq!(second["contact_id"], Value::Null);
    assert!(
        second["problems"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("phoneNumbers[0].value is not a valid +1 number"),
        "{second}"
    );
    assert_eq!(
        world.kvcore_writes().len(),
        writes_before,
        "nothing written"
    );
    let contact = world.kvcore().contact(ada).expect("Ada's contact");
    assert_eq!(contact["email"], "ada@example.com");
    assert_eq!(contact["first_name"], "Ada");
    assert_eq!(world.kvcore().contacts().len(), 1);
}

/// Issue #10: `+44 (0) 20 7946 0018` was written `+4402079460018`, did
/// not match kvCORE's `+442079460018`, and a duplicate was created. Read in
/// a US workflow (the country code wins over `default_country`).
///
/// Asserts: the event (no email, one work phone) is matched by phone to the
/// seeded contact, kvCORE still holds one contact, and nothing is POSTed.
#[tokio::test]
async fn a_uk_number_with_its_trunk_prefix_matches_its_e164_form() {
    let world = World::start().await;
    let id = world.kvcore().insert_contact(json!({
        "first_name": "Oliver", "last_name": "Grant", "work_phone": "+442079460018"
    }));
    world
        .workflow("uk", json!({"default_country": {"S": "US"}}))
        .await;
    build_phone_index(&world, "uk").await;

    let answer = world
        .send(
            "uk",
            &event(json!({
                "first_name": "Oliver",
                "phones": [{"number": "+44 (0) 20 7946 0018", "type": "work"}]
            })),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["matched_by"], "phone", "{result}");
    assert_eq!(result["contact_id"], id);
    assert_eq!(result["outcome"], "unchanged", "{result}");
    assert_eq!(world.kvcore().contacts().len(), 1, "no duplicate");
    assert!(
        !world.kvcore_writes().iter().any(|w| w.method == "POST"),
        "nothing created"
    );
}

/// The other way round (issue #10, "existing kvCORE numbers are read the
/// same way"): kvCORE holds `+44 (0) 20 7946 0018` as a person typed it, the
/// event says `+442079460018`, in a GB workflow.
///
/// Asserts: matched by phone to the seeded contact, one contact, no POST.
#[tokio::test]
async fn a_stored_number_with_its_trunk_prefix_is_read_the_same_way() {
    let world = World::start().await;
    let id = world.kvcore().insert_contact(json!({
        "first_name": "Olive", "cell_phone_1": "+44 (0) 20 7946 0017"
    }));
    world
        .workflow("gb", json!({"default_country": {"S": "GB"}}))
        .await;
    build_phone_index(&world, "gb").await;

    let answer = world
        .send(
            "gb",
            &event(json!({
                "first_name": "Olive",
                "phones": [{"number": "+442079460017", "type": "mobile"}]
            })),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["matched_by"], "phone", "{result}");
    assert_eq!(result["contact_id"], id);
    assert_eq!(world.kvcore().contacts().len(), 1, "no duplicate");
    assert!(
        !world.kvcore_writes().iter().any(|w| w.method == "POST"),
        "nothing created"
    );
}

/// Issue #10: a signed body that starts with a UTF-8 byte-order mark was
/// answered `400 body is not JSON`. The signature is over the bytes as
/// sent, mark included; only the parse skips it.
#[tokio::test]
async fn a_signed_body_behind_a_byte_order_mark_is_accepted() {
    let world = World::start().await;
    world.workflow("bom", json!({})).await;
    let json_bytes = serde_json::to_vec(&event(json!({"email": "bom@example.com"}))).expect("json");
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(&json_bytes);

    // Signed over the JSON without the mark, sent with it: not what was signed.
    let wrong = world.stack.auth_headers("bom", &json_bytes).await.unwrap();
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let answer = world.send_raw("bom", &wrong, "", &body).await;
    assert_eq!(answer.status, 401, "{answer:?}");

    let signed = world.stack.auth_headers("bom", &body).await.unwrap();
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let answer = world.send_raw("bom", &signed, "", &body).await;
    assert_eq!(answer.result()["outcome"], "created", "{answer:?}");
    assert_eq!(world.contacts_with_email("bom@example.com"), 1);
}
