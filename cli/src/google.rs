//! `kvsync google connect|status <workflow_id>` (SPEC section 10).
//!
//! `connect` runs Google's OAuth flow for installed apps
//! (developers.google.com/identity/protocols/oauth2/native-app): a
//! loopback redirect on 127.0.0.1, PKCE (S256) and a `state` check; it
//! prints the consent URL, waits for the browser to come back with a code,
//! exchanges the code at `GOOGLE_OAUTH_TOKEN_URL` (else the client file's
//! `token_uri`), and writes `{client_id, client_secret, refresh_token}`
//! into the workflow's `google_oauth_secret` (created, or a new version).
//! The refresh token is never printed. `status` shows what the
//! google-poller recorded for the workflow.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kvsync::adapters::google::{
    CodeGrant, DEFAULT_PEOPLE_BASE_URL, DEFAULT_TOKEN_URL, Google, pkce_challenge,
};
use kvsync::adapters::store::{GoogleSyncStore, ListingKind, Workflows};
use kvsync::clock::now_ms;
use kvsync::domain::settings::Source;
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::secret_store;
use crate::stack::{Stack, StackArgs};
use crate::when;

/// Read-only access to the user's contacts is all the poller needs.
const SCOPE: &str = "https://www.googleapis.com/auth/contacts.readonly";
/// Where the consent page is when the client file names none.
const DEFAULT_AUTH_URI: &str = "https://accounts.google.com/o/oauth2/v2/auth";

/// `kvsync google connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The workflow's id; its `google_oauth_secret` names the secret written.
    pub workflow_id: String,
    /// The OAuth client file downloaded from the Google Cloud console
    /// (APIs & Services → Credentials → OAuth client ID, type "Desktop
    /// app"): `{"installed": {"client_id", "client_secret", ...}}`.
    #[arg(long, value_name = "FILE")]
    pub client_secret: PathBuf,
    /// Loopback port for the redirect [default: a free one].
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// How long to wait for the browser, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// The `installed` client of a client secret file.
#[derive(Debug, Deserialize)]
struct ClientFile {
    installed: Option<InstalledClient>,
    web: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct InstalledClient {
    client_id: String,
    client_secret: String,
    auth_uri: Option<String>,
    token_uri: Option<String>,
}

pub async fn connect(stack_args: &StackArgs, args: ConnectArgs) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let workflow_id = args.workflow_id.as_str();
    let secret_id = oauth_secret_of(&stack, workflow_id).await?;
    let client = read_client_file(&args.client_secret)?;

    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| format!("listening on 127.0.0.1:{}: {e}", args.port))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/");
    let verifier = Alphanumeric.sample_string(&mut rand::rng(), 64);
    let state = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let auth_uri = client.auth_uri.as_deref().unwrap_or(DEFAULT_AUTH_URI);
    let challenge = pkce_challenge(&verifier);
    let consent_url = reqwest::Url::parse_with_params(
        auth_uri,
        [
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", SCOPE),
            // A refresh token, every time (not only on the first consent).
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", state.as_str()),
        ],
    )
    .map_err(|e| format!("the client file's auth_uri '{auth_uri}': {e}"))?;
    eprintln!(
        "Open this URL in a browser, sign in to the Google account whose contacts workflow '{workflow_id}' syncs, and allow access:\n\n{consent_url}\n\nWaiting for Google to redirect to {redirect_uri} ..."
    );

    let wait = Duration::from_secs(args.timeout);
    let code = tokio::time::timeout(wait, receive_code(&listener, &state))
        .await
        .map_err(|_| format!("no answer from the browser within {} s", args.timeout))??;

    let token_url = std::env::var("GOOGLE_OAUTH_TOKEN_URL")
        .ok()
        .or(client.token_uri.clone())
        .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string());
    let google = Google::new(DEFAULT_PEOPLE_BASE_URL, &token_url).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let grant = google
        .exchange_code(
            &CodeGrant {
                client_id: &client.client_id,
                client_secret: &client.client_secret,
                code: &code,
                redirect_uri: &redirect_uri,
                code_verifier: &verifier,
            },
            deadline,
        )
        .await
        .map_err(|e| format!("exchanging the code at {token_url}: {e}"))?;
    let refresh_token = grant.refresh_token.ok_or(
        "Google sent no refresh token; remove the app's access at https://myaccount.google.com/permissions and connect again",
    )?;
    let value = serde_json::json!({
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "refresh_token": refresh_token,
    })
    .to_string();
    store_secret(&stack, &secret_id, &value, workflow_id).await?;
    println!(
        "connected: workflow '{workflow_id}' can read Google Contacts; the refresh token is in secret '{secret_id}'.\n\
         The google-poller uses it on its next runs (a warm poller reads secrets again within 5 minutes); \
         a reconnect_needed mark clears then. `kvsync google status {workflow_id}` shows its runs."
    );
    Ok(ExitCode::SUCCESS)
}

/// The secret id the workflow names, after checking it is a `google` one.
async fn oauth_secret_of(stack: &Stack, workflow_id: &str) -> Result<String, String> {
    let workflows = Workflows::new(stack.dynamodb(), stack.workflows()?);
    let settings = workflows
        .get(workflow_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no workflow '{workflow_id}'"))?;
    if settings.source != Source::Google {
        return Err(format!(
            "workflow '{workflow_id}' has source other than \"google\"; only Google workflows are polled"
        ));
    }
    settings.google_oauth_secret.clone().ok_or_else(|| {
        format!(
            "workflow '{workflow_id}' has no google_oauth_secret: set it (S) to the id of the secret to hold the grant, e.g. \"{}{workflow_id}/google-oauth\", then run this again",
            stack.secrets_prefix
        )
    })
}

fn read_client_file(path: &std::path::Path) -> Result<InstalledClient, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let file: ClientFile = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a Google OAuth client file ({e})", path.display()))?;
    match (file.installed, file.web) {
        (Some(client), _) => Ok(client),
        (None, Some(_)) => Err(format!(
            "{}: a \"Web application\" client; create an OAuth client of type \"Desktop app\" (loopback redirects need one)",
            path.display()
        )),
        (None, None) => Err(format!(
            "{}: no \"installed\" client in it; download the JSON of a \"Desktop app\" OAuth client",
            path.display()
        )),
    }
}

/// Serves the loopback redirect until one brings a `code` (or an `error`)
/// with our `state`; answers the browser with a page saying what happened.
async fn receive_code(listener: &TcpListener, state: &str) -> Result<String, String> {
    loop {
        let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut buffer = vec![0u8; 8192];
        let mut read = 0;
        while read < buffer.len() {
            let n = stream
                .read(&mut buffer[read..])
                .await
                .map_err(|e| e.to_string())?;
            read += n;
            if n == 0 || buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let request = String::from_utf8_lossy(&buffer[..read]);
        let target = request
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or("/");
        let params: Vec<(String, String)> = reqwest::Url::parse("http://127.0.0.1/")
            .and_then(|base| base.join(target))
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (outcome, page) = match (param("code"), param("error")) {
            (_, Some(error)) => (
                Some(Err(format!("Google answered: {error}"))),
                "kvsync: Google did not grant access. You can close this tab.",
            ),
            (Some(_), _) if param("state").as_deref() != Some(state) => (
                Some(Err(
                    "the redirect's state does not match this run; try again".to_string(),
                )),
                "kvsync: this answer is not for this run. You can close this tab.",
            ),
            (Some(code), _) => (
                Some(Ok(code)),
                "kvsync: Google Contacts connected. You can close this tab.",
            ),
            // A favicon or a stray request: keep waiting.
            (None, None) => (None, "kvsync is waiting for Google's answer."),
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

/// Puts a new version of the secret, or creates it.
async fn store_secret(
    stack: &Stack,
    id: &str,
    value: &str,
    workflow_id: &str,
) -> Result<(), String> {
    let client = stack.secretsmanager();
    if secret_store::exists(&client, id).await? {
        client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "Secrets Manager: writing '{id}': {}",
                    secret_store::aws_message(&e)
                )
            })
    } else {
        let description = format!("kvsync: Google OAuth grant of workflow {workflow_id}");
        secret_store::create(&client, id, value, &description).await
    }
}

/// `kvsync google status <workflow_id>`: the last run, its counts, the
/// sync token's age, a listing in progress, `reconnect_needed`.
pub async fn status(stack_args: &StackArgs, workflow_id: &str) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let table = Stack::table(&stack.google_sync_table, "google-sync", "GOOGLE_SYNC_TABLE")?;
    let store = GoogleSyncStore::new(stack.dynamodb(), table);
    let state = store.state(workflow_id).await.map_err(|e| e.to_string())?;
    let now = now_ms();
    println!("workflow {workflow_id}");
    match (state.last_run_ms, &state.last_run) {
        (Some(at), Some(summary)) => {
            println!("  last run      {} ({} ago)", when(at), minutes(now - at));
            if let Ok(summary) = serde_json::from_str::<serde_json::Value>(summary) {
                println!("  counts        {}", counts(&summary));
                if let Some(error) = summary["error"].as_str() {
                    println!("  stopped       {error}");
                }
            }
        }
        _ => println!("  last run      never (the google-poller has not polled it yet)"),
    }
    match (&state.sync_token, state.full_listing_ms) {
        (Some(_), Some(full)) => println!(
            "  sync token    {} old (its full listing {}; Google expires it after 7 days, kvsync lists everyone again after 6)",
            minutes(now - full),
            when(full)
        ),
        (Some(_), None) => println!("  sync token    present, age unknown"),
        (None, _) => println!("  sync token    none yet: the next run lists everyone"),
    }
    if let Some(cursor) = &state.cursor {
        let kind = match cursor.kind {
            ListingKind::Full => "a full",
            ListingKind::Incremental { .. } => "an incremental",
        };
        println!(
            "  in progress   {kind} listing begun {}; the next run carries on",
            when(cursor.started_ms)
        );
    }
    match state.reconnect_needed_since_ms {
        Some(since) if state.reconnect_needed.is_some() => println!(
            "  reconnect_needed: yes, since {} — Google refuses the refresh token (invalid_grant); run `kvsync google connect {workflow_id} --client-secret <file>`",
            when(since)
        ),
        _ if state.reconnect_needed.is_some() => println!(
            "  reconnect_needed: yes — run `kvsync google connect {workflow_id} --client-secret <file>`"
        ),
        _ => println!("  reconnect_needed: no"),
    }
    Ok(if state.reconnect_needed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn counts(summary: &serde_json::Value) -> String {
    let number = |k: &str| summary[k].as_u64().unwrap_or(0);
    let mut text = format!(
        "listed {}, created {}, updated {}, unchanged {}, skipped {}, failed {}",
        number("listed"),
        number("created"),
        number("updated"),
        number("unchanged"),
        number("skipped"),
        number("failed")
    );
    if summary["full_listing"] == true {
        text.push_str("; a full listing");
    }
    if summary["finished"] == true {
        text.push_str("; listing complete");
    }
    text
}

pub(crate) fn minutes(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "under a minute".to_string(),
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desktop_client_file_is_read_and_a_web_one_refused() {
        let dir = std::env::temp_dir().join(format!("kvsync-google-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let installed = dir.join("installed.json");
        std::fs::write(
            &installed,
            r#"{"installed": {"client_id": "id", "client_secret": "s", "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token"}}"#,
        )
        .unwrap();
        let client = read_client_file(&installed).unwrap();
        assert_eq!(client.client_id, "id");
        assert_eq!(
            client.token_uri.as_deref(),
            Some("https://oauth2.googleapis.com/token")
        );
        let web = dir.join("web.json");
        std::fs::write(&web, r#"{"web": {"client_id": "id"}}"#).unwrap();
        assert!(read_client_file(&web).unwrap_err().contains("Desktop app"));
    }

    #[test]
    fn counts_and_ages_read_as_words() {
        let summary = serde_json::json!({"listed": 3, "created": 1, "unchanged": 2, "full_listing": true, "finished": true});
        assert_eq!(
            counts(&summary),
            "listed 3, created 1, updated 0, unchanged 2, skipped 0, failed 0; a full listing; listing complete"
        );
        assert_eq!(minutes(30_000), "under a minute");
        assert_eq!(minutes(3 * 3_600_000), "3 h");
        assert_eq!(minutes(3 * 86_400_000), "3 days");
    }
}
