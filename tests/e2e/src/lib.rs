//! The end-to-end harness: a `LocalStack` (moto tables from template.yaml,
//! the kvCORE fake) plus one running `webhook` process, driven through the
//! Lambda Runtime API as Lambda would.

use followupboss_fake::FakeFollowUpBoss;
use kvcore_fake::{FakeConfig, FakeKvcore, RecordedRequest};
use kvsync_devstack::{LambdaHttpResponse, LambdaProcess, LocalStack, StackOptions};
use serde_json::Value;

pub use serde_json::json;

pub struct World {
    pub stack: LocalStack,
    pub function: LambdaProcess,
}

/// One answer of the function, with its body parsed.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    fn from(response: LambdaHttpResponse) -> Answer {
        let body = serde_json::from_str(&response.body).unwrap_or(Value::String(response.body));
        Answer {
            status: response.status,
            body,
        }
    }

    /// The only result of a one-person event.
    pub fn result(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        let results = self.body["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "one person: {self:?}");
        &results[0]
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl World {
    pub async fn start() -> World {
        World::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(kvcore: FakeConfig) -> World {
        World::start_with_options(StackOptions {
            kvcore,
            ..StackOptions::default()
        })
        .await
    }

    pub async fn start_with_options(options: StackOptions) -> World {
        let stack = LocalStack::start(options)
            .await
            .expect("local stack starts (is MOTO_URL set? run `make test`)");
        let function = stack.spawn_function().await.expect("webhook binary starts");
        World { stack, function }
    }

    /// A world whose function reads people from a Follow Up Boss fake that
    /// takes the API key `key` (the stack's other `options` as given), and
    /// a workflow `fub` of source `followupboss` whose `source_api_secret`
    /// holds that key, with the attributes in `overrides` besides.
    pub async fn with_followupboss(
        key: &str,
        options: StackOptions,
        overrides: Value,
    ) -> (World, FakeFollowUpBoss) {
        let fub = FakeFollowUpBoss::start(key)
            .await
            .expect("the Follow Up Boss fake starts");
        let world = World::start_with_options(StackOptions {
            followupboss_base_url: Some(fub.base_url()),
            ..options
        })
        .await;
        let key_secret = format!("{}kvsync/fub/api-key", world.stack.prefix());
        world
            .stack
            .put_secret(&key_secret, key)
            .await
            .expect("the API key's secret is stored");
        let mut attributes = json!({
            "source": {"S": "followupboss"},
            "source_api_secret": {"S": key_secret},
        });
        if let (Some(all), Some(more)) = (attributes.as_object_mut(), overrides.as_object()) {
            all.extend(more.clone());
        }
        world.workflow("fub", attributes).await;
        (world, fub)
    }

    pub fn kvcore(&self) -> &FakeKvcore {
        self.stack.fake()
    }

    /// Seeds a working workflow with these attribute overrides (DynamoDB JSON).
    pub async fn workflow(&self, id: &str, overrides: Value) {
        self.stack
            .seed_workflow(id, overrides)
            .await
            .expect("workflow seeded");
    }

    /// Sends a properly authenticated delivery.
    pub async fn send(&self, workflow_id: &str, body: &Value) -> Answer {
        let response = self
            .stack
            .send(&self.function, workflow_id, body)
            .await
            .expect("the function answers");
        Answer::from(response)
    }

    /// Sends exactly these headers, query and body.
    pub async fn send_raw(
        &self,
        workflow_id: &str,
        headers: &[(&str, &str)],
        query: &str,
        body: &[u8],
    ) -> Answer {
        let response = self
            .stack
            .send_raw(&self.function, workflow_id, headers, query, body)
            .await
            .expect("the function answers");
        Answer::from(response)
    }

    /// kvCORE requests that change something (POST and PUT).
    pub fn kvcore_writes(&self) -> Vec<RecordedRequest> {
        self.kvcore()
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" || r.method == "PUT")
            .collect()
    }

    /// Runs the built `kvcore-indexer` once, as its schedule would: builds
    /// (or refreshes) the phone index of every enabled workflow's scope
    /// (SPEC section 9), then forgets the kvCORE requests it made, so a
    /// test counts only its event's. Answers the indexer's summary.
    pub async fn index_phones(&self) -> Value {
        let indexer = self
            .stack
            .spawn_indexer()
            .await
            .expect("the kvcore-indexer binary starts (INDEXER_BIN)");
        let summary = self
            .stack
            .run_scheduled(&indexer)
            .await
            .expect("the indexer answers");
        self.kvcore().clear_requests();
        summary
    }

    /// Everything the function has logged so far, one string.
    pub fn logs(&self) -> String {
        self.function.logs().join("\n")
    }
}

/// A generic payload for one contact.
pub fn event(contact: Value) -> Value {
    json!({ "contact": contact })
}

impl World {
    /// Standard Webhooks headers for `body` with this message id (the
    /// event identity), signed with the workflow's secret now.
    pub async fn signed(
        &self,
        workflow_id: &str,
        msg_id: &str,
        body: &Value,
    ) -> Vec<(String, String)> {
        let secret_id = format!("{}kvsync/{workflow_id}/webhook-secret", self.stack.prefix());
        let secret = self
            .stack
            .secret_value(&secret_id)
            .await
            .expect("webhook secret");
        let bytes = serde_json::to_vec(body).expect("json");
        kvsync_devstack::signing::standard_webhook_headers(
            &secret,
            msg_id,
            kvsync_devstack::signing::now_timestamp(),
            &bytes,
        )
    }

    /// Sends `body` with these headers to `function` (any process of the stack).
    pub async fn send_to(
        &self,
        function: &LambdaProcess,
        workflow_id: &str,
        headers: &[(String, String)],
        body: &Value,
    ) -> Answer {
        let bytes = serde_json::to_vec(body).expect("json");
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let response = self
            .stack
            .send_raw(function, workflow_id, &headers, "", &bytes)
            .await
            .expect("the function answers");
        Answer::from(response)
    }

    /// Contacts kvCORE holds with this main-card email.
    pub fn contacts_with_email(&self, email: &str) -> usize {
        self.kvcore()
            .contacts()
            .iter()
            .filter(|c| {
                c["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .count()
    }
}

/// A TCP proxy that can be cut, for a network outage between the function
/// and moto_server (moto keeps its state; the function loses its link).
pub struct Cable {
    pub url: String,
    connected: tokio::sync::watch::Sender<bool>,
}

impl Cable {
    pub async fn to(target_url: &str) -> Cable {
        let target = target_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (connected, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*watch.borrow() {
                    continue; // dropped: the connection is refused
                }
                let target = target.clone();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !up) => {}
                    }
                });
            }
        });
        Cable { url, connected }
    }

    /// Cuts every open connection and refuses new ones.
    pub fn cut(&self) {
        self.connected.send_replace(false);
    }

    pub fn mend(&self) {
        self.connected.send_replace(true);
    }
}

/// The `kvsync` CLI, run with the stack's function environment.
pub async fn kvsync_cli(stack: &LocalStack, args: &[&str]) -> (bool, String, String) {
    kvsync_cli_with(stack, args, &[]).await
}

/// `kvsync_cli`, with `extra` variables besides the function's.
pub async fn kvsync_cli_with(
    stack: &LocalStack,
    args: &[&str],
    extra: &[(&str, &str)],
) -> (bool, String, String) {
    let binary = std::env::var("KVSYNC_BIN").unwrap_or_else(|_| {
        kvsync_devstack::template::workspace_root()
            .join("target/debug/kvsync")
            .display()
            .to_string()
    });
    let output = tokio::process::Command::new(&binary)
        .args(args)
        .env_clear()
        .envs(stack.function_env())
        .envs(extra.iter().copied())
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {binary}: {e} (cargo build -p kvsync-cli)"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `kvsync_cli_with`, with `stdin` piped in (a secret the command reads
/// from stdin when it is not a terminal).
pub async fn kvsync_cli_stdin(
    stack: &LocalStack,
    args: &[&str],
    extra: &[(&str, &str)],
    stdin: &str,
) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let binary = std::env::var("KVSYNC_BIN").unwrap_or_else(|_| {
        kvsync_devstack::template::workspace_root()
            .join("target/debug/kvsync")
            .display()
            .to_string()
    });
    let mut child = tokio::process::Command::new(&binary)
        .args(args)
        .env_clear()
        .envs(stack.function_env())
        .envs(extra.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {binary}: {e} (cargo build -p kvsync-cli)"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).await.expect("stdin");
    }
    let output = child.wait_with_output().await.expect("kvsync runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The EMF records (JSON lines with `_aws`) among a process's log lines.
pub fn emf_records(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("_aws").is_some())
        .collect()
}
