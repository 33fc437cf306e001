//! The local stack `make dev` and the end-to-end tests share: moto tables from template.yaml,
//! secrets, workflows, the kvCORE fake, and the functions (the webhook; the scheduled
//! kvcore-indexer) run under the Runtime API emulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvcore_fake::{FakeConfig, FakeKvcore};
use serde_json::{Value, json};

use crate::Result;
use crate::apigw::{LambdaHttpResponse, http_api_event};
use crate::aws;
use crate::aws::{CreatedQueue, QueueOverrides};
use crate::runtime_api::{LambdaProcess, SpawnOptions};
use crate::signing;
use crate::sqs_source::{SourceFunction, SqsSource, SqsSourceOptions};
use crate::template::{
    self, EnvValue, KVCORE_INDEXER_FUNCTION, SYNC_WORKER_FUNCTION, WEBHOOK_FUNCTION,
};

/// The token the kvCORE fake accepts by default; seeded workflows use it.
pub const KVCORE_TEST_TOKEN: &str = "kvcore-test-token";
/// Where FOLLOWUPBOSS_BASE_URL points unless a test gives one: loopback, nothing listening, so a
/// stray call fails fast instead of reaching the real Follow Up Boss.
pub const UNREACHABLE_FOLLOWUPBOSS: &str = "http://127.0.0.1:9/v1";

pub struct StackOptions {
    /// moto_server; default: env MOTO_URL, then AWS_ENDPOINT_URL.
    pub moto_url: Option<String>,
    /// Prefix of every table and secret name; default: [`unique_prefix`], so tests can share one moto.
    pub prefix: String,
    /// Default: env WEBHOOK_BIN, else `$CARGO_TARGET_DIR/debug/webhook`, else `<workspace>/target/debug/webhook`.
    pub webhook_bin: Option<PathBuf>,
    /// Default: env INDEXER_BIN, else the debug `kvcore-indexer` in the cargo target dir.
    pub indexer_bin: Option<PathBuf>,
    /// Default: env SYNC_WORKER_BIN, else the debug `sync-worker` in the cargo target dir.
    pub sync_worker_bin: Option<PathBuf>,
    /// Shorter visibility timeouts and receive limits than the template's
    /// (tests); the worker is told the same receive limit.
    pub queues: QueueOverrides,
    /// Default: the workspace's template.yaml.
    pub template: Option<PathBuf>,
    pub kvcore: FakeConfig,
    /// Bind the kvCORE fake here (devstack: 127.0.0.1:8090); default: a free loopback port.
    pub kvcore_addr: Option<SocketAddr>,
    pub followupboss_base_url: Option<String>,
    /// Added to the function's environment last (they win).
    pub extra_env: Vec<(String, String)>,
    /// Default: [`spawn_options_from_template`].
    pub spawn: Option<SpawnOptions>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            moto_url: None,
            prefix: unique_prefix(),
            webhook_bin: None,
            indexer_bin: None,
            sync_worker_bin: None,
            queues: QueueOverrides::default(),
            template: None,
            kvcore: FakeConfig::default(),
            kvcore_addr: None,
            followupboss_base_url: None,
            extra_env: Vec::new(),
            spawn: None,
        }
    }
}

/// `kvsync-t<pid>-<n>-<time>-`: unique per call, valid for table and secret names.
pub fn unique_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        % 1_000_000_000;
    format!("kvsync-t{}-{n}-{t}-", std::process::id())
}

/// The webhook function as template.yaml sizes it (Timeout, MemorySize); its log lines are echoed
/// to stderr when env DEVSTACK_ECHO_LOGS is set (e.g. `DEVSTACK_ECHO_LOGS=1 cargo test -- --nocapture`).
pub fn spawn_options_from_template(template_path: &Path) -> Result<SpawnOptions> {
    spawn_options_for(template_path, WEBHOOK_FUNCTION)
}

/// Any function of the template, sized as the template says (see [`spawn_options_from_template`]).
pub fn spawn_options_for(template_path: &Path, function_logical_id: &str) -> Result<SpawnOptions> {
    let (timeout, memory) = template::function_limits(template_path, function_logical_id)?;
    let defaults = SpawnOptions::default();
    Ok(SpawnOptions {
        timeout: timeout.map_or(defaults.timeout, Duration::from_secs),
        memory_mb: memory.map_or(Ok(defaults.memory_mb), u32::try_from)?,
        function_name: Some(format!("kvsync-{function_logical_id}")),
        echo_logs: std::env::var("DEVSTACK_ECHO_LOGS").is_ok_and(|v| !v.is_empty() && v != "0"),
        ..defaults
    })
}

/// The moto endpoint from the environment (MOTO_URL, then AWS_ENDPOINT_URL).
pub fn moto_url_from_env() -> Option<String> {
    ["MOTO_URL", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

/// Tables for an adapter test: moto_server's SDK config (`MOTO_URL`) and
/// template.yaml's tables created under a fresh prefix, by the env var the
/// function reads them from (`WORKFLOWS_TABLE` → its name), and the prefix.
pub async fn fresh_tables() -> Result<(aws_config::SdkConfig, BTreeMap<String, String>, String)> {
    let url = moto_url_from_env().ok_or("MOTO_URL is not set: run through `make test`")?;
    let config = aws::local_sdk_config(&url).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let prefix = unique_prefix();
    let tables = aws::create_tables(&dynamodb, &template::template_path(), &prefix).await?;
    Ok((config, tables, prefix))
}

/// The webhook binary: env WEBHOOK_BIN, else the debug build in the cargo target dir.
pub fn default_webhook_bin() -> PathBuf {
    default_bin("WEBHOOK_BIN", "webhook")
}

/// The kvcore-indexer binary: env INDEXER_BIN, else the debug build in the cargo target dir.
pub fn default_indexer_bin() -> PathBuf {
    default_bin("INDEXER_BIN", "kvcore-indexer")
}

/// The sync-worker binary: env SYNC_WORKER_BIN, else the debug build in the cargo target dir.
pub fn default_sync_worker_bin() -> PathBuf {
    default_bin("SYNC_WORKER_BIN", "sync-worker")
}

fn default_bin(env_var: &str, name: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| template::workspace_root().join("target"));
    target.join("debug").join(name)
}

/// The standard EventBridge scheduled event (what a `Schedule` event source delivers; the
/// function ignores its `detail`).
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": format!("{:08x}-0000-4000-8000-000000000000", rand::random::<u32>()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": crate::apigw::ACCOUNT_ID,
        "time": "2024-01-01T00:00:00Z",
        "region": aws::REGION,
        "resources": [format!("arn:aws:events:{}:{}:rule/kvsync-KvcoreIndexerSchedule", aws::REGION, crate::apigw::ACCOUNT_ID)],
        "detail": {}
    })
}

/// What [`LocalStack::seed_workflow`] created.
#[derive(Debug, Clone)]
pub struct SeededWorkflow {
    pub workflow_id: String,
    pub kvcore_token_secret: String,
    pub webhook_secret_name: String,
    /// The `whsec_...` value.
    pub webhook_secret: String,
    /// The item as put, DynamoDB JSON.
    pub item: Value,
}

pub struct LocalStack {
    prefix: String,
    endpoint: String,
    webhook_bin: PathBuf,
    indexer_bin: PathBuf,
    fake: FakeKvcore,
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    tables: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    spawn: SpawnOptions,
    indexer_env: Vec<(String, String)>,
    indexer_spawn: SpawnOptions,
    sqs: aws_sdk_sqs::Client,
    queues: Vec<CreatedQueue>,
    template: PathBuf,
    sync_worker_bin: PathBuf,
    worker_env: Vec<(String, String)>,
    worker_spawn: SpawnOptions,
}

impl LocalStack {
    /// Creates the tables (`{prefix}{LogicalId}`) and starts the kvCORE fake.
    pub async fn start(opts: StackOptions) -> Result<LocalStack> {
        let endpoint = opts.moto_url.clone().or_else(moto_url_from_env).ok_or(
            "no moto_server endpoint: set MOTO_URL (or AWS_ENDPOINT_URL) or pass moto_url",
        )?;
        let sdk = aws::local_sdk_config(&endpoint).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let template_path = opts
            .template
            .clone()
            .unwrap_or_else(template::template_path);
        let mut tables = aws::create_tables(&dynamodb, &template_path, &opts.prefix)
            .await
            .map_err(|e| format!("creating tables at {endpoint}: {e}"))?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queues = aws::create_queues(&sqs, &template_path, &opts.prefix, opts.queues)
            .await
            .map_err(|e| format!("creating queues at {endpoint}: {e}"))?;
        // Queue URLs resolve the functions' variables as table names do.
        let mut resources = tables.clone();
        for queue in &queues {
            if let Some(var) = &queue.def.env_var {
                resources.insert(var.clone(), queue.url.clone());
            }
        }
        let fake = match opts.kvcore_addr {
            Some(addr) => FakeKvcore::start_on(addr, opts.kvcore).await,
            None => FakeKvcore::start(opts.kvcore).await,
        }
        .map_err(|e| format!("starting the kvCORE fake: {e}"))?;
        let urls = Urls {
            aws_endpoint: &endpoint,
            kvcore: &fake.base_url(),
            followupboss: opts
                .followupboss_base_url
                .as_deref()
                .unwrap_or(UNREACHABLE_FOLLOWUPBOSS),
        };
        let env = function_env(
            &template_path,
            WEBHOOK_FUNCTION,
            &resources,
            &urls,
            &opts.extra_env,
        )?;
        let spawn = match opts.spawn {
            Some(spawn) => spawn,
            None => spawn_options_from_template(&template_path)?,
        };
        let indexer_env = function_env(
            &template_path,
            KVCORE_INDEXER_FUNCTION,
            &resources,
            &urls,
            &opts.extra_env,
        )?;
        let indexer_spawn = spawn_options_for(&template_path, KVCORE_INDEXER_FUNCTION)?;
        let mut worker_env = function_env(
            &template_path,
            SYNC_WORKER_FUNCTION,
            &resources,
            &urls,
            &opts.extra_env,
        )?;
        if let Some(count) = opts.queues.max_receive_count {
            worker_env = merged(
                worker_env,
                [("SYNC_MAX_RECEIVE_COUNT".to_string(), count.to_string())],
            );
        }
        let worker_spawn = spawn_options_for(&template_path, SYNC_WORKER_FUNCTION)?;
        // Tables stay keyed by their variables; queues are kept apart.
        tables.retain(|var, _| !queues.iter().any(|q| q.def.env_var.as_deref() == Some(var)));
        Ok(LocalStack {
            prefix: opts.prefix,
            endpoint,
            webhook_bin: opts.webhook_bin.unwrap_or_else(default_webhook_bin),
            indexer_bin: opts.indexer_bin.unwrap_or_else(default_indexer_bin),
            fake,
            dynamodb,
            secrets,
            tables,
            env,
            spawn,
            indexer_env,
            indexer_spawn,
            sqs,
            queues,
            template: template_path,
            sync_worker_bin: opts.sync_worker_bin.unwrap_or_else(default_sync_worker_bin),
            worker_env,
            worker_spawn,
        })
    }

    /// The SQS client of this stack.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// A queue of the template by logical id (`SyncQueue`, `SyncDeadLetterQueue`).
    pub fn queue(&self, logical_id: &str) -> &CreatedQueue {
        self.queues
            .iter()
            .find(|q| q.def.logical_id == logical_id)
            .unwrap_or_else(|| panic!("no queue {logical_id} in the template"))
    }

    /// The sync-worker's environment: what template.yaml sets for it, pointed at this stack.
    pub fn worker_env(&self) -> Vec<(String, String)> {
        self.worker_env.clone()
    }

    /// The sync-worker as template.yaml sizes it (Timeout 60 s).
    pub fn worker_spawn_options(&self) -> SpawnOptions {
        self.worker_spawn.clone()
    }

    /// Runs the sync-worker from its queue as the template's SQS event source
    /// does (batch size, maximum concurrency), every process with
    /// [`Self::worker_env`] plus `env` and the spawn options `spawn` (default:
    /// the template's). Long polls of `wait_time_seconds`.
    pub fn start_sync_worker(
        &self,
        env: &[(String, String)],
        spawn: Option<SpawnOptions>,
        max_concurrency: Option<usize>,
        wait_time_seconds: i32,
    ) -> Result<SqsSource> {
        let source = template::sqs_event_source(&self.template, SYNC_WORKER_FUNCTION)?
            .ok_or("template.yaml gives SyncWorkerFunction no SQS event source")?;
        let queue = self.queue(&source.queue_logical_id);
        let options = SqsSourceOptions {
            queue_url: queue.url.clone(),
            queue_arn: queue.arn.clone(),
            batch_size: source.batch_size.map_or(10, |b| b.min(10) as i32),
            max_concurrency: max_concurrency
                .or(source.maximum_concurrency.map(|c| c as usize))
                .unwrap_or(2),
            wait_time_seconds,
        };
        let function = SourceFunction {
            binary: self.sync_worker_bin.clone(),
            env: merged(self.worker_env.clone(), env.iter().cloned()),
            spawn: spawn.unwrap_or_else(|| self.worker_spawn.clone()),
        };
        SqsSource::start(self.sqs.clone(), function, options)
    }

    pub fn fake(&self) -> &FakeKvcore {
        &self.fake
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.dynamodb
    }

    pub fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        &self.secrets
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn webhook_bin(&self) -> &Path {
        &self.webhook_bin
    }

    /// The table name behind a function env var, e.g. `table("WORKFLOWS_TABLE")`.
    pub fn table(&self, env_var: &str) -> &str {
        self.tables
            .get(env_var)
            .unwrap_or_else(|| panic!("no table for {env_var}; template tables: {:?}", self.tables))
    }

    /// env var → table name, every table the function is given.
    pub fn tables(&self) -> &BTreeMap<String, String> {
        &self.tables
    }

    /// A name in this stack's namespace: `{prefix}{name}`.
    pub fn secret_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The function's environment: what template.yaml sets, pointed at this stack.
    pub fn function_env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// The kvcore-indexer's environment: what template.yaml sets for it, pointed at this stack.
    pub fn indexer_env(&self) -> Vec<(String, String)> {
        self.indexer_env.clone()
    }

    /// The kvcore-indexer as template.yaml sizes it (Timeout 300 s).
    pub fn indexer_spawn_options(&self) -> SpawnOptions {
        self.indexer_spawn.clone()
    }

    /// Puts a workflow item given as DynamoDB JSON.
    pub async fn put_workflow(&self, item: Value) -> Result<()> {
        aws::put_item_json(&self.dynamodb, self.table("WORKFLOWS_TABLE"), &item).await
    }

    /// Creates or updates a secret, named exactly `name` (see [`Self::secret_name`]).
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        aws::put_secret(&self.secrets, name, value).await
    }

    /// A working workflow: secrets `{prefix}kvsync/{id}/kvcore-token` (the fake's token) and
    /// `{prefix}kvsync/{id}/webhook-secret` (a fresh whsec), and an item naming them, merged with
    /// `overrides` (DynamoDB JSON; a JSON `null` removes an attribute).
    pub async fn seed_workflow(&self, id: &str, overrides: Value) -> Result<SeededWorkflow> {
        let kvcore_token_secret = self.secret_name(&format!("kvsync/{id}/kvcore-token"));
        let webhook_secret_name = self.secret_name(&format!("kvsync/{id}/webhook-secret"));
        let webhook_secret = signing::generate_whsec();
        self.put_secret(&kvcore_token_secret, KVCORE_TEST_TOKEN)
            .await?;
        self.put_secret(&webhook_secret_name, &webhook_secret)
            .await?;
        let mut item = json!({
            "workflow_id": {"S": id},
            "kvcore_token_secret": {"S": kvcore_token_secret},
            "webhook_secret": {"S": webhook_secret_name},
        });
        match overrides {
            Value::Null => {}
            Value::Object(o) => {
                let fields = item.as_object_mut().expect("object");
                for (k, v) in o {
                    if v.is_null() {
                        fields.remove(&k);
                    } else {
                        fields.insert(k, v);
                    }
                }
            }
            other => {
                return Err(format!(
                    "workflow overrides must be a DynamoDB JSON object, got {other}"
                )
                .into());
            }
        }
        self.put_workflow(item.clone()).await?;
        Ok(SeededWorkflow {
            workflow_id: id.into(),
            kvcore_token_secret,
            webhook_secret_name,
            webhook_secret,
            item,
        })
    }

    /// The workflow item as stored (DynamoDB JSON).
    pub async fn workflow_item(&self, id: &str) -> Result<Option<Value>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(self.table("WORKFLOWS_TABLE"))
            .key(
                "workflow_id",
                aws_sdk_dynamodb::types::AttributeValue::S(id.into()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("reading workflow {id}: {}", aws::describe(&e)))?;
        Ok(out.item.as_ref().map(aws::item_to_json))
    }

    /// Every item of the table behind `env_var`, as DynamoDB JSON.
    pub async fn scan(&self, env_var: &str) -> Result<Vec<Value>> {
        aws::scan_json(&self.dynamodb, self.table(env_var)).await
    }

    /// Runs the webhook binary with [`Self::function_env`].
    pub async fn spawn_function(&self) -> Result<LambdaProcess> {
        self.spawn_function_with(&[], self.spawn.clone()).await
    }

    /// Same, with more env vars (they win) and other spawn options.
    pub async fn spawn_function_with(
        &self,
        env: &[(String, String)],
        opts: SpawnOptions,
    ) -> Result<LambdaProcess> {
        if !self.webhook_bin.is_file() {
            return Err(format!(
                "webhook binary {} not found: run `cargo build -p webhook` or set WEBHOOK_BIN",
                self.webhook_bin.display()
            )
            .into());
        }
        let env = merged(self.env.clone(), env.iter().cloned());
        LambdaProcess::spawn_with(&self.webhook_bin, &env, opts).await
    }

    /// Runs the kvcore-indexer binary with [`Self::indexer_env`].
    pub async fn spawn_indexer(&self) -> Result<LambdaProcess> {
        self.spawn_indexer_with(&[], self.indexer_spawn.clone())
            .await
    }

    /// Same, with more env vars (they win) and other spawn options (e.g. a short timeout).
    pub async fn spawn_indexer_with(
        &self,
        env: &[(String, String)],
        opts: SpawnOptions,
    ) -> Result<LambdaProcess> {
        if !self.indexer_bin.is_file() {
            return Err(format!(
                "kvcore-indexer binary {} not found: run `cargo build -p kvcore-indexer` or set INDEXER_BIN",
                self.indexer_bin.display()
            )
            .into());
        }
        let env = merged(self.indexer_env.clone(), env.iter().cloned());
        LambdaProcess::spawn_with(&self.indexer_bin, &env, opts).await
    }

    /// Invokes a scheduled function (the kvcore-indexer) with [`scheduled_event`] as
    /// EventBridge would, and answers its JSON summary.
    pub async fn run_scheduled(&self, process: &LambdaProcess) -> Result<Value> {
        Ok(process.invoke(scheduled_event()).await?)
    }

    /// POSTs `body` to `/webhooks/{workflow_id}`, authenticated the way the workflow's `auth` asks
    /// (Standard Webhooks with a fresh `msg_` id and the current time, FUB-Signature, or token).
    pub async fn send(
        &self,
        process: &LambdaProcess,
        workflow_id: &str,
        body: &Value,
    ) -> Result<LambdaHttpResponse> {
        let bytes = serde_json::to_vec(body)?;
        let auth = self.auth_headers(workflow_id, &bytes).await?;
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", "application/json"),
            ("user-agent", "kvsync-devstack"),
        ];
        headers.extend(auth.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.send_raw(process, workflow_id, &headers, "", &bytes)
            .await
    }

    /// POSTs exactly these headers, query and body (nothing added but what API Gateway adds).
    pub async fn send_raw(
        &self,
        process: &LambdaProcess,
        workflow_id: &str,
        headers: &[(&str, &str)],
        query: &str,
        body: &[u8],
    ) -> Result<LambdaHttpResponse> {
        let path = format!("/webhooks/{workflow_id}");
        let event = http_api_event(
            "POST",
            &path,
            &[("workflow_id", workflow_id)],
            headers,
            query,
            body,
        );
        let result = process.invoke(event).await?;
        LambdaHttpResponse::from_invoke_result(result)
    }

    /// The headers that authenticate `body` for this workflow, from its item and secret.
    pub async fn auth_headers(
        &self,
        workflow_id: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>> {
        let item = self.workflow_item(workflow_id).await?.ok_or_else(|| {
            format!(
                "no workflow {workflow_id} in {}",
                self.table("WORKFLOWS_TABLE")
            )
        })?;
        let attr = |name: &str| {
            item.get(name)
                .and_then(|v| v.get("S"))
                .and_then(Value::as_str)
        };
        let secret_id = attr("webhook_secret")
            .ok_or_else(|| format!("workflow {workflow_id} has no webhook_secret"))?;
        let secret = self.secret_value(secret_id).await?;
        let auth = attr("auth").unwrap_or(if attr("source") == Some("followupboss") {
            "followupboss"
        } else {
            "standard"
        });
        Ok(match auth {
            "token" => vec![("x-kvsync-token".into(), secret)],
            "followupboss" => vec![(
                "fub-signature".into(),
                signing::fub_signature(&secret, body),
            )],
            _ => signing::standard_webhook_headers(
                &secret,
                &signing::new_msg_id(),
                signing::now_timestamp(),
                body,
            ),
        })
    }

    pub async fn secret_value(&self, secret_id: &str) -> Result<String> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| format!("reading secret {secret_id}: {}", aws::describe(&e)))?;
        out.secret_string
            .ok_or_else(|| format!("secret {secret_id} has no SecretString").into())
    }
}

mod google;
mod health;
pub use google::default_google_poller_bin;
mod microsoft;
pub use microsoft::default_microsoft_poller_bin;

struct Urls<'a> {
    aws_endpoint: &'a str,
    kvcore: &'a str,
    followupboss: &'a str,
}

/// Every variable template.yaml gives the function, resolved for this stack, then the AWS
/// endpoint, region and credentials, then `extra_env`.
fn function_env(
    template_path: &Path,
    function_logical_id: &str,
    tables: &BTreeMap<String, String>,
    urls: &Urls<'_>,
    extra_env: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let defaults = template::parameter_defaults(template_path)?;
    let mut env = Vec::new();
    for (name, value) in template::function_env(template_path, function_logical_id)? {
        let resolved = match (name.as_str(), &value) {
            _ if tables.contains_key(&name) => tables[&name].clone(),
            ("KVCORE_BASE_URL", _) => urls.kvcore.to_string(),
            ("FOLLOWUPBOSS_BASE_URL", _) => urls.followupboss.to_string(),
            ("RUST_LOG", _) => "info".to_string(),
            (_, EnvValue::Literal(v)) => v.clone(),
            (_, EnvValue::Ref(param)) if defaults.contains_key(param) => defaults[param].clone(),
            _ if extra_env.iter().any(|(k, _)| *k == name) => continue,
            _ => {
                return Err(format!(
                    "template.yaml sets {name} = {value:?} for {function_logical_id}, which devstack cannot resolve; \
                     pass it in StackOptions::extra_env"
                )
                .into());
            }
        };
        env.push((name, resolved));
    }
    let aws = [
        ("AWS_ENDPOINT_URL", urls.aws_endpoint),
        ("AWS_REGION", aws::REGION),
        ("AWS_DEFAULT_REGION", aws::REGION),
        ("AWS_ACCESS_KEY_ID", aws::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", aws::SECRET_ACCESS_KEY),
    ];
    let env = merged(env, aws.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Ok(merged(env, extra_env.iter().cloned()))
}

/// `base` with `more` added, a later value replacing an earlier one of the same name.
fn merged(
    mut base: Vec<(String, String)>,
    more: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    for (k, v) in more {
        match base.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => base.push((k, v)),
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moto_server tests run when MOTO_URL is set (`make test` always sets it).
    /// moto_server's URL; `make test` always sets it, so a missing one is a
    /// failure, never a silent pass.
    fn moto() -> String {
        std::env::var("MOTO_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .expect("MOTO_URL: run through `make test`")
    }

    #[test]
    fn prefixes_are_unique_and_valid_names() {
        let (a, b) = (unique_prefix(), unique_prefix());
        assert_ne!(a, b);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
    }

    #[test]
    fn env_merge_replaces_by_name() {
        let env = merged(
            vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            [("A".into(), "3".into())],
        );
        assert_eq!(
            env,
            [
                ("A".to_string(), "3".to_string()),
                ("B".to_string(), "2".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn creates_tables_and_gives_the_function_every_template_variable() {
        let url = moto();
        let stack = LocalStack::start(StackOptions {
            moto_url: Some(url.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        let prefix = stack.prefix().to_string();
        assert_eq!(
            stack.table("WORKFLOWS_TABLE"),
            format!("{prefix}WorkflowsTable")
        );
        assert_eq!(stack.table("EVENTS_TABLE"), format!("{prefix}EventsTable"));
        assert_eq!(
            stack.table("PERSONS_TABLE"),
            format!("{prefix}PersonsTable")
        );

        // Keys and TTL against the template: tests/e2e/tests/template_matches_code.rs.
        assert_eq!(
            stack.spawn.timeout,
            Duration::from_secs(25),
            "Timeout from template.yaml"
        );
        let env: BTreeMap<_, _> = stack.function_env().into_iter().collect();
        for name in
            template::function_env_vars(&template::template_path(), WEBHOOK_FUNCTION).unwrap()
        {
            assert!(
                env.contains_key(&name),
                "{name} missing from the function env"
            );
        }
        assert_eq!(env["KVCORE_BASE_URL"], stack.fake().base_url());
        assert_eq!(env["AWS_ENDPOINT_URL"], url);
        assert_eq!(env["WORKFLOWS_TABLE"], stack.table("WORKFLOWS_TABLE"));

        // The kvcore-indexer gets exactly its own template variables, resolved the same way.
        let indexer: BTreeMap<_, _> = stack.indexer_env().into_iter().collect();
        let declared =
            template::function_env_vars(&template::template_path(), KVCORE_INDEXER_FUNCTION)
                .unwrap();
        for name in &declared {
            assert!(
                indexer.contains_key(name),
                "{name} missing from the indexer env"
            );
        }
        assert_eq!(
            indexer["PHONE_INDEX_TABLE"],
            stack.table("PHONE_INDEX_TABLE")
        );
        assert_eq!(indexer["KVCORE_BASE_URL"], stack.fake().base_url());
        assert!(
            !indexer.contains_key("EVENTS_TABLE"),
            "only what the template gives the indexer"
        );
        assert_eq!(
            stack.indexer_spawn_options().timeout,
            Duration::from_secs(300)
        );

        // Creating again over existing tables is fine.
        let again = aws::create_tables(stack.dynamodb(), &template::template_path(), &prefix)
            .await
            .unwrap();
        assert_eq!(&again, stack.tables());
    }

    #[tokio::test]
    async fn seeds_workflows_and_signs_for_them() {
        let url = moto();
        let stack = LocalStack::start(StackOptions {
            moto_url: Some(url),
            ..Default::default()
        })
        .await
        .unwrap();
        let seeded = stack
            .seed_workflow(
                "w1",
                json!({"default_agent_id": {"N": "7"}, "webhook_secret": null}),
            )
            .await
            .unwrap();
        let item = stack.workflow_item("w1").await.unwrap().unwrap();
        assert_eq!(item["default_agent_id"], json!({"N": "7"}));
        assert!(item.get("webhook_secret").is_none());
        assert_eq!(
            stack
                .secret_value(&seeded.kvcore_token_secret)
                .await
                .unwrap(),
            KVCORE_TEST_TOKEN
        );
        assert!(
            stack.auth_headers("w1", b"{}").await.is_err(),
            "no webhook_secret, nothing to sign with"
        );

        let seeded = stack.seed_workflow("w1", Value::Null).await.unwrap();
        let headers = stack.auth_headers("w1", b"{}").await.unwrap();
        assert_eq!(headers[0].0, "webhook-id");
        let expected = signing::standard_webhook_signature(
            &seeded.webhook_secret,
            &headers[0].1,
            headers[1].1.parse().unwrap(),
            b"{}",
        );
        assert_eq!(headers[2], ("webhook-signature".to_string(), expected));

        stack
            .seed_workflow("t", json!({"auth": {"S": "token"}}))
            .await
            .unwrap();
        let secret = stack
            .secret_value(&stack.secret_name("kvsync/t/webhook-secret"))
            .await
            .unwrap();
        assert_eq!(
            stack.auth_headers("t", b"{}").await.unwrap(),
            [("x-kvsync-token".to_string(), secret)]
        );

        stack
            .put_secret(&seeded.webhook_secret_name, "rotated")
            .await
            .unwrap();
        assert_eq!(
            stack
                .secret_value(&seeded.webhook_secret_name)
                .await
                .unwrap(),
            "rotated"
        );
        assert_eq!(stack.scan("WORKFLOWS_TABLE").await.unwrap().len(), 2);
    }
}
