//! The built `google-poller` (SPEC section 10) driven through the Lambda
//! Runtime API with scheduled events, over moto_server, the Google fake
//! and the kvCORE fake: every person of a listing goes through the
//! webhook's own path, and what the listing state machine promises holds
//! across runs.

use std::time::Duration;

use google_fake::{FakeConfig, FakeGoogle};
use kvsync_devstack::{LambdaProcess, SpawnOptions};
use kvsync_e2e::{World, json};
use serde_json::Value;

/// A stack, the Google fake, and one warm poller process.
struct Polled {
    world: World,
    google: FakeGoogle,
    poller: LambdaProcess,
}

impl Polled {
    async fn start() -> Polled {
        let world = World::start().await;
        let google = FakeGoogle::start(FakeConfig::default()).await.unwrap();
        let poller = world
            .stack
            .spawn_google_poller(&google)
            .await
            .expect("the google-poller binary starts (GOOGLE_POLLER_BIN)");
        Polled {
            world,
            google,
            poller,
        }
    }

    /// A polled workflow with this `initial_sync` and overrides.
    async fn workflow(&self, id: &str, initial_sync: &str, overrides: Value) -> String {
        let mut item = json!({"initial_sync": {"S": initial_sync}, "default_agent_id": {"N": "7"}});
        if let (Some(fields), Value::Object(more)) = (item.as_object_mut(), overrides) {
            fields.extend(more);
        }
        let (_, oauth_secret) = self
            .world
            .stack
            .seed_google_workflow(id, &self.google, item)
            .await
            .expect("workflow seeded");
        oauth_secret
    }

    /// One scheduled run of the warm poller; the summary of `workflow_id`.
    async fn run(&self, workflow_id: &str) -> Value {
        run_on(&self.world, &self.poller, workflow_id).await
    }

    async fn sync_state(&self, workflow_id: &str) -> Value {
        let items = self.world.stack.scan("GOOGLE_SYNC_TABLE").await.unwrap();
        items
            .into_iter()
            .find(|item| item["workflow_id"]["S"] == workflow_id)
            .unwrap_or(Value::Null)
    }
}

async fn run_on(world: &World, poller: &LambdaProcess, workflow_id: &str) -> Value {
    let summary = world
        .stack
        .run_scheduled(poller)
        .await
        .expect("the poller answers");
    summary["workflows"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["workflow_id"] == workflow_id))
        .cloned()
        .unwrap_or_else(|| panic!("{workflow_id} in the summary: {summary}"))
}

fn person(given: &str, family: &str, email: &str) -> Value {
    json!({
        "names": [{"givenName": given, "familyName": family}],
        "emailAddresses": [{"value": email, "metadata": {"primary": true}}],
    })
}

fn counts(summary: &Value) -> [u64; 6] {
    [
        "listed",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "failed",
    ]
    .map(|k| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {summary}"))
    })
}

#[tokio::test]
async fn initial_sync_all_syncs_every_existing_contact_then_only_changes() {
    let p = Polled::start().await;
    p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.google.add_person(person("Bob", "Ray", "bob@example.com"));
    // A phone and no email: matched through the phone index (SPEC 9).
    p.google.add_person(json!({
        "names": [{"givenName": "Cy"}],
        "phoneNumbers": [{"value": "+1 239-555-0142", "type": "mobile"}],
    }));
    p.workflow("g", "all", json!({})).await;
    p.world.index_phones().await;

    let first = p.run("g").await;
    assert_eq!(counts(&first), [3, 3, 0, 0, 0, 0], "{first}");
    assert_eq!(first["full_listing"], true);
    assert_eq!(first["finished"], true);
    assert_eq!(p.world.kvcore().contacts().len(), 3);
    assert_eq!(p.world.contacts_with_email("ann@example.com"), 1);
    let listing = p.google.requests();
    let page = listing.iter().find(|r| r.is_connections()).unwrap();
    assert_eq!(
        page.param("personFields"),
        Some("names,emailAddresses,phoneNumbers,addresses,birthdays,metadata,memberships")
    );
    assert_eq!(page.param("pageSize"), Some("1000"));
    assert_eq!(page.param("requestSyncToken"), Some("true"));
    assert_eq!(page.param("syncToken"), None);
    let state = p.sync_state("g").await;
    assert!(state["sync_token"]["S"].is_string(), "{state}");
    assert!(
        state.get("lease_owner").is_none(),
        "the lease is let go: {state}"
    );

    // Nothing changed: one incremental request, no kvCORE request at all.
    p.world.kvcore().clear_requests();
    p.google.clear_requests();
    let second = p.run("g").await;
    assert_eq!(counts(&second), [0, 0, 0, 0, 0, 0], "{second}");
    assert_eq!(second["full_listing"], false);
    assert!(p.world.kvcore().requests().is_empty());
    let incremental = p.google.requests();
    assert_eq!(
        incremental.len(),
        1,
        "the access token was reused: {incremental:?}"
    );
    assert!(incremental[0].param("syncToken").is_some());

    // The ledger holds each person as an event `resourceName#etag` (the
    // table also holds the month's usage counters).
    let events = p.world.stack.scan("EVENTS_TABLE").await.unwrap();
    let persons: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_id"]["S"].as_str())
        .filter(|id| id.starts_with("people/c"))
        .collect();
    assert_eq!(persons.len(), 3, "{events:?}");
    assert!(persons.iter().all(|id| id.contains('#')), "{persons:?}");
}

#[tokio::test]
async fn initial_sync_changes_records_the_token_and_syncs_only_later_changes() {
    let p = Polled::start().await;
    let ann = p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.google.add_person(person("Bob", "Ray", "bob@example.com"));
    p.workflow("g", "changes", json!({})).await;

    let first = p.run("g").await;
    assert_eq!(counts(&first), [2, 0, 0, 0, 2, 0], "{first}");
    assert_eq!(first["finished"], true);
    assert!(p.world.kvcore_writes().is_empty());
    assert!(p.world.kvcore().requests().is_empty(), "not even a lookup");

    p.google
        .update_person(&ann, person("Ann", "Lee-Park", "ann@example.com"));
    p.google.add_person(person("Dee", "Fox", "dee@example.com"));
    let second = p.run("g").await;
    assert_eq!(counts(&second), [2, 2, 0, 0, 0, 0], "{second}");
    assert_eq!(p.world.contacts_with_email("ann@example.com"), 1);
    assert_eq!(p.world.contacts_with_email("dee@example.com"), 1);
    assert_eq!(
        p.world.contacts_with_email("bob@example.com"),
        0,
        "never changed"
    );
}

#[tokio::test]
async fn an_edit_in_google_is_synced_on_the_next_run() {
    let p = Polled::start().await;
    let ann = p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.google.add_person(person("Bob", "Ray", "bob@example.com"));
    p.workflow("g", "all", json!({})).await;
    p.run("g").await;

    let mut edited = person("Ann", "Lee", "ann@example.com");
    edited["addresses"] = json!([{"streetAddress": "1 Main St", "city": "Naples", "region": "FL", "postalCode": "34102"}]);
    p.google.update_person(&ann, edited);
    p.world.kvcore().clear_requests();
    let next = p.run("g").await;
    assert_eq!(counts(&next), [1, 0, 1, 0, 0, 0], "{next}");
    let contact = p
        .world
        .kvcore()
        .contacts()
        .into_iter()
        .find(|c| c["email"] == "ann@example.com")
        .unwrap();
    assert_eq!(contact["primary_city"], "Naples");
    let writes = p.world.kvcore_writes();
    assert_eq!(writes.len(), 1, "one update, Bob untouched: {writes:?}");
    assert!(writes[0].is_update());
}

#[tokio::test]
async fn relisting_after_an_expired_token_sends_no_kvcore_write_for_unchanged_persons() {
    let p = Polled::start().await;
    let names: Vec<String> = (0..4)
        .map(|i| {
            p.google.add_person(person(
                &format!("P{i}"),
                "Lee",
                &format!("p{i}@example.com"),
            ))
        })
        .collect();
    p.workflow("g", "all", json!({})).await;
    assert_eq!(p.run("g").await["created"], 4);

    p.google.expire_sync_tokens();
    p.google
        .update_person(&names[2], person("P2", "Changed", "p2@example.com"));
    p.world.kvcore().clear_requests();
    p.google.clear_requests();
    let relisted = p.run("g").await;
    assert_eq!(relisted["full_listing"], true, "{relisted}");
    assert_eq!(relisted["finished"], true);
    assert_eq!(counts(&relisted), [4, 0, 1, 3, 0, 0], "{relisted}");
    let writes = p.world.kvcore_writes();
    assert_eq!(
        writes.len(),
        1,
        "only the changed person is written: {writes:?}"
    );
    let google = p.google.requests();
    assert_eq!(google[0].status, 400, "the expired token: {google:?}");
    assert!(google[0].param("syncToken").is_some());
    assert!(
        google[1].param("syncToken").is_none(),
        "then a full listing"
    );

    // And the new token works again.
    let after = p.run("g").await;
    assert_eq!(after["full_listing"], false, "{after}");
}

/// The `personFields` this release asks Google for (SPEC section 10; and
/// `memberships` for `source.labels`, section 12), written out so that a
/// change of them is a change of this test too.
const PERSON_FIELDS: &str =
    "names,emailAddresses,phoneNumbers,addresses,birthdays,metadata,memberships";

impl Polled {
    /// Stores `token` as the workflow's sync token, made under
    /// `fields` (`None`: as a release that did not keep them stored it).
    async fn store_token(&self, workflow_id: &str, token: &str, fields: Option<&str>) {
        use aws_sdk_dynamodb::types::AttributeValue;
        let update = self
            .world
            .stack
            .dynamodb()
            .update_item()
            .table_name(self.world.stack.table("GOOGLE_SYNC_TABLE"))
            .key("workflow_id", AttributeValue::S(workflow_id.into()))
            .expression_attribute_values(":t", AttributeValue::S(token.into()));
        let update = match fields {
            Some(fields) => update
                .update_expression("SET sync_token = :t, sync_token_person_fields = :f")
                .expression_attribute_values(":f", AttributeValue::S(fields.into())),
            None => update.update_expression("SET sync_token = :t REMOVE sync_token_person_fields"),
        };
        update.send().await.expect("the sync token is stored");
    }

    /// The `connections.list` requests since the last clear.
    fn listings(&self) -> Vec<google_fake::RecordedRequest> {
        self.google
            .requests()
            .into_iter()
            .filter(|r| r.is_connections())
            .collect()
    }
}

/// SPEC section 10: Google binds a sync token to the request that made it
/// ("all other request parameters must match the first call",
/// people.connections.list). A release that changed `personFields` left a
/// token Google refuses with 400 INVALID_ARGUMENT and no
/// EXPIRED_SYNC_TOKEN: the poller lists everyone once and carries on with
/// a token of its own, instead of failing every run until the token ages
/// out. A token stored with other fields is not even sent.
#[tokio::test]
async fn a_sync_token_made_under_other_person_fields_starts_one_full_listing() {
    let p = Polled::start().await;
    p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.workflow("g", "all", json!({})).await;
    assert_eq!(p.run("g").await["created"], 1);
    let state = p.sync_state("g").await;
    assert_eq!(
        state["sync_token_person_fields"]["S"], PERSON_FIELDS,
        "the fields are kept with the token: {state}"
    );

    // An older release's token, made under other fields, kept without them.
    let old_fields = [
        ("personFields", "names,emailAddresses,phoneNumbers,metadata"),
        ("pageSize", "1000"),
        ("requestSyncToken", "true"),
    ];
    let old = p.google.issue_sync_token(&old_fields);
    p.store_token("g", &old, None).await;
    p.google.add_person(person("Bo", "Ng", "bo@example.com"));
    p.google.clear_requests();
    let recovered = p.run("g").await;
    assert_eq!(recovered["finished"], true, "{recovered}");
    assert_eq!(recovered["full_listing"], true);
    assert!(recovered["error"].is_null(), "{recovered}");
    assert_eq!(
        recovered["created"], 1,
        "the new contact is synced: {recovered}"
    );
    let listings = p.listings();
    assert_eq!(listings[0].param("syncToken"), Some(old.as_str()));
    assert_eq!(listings[0].status, 400, "Google refuses the token");
    assert_eq!(
        listings[1].param("syncToken"),
        None,
        "then one full listing"
    );
    assert_eq!(listings[1].status, 200);
    assert_eq!(p.world.contacts_with_email("bo@example.com"), 1);
    let state = p.sync_state("g").await;
    assert_ne!(state["sync_token"]["S"], old.as_str(), "a token of its own");
    assert_eq!(state["sync_token_person_fields"]["S"], PERSON_FIELDS);
    p.google.clear_requests();
    assert_eq!(
        p.run("g").await["full_listing"],
        false,
        "and incremental again"
    );

    // Kept with the other fields: dropped without being sent.
    let old = p.google.issue_sync_token(&old_fields);
    p.store_token("g", &old, Some(old_fields[0].1)).await;
    p.google.clear_requests();
    let dropped = p.run("g").await;
    assert_eq!(dropped["full_listing"], true, "{dropped}");
    assert_eq!(dropped["finished"], true);
    assert!(
        p.listings().iter().all(|r| r.param("syncToken").is_none()),
        "the mismatched token is never sent: {:?}",
        p.listings()
    );
}

/// A second refusal (the full listing refused too) fails the run and says
/// so in the workflow's last run (`kvsync google status`).
#[tokio::test]
async fn a_second_refusal_fails_the_run_and_is_reported() {
    let p = Polled::start().await;
    p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.workflow("g", "all", json!({})).await;
    p.run("g").await;
    let old = p.google.issue_sync_token(&[("personFields", "names")]);
    p.store_token("g", &old, None).await;
    p.google.clear_requests();
    // Google refuses the token, then the full listing as well.
    p.google.push_fault(google_fake::Fault::Status(400));
    p.google.push_fault(google_fake::Fault::Status(400));
    let failed = p.run("g").await;
    assert_eq!(failed["finished"], false, "{failed}");
    assert!(
        failed["error"].as_str().is_some_and(|e| e.contains("400")),
        "{failed}"
    );
    let state = p.sync_state("g").await;
    assert!(
        state["last_run"]["S"].as_str().unwrap().contains("refused"),
        "reported on the workflow: {state}"
    );
    assert_eq!(
        p.listings().len(),
        2,
        "one refused token, one refused full listing"
    );
}

#[tokio::test]
async fn a_deleted_person_is_skipped() {
    let p = Polled::start().await;
    let ann = p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.google.add_person(person("Bob", "Ray", "bob@example.com"));
    p.workflow("g", "all", json!({})).await;
    p.run("g").await;

    p.google.delete_person(&ann);
    p.world.kvcore().clear_requests();
    let next = p.run("g").await;
    assert_eq!(counts(&next), [1, 0, 0, 0, 1, 0], "{next}");
    assert!(p.world.kvcore().requests().is_empty());
    assert_eq!(
        p.world.contacts_with_email("ann@example.com"),
        1,
        "kvCORE keeps the contact"
    );
}

#[tokio::test]
async fn invalid_grant_marks_only_that_workflow_until_it_is_reconnected() {
    let p = Polled::start().await;
    p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    let broken_secret = p.workflow("g1", "all", json!({})).await;
    p.workflow("g2", "all", json!({})).await;
    let broken: Value =
        serde_json::from_str(&p.world.stack.secret_value(&broken_secret).await.unwrap()).unwrap();
    p.google
        .revoke_refresh_token(broken["refresh_token"].as_str().unwrap());

    let summary = p.world.stack.run_scheduled(&p.poller).await.unwrap();
    let by_id = |id: &str| {
        summary["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["workflow_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("g1")["reconnect_needed"], true, "{summary}");
    assert_eq!(
        by_id("g2")["created"],
        1,
        "the other workflow goes on: {summary}"
    );
    assert!(by_id("g2").get("reconnect_needed").is_none());
    let state = p.sync_state("g1").await;
    assert!(state["reconnect_needed"]["S"].is_string(), "{state}");
    assert!(p.sync_state("g2").await.get("reconnect_needed").is_none());
    let logs = p.poller.logs().join("\n");
    assert!(logs.contains("google reconnect needed"), "logged");
    assert!(logs.contains("\"ReconnectNeeded\":1"), "metered (EMF)");
    assert!(
        !logs.contains(broken["refresh_token"].as_str().unwrap()),
        "never the token"
    );

    // Not polled until its secret changes: no token request for g1.
    p.google.clear_requests();
    let again = run_on(&p.world, &p.poller, "g1").await;
    assert_eq!(again["reconnect_needed"], true);
    assert_eq!(
        p.google.count_requests(|r| r.is_token()),
        0,
        "{:?}",
        p.google.requests()
    );

    // `kvsync google connect` stores a new refresh token: a new container
    // (secrets are cached 5 minutes in a warm one) polls it again.
    p.world
        .stack
        .put_secret(&broken_secret, &p.google.oauth_secret().to_string())
        .await
        .unwrap();
    let fresh = p.world.stack.spawn_google_poller(&p.google).await.unwrap();
    let reconnected = run_on(&p.world, &fresh, "g1").await;
    assert!(
        reconnected.get("reconnect_needed").is_none(),
        "{reconnected}"
    );
    assert_eq!(reconnected["finished"], true);
    assert!(p.sync_state("g1").await.get("reconnect_needed").is_none());
}

#[tokio::test]
async fn a_run_cut_by_its_deadline_resumes_with_nothing_lost_or_doubled() {
    let p = Polled::start().await;
    let persons: Vec<Value> = (0..12)
        .map(|i| person(&format!("P{i}"), "Lee", &format!("p{i}@example.com")))
        .collect();
    p.google.add_persons(persons);
    // Two kvCORE requests a new person, at 4 a second: ~2 persons a second.
    p.workflow("g", "all", json!({"kvcore_max_rps": {"N": "4"}}))
        .await;
    let short = SpawnOptions {
        timeout: Duration::from_secs(8),
        ..p.world.stack.google_poller_spawn_options().unwrap()
    };
    let poller = p
        .world
        .stack
        .spawn_google_poller_with(&p.google, &[], short)
        .await
        .unwrap();

    let mut created = 0;
    let mut runs = Vec::new();
    for _ in 0..10 {
        let summary = run_on(&p.world, &poller, "g").await;
        created += summary["created"].as_u64().unwrap();
        runs.push(summary.clone());
        if summary["finished"] == true {
            break;
        }
    }
    assert!(runs.len() >= 2, "the first run was cut: {runs:?}");
    assert_eq!(runs[0]["finished"], false, "{runs:?}");
    assert!(runs[0]["created"].as_u64().unwrap() > 0, "{runs:?}");
    assert_eq!(runs.last().unwrap()["finished"], true, "{runs:?}");
    assert_eq!(
        created, 12,
        "each person created once over the runs: {runs:?}"
    );
    assert_eq!(p.world.kvcore().contacts().len(), 12);
    for i in 0..12 {
        assert_eq!(p.world.contacts_with_email(&format!("p{i}@example.com")), 1);
    }
    // The runs after the first answered the persons already done from
    // their records: kvCORE saw exactly one create each.
    assert_eq!(
        p.world
            .kvcore()
            .count_requests(kvcore_fake::RecordedRequest::is_create),
        12
    );
}

#[tokio::test]
async fn two_runs_at_once_one_holds_the_workflow_the_other_skips_it() {
    let p = Polled::start().await;
    let persons: Vec<Value> = (0..6)
        .map(|i| person(&format!("P{i}"), "Lee", &format!("p{i}@example.com")))
        .collect();
    p.google.add_persons(persons);
    p.workflow("g", "all", json!({"kvcore_max_rps": {"N": "4"}}))
        .await;
    let other = p.world.stack.spawn_google_poller(&p.google).await.unwrap();
    let (a, b) = tokio::join!(run_on(&p.world, &p.poller, "g"), async {
        // Let the first take the lease.
        tokio::time::sleep(Duration::from_millis(300)).await;
        run_on(&p.world, &other, "g").await
    });
    let (worked, skipped) = if a["busy"] == true { (b, a) } else { (a, b) };
    assert_eq!(skipped["busy"], true, "{skipped} / {worked}");
    assert_eq!(skipped["listed"], 0);
    assert_eq!(worked["created"], 6, "{worked}");
    assert_eq!(p.world.kvcore().contacts().len(), 6);
    assert!(p.sync_state("g").await.get("lease_owner").is_none());
}

#[tokio::test]
async fn google_status_shows_the_last_run_and_reconnect_needed() {
    let p = Polled::start().await;
    p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    p.workflow("g", "all", json!({})).await;
    p.run("g").await;
    let env = p.world.stack.google_poller_env(&p.google).unwrap();
    let (ok, out, err) = kvsync_with(&p, &env, &["google", "status", "g"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("created 1"), "{out}");
    assert!(out.contains("sync token"), "{out}");
    assert!(out.contains("reconnect_needed: no"), "{out}");
}

#[tokio::test]
async fn google_connect_stores_a_refresh_token_the_poller_then_uses() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let p = Polled::start().await;
    p.google.add_person(person("Ann", "Lee", "ann@example.com"));
    // A `google` workflow whose secret does not exist yet.
    let secret = p.world.stack.secret_name("kvsync/g/google-oauth");
    p.world
        .workflow(
            "g",
            json!({"source": {"S": "google"}, "google_oauth_secret": {"S": secret}, "initial_sync": {"S": "all"}}),
        )
        .await;
    let file = std::env::temp_dir().join(format!("{}client_secret.json", p.world.stack.prefix()));
    std::fs::write(&file, p.google.client_secret_file().to_string()).unwrap();

    let mut cli = tokio::process::Command::new(kvsync_bin())
        .args(["google", "connect", "g", "--client-secret"])
        .arg(&file)
        .env_clear()
        .envs(p.world.stack.google_poller_env(&p.google).unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kvsync runs (cargo build -p kvsync-cli)");
    let mut stderr = BufReader::new(cli.stderr.take().unwrap()).lines();
    let mut shown = String::new();
    let consent_url = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), stderr.next_line())
            .await
            .expect("the consent URL is printed")
            .unwrap()
            .unwrap_or_else(|| panic!("kvsync exited: {shown}"));
        shown.push_str(&line);
        shown.push('\n');
        if line.starts_with("http") {
            break line;
        }
    };
    assert!(
        consent_url.starts_with(&p.google.auth_url()),
        "{consent_url}"
    );
    for part in [
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
        "code_challenge_method=S256",
        "access_type=offline",
        "response_type=code",
        "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcontacts.readonly",
    ] {
        assert!(consent_url.contains(part), "{part} in {consent_url}");
    }

    // The browser: the consent page redirects to the loopback with a code.
    let page = reqwest::get(&consent_url).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("connected"));
    let rest = tokio::time::timeout(Duration::from_secs(20), cli.wait_with_output())
        .await
        .expect("kvsync ends")
        .unwrap();
    while let Ok(Some(line)) = stderr.next_line().await {
        shown.push_str(&line);
    }
    let out = String::from_utf8_lossy(&rest.stdout).into_owned();
    assert!(rest.status.success(), "{out}\n{shown}");
    assert!(out.contains("connected"), "{out}");

    let stored: Value =
        serde_json::from_str(&p.world.stack.secret_value(&secret).await.unwrap()).unwrap();
    let refresh = stored["refresh_token"].as_str().unwrap();
    assert!(refresh.starts_with("1//"), "{stored}");
    assert_eq!(stored["client_id"], p.google.config().client_id);
    assert!(
        !out.contains(refresh) && !shown.contains(refresh),
        "never printed"
    );
    let exchange = p
        .google
        .requests()
        .into_iter()
        .find(|r| r.is_token())
        .unwrap();
    assert_eq!(exchange.param("grant_type"), Some("authorization_code"));

    let polled = p.run("g").await;
    assert_eq!(polled["created"], 1, "{polled}");
    assert_eq!(polled["finished"], true);
    let _ = std::fs::remove_file(file);
}

fn kvsync_bin() -> String {
    std::env::var("KVSYNC_BIN").unwrap_or_else(|_| {
        kvsync_devstack::template::workspace_root()
            .join("target/debug/kvsync")
            .display()
            .to_string()
    })
}

/// The `kvsync` CLI with this environment (the poller's: it names the
/// Google sync table).
async fn kvsync_with(
    p: &Polled,
    env: &[(String, String)],
    args: &[&str],
) -> (bool, String, String) {
    let binary = kvsync_bin();
    let _ = &p.world;
    let output = tokio::process::Command::new(&binary)
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {binary}: {e} (cargo build -p kvsync-cli)"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// SPEC section 12: `source.labels` is the names of the person's contact
/// groups, read through `contactGroups.list`; a person outside the label
/// is skipped `filtered_out` with no kvCORE request, one inside is synced.
#[tokio::test]
async fn only_google_contacts_labelled_clients_are_synced() {
    let p = Polled::start().await;
    let clients = p.google.add_contact_group("Clients");
    let family = p.google.add_contact_group("Family");
    let member =
        |group: &str| json!({"contactGroupMembership": {"contactGroupResourceName": group}});
    let mut ann = person("Ann", "Lee", "ann@example.com");
    ann["memberships"] = json!([member("contactGroups/myContacts"), member(&clients)]);
    let mut bob = person("Bob", "Ray", "bob@example.com");
    bob["memberships"] = json!([member("contactGroups/myContacts"), member(&family)]);
    p.google.add_persons(vec![ann, bob]);
    p.workflow(
        "labelled",
        "all",
        json!({"filters": {"L": [{"M": {
            "field": {"S": "source.labels"}, "op": {"S": "contains"}, "value": {"S": "clients"}
        }}]}}),
    )
    .await;
    let summary = p.run("labelled").await;
    assert_eq!(counts(&summary), [2, 1, 0, 0, 1, 0], "{summary}");
    assert_eq!(p.world.contacts_with_email("ann@example.com"), 1);
    assert_eq!(p.world.contacts_with_email("bob@example.com"), 0);
    let searched = p.world.kvcore().requests();
    assert!(
        !searched
            .iter()
            .any(|r| r.query_param("filter[email]") == Some("bob@example.com")),
        "Bob is filtered before any kvCORE request"
    );
    let groups = p.google.count_requests(|r| r.endpoint == "contactGroups");
    assert_eq!(groups, 1, "the names are read once per run");
}
