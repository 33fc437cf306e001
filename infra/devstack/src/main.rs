//! `devstack`, what `make dev` runs: the local stack with demo workflows, the webhook function and
//! an HTTP front on loopback; `devstack sign` prints the headers of a Standard Webhooks request.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod google_demo;
mod microsoft_demo;
mod queued_demo;

use kvsync_devstack::runtime_api::SpawnOptions;
use kvsync_devstack::signing::{self, DEMO_WHSEC};
use kvsync_devstack::stack::{
    KVCORE_TEST_TOKEN, LocalStack, StackOptions, moto_url_from_env, scheduled_event,
    spawn_options_from_template,
};
use kvsync_devstack::{Result, gateway, template};
use serde_json::json;

const USAGE: &str = "\
usage: devstack [--moto URL] [--port 3000] [--kvcore-port 8090] [--google-port 8091] [--microsoft-port 8093] [--webhook-bin PATH]
       devstack sign --secret whsec_... --file body.json [--url URL] [--id msg_...] [--timestamp SECS]

  devstack       the local stack: tables in moto_server (MOTO_URL or AWS_ENDPOINT_URL),
                 the kvCORE fake, the webhook function (WEBHOOK_BIN or target/debug/webhook)
                 and a gateway at http://127.0.0.1:PORT/webhooks/{workflow_id}
  devstack sign  prints curl -H flags for a Standard Webhooks signed request
                 (with --url, a whole curl command)";

const PREFIX: &str = "kvsync-dev-";
/// How often `make dev` runs the kvcore-indexer (in AWS: every 5 minutes,
/// the template's `IndexerSchedule`); short, so a contact added in the
/// fake kvCORE shows up in the phone index quickly.
const INDEXER_EVERY: Duration = Duration::from_secs(30);
/// How often `make dev` runs the health check (in AWS: daily, the
/// template's `HealthCheckSchedule`); short, so its metrics (EMF lines in
/// its log, DEVSTACK_ECHO_LOGS=1) follow what you change.
const HEALTH_EVERY: Duration = Duration::from_secs(120);
/// The Google fake's port in `make dev`.
const GOOGLE_PORT: u16 = 8091;
/// The Microsoft Graph fake's port in `make dev`.
const MICROSOFT_PORT: u16 = 8093;
const SAMPLE_EVENT: &str = "infra/events/generic-john-smith.json";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sign") => sign(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => dev(&args).await,
    };
    if let Err(e) = result {
        eprintln!("devstack: {e}");
        std::process::exit(1);
    }
}

/// `--name value` pairs; anything else is a usage error.
fn flags(args: &[String], known: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag}\n{USAGE}").into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        out.push((flag.clone(), value.clone()));
    }
    Ok(out)
}

fn flag<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn port(flags: &[(String, String)], name: &str, default: u16) -> Result<u16> {
    flag(flags, name).map_or(Ok(default), |p| {
        p.parse()
            .map_err(|_| format!("{name}: not a port: {p}").into())
    })
}

async fn dev(args: &[String]) -> Result<()> {
    let flags = flags(
        args,
        &[
            "--moto",
            "--port",
            "--kvcore-port",
            "--google-port",
            "--microsoft-port",
            "--webhook-bin",
        ],
    )?;
    let moto = flag(&flags, "--moto").map(str::to_string).or_else(moto_url_from_env).ok_or(
        "no moto_server: pass --moto URL or set MOTO_URL (start one with `moto_server -H 127.0.0.1 -p 5055`)",
    )?;
    let gateway_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port(&flags, "--port", 3000)?));
    let kvcore_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port(&flags, "--kvcore-port", 8090)?));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEVSTACK_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    // Queued delivery (SPEC section 11): the Follow Up Boss fake first, so
    // the functions are pointed at it.
    let followupboss = queued_demo::start_followupboss().await?;
    let stack = LocalStack::start(StackOptions {
        followupboss_base_url: Some(followupboss.base_url()),
        moto_url: Some(moto.clone()),
        prefix: PREFIX.into(),
        webhook_bin: flag(&flags, "--webhook-bin").map(PathBuf::from),
        kvcore_addr: Some(kvcore_addr),
        spawn: Some(SpawnOptions {
            echo_logs: true,
            ..spawn_options_from_template(&template::template_path())?
        }),
        ..Default::default()
    })
    .await?;

    // `demo`: token auth, fills only empty fields. `demo-signed`: Standard Webhooks.
    let token_secret = stack.secret_name("kvsync/demo/webhook-token");
    stack.put_secret(&token_secret, "demo-token").await?;
    stack
        .seed_workflow(
            "demo",
            json!({
                "auth": {"S": "token"},
                "webhook_secret": {"S": token_secret},
                "default_agent_id": {"N": "7"},
                "overwrite_existing": {"BOOL": false},
            }),
        )
        .await?;
    let signed = stack
        .seed_workflow("demo-signed", json!({"default_agent_id": {"N": "7"}}))
        .await?;
    stack
        .put_secret(&signed.webhook_secret_name, DEMO_WHSEC)
        .await?;
    let john = stack.fake().insert_contact(json!({
        "first_name": "John",
        "last_name": "Smith",
        "email": "john.smith@example.com",
        "cell_phone_1": "(239) 555-0100",
        "assigned_agent_id": 7,
    }));

    // The contacts the sample import (SPEC section 13) finds again.
    let demo_contacts = import_demo_contacts(&stack);

    // The phone index (SPEC section 9): built once now, then refreshed on a
    // short timer, as the indexer's EventBridge schedule does in AWS.
    let indexer = stack.spawn_indexer().await?;
    let first_index = stack.run_scheduled(&indexer).await?;
    let index_task = tokio::spawn(run_every(indexer, INDEXER_EVERY, "kvcore-indexer"));
    // Google Contacts without a bridge (SPEC section 10): the Google fake
    // and the google-poller on a short timer.
    let google = google_demo::start(
        &stack,
        SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            port(&flags, "--google-port", GOOGLE_PORT)?,
        )),
    )
    .await?;
    // Microsoft 365 / Outlook contacts (SPEC section 15): the Graph fake
    // and the microsoft-poller on a short timer.
    let microsoft = microsoft_demo::start(
        &stack,
        SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            port(&flags, "--microsoft-port", MICROSOFT_PORT)?,
        )),
    )
    .await?;

    // The daily health check (SPEC section 14), on a short timer.
    let health = stack.spawn_health_check(None, &google.env).await?;
    let health_task = tokio::spawn(run_every(health, HEALTH_EVERY, "health-check"));

    let process = Arc::new(stack.spawn_function().await?);
    let (gateway_addr, gateway_task) = gateway::spawn(gateway_addr, process.clone()).await?;
    let cold_start = wait_for_first_poll(&process).await;

    let base = format!("http://{gateway_addr}");
    let kvcore_admin = format!("http://{kvcore_addr}/_admin/contacts");
    let sample = shown_path(&template::workspace_root().join(SAMPLE_EVENT));
    let me = std::env::current_exe()
        .map(|p| shown_path(&p))
        .unwrap_or_else(|_| "devstack".into());
    let tables: Vec<String> = stack
        .tables()
        .iter()
        .map(|(var, name)| format!("{var} = {name}"))
        .collect();
    println!(
        "\nkvsync local stack is up (Ctrl-C stops it)\n\n\
         \x20 webhooks   POST {base}/webhooks/{{workflow_id}}\n\
         \x20 kvCORE     {kvcore} (fake; token {KVCORE_TEST_TOKEN}); contacts: {kvcore_admin}\n\
         \x20 moto       {moto}\n\
         \x20 function   {bin} (pid {pid}, cold start {cold})\n\
         \x20 indexer    phone index built at start, refreshed every {every} s: {index}\n\
         \x20 health     health-check every {health_every} s (its metrics: DEVSTACK_ECHO_LOGS=1)\n\
         \x20 tables     {tables}\n\
         \x20 workflows  demo         auth token (X-Kvsync-Token: demo-token), default_agent_id 7, overwrite_existing false\n\
         \x20            demo-signed  auth standard, secret {whsec}\n\
         \x20 kvCORE has John Smith (id {john}, john.smith@example.com, (239) 555-0100, agent 7)\n\n\
         Try it (the sample has John's email, a new mobile and an address; with overwrite off only the address is written):\n\
         \x20 curl -sS -X POST {base}/webhooks/demo -H 'content-type: application/json' -H 'X-Kvsync-Token: demo-token' -d @{sample}\n\
         \x20 curl -sS {kvcore_admin}\n\
         Sending it again answers \"duplicate\": true (same event_id). Signed, to demo-signed:\n\
         \x20 {me} sign --secret {whsec} --file {sample} --url {base}/webhooks/demo-signed | sh\n",
        kvcore = stack.fake().base_url(),
        bin = stack.webhook_bin().display(),
        pid = process.pid(),
        cold = cold_start.map_or("not yet polled".into(), |d| format!("{} ms", d.as_millis())),
        tables = tables.join("\n             "),
        every = INDEXER_EVERY.as_secs(),
        health_every = HEALTH_EVERY.as_secs(),
        index = first_index,
        whsec = DEMO_WHSEC,
    );
    println!("{}", google.text);
    println!("{}", microsoft.text);
    println!(
        "A one-time import, previewed first (SPEC section 13): {sample_import}, 200 rows of a\n\
         Google Contacts export: John, the {demo_contacts} demo contacts kvCORE has (half of them changed),\n\
         new people, duplicates, invalid numbers and emails. In the CLI's terminal (below):\n\
         \x20 target/debug/kvsync import demo-signed {sample_import} --preview --out target/import\n\
         \x20 open target/import/sample-import.preview.html   # totals, a chart, every row; nothing written yet\n\
         \x20 target/debug/kvsync import demo-signed {sample_import} --apply --out target/import\n",
        sample_import = shown_path(&template::workspace_root().join(SAMPLE_IMPORT)),
    );
    let queued = queued_demo::start(&stack, &followupboss, &base).await?;
    println!("{}", queued.text);
    let mut source_env = google.env.clone();
    source_env.extend(microsoft.env.iter().cloned());
    print_operator_env(&stack, &base, &source_env);

    let mut gateway_task = gateway_task;
    tokio::select! {
        _ = shutdown_signal() => eprintln!("devstack: stopping"),
        _ = &mut gateway_task => eprintln!("devstack: the gateway stopped"),
    }
    gateway_task.abort();
    let _ = gateway_task.await;
    index_task.abort();
    health_task.abort();
    google.stop().await;
    microsoft.stop().await;
    let _ = index_task.await;
    let _ = health_task.await;
    // Kill the function first (Drop kills it too, when a connection still holds it), then the fake.
    match Arc::try_unwrap(process) {
        Ok(process) => process.shutdown().await,
        Err(process) => drop(process),
    }
    drop(stack);
    Ok(())
}

/// The sample import's CSV (`make dev` prints how to preview it).
const SAMPLE_IMPORT: &str = "infra/events/sample-import.csv";

/// kvCORE's demo contacts that rows 2..41 of the sample import name
/// (`demo{i}@example.com`): the even rows say what kvCORE holds
/// (unchanged), the odd ones add a birthday and an address (updates).
fn import_demo_contacts(stack: &LocalStack) -> usize {
    const FIRST: [&str; 15] = [
        "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
        "Mia", "Mason", "Amelia", "Ethan", "Harper",
    ];
    const LAST: [&str; 15] = [
        "Garcia", "Nguyen", "Patel", "Johnson", "Brown", "Davis", "Miller", "Wilson", "Moore",
        "Taylor", "Anderson", "Thomas", "Jackson", "White", "Harris",
    ];
    let contacts: Vec<serde_json::Value> = (1..=40)
        .map(|i| {
            json!({
                "first_name": FIRST[i % 15], "last_name": LAST[i % 15],
                "email": format!("demo{i}@example.com"),
                "cell_phone_1": format!("(239) 555-{}", 1000 + i),
                "assigned_agent_id": 7,
            })
        })
        .collect();
    stack.fake().insert_contacts(contacts).len()
}

/// Invokes a scheduled function (the indexer, the health check) with a
/// scheduled event every `period`, as EventBridge would, logging each
/// summary.
async fn run_every(process: kvsync_devstack::LambdaProcess, period: Duration, name: &'static str) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        match process.invoke(scheduled_event()).await {
            Ok(summary) => tracing::info!(%summary, "{name} ran"),
            Err(error) => tracing::warn!(%error, "{name} failed"),
        }
    }
}

async fn wait_for_first_poll(process: &kvsync_devstack::LambdaProcess) -> Option<Duration> {
    for _ in 0..100 {
        if let Some(d) = process.time_to_first_poll() {
            return Some(d);
        }
        if let Some(status) = process.exit_status() {
            eprintln!("devstack: the webhook function exited at start ({status})");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => t.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Where the `kvsync` CLI's environment for this stack is written.
const OPERATOR_ENV: &str = "target/devstack.env";

/// Writes `target/devstack.env`: the function's environment (tables, moto
/// endpoint and credentials, kvCORE fake) plus the CLI's own
/// `KVSYNC_WEBHOOK_URL` and `KVSYNC_SECRETS_PREFIX`, so `. target/devstack.env`
/// in a second terminal points `kvsync` at this stack (README walk-through).
fn print_operator_env(stack: &LocalStack, base: &str, google_env: &[(String, String)]) {
    let mut env = stack.function_env();
    // Every table of the stack, not only the webhook function's (the
    // doctor reads the Google sync table too).
    for (name, table) in stack.tables() {
        if !env.iter().any(|(n, _)| n == name) {
            env.push((name.clone(), table.clone()));
        }
    }
    // The Google and Microsoft fakes' endpoints (doctor checks the Google
    // grant there; `kvsync microsoft connect` asks the fake for a code).
    env.extend(google_env.iter().cloned());
    env.push(("KVSYNC_WEBHOOK_URL".into(), format!("{base}/webhooks")));
    env.push(("KVSYNC_SECRETS_PREFIX".into(), format!("{PREFIX}kvsync/")));
    let text: String = env
        .iter()
        .map(|(name, value)| format!("export {name}={}\n", quote(value)))
        .collect();
    let path = template::workspace_root().join(OPERATOR_ENV);
    match std::fs::write(&path, text) {
        Ok(()) => println!(
            "The kvsync CLI, in another terminal (README: from `sam deploy` to the first synced contact):\n\
             \x20 . {}   # the tables, moto and the fakes, KVSYNC_WEBHOOK_URL, KVSYNC_SECRETS_PREFIX\n\
             \x20 target/debug/kvsync doctor demo   # make dev built the CLI too\n",
            shown_path(&path)
        ),
        Err(e) => eprintln!("devstack: writing {}: {e}", path.display()),
    }
}

/// Relative to the current directory when it is inside it, else absolute.
fn shown_path(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            path.strip_prefix(cwd.canonicalize().ok()?)
                .ok()
                .map(Path::to_path_buf)
        })
        .unwrap_or(path)
        .display()
        .to_string()
}

fn sign(args: &[String]) -> Result<()> {
    let flags = flags(
        args,
        &["--secret", "--file", "--url", "--id", "--timestamp"],
    )?;
    let secret = flag(&flags, "--secret").ok_or("sign needs --secret whsec_...")?;
    let file = flag(&flags, "--file").ok_or("sign needs --file body.json")?;
    let body = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
    let id = flag(&flags, "--id").map_or_else(signing::new_msg_id, str::to_string);
    let timestamp = match flag(&flags, "--timestamp") {
        Some(t) => t
            .parse()
            .map_err(|_| format!("--timestamp: not unix seconds: {t}"))?,
        None => signing::now_timestamp(),
    };
    let headers = signing::standard_webhook_headers(secret, &id, timestamp, &body);
    let header_flags: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("-H {}", quote(&format!("{k}: {v}"))))
        .collect();
    match flag(&flags, "--url") {
        // --data-binary: curl's -d would strip newlines and break the signature.
        Some(url) => println!(
            "curl -sS -X POST {} -H 'content-type: application/json' {} --data-binary @{}",
            quote(url),
            header_flags.join(" "),
            quote(file)
        ),
        None => println!("{}", header_flags.join(" ")),
    }
    Ok(())
}

/// A single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_shell_words() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn parses_flags() {
        let args: Vec<String> = ["--port", "1", "--port", "2"].map(String::from).to_vec();
        let parsed = flags(&args, &["--port"]).unwrap();
        assert_eq!(port(&parsed, "--port", 3000).unwrap(), 2);
        assert_eq!(port(&parsed, "--kvcore-port", 8090).unwrap(), 8090);
        assert!(flags(&["--nope".to_string()], &["--port"]).is_err());
        assert!(flags(&["--port".to_string()], &["--port"]).is_err());
    }

    #[test]
    fn the_sample_event_updates_john_smith() {
        let path = template::workspace_root().join(SAMPLE_EVENT);
        let event: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let contact = &event["contact"];
        assert_eq!(contact["email"], "john.smith@example.com");
        assert_ne!(contact["phones"][0]["number"], "(239) 555-0100");
        assert!(contact["address"]["street"].is_string());
    }
}
