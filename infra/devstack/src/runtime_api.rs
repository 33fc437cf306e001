//! A Lambda Runtime API emulator: runs a real function binary exactly as Lambda does, one
//! invocation at a time, and keeps its log lines for tests.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::Result;

const API: &str = "/2018-06-01/runtime";
/// Lambda's response payload limit is 6 MB; accept a little more so the function's own limit shows.
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// How the function is run.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The function timeout (template.yaml: 25 s); the process is killed when it runs out.
    pub timeout: Duration,
    /// How long an invocation may wait for the runtime to ask for it (cold start, Lambda: 10 s).
    pub init_timeout: Duration,
    /// Echo the function's log lines to stderr as they come.
    pub echo_logs: bool,
    /// `AWS_LAMBDA_FUNCTION_NAME`; default: the binary's file name.
    pub function_name: Option<String>,
    pub memory_mb: u32,
    /// Pass this process's environment through (Lambda does not; off by default).
    pub inherit_env: bool,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(25),
            init_timeout: Duration::from_secs(10),
            echo_logs: false,
            function_name: None,
            memory_mb: 128,
            inherit_env: false,
        }
    }
}

/// Why an invocation gave no response.
#[derive(Debug, Clone)]
pub enum InvokeError {
    /// The function posted to `/invocation/{id}/error` (this is that JSON).
    Function(Value),
    /// The function posted to `/init/error` (this is that JSON).
    Init(Value),
    /// The process is gone (crash, panic with abort, killed after a timeout).
    ProcessExited {
        status: String,
        last_logs: Vec<String>,
    },
    /// No response within the function timeout (or the init timeout); the process is killed.
    Timeout(Duration),
    /// The emulator itself failed.
    Emulator(String),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Function(v) => write!(f, "function error: {v}"),
            Self::Init(v) => write!(f, "init error: {v}"),
            Self::ProcessExited { status, last_logs } => {
                write!(f, "function process exited ({status}); last log lines:")?;
                last_logs.iter().try_for_each(|l| write!(f, "\n  {l}"))
            }
            Self::Timeout(d) => write!(f, "function timed out after {d:?}"),
            Self::Emulator(m) => write!(f, "runtime API emulator: {m}"),
        }
    }
}

impl std::error::Error for InvokeError {}

enum Outcome {
    Response(Value),
    Error(Value),
}

struct Pending {
    id: String,
    event: Value,
    reply: oneshot::Sender<Outcome>,
    delivered: oneshot::Sender<()>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: watch::Sender<Option<Value>>,
    first_poll: OnceLock<Instant>,
    timeout: Duration,
    function_arn: String,
}

/// A running function binary behind its own Runtime API.
pub struct LambdaProcess {
    addr: SocketAddr,
    pid: u32,
    spawned_at: Instant,
    shared: Arc<Shared>,
    queue: mpsc::Sender<Pending>,
    one_at_a_time: tokio::sync::Mutex<()>,
    exit: watch::Receiver<Option<String>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    logs: Arc<(Mutex<Vec<String>>, Notify)>,
    server: JoinHandle<()>,
    init_timeout: Duration,
    timeout: Duration,
}

impl LambdaProcess {
    /// Starts the Runtime API on 127.0.0.1 and the binary with `env` (and the AWS_LAMBDA_* vars).
    pub async fn spawn(binary: &Path, env: &[(String, String)]) -> Result<LambdaProcess> {
        Self::spawn_with(binary, env, SpawnOptions::default()).await
    }

    pub async fn spawn_with(
        binary: &Path,
        env: &[(String, String)],
        opts: SpawnOptions,
    ) -> Result<LambdaProcess> {
        if !binary.is_file() {
            return Err(format!(
                "function binary {} does not exist (build it first)",
                binary.display()
            )
            .into());
        }
        let name = opts.function_name.clone().unwrap_or_else(|| {
            binary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "function".into())
        });
        let (queue_tx, queue_rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::new(HashMap::new()),
            init_error: watch::Sender::new(None),
            first_poll: OnceLock::new(),
            timeout: opts.timeout,
            function_arn: format!(
                "arn:aws:lambda:us-east-1:{}:function:{name}",
                crate::apigw::ACCOUNT_ID
            ),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("runtime API server stopped: {e}");
            }
        });

        let mut cmd = Command::new(binary);
        if !opts.inherit_env {
            cmd.env_clear();
        }
        cmd.envs(lambda_env(&name, &opts, binary))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .current_dir(
                binary
                    .parent()
                    .filter(|p| p.is_dir())
                    .unwrap_or(Path::new(".")),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let pid = child.id().unwrap_or_default();

        let logs = Arc::new((Mutex::new(Vec::new()), Notify::new()));
        let prefix = format!("[{name} {pid}]");
        let streams: [Option<Box<dyn AsyncRead + Unpin + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        let readers: Vec<_> = streams
            .into_iter()
            .flatten()
            .map(|s| {
                tokio::spawn(capture(
                    s,
                    logs.clone(),
                    opts.echo_logs.then(|| prefix.clone()),
                ))
            })
            .collect();

        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let status = match status {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            // Let the last lines (a panic message) land before anyone reads the logs of the exit.
            for reader in readers {
                let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
            }
            let _ = exit_tx.send(Some(status));
        });

        Ok(LambdaProcess {
            addr,
            pid,
            spawned_at,
            shared,
            queue: queue_tx,
            one_at_a_time: tokio::sync::Mutex::new(()),
            exit: exit_rx,
            kill: Mutex::new(Some(kill_tx)),
            logs,
            server,
            init_timeout: opts.init_timeout,
            timeout: opts.timeout,
        })
    }

    /// Sends one event and waits for the function's answer; invocations queue, one at a time.
    pub async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let _turn = self.one_at_a_time.lock().await;
        let mut exit = self.exit.clone();
        let mut init = self.shared.init_error.subscribe();
        let (init_error, exit_status) = (init.borrow().clone(), exit.borrow().clone());
        if let Some(err) = init_error {
            return Err(InvokeError::Init(err));
        }
        if let Some(status) = exit_status {
            return Err(self.exited(status));
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let (delivered_tx, delivered_rx) = oneshot::channel();
        let pending = Pending {
            id: uuid(),
            event,
            reply: reply_tx,
            delivered: delivered_tx,
        };
        if self.queue.send(pending).await.is_err() {
            return Err(InvokeError::Emulator("invocation queue closed".into()));
        }

        tokio::select! {
            delivered = delivered_rx => if delivered.is_err() {
                return Err(InvokeError::Emulator("invocation dropped before delivery".into()));
            },
            status = exited(&mut exit) => return Err(self.exited(status)),
            err = init_failed(&mut init) => return Err(InvokeError::Init(err)),
            _ = tokio::time::sleep(self.init_timeout) => {
                self.kill();
                return Err(InvokeError::Timeout(self.init_timeout));
            }
        }
        tokio::select! {
            outcome = reply_rx => match outcome {
                Ok(Outcome::Response(v)) => Ok(v),
                Ok(Outcome::Error(v)) => Err(InvokeError::Function(v)),
                Err(_) => Err(InvokeError::Emulator("invocation dropped".into())),
            },
            status = exited(&mut exit) => Err(self.exited(status)),
            _ = tokio::time::sleep(self.timeout) => {
                // Lambda tears the sandbox down on a timeout; so do we.
                self.kill();
                Err(InvokeError::Timeout(self.timeout))
            }
        }
    }

    /// Every line the function wrote to stdout or stderr so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.0.lock().expect("logs lock").clone()
    }

    /// Waits until a log line contains `needle` (log lines can trail the response a little).
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.logs.1.notified();
            if let Some(line) = self.logs().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Spawn → first `GET /invocation/next`: the cold start.
    pub fn time_to_first_poll(&self) -> Option<Duration> {
        self.shared
            .first_poll
            .get()
            .map(|t| t.duration_since(self.spawned_at))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `127.0.0.1:PORT`, the AWS_LAMBDA_RUNTIME_API the function was given.
    pub fn runtime_api_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The exit status once the process has ended.
    pub fn exit_status(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Kills the process and waits for it to end.
    pub async fn shutdown(self) {
        self.kill();
        let mut exit = self.exit.clone();
        let _ = exit.wait_for(Option::is_some).await;
    }

    fn kill(&self) {
        if let Some(tx) = self.kill.lock().expect("kill lock").take() {
            let _ = tx.send(());
        }
    }

    fn exited(&self, status: String) -> InvokeError {
        let logs = self.logs();
        let last_logs = logs[logs.len().saturating_sub(20)..].to_vec();
        InvokeError::ProcessExited { status, last_logs }
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
    }
}

async fn exited(exit: &mut watch::Receiver<Option<String>>) -> String {
    let status = exit.wait_for(Option::is_some).await.map(|s| s.clone());
    status.ok().flatten().unwrap_or_else(|| "unknown".into())
}

async fn init_failed(init: &mut watch::Receiver<Option<Value>>) -> Value {
    let err = init.wait_for(Option::is_some).await.map(|e| e.clone());
    match err {
        Ok(err) => err.unwrap_or_default(),
        Err(_) => std::future::pending().await,
    }
}

async fn capture(
    stream: impl AsyncRead + Unpin,
    logs: Arc<(Mutex<Vec<String>>, Notify)>,
    echo: Option<String>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(prefix) = &echo {
            eprintln!("{prefix} {line}");
        }
        logs.0.lock().expect("logs lock").push(line);
        logs.1.notify_waiters();
    }
}

fn lambda_env(name: &str, opts: &SpawnOptions, binary: &Path) -> Vec<(String, String)> {
    let task_root = binary
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let stream = format!("{}/[$LATEST]{:032x}", today(), rand::rng().random::<u128>());
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_string()),
        ("LANG", "en_US.UTF-8".to_string()),
        ("TZ", ":UTC".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            opts.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ("_HANDLER", "bootstrap".to_string()),
        ("LAMBDA_TASK_ROOT", task_root),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{API}/invocation/next"), get(next))
        .route(&format!("{API}/invocation/{{id}}/response"), post(response))
        .route(&format!("{API}/invocation/{{id}}/error"), post(error))
        .route(&format!("{API}/init/error"), post(init_error))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(shared)
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    s.first_poll.get_or_init(Instant::now);
    let pending = loop {
        let Some(p) = s.queue.lock().await.recv().await else {
            return (StatusCode::GONE, "emulator stopping").into_response();
        };
        // An invoke that gave up (or was cancelled) before delivery is not delivered.
        if !p.reply.is_closed() {
            break p;
        }
    };
    let deadline = SystemTime::now() + s.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    s.in_flight
        .lock()
        .expect("in-flight lock")
        .insert(pending.id.clone(), pending.reply);
    let _ = pending.delivered.send(());
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = v.parse() {
            headers.insert(k, v);
        }
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", pending.id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        s.function_arn.clone(),
    );
    set("lambda-runtime-trace-id", trace_id());
    (StatusCode::OK, headers, pending.event.to_string()).into_response()
}

async fn response(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    finish(&s, &id, Outcome::Response(parse(&body)))
}

async fn error(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    finish(&s, &id, Outcome::Error(parse(&body)))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    s.init_error.send_replace(Some(parse(&body)));
    accepted()
}

fn finish(s: &Shared, id: &str, outcome: Outcome) -> Response {
    let Some(reply) = s.in_flight.lock().expect("in-flight lock").remove(id) else {
        let body = json!({"errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let _ = reply.send(outcome);
    accepted()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn uuid() -> String {
    let n: u128 = rand::rng().random();
    let n = (n & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut rng = rand::rng();
    let root: u128 = rng.random::<u128>() >> 32;
    let parent: u64 = rng.random();
    format!("Root=1-{secs:08x}-{root:024x};Parent={parent:016x};Sampled=0")
}

fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (y, m, d) = crate::apigw::civil_date(secs);
    format!("{y}/{m:02}/{d:02}")
}

#[cfg(test)]
/// A "function" that is only a shell loop, so the process machinery has something to run;
/// the Runtime API side is driven by the test itself with reqwest.
pub(crate) async fn idle_process(timeout: Duration) -> LambdaProcess {
    let opts = SpawnOptions {
        timeout,
        init_timeout: Duration::from_secs(5),
        function_name: Some("idle-fn".into()),
        ..Default::default()
    };
    let env = [("GREETING".to_string(), "hello".to_string())];
    let script = std::env::temp_dir().join(format!(
        "devstack-idle-{}-{}.sh",
        std::process::id(),
        uuid()
    ));
    std::fs::write(&script, "#!/bin/sh\necho \"started $GREETING $AWS_LAMBDA_FUNCTION_NAME\"\necho oops >&2\nexec sleep 60\n")
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A fork in another test thread can briefly hold the script open for writing (ETXTBSY).
    let mut attempt = 0;
    let p = loop {
        match LambdaProcess::spawn_with(&script, &env, opts.clone()).await {
            Ok(p) => break p,
            Err(e) if attempt < 20 && e.to_string().contains("busy") => attempt += 1,
            Err(e) => panic!("spawning the idle script: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // sh opens the script after exec; it has once it prints.
    p.wait_for_log("started", Duration::from_secs(5)).await;
    let _ = std::fs::remove_file(&script);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(p: &LambdaProcess, path: &str) -> String {
        format!("http://{}{API}{path}", p.runtime_api_addr())
    }

    #[tokio::test]
    async fn acts_as_the_runtime_api() {
        let p = Arc::new(idle_process(Duration::from_secs(10)).await);
        let http = reqwest::Client::new();
        let invoker = tokio::spawn({
            let p = p.clone();
            async move { p.invoke(json!({"hello": "world"})).await }
        });

        let next = http.get(url(&p, "/invocation/next")).send().await.unwrap();
        assert_eq!(next.status(), 200);
        let h = next.headers().clone();
        let id = h["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let deadline: u128 = h["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            deadline > now + 9_000 && deadline <= now + 10_000,
            "deadline {deadline} now {now}"
        );
        assert!(
            h["lambda-runtime-invoked-function-arn"]
                .to_str()
                .unwrap()
                .starts_with("arn:aws:lambda:us-east-1:")
        );
        assert!(
            h["lambda-runtime-trace-id"]
                .to_str()
                .unwrap()
                .starts_with("Root=1-")
        );
        assert_eq!(
            next.json::<Value>().await.unwrap(),
            json!({"hello": "world"})
        );
        assert!(p.time_to_first_poll().is_some());

        let posted = http
            .post(url(&p, &format!("/invocation/{id}/response")))
            .body(r#"{"statusCode":200}"#);
        assert_eq!(posted.send().await.unwrap().status(), 202);
        assert_eq!(invoker.await.unwrap().unwrap(), json!({"statusCode": 200}));

        // A second invocation answered with an error.
        let invoker = tokio::spawn({
            let p = p.clone();
            async move { p.invoke(json!(2)).await }
        });
        let next = http.get(url(&p, "/invocation/next")).send().await.unwrap();
        let id = next.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let err = json!({"errorType": "Boom", "errorMessage": "it broke"});
        let posted = http
            .post(url(&p, &format!("/invocation/{id}/error")))
            .json(&err)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        assert!(matches!(invoker.await.unwrap(), Err(InvokeError::Function(v)) if v == err));

        let stale = http
            .post(url(&p, &format!("/invocation/{id}/response")))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 400);

        let line = p
            .wait_for_log("started", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(line, "started hello idle-fn");
        assert!(
            p.wait_for_log("oops", Duration::from_secs(5))
                .await
                .is_some()
        );
        assert!(p.pid() > 0);
    }

    #[tokio::test]
    async fn init_error_fails_invocations() {
        let p = idle_process(Duration::from_secs(10)).await;
        let http = reqwest::Client::new();
        let err = json!({"errorType": "Config", "errorMessage": "no table"});
        let r = http
            .post(url(&p, "/init/error"))
            .json(&err)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert!(matches!(p.invoke(json!({})).await, Err(InvokeError::Init(v)) if v == err));
    }

    #[tokio::test]
    async fn timeout_kills_the_process() {
        let p = idle_process(Duration::from_millis(300)).await;
        let http = reqwest::Client::new();
        let poll = tokio::spawn(http.get(url(&p, "/invocation/next")).send());
        assert!(matches!(
            p.invoke(json!({})).await,
            Err(InvokeError::Timeout(_))
        ));
        poll.await.unwrap().unwrap();
        assert!(matches!(
            p.invoke(json!({})).await,
            Err(InvokeError::ProcessExited { .. })
        ));
        assert!(p.exit_status().is_some());
    }

    #[tokio::test]
    async fn shutdown_ends_the_process() {
        let p = idle_process(Duration::from_secs(1)).await;
        let pid = p.pid();
        p.shutdown().await;
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    }

    fn is_zombie(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }
}
