//! The built `microsoft-poller` (SPEC section 15) driven through the
//! Lambda Runtime API with scheduled events, over moto_server, the
//! Microsoft Graph fake and the kvCORE fake: every contact of a delta
//! round goes through the webhook's own path, the delta link is kept
//! across runs, and the grant's rotating refresh token is stored back.

use std::time::Duration;

use kvsync_devstack::{LambdaProcess, SpawnOptions};
use kvsync_e2e::{World, json};
use microsoft_fake::{FakeConfig, FakeMicrosoft, Fault};
use serde_json::Value;

/// A stack, the Microsoft fake, and one warm poller process.
struct Polled {
    world: World,
    microsoft: FakeMicrosoft,
    poller: LambdaProcess,
}

impl Polled {
    async fn start() -> Polled {
        Polled::start_with(FakeConfig::default()).await
    }

    async fn start_with(config: FakeConfig) -> Polled {
        let world = World::start().await;
        let microsoft = FakeMicrosoft::start(config).await.unwrap();
        let poller = world
            .stack
            .spawn_microsoft_poller(&microsoft)
            .await
            .expect("the microsoft-poller binary starts (MICROSOFT_POLLER_BIN)");
        Polled {
            world,
            microsoft,
            poller,
        }
    }

    /// A `microsoft` workflow with this `initial_sync` and overrides;
    /// answers its OAuth secret's name.
    async fn workflow(&self, id: &str, initial_sync: &str, overrides: Value) -> String {
        let mut item = json!({"initial_sync": {"S": initial_sync}, "default_agent_id": {"N": "7"}});
        if let (Some(fields), Value::Object(more)) = (item.as_object_mut(), overrides) {
            fields.extend(more);
        }
        let (_, oauth_secret) = self
            .world
            .stack
            .seed_microsoft_workflow(id, &self.microsoft, item)
            .await
            .expect("workflow seeded");
        oauth_secret
    }

    async fn run(&self, workflow_id: &str) -> Value {
        run_on(&self.world, &self.poller, workflow_id).await
    }

    /// The sync table item `key` (`m`, or `m#contacts` for a folder).
    async fn sync_item(&self, key: &str) -> Value {
        let items = self.world.stack.scan("MICROSOFT_SYNC_TABLE").await.unwrap();
        items
            .into_iter()
            .find(|item| item["workflow_id"]["S"] == key)
            .unwrap_or(Value::Null)
    }

    async fn secret(&self, name: &str) -> Value {
        serde_json::from_str(&self.world.stack.secret_value(name).await.unwrap()).unwrap()
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

fn contact(given: &str, surname: &str, email: &str) -> Value {
    json!({
        "givenName": given,
        "surname": surname,
        "emailAddresses": [{"name": given, "address": email}],
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
async fn initial_sync_all_syncs_every_contact_then_only_what_changes() {
    let p = Polled::start().await;
    p.microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    p.microsoft
        .add_contact(contact("Bob", "Ray", "bob@example.com"));
    // A mobile phone and no email: matched through the phone index (SPEC 9).
    p.microsoft
        .add_contact(json!({"givenName": "Cy", "mobilePhone": "+1 239-555-0142"}));
    p.workflow("m", "all", json!({})).await;
    p.world.index_phones().await;

    let first = p.run("m").await;
    assert_eq!(counts(&first), [3, 3, 0, 0, 0, 0], "{first}");
    assert_eq!(first["full_listing"], true);
    assert_eq!(first["finished"], true);
    assert_eq!(p.world.kvcore().contacts().len(), 3);
    assert_eq!(p.world.contacts_with_email("ann@example.com"), 1);
    let requests = p.microsoft.requests();
    let token = requests.iter().find(|r| r.is_token()).unwrap();
    assert_eq!(token.param("grant_type"), Some("refresh_token"));
    assert_eq!(token.param("scope"), Some("Contacts.Read offline_access"));
    let page = requests.iter().find(|r| r.is_delta()).unwrap();
    assert_eq!(
        page.param("folder"),
        Some("contacts"),
        "the well-known name"
    );
    assert_eq!(page.param("$deltatoken"), None);
    assert_eq!(page.prefer.as_deref(), Some("odata.maxpagesize=200"));
    let folder = p.sync_item("m#contacts").await;
    assert!(
        folder["sync_token"]["S"]
            .as_str()
            .is_some_and(|link| link.contains("$deltatoken=")),
        "the delta link is stored: {folder}"
    );
    assert!(folder.get("lease_owner").is_none(), "{folder}");
    assert!(p.sync_item("m").await.get("lease_owner").is_none());

    // Nothing changed: one delta request from the stored link, the access
    // token reused, no kvCORE request at all.
    p.world.kvcore().clear_requests();
    p.microsoft.clear_requests();
    let second = p.run("m").await;
    assert_eq!(counts(&second), [0, 0, 0, 0, 0, 0], "{second}");
    assert_eq!(second["full_listing"], false);
    assert!(p.world.kvcore().requests().is_empty());
    let incremental = p.microsoft.requests();
    assert_eq!(incremental.len(), 1, "{incremental:?}");
    assert!(incremental[0].param("$deltatoken").is_some());

    // The ledger holds each contact as an event `id#changeKey`.
    let events = p.world.stack.scan("EVENTS_TABLE").await.unwrap();
    let contacts: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_id"]["S"].as_str())
        .filter(|id| id.starts_with("AAMkContact"))
        .collect();
    assert_eq!(contacts.len(), 3, "{events:?}");
    assert!(contacts.iter().all(|id| id.contains("#EQ")), "{contacts:?}");
}

#[tokio::test]
async fn initial_sync_changes_keeps_the_delta_link_and_syncs_only_later_changes() {
    let p = Polled::start().await;
    let ann = p
        .microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    p.microsoft
        .add_contact(contact("Bob", "Ray", "bob@example.com"));
    p.workflow("m", "changes", json!({})).await;

    let first = p.run("m").await;
    assert_eq!(counts(&first), [2, 0, 0, 0, 2, 0], "{first}");
    assert_eq!(first["finished"], true);
    assert!(p.world.kvcore().requests().is_empty(), "not even a lookup");

    p.microsoft
        .update_contact(&ann, contact("Ann", "Lee-Park", "ann@example.com"));
    p.microsoft
        .add_contact(contact("Dee", "Fox", "dee@example.com"));
    let second = p.run("m").await;
    assert_eq!(counts(&second), [2, 2, 0, 0, 0, 0], "{second}");
    assert_eq!(p.world.contacts_with_email("ann@example.com"), 1);
    assert_eq!(p.world.contacts_with_email("dee@example.com"), 1);
    assert_eq!(p.world.contacts_with_email("bob@example.com"), 0);
}

#[tokio::test]
async fn an_edit_is_synced_and_a_removal_is_skipped() {
    let p = Polled::start().await;
    let ann = p
        .microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    let bob = p
        .microsoft
        .add_contact(contact("Bob", "Ray", "bob@example.com"));
    p.workflow("m", "all", json!({})).await;
    assert_eq!(p.run("m").await["created"], 2);

    let mut edited = contact("Ann", "Lee", "ann@example.com");
    edited["homeAddress"] =
        json!({"street": "1 Main St", "city": "Naples", "state": "FL", "postalCode": "34102"});
    edited["categories"] = json!(["Buyer"]);
    p.microsoft.update_contact(&ann, edited);
    p.world.kvcore().clear_requests();
    let next = p.run("m").await;
    assert_eq!(counts(&next), [1, 0, 1, 0, 0, 0], "{next}");
    let written = p
        .world
        .kvcore()
        .contacts()
        .into_iter()
        .find(|c| c["email"] == "ann@example.com")
        .unwrap();
    assert_eq!(written["primary_city"], "Naples");
    let writes = p.world.kvcore_writes();
    assert_eq!(writes.len(), 1, "one update, Bob untouched: {writes:?}");
    assert!(writes[0].is_update());

    p.microsoft.delete_contact(&bob);
    p.world.kvcore().clear_requests();
    let removed = p.run("m").await;
    assert_eq!(counts(&removed), [1, 0, 0, 0, 1, 0], "{removed}");
    assert!(p.world.kvcore().requests().is_empty());
    assert_eq!(
        p.world.contacts_with_email("bob@example.com"),
        1,
        "kvCORE keeps the contact"
    );
}

#[tokio::test]
async fn a_gone_delta_state_relists_the_folder_at_no_kvcore_cost_for_applied_contacts() {
    let p = Polled::start().await;
    let ids: Vec<String> = (0..4)
        .map(|i| {
            p.microsoft.add_contact(contact(
                &format!("P{i}"),
                "Lee",
                &format!("p{i}@example.com"),
            ))
        })
        .collect();
    p.workflow("m", "all", json!({})).await;
    assert_eq!(p.run("m").await["created"], 4);

    p.microsoft.lose_delta_state();
    p.microsoft
        .update_contact(&ids[2], contact("P2", "Changed", "p2@example.com"));
    p.world.kvcore().clear_requests();
    p.microsoft.clear_requests();
    let relisted = p.run("m").await;
    assert_eq!(relisted["full_listing"], true, "{relisted}");
    assert_eq!(relisted["finished"], true);
    assert_eq!(counts(&relisted), [4, 0, 1, 3, 0, 0], "{relisted}");
    let writes = p.world.kvcore_writes();
    assert_eq!(writes.len(), 1, "only the changed one: {writes:?}");
    let graph: Vec<_> = p
        .microsoft
        .requests()
        .into_iter()
        .filter(|r| r.is_delta())
        .collect();
    assert_eq!(graph[0].status, 410, "the gone state: {graph:?}");
    assert!(graph[0].param("$deltatoken").is_some());
    assert_eq!(graph[1].param("$deltatoken"), None, "then a full round");

    let after = p.run("m").await;
    assert_eq!(after["full_listing"], false, "a new delta link: {after}");
}

#[tokio::test]
async fn pages_follow_next_links_and_the_delta_link_is_kept_only_after_the_last() {
    let p = Polled::start().await;
    p.microsoft.add_contacts(
        (0..450)
            .map(|i| contact(&format!("P{i}"), "Lee", &format!("p{i}@example.com")))
            .collect(),
    );
    p.workflow("m", "changes", json!({})).await;
    let first = p.run("m").await;
    assert_eq!(first["listed"], 450, "{first}");
    assert_eq!(first["pages"], 3, "200 a page: {first}");
    let graph: Vec<_> = p
        .microsoft
        .requests()
        .into_iter()
        .filter(|r| r.is_delta())
        .collect();
    assert!(graph[1].param("$skiptoken").is_some(), "{graph:?}");
    assert!(graph[2].param("$skiptoken").is_some(), "{graph:?}");
    let folder = p.sync_item("m#contacts").await;
    assert!(folder.get("cursor_kind").is_none(), "{folder}");
    assert!(folder["sync_token"]["S"].is_string(), "{folder}");
}

#[tokio::test]
async fn throttling_waits_retry_after_and_the_run_goes_on() {
    let p = Polled::start().await;
    p.microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    p.workflow("m", "all", json!({})).await;
    p.microsoft.push_fault(Fault::Throttled {
        status: 429,
        retry_after_s: 1,
    });
    p.microsoft.push_fault(Fault::Throttled {
        status: 503,
        retry_after_s: 1,
    });
    let first = p.run("m").await;
    assert_eq!(first["created"], 1, "{first}");
    assert_eq!(first["finished"], true);
    let statuses: Vec<u16> = p
        .microsoft
        .requests()
        .into_iter()
        .filter(|r| r.is_delta())
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 503, 200]);
}

#[tokio::test]
async fn the_rotated_refresh_token_is_stored_and_the_next_container_uses_it() {
    let p = Polled::start().await;
    p.microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    let secret = p.workflow("m", "all", json!({})).await;
    let seeded = p.secret(&secret).await;
    let first_token = seeded["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(p.run("m").await["created"], 1);

    let stored = p.secret(&secret).await;
    let rotated = stored["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, first_token, "the new refresh token is stored");
    assert_eq!(stored["tenant"], seeded["tenant"]);
    assert_eq!(stored["client_id"], seeded["client_id"]);
    assert!(
        !p.microsoft.refresh_token_is_live(&first_token),
        "the used one is done"
    );
    assert!(p.microsoft.refresh_token_is_live(&rotated));
    let logs = p.poller.logs().join("\n");
    assert!(!logs.contains(&rotated) && !logs.contains(&first_token));

    // A new container (no access token held): it refreshes with the
    // stored token, which works, and stores the next one.
    p.microsoft
        .add_contact(contact("Bob", "Ray", "bob@example.com"));
    p.microsoft.clear_requests();
    let fresh = p
        .world
        .stack
        .spawn_microsoft_poller(&p.microsoft)
        .await
        .unwrap();
    let next = run_on(&p.world, &fresh, "m").await;
    assert_eq!(next["created"], 1, "{next}");
    assert!(next.get("reconnect_needed").is_none(), "{next}");
    let tokens: Vec<u16> = p
        .microsoft
        .requests()
        .into_iter()
        .filter(|r| r.is_token())
        .map(|r| r.status)
        .collect();
    assert_eq!(tokens, [200]);
    let again = p.secret(&secret).await;
    assert_ne!(again["refresh_token"].as_str().unwrap(), rotated);
}

#[tokio::test]
async fn a_revoked_grant_marks_only_that_workflow_until_it_is_reconnected() {
    let p = Polled::start().await;
    p.microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    let broken_secret = p.workflow("m1", "all", json!({})).await;
    p.microsoft.revoke_grants();
    // The other workflow signs in after the revocation.
    p.workflow("m2", "all", json!({})).await;

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
    assert_eq!(by_id("m1")["reconnect_needed"], true, "{summary}");
    assert_eq!(by_id("m2")["created"], 1, "the other goes on: {summary}");
    let state = p.sync_item("m1").await;
    assert!(state["reconnect_needed"]["S"].is_string(), "{state}");
    let logs = p.poller.logs().join("\n");
    assert!(logs.contains("microsoft reconnect needed"), "logged");
    assert!(logs.contains("\"ReconnectNeeded\":1"), "metered (EMF)");
    assert!(logs.contains("\"source\":\"microsoft\""), "per source");

    // Not polled until its secret changes: no token request for m1 (and
    // m2's access token is held by the warm container).
    p.microsoft.clear_requests();
    let again = run_on(&p.world, &p.poller, "m1").await;
    assert_eq!(again["reconnect_needed"], true);
    assert_eq!(
        p.microsoft.count_requests(|r| r.is_token()),
        0,
        "{:?}",
        p.microsoft.requests()
    );

    // `kvsync microsoft connect` stores a new grant: polled again.
    p.world
        .stack
        .put_secret(&broken_secret, &p.microsoft.oauth_secret().to_string())
        .await
        .unwrap();
    let reconnected = run_on(&p.world, &p.poller, "m1").await;
    assert!(
        reconnected.get("reconnect_needed").is_none(),
        "{reconnected}"
    );
    assert_eq!(reconnected["finished"], true);
    assert!(p.sync_item("m1").await.get("reconnect_needed").is_none());
}

#[tokio::test]
async fn a_run_cut_by_its_deadline_resumes_with_nothing_lost_or_doubled() {
    let p = Polled::start().await;
    p.microsoft.add_contacts(
        (0..12)
            .map(|i| contact(&format!("P{i}"), "Lee", &format!("p{i}@example.com")))
            .collect(),
    );
    // Two kvCORE requests a new person, at 4 a second: ~2 persons a second.
    p.workflow("m", "all", json!({"kvcore_max_rps": {"N": "4"}}))
        .await;
    let short = SpawnOptions {
        timeout: Duration::from_secs(8),
        ..p.world.stack.microsoft_poller_spawn_options().unwrap()
    };
    let poller = p
        .world
        .stack
        .spawn_microsoft_poller_with(&p.microsoft, &[], short)
        .await
        .unwrap();

    let mut created = 0;
    let mut runs = Vec::new();
    for _ in 0..10 {
        let summary = run_on(&p.world, &poller, "m").await;
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
    assert_eq!(created, 12, "each created once over the runs: {runs:?}");
    for i in 0..12 {
        assert_eq!(p.world.contacts_with_email(&format!("p{i}@example.com")), 1);
    }
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
    p.microsoft.add_contacts(
        (0..6)
            .map(|i| contact(&format!("P{i}"), "Lee", &format!("p{i}@example.com")))
            .collect(),
    );
    p.workflow("m", "all", json!({"kvcore_max_rps": {"N": "4"}}))
        .await;
    let other = p
        .world
        .stack
        .spawn_microsoft_poller(&p.microsoft)
        .await
        .unwrap();
    let (a, b) = tokio::join!(run_on(&p.world, &p.poller, "m"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        run_on(&p.world, &other, "m").await
    });
    let (worked, skipped) = if a["busy"] == true { (b, a) } else { (a, b) };
    assert_eq!(skipped["busy"], true, "{skipped} / {worked}");
    assert_eq!(skipped["listed"], 0);
    assert_eq!(worked["created"], 6, "{worked}");
    assert_eq!(p.world.kvcore().contacts().len(), 6);
    assert_eq!(
        p.microsoft.count_requests(|r| r.is_token()),
        1,
        "the skipped run never refreshed (the grant rotates once)"
    );
    assert!(p.sync_item("m").await.get("lease_owner").is_none());
}

#[tokio::test]
async fn named_folders_are_polled_each_with_its_own_delta_link() {
    let p = Polled::start().await;
    let clients = p.microsoft.add_folder("Clients");
    let leads = p.microsoft.add_folder("Leads");
    p.microsoft
        .add_contact_to(&clients, contact("Ann", "Lee", "ann@example.com"));
    p.microsoft
        .add_contact_to(&leads, contact("Bob", "Ray", "bob@example.com"));
    p.microsoft
        .add_contact(contact("Cy", "Default", "cy@example.com"));
    p.workflow(
        "m",
        "all",
        json!({"microsoft_folders": {"SS": ["Clients", "leads"]}}),
    )
    .await;
    let first = p.run("m").await;
    assert_eq!(counts(&first), [2, 2, 0, 0, 0, 0], "{first}");
    assert_eq!(first["finished"], true);
    assert_eq!(
        p.world.contacts_with_email("cy@example.com"),
        0,
        "not in a named folder"
    );
    for folder in [&clients, &leads] {
        let item = p.sync_item(&format!("m#{folder}")).await;
        assert!(item["sync_token"]["S"].is_string(), "{item}");
    }

    p.workflow(
        "w",
        "all",
        json!({"microsoft_folders": {"SS": ["Vendors"]}}),
    )
    .await;
    let refused = p.run("w").await;
    assert_eq!(
        refused["error"],
        "workflow 'w': attribute 'microsoft_folders[0]' must be the display name of a contact folder under Contacts (there are: Clients, Leads), found \"Vendors\"",
        "{refused}"
    );
    assert_eq!(refused["listed"], 0);
}

fn kvsync_bin() -> String {
    std::env::var("KVSYNC_BIN").unwrap_or_else(|_| {
        kvsync_devstack::template::workspace_root()
            .join("target/debug/kvsync")
            .display()
            .to_string()
    })
}

#[tokio::test]
async fn microsoft_connect_runs_the_device_code_flow_and_the_poller_uses_the_grant() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let p = Polled::start_with(FakeConfig {
        device_interval: Duration::from_secs(1),
        ..FakeConfig::default()
    })
    .await;
    p.microsoft
        .add_contact(contact("Ann", "Lee", "ann@example.com"));
    // A `microsoft` workflow whose secret does not exist yet.
    let secret = p.world.stack.secret_name("kvsync/m/microsoft-oauth");
    p.world
        .workflow(
            "m",
            json!({"source": {"S": "microsoft"}, "microsoft_oauth_secret": {"S": secret}, "initial_sync": {"S": "all"}}),
        )
        .await;
    let config = p.microsoft.config();
    let env = p.world.stack.microsoft_poller_env(&p.microsoft).unwrap();
    let mut cli = tokio::process::Command::new(kvsync_bin())
        .args(["microsoft", "connect", "m", "--tenant", &config.tenant])
        .args(["--client-id", &config.client_id])
        .env_clear()
        .envs(env.clone())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kvsync runs (cargo build -p kvsync-cli)");
    let mut stderr = BufReader::new(cli.stderr.take().unwrap()).lines();
    let mut shown = String::new();
    let mut address = None;
    let user_code = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), stderr.next_line())
            .await
            .expect("the code is printed")
            .unwrap()
            .unwrap_or_else(|| panic!("kvsync exited: {shown}"));
        shown.push_str(&line);
        shown.push('\n');
        if let Some(url) = line.trim().strip_prefix("open") {
            address = Some(url.trim().to_string());
        }
        if let Some(code) = line.trim().strip_prefix("enter") {
            break code.trim().to_string();
        }
    };
    assert_eq!(address, Some(p.microsoft.device_login_url()), "{shown}");

    // The person takes a moment: kvsync polls and hears authorization_pending.
    for _ in 0..50 {
        if p.microsoft.count_requests(|r| r.is_token()) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = reqwest::get(format!(
        "{}?code={user_code}",
        p.microsoft.device_login_url()
    ))
    .await
    .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let rest = tokio::time::timeout(Duration::from_secs(30), cli.wait_with_output())
        .await
        .expect("kvsync ends")
        .unwrap();
    while let Ok(Some(line)) = stderr.next_line().await {
        shown.push_str(&line);
    }
    let out = String::from_utf8_lossy(&rest.stdout).into_owned();
    assert!(rest.status.success(), "{out}\n{shown}");
    assert!(out.contains("connected"), "{out}");

    let tokens: Vec<_> = p
        .microsoft
        .requests()
        .into_iter()
        .filter(|r| r.is_token())
        .collect();
    assert_eq!(
        tokens[0].param("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(
        tokens[0].status, 400,
        "authorization_pending first: {tokens:?}"
    );
    assert_eq!(tokens.last().unwrap().status, 200);
    let stored = p.secret(&secret).await;
    let refresh = stored["refresh_token"].as_str().unwrap();
    assert!(p.microsoft.refresh_token_is_live(refresh), "{stored}");
    assert_eq!(stored["tenant"], config.tenant.as_str());
    assert_eq!(stored["client_id"], config.client_id.as_str());
    assert!(
        !out.contains(refresh) && !shown.contains(refresh),
        "never printed"
    );

    let polled = p.run("m").await;
    assert_eq!(polled["created"], 1, "{polled}");
    assert_eq!(polled["finished"], true);

    // `kvsync microsoft status` shows the run and the folder.
    let status = tokio::process::Command::new(kvsync_bin())
        .args(["microsoft", "status", "m"])
        .env_clear()
        .envs(env)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("created 1"), "{text}");
    assert!(
        text.contains("folder        contacts: a delta link"),
        "{text}"
    );
    assert!(text.contains("reconnect_needed: no"), "{text}");
}
