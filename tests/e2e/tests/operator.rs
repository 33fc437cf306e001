//! The operator's first hour (Issue 13), through the built `kvsync` binary
//! (KVSYNC_BIN) against moto_server, the kvCORE fake and the Follow Up
//! Boss fake: `workflow new` (a valid item and its secrets, stdin secrets,
//! no overwrite without --force), `doctor` (all ok; a typo'd secret id
//! named with the nearest id; a token expiring soon, and expired; --json),
//! `followupboss subscribe|list|unsubscribe` (twice registers once), and
//! the indexer's KvcoreTokenDaysLeft metric.

use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use followupboss_fake::FakeFollowUpBoss;
use kvcore_fake::FakeConfig;
use kvsync_devstack::{LocalStack, StackOptions};
use kvsync_e2e::{World, event, json};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const DAY: i64 = 86_400;
const WEBHOOK_URL: &str = "https://hooks.example/webhooks";
const FUB_KEY: &str = "fub-api-key-1";
const FUB_SYSTEM: &str = "kvsync-e2e";
const FUB_SYSTEM_KEY: &str = "fub-system-key-1";

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A kvCORE-shaped JWT expiring an hour short of `days` from now, so the
/// whole days left are `days - 1` however fast doctor reads it (signature
/// not checked by anyone: the fake accepts the token as configured).
fn jwt(days: i64, tag: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    let exp = now_s() + days * DAY - 3_600;
    let claims = json!({"sub": tag, "iat": now_s() - DAY, "exp": exp});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.c2ln")
}

struct Operator {
    world: World,
    fub: FakeFollowUpBoss,
}

impl Operator {
    /// The stack, with these tokens accepted by the kvCORE fake.
    async fn start(tokens: &[&str]) -> Operator {
        let fub = FakeFollowUpBoss::start(FUB_KEY).await.expect("FUB fake");
        fub.register_system(FUB_SYSTEM, FUB_SYSTEM_KEY);
        let kvcore = FakeConfig {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            ..FakeConfig::default()
        };
        let world = World::start_with_options(StackOptions {
            kvcore,
            followupboss_base_url: Some(fub.base_url()),
            ..StackOptions::default()
        })
        .await;
        Operator { world, fub }
    }

    fn stack(&self) -> &LocalStack {
        &self.world.stack
    }

    /// `{stack prefix}kvsync/`: the stack's SecretsPrefix in this test.
    fn secrets_prefix(&self) -> String {
        format!("{}kvsync/", self.stack().prefix())
    }

    /// Runs `kvsync args` with the function's environment, the stack's
    /// secrets prefix and webhook URL, `env`, and `stdin` piped in.
    async fn cli(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let binary = std::env::var("KVSYNC_BIN").unwrap_or_else(|_| {
            kvsync_devstack::template::workspace_root()
                .join("target/debug/kvsync")
                .display()
                .to_string()
        });
        let mut child = tokio::process::Command::new(&binary)
            .args(args)
            .env_clear()
            .envs(self.stack().function_env())
            .env("KVSYNC_SECRETS_PREFIX", self.secrets_prefix())
            .env("KVSYNC_WEBHOOK_URL", WEBHOOK_URL)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {binary}: {e} (cargo build -p kvsync-cli)"));
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).await.expect("stdin");
        }
        let output = child.wait_with_output().await.expect("kvsync runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `kvsync doctor <id> --json`, parsed.
    async fn doctor(&self, workflow_id: &str, env: &[(&str, &str)]) -> (Run, Value) {
        let run = self.cli(&["doctor", workflow_id, "--json"], env, "").await;
        let report: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}: {run:?}"));
        (run, report)
    }

    async fn secret(&self, id: &str) -> String {
        self.stack().secret_value(id).await.expect("secret")
    }
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }
}

/// The check of this name in a doctor report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

/// The value printed on the line after `label`.
fn printed_after<'a>(stdout: &'a str, label: &str) -> &'a str {
    let mut lines = stdout.lines();
    lines.find(|l| l.contains(label));
    lines.next().map(str::trim).unwrap_or_default()
}

#[tokio::test]
async fn workflow_new_writes_a_valid_workflow_and_its_secrets_and_never_overwrites() {
    let token = jwt(300, "leads");
    let op = Operator::start(&[&token]).await;
    let run = op
        .cli(
            &[
                "workflow",
                "new",
                "leads",
                "--source",
                "generic",
                "--default-agent-id",
                "7",
            ],
            &[],
            &format!("{token}\n"),
        )
        .await;
    run.ok();
    let prefix = op.secrets_prefix();
    assert!(
        run.stdout
            .contains(&format!("webhook URL: {WEBHOOK_URL}/leads")),
        "{run:#?}"
    );
    assert!(run.stdout.contains("next:") && run.stdout.contains("infra/send-event"));
    let whsec = printed_after(&run.stdout, "webhook secret");
    assert!(whsec.starts_with("whsec_"), "{run:#?}");
    assert!(!run.stdout.contains(&token), "the token is never printed");

    // The item, in the console's types.
    let item = op
        .stack()
        .workflow_item("leads")
        .await
        .unwrap()
        .expect("item");
    assert_eq!(item["workflow_id"], json!({"S": "leads"}));
    assert_eq!(item["enabled"], json!({"BOOL": true}));
    assert_eq!(item["source"], json!({"S": "generic"}));
    assert_eq!(item["auth"], json!({"S": "standard"}));
    assert_eq!(item["default_agent_id"], json!({"N": "7"}));
    assert_eq!(
        item["kvcore_token_secret"],
        json!({"S": format!("{prefix}leads/kvcore-token")})
    );
    assert_eq!(
        item["webhook_secret"],
        json!({"S": format!("{prefix}leads/webhook-secret")})
    );
    // The secrets: the token from stdin, the printed whsec.
    assert_eq!(
        op.secret(&format!("{prefix}leads/kvcore-token")).await,
        token
    );
    assert_eq!(
        op.secret(&format!("{prefix}leads/webhook-secret")).await,
        whsec
    );

    // The function takes it as it is: a signed event creates the contact.
    let answer = op
        .world
        .send(
            "leads",
            &event(json!({"source_id": "s1", "first_name": "Ada", "email": "ada@example.com"})),
        )
        .await;
    assert_eq!(answer.result()["outcome"], "created", "{answer:?}");
    assert_eq!(op.world.contacts_with_email("ada@example.com"), 1);

    // Again: refused, nothing changed.
    let again = op
        .cli(
            &["workflow", "new", "leads", "--source", "followupboss"],
            &[],
            "x\ny\nz\n",
        )
        .await;
    assert_eq!(again.code, Some(2), "{again:#?}");
    assert!(again.stderr.contains("already exists") && again.stderr.contains("--force"));
    let item_after = op.stack().workflow_item("leads").await.unwrap().unwrap();
    assert_eq!(item_after, item);
    // --force replaces the item and keeps the secrets (no input needed).
    op.cli(
        &["workflow", "new", "leads", "--no-overwrite", "--force"],
        &[],
        "",
    )
    .await
    .ok();
    let forced = op.stack().workflow_item("leads").await.unwrap().unwrap();
    assert_eq!(forced["overwrite_existing"], json!({"BOOL": false}));
    assert_eq!(
        op.secret(&format!("{prefix}leads/webhook-secret")).await,
        whsec
    );
}

#[tokio::test]
async fn workflow_new_for_follow_up_boss_reads_every_key_from_stdin() {
    let token = jwt(300, "fub");
    let op = Operator::start(&[&token]).await;
    let run = op
        .cli(
            &["workflow", "new", "fub", "--source", "followupboss"],
            &[],
            &format!("{token}\n{FUB_KEY}\n{FUB_SYSTEM_KEY}\n"),
        )
        .await;
    run.ok();
    let prefix = op.secrets_prefix();
    let item = op.stack().workflow_item("fub").await.unwrap().unwrap();
    assert_eq!(item["source"], json!({"S": "followupboss"}));
    assert_eq!(item["auth"], json!({"S": "followupboss"}));
    assert_eq!(item["lead_source"], json!({"S": "Follow Up Boss"}));
    assert_eq!(
        item["source_api_secret"],
        json!({"S": format!("{prefix}fub/followupboss-api-key")})
    );
    assert_eq!(op.secret(&format!("{prefix}fub/kvcore-token")).await, token);
    assert_eq!(
        op.secret(&format!("{prefix}fub/followupboss-api-key"))
            .await,
        FUB_KEY
    );
    assert_eq!(
        op.secret(&format!("{prefix}fub/webhook-secret")).await,
        FUB_SYSTEM_KEY
    );
    assert!(
        run.stdout.contains("kvsync followupboss subscribe fub"),
        "{run:#?}"
    );
    for secret in [&token as &str, FUB_KEY, FUB_SYSTEM_KEY] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }

    // Stdin runs dry: nothing is written, the error says what was missing.
    let short = op
        .cli(
            &["workflow", "new", "fub2", "--source", "followupboss"],
            &[],
            &format!("{token}\n"),
        )
        .await;
    assert_eq!(short.code, Some(2), "{short:#?}");
    assert!(
        short.stderr.contains("Follow Up Boss API key"),
        "{short:#?}"
    );
    assert!(op.stack().workflow_item("fub2").await.unwrap().is_none());
}

#[tokio::test]
async fn doctor_says_what_is_wrong_and_what_to_do() {
    let healthy = jwt(200, "far");
    let soon = jwt(10, "soon");
    let expired = jwt(-1, "expired");
    let op = Operator::start(&[&healthy, &soon, &expired]).await;
    op.cli(&["workflow", "new", "doc"], &[], &format!("{healthy}\n"))
        .await
        .ok();
    op.cli(&["index", "build", "doc"], &[], "").await.ok();

    // All ok: table and JSON.
    let table = op.cli(&["doctor", "doc"], &[], "").await;
    table.ok();
    assert!(
        table.stdout.contains("kvCORE token expiry")
            && table.stdout.contains("0 problems, 0 warnings"),
        "{table:#?}"
    );
    let (run, report) = op.doctor("doc", &[]).await;
    run.ok();
    assert_eq!(report["ok"], true);
    let statuses: Vec<(&str, &str)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("settings", "ok"),
            ("kvcore_token_secret", "ok"),
            ("webhook_secret", "ok"),
            ("kvCORE token", "ok"),
            ("kvCORE token expiry", "ok"),
            ("phone index", "ok"),
            ("failed events", "ok"),
        ],
        "{report:#}"
    );
    assert!(
        check(&report, "kvCORE token expiry")["detail"]
            .as_str()
            .unwrap()
            .contains("expires in 199 days")
    );

    // A typo'd secret id: a problem naming the id it meant; exit 1.
    let prefix = op.secrets_prefix();
    let mut item = op.stack().workflow_item("doc").await.unwrap().unwrap();
    item["kvcore_token_secret"] = json!({"S": format!("{prefix}doc/kvcore-tokn")});
    op.stack().put_workflow(item.clone()).await.unwrap();
    let (run, report) = op.doctor("doc", &[]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(report["ok"], false);
    let typo = check(&report, "kvcore_token_secret");
    assert_eq!(typo["status"], "problem");
    assert!(
        typo["action"]
            .as_str()
            .unwrap()
            .contains(&format!("did you mean '{prefix}doc/kvcore-token'")),
        "{typo:#}"
    );
    item["kvcore_token_secret"] = json!({"S": format!("{prefix}doc/kvcore-token")});
    op.stack().put_workflow(item).await.unwrap();

    // A token expiring in 10 days: a warning, exit 0.
    op.stack()
        .put_secret(&format!("{prefix}doc/kvcore-token"), &soon)
        .await
        .unwrap();
    let (run, report) = op.doctor("doc", &[]).await;
    run.ok();
    let expiry = check(&report, "kvCORE token expiry");
    assert_eq!(expiry["status"], "warning", "{report:#}");
    assert!(
        expiry["detail"]
            .as_str()
            .unwrap()
            .contains("expires in 9 days"),
        "{expiry:#}"
    );
    assert_eq!(report["warnings"], 1);

    // Expired: a problem, exit 1; the table says so too.
    op.stack()
        .put_secret(&format!("{prefix}doc/kvcore-token"), &expired)
        .await
        .unwrap();
    let (run, report) = op.doctor("doc", &[]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(check(&report, "kvCORE token expiry")["status"], "problem");
    let table = op.cli(&["doctor", "doc"], &[], "").await;
    assert_eq!(table.code, Some(1));
    assert!(table.stdout.contains("expired on"), "{table:#?}");

    // A token kvCORE refuses, and --all covering every workflow.
    op.stack()
        .put_secret(&format!("{prefix}doc/kvcore-token"), "not-a-jwt")
        .await
        .unwrap();
    let run = op.cli(&["doctor", "--all", "--json"], &[], "").await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(check(&report, "kvCORE token")["status"], "problem");
    let unknown = check(&report, "kvCORE token expiry");
    assert_eq!(unknown["status"], "warning");
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("expiry unknown")
    );
    assert!(!run.stdout.contains(&expired) && !run.stdout.contains("not-a-jwt"));

    // A workflow that does not exist: named with the nearest one.
    let (run, report) = op.doctor("dco", &[]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        check(&report, "workflow")["action"]
            .as_str()
            .unwrap()
            .contains("did you mean 'doc'")
    );
}

#[tokio::test]
async fn follow_up_boss_webhooks_are_registered_once_listed_and_removed() {
    let token = jwt(300, "fub");
    let op = Operator::start(&[&token]).await;
    op.cli(
        &["workflow", "new", "fub", "--source", "followupboss"],
        &[("FOLLOWUPBOSS_SYSTEM_KEY", FUB_SYSTEM_KEY)],
        &format!("{token}\n{FUB_KEY}\n"),
    )
    .await
    .ok();
    // The key comes from the workflow's webhook_secret (its system key).
    let system = [("FOLLOWUPBOSS_SYSTEM", FUB_SYSTEM)];
    let url = format!("{WEBHOOK_URL}/fub");

    let first = op
        .cli(&["followupboss", "subscribe", "fub"], &system, "")
        .await;
    first.ok();
    assert_eq!(
        first.stdout.matches("registered: people").count(),
        2,
        "{first:#?}"
    );
    let second = op
        .cli(&["followupboss", "subscribe", "fub"], &system, "")
        .await;
    second.ok();
    assert_eq!(
        second.stdout.matches("already registered").count(),
        2,
        "{second:#?}"
    );
    let webhooks = op.fub.webhooks();
    let shape: Vec<(&str, &str, &str)> = webhooks
        .iter()
        .map(|w| (w.event.as_str(), w.url.as_str(), w.system.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("peopleCreated", url.as_str(), FUB_SYSTEM),
            ("peopleUpdated", url.as_str(), FUB_SYSTEM)
        ]
    );
    let posts = op
        .fub
        .webhook_requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts, 2, "subscribe twice registers once");

    // Doctor: key accepted, webhooks registered.
    let (run, report) = op.doctor("fub", &system).await;
    assert_eq!(
        check(&report, "Follow Up Boss key")["status"],
        "ok",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "Follow Up Boss webhooks")["status"],
        "ok",
        "{report:#}"
    );
    assert_eq!(run.code, Some(0), "{run:#?}");

    let list = op.cli(&["followupboss", "list", "fub"], &system, "").await;
    list.ok();
    assert_eq!(
        list.stdout.matches("(this workflow)").count(),
        2,
        "{list:#?}"
    );

    let gone = op
        .cli(&["followupboss", "unsubscribe", "fub"], &system, "")
        .await;
    gone.ok();
    assert_eq!(gone.stdout.matches("removed:").count(), 2, "{gone:#?}");
    assert!(op.fub.webhooks().is_empty());
    let (run, report) = op.doctor("fub", &system).await;
    assert_eq!(run.code, Some(1));
    let missing = check(&report, "Follow Up Boss webhooks");
    assert_eq!(missing["status"], "problem");
    assert_eq!(missing["action"], "kvsync followupboss subscribe fub");

    // Two webhooks of another URL take peopleCreated's places: subscribe
    // says so instead of failing half-way on Follow Up Boss's limit.
    for n in 0..2 {
        let created = reqwest_post(&op.fub, &format!("https://elsewhere.example/{n}")).await;
        assert_eq!(created, 201);
    }
    let full = op
        .cli(&["followupboss", "subscribe", "fub"], &system, "")
        .await;
    assert_eq!(full.code, Some(2), "{full:#?}");
    assert!(
        full.stderr.contains("allows 2 peopleCreated webhooks"),
        "{full:#?}"
    );
    // Without a system name: told what to set.
    let nameless = op.cli(&["followupboss", "list", "fub"], &[], "").await;
    assert_eq!(nameless.code, Some(2));
    assert!(
        nameless.stderr.contains("FOLLOWUPBOSS_SYSTEM"),
        "{nameless:#?}"
    );
}

/// A peopleCreated webhook registered straight with the fake.
async fn reqwest_post(fub: &FakeFollowUpBoss, url: &str) -> u16 {
    let body = json!({"event": "peopleCreated", "url": url}).to_string();
    let base = fub.base_url();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{FUB_KEY}:"));
    // A raw HTTP/1.1 request keeps the e2e crate free of an HTTP client.
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let request = format!(
        "POST /v1/webhooks HTTP/1.1\r\nhost: {addr}\r\nauthorization: Basic {auth}\r\nx-system: {FUB_SYSTEM}\r\nx-system-key: {FUB_SYSTEM_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
        .await
        .expect("read");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_indexer_publishes_each_tokens_days_left_never_the_token() {
    let token = jwt(20, "indexed");
    let op = Operator::start(&[&token]).await;
    let prefix = op.secrets_prefix();
    op.cli(&["workflow", "new", "idx"], &[], &format!("{token}\n"))
        .await
        .ok();
    let indexer = op
        .stack()
        .spawn_indexer()
        .await
        .expect("INDEXER_BIN starts");
    let summary = op.stack().run_scheduled(&indexer).await.expect("summary");
    let tokens = summary["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1, "{summary:#}");
    assert_eq!(
        tokens[0]["kvcore_token_secret"],
        format!("{prefix}idx/kvcore-token")
    );
    assert_eq!(tokens[0]["expiry"], "at");
    let days = tokens[0]["days_left"].as_f64().unwrap();
    assert!((19.9..=20.0).contains(&days), "{days}");

    let logs = indexer.logs();
    let emf: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("KvcoreTokenDaysLeft").is_some())
        .collect();
    assert_eq!(emf.len(), 1, "{logs:#?}");
    assert_eq!(
        emf[0]["kvcore_token_secret"],
        format!("{prefix}idx/kvcore-token")
    );
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "kvsync"
    );
    assert!(
        logs.iter().all(|l| !l.contains(&token)),
        "the token never appears"
    );
}
