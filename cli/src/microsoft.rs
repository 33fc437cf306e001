//! `kvsync microsoft connect|status <workflow_id>` (SPEC section 15).
//!
//! `connect` runs the Microsoft identity platform's device code flow
//! (learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code,
//! RFC 8628): it asks `/devicecode` beside `MICROSOFT_TOKEN_URL` for a
//! code, prints the code and the sign-in address (no browser on this
//! machine is needed), polls the token endpoint at the interval Microsoft
//! gives (`authorization_pending`: keep polling; `slow_down`: 5 s more;
//! `expired_token`: start again), and writes `{tenant, client_id,
//! refresh_token}` into the workflow's `microsoft_oauth_secret` (created,
//! or the successor of the version read, as the poller writes it). The
//! refresh token is never printed. `status` shows what the
//! microsoft-poller recorded for the workflow and each of its folders.

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clap::Args;
use kvsync::adapters::microsoft::{
    Credentials, DEFAULT_GRAPH_BASE_URL, DEFAULT_TOKEN_URL, DevicePoll, Microsoft,
};
use kvsync::adapters::secrets::{SecretError, Secrets};
use kvsync::adapters::store::{GoogleSyncStore, Workflows};
use kvsync::clock::now_ms;
use kvsync::domain::settings::Source;
use tokio::time::Instant;

use crate::secret_store;
use crate::stack::{Stack, StackArgs};
use crate::when;

/// `kvsync microsoft connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The workflow's id; its `microsoft_oauth_secret` names the secret written.
    pub workflow_id: String,
    /// The directory (tenant) of the app registration: its id, a domain,
    /// `organizations` or `common` [default: the secret's].
    #[arg(long)]
    pub tenant: Option<String>,
    /// The app registration's Application (client) ID [default: the secret's].
    #[arg(long)]
    pub client_id: Option<String>,
}

pub async fn connect(stack_args: &StackArgs, args: ConnectArgs) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let workflow_id = args.workflow_id.as_str();
    let secret_id = oauth_secret_of(&stack, workflow_id).await?;
    let secrets = Secrets::new(stack.secretsmanager());
    let existing = match secrets.get_current(&secret_id).await {
        Ok(current) => Some(current),
        Err(SecretError::Unusable { .. }) => None,
        Err(error) => return Err(error.to_string()),
    };
    let known = existing
        .as_ref()
        .and_then(|current| serde_json::from_str::<serde_json::Value>(&current.value).ok());
    let from_secret = |name: &str| {
        known
            .as_ref()
            .and_then(|v| v[name].as_str())
            .map(String::from)
    };
    let tenant = args.tenant.clone().or_else(|| from_secret("tenant")).ok_or(
        "no tenant: pass --tenant (the app registration's Directory (tenant) ID, or organizations/common)",
    )?;
    let client_id = args
        .client_id
        .clone()
        .or_else(|| from_secret("client_id"))
        .ok_or("no client id: pass --client-id (the app registration's Application (client) ID)")?;

    let token_url =
        std::env::var("MICROSOFT_TOKEN_URL").unwrap_or_else(|_| DEFAULT_TOKEN_URL.to_string());
    let microsoft =
        Microsoft::new(DEFAULT_GRAPH_BASE_URL, &token_url).map_err(|e| e.to_string())?;
    let request_deadline = || Instant::now() + Duration::from_secs(30);
    let device = microsoft
        .device_authorization(&tenant, &client_id, request_deadline())
        .await
        .map_err(|e| format!("asking Microsoft for a device code: {e}"))?;
    eprintln!(
        "To connect workflow '{workflow_id}' to the Outlook contacts of a Microsoft 365 account:\n\n  open   {}\n  enter  {}\n\nand sign in with that account. Waiting up to {} min ...",
        device.verification_uri,
        device.user_code,
        device.expires_in / 60
    );

    let give_up = Instant::now() + Duration::from_secs(device.expires_in);
    let mut interval = Duration::from_secs(device.interval.max(1));
    let token = loop {
        tokio::time::sleep(interval).await;
        if Instant::now() >= give_up {
            return Err("the code expired before anyone signed in; run this again".into());
        }
        match microsoft
            .poll_device(&tenant, &client_id, &device.device_code, request_deadline())
            .await
            .map_err(|e| format!("waiting for the sign-in: {e}"))?
        {
            DevicePoll::Pending => {}
            DevicePoll::SlowDown => interval += Duration::from_secs(5),
            DevicePoll::Expired => {
                return Err("the code expired before anyone signed in; run this again".into());
            }
            DevicePoll::Declined => {
                return Err("the sign-in was declined; nothing was stored".into());
            }
            DevicePoll::Granted(token) => break token,
        }
    };
    let refresh_token = token.refresh_token.ok_or(
        "Microsoft sent no refresh token (offline_access was not granted); check the app registration's API permissions and connect again",
    )?;
    let credentials = Credentials {
        tenant,
        client_id,
        refresh_token,
        client_secret: from_secret("client_secret"),
    };
    let value = credentials.to_secret();
    match existing {
        Some(current) => {
            let written = secrets
                .replace(&secret_id, &current.version_id, &value)
                .await
                .map_err(|e| e.to_string())?;
            if written.is_none() {
                return Err(format!(
                    "secret '{secret_id}' changed while you signed in (the poller rotated its token); run this again"
                ));
            }
        }
        None => {
            let description = format!("kvsync: Microsoft OAuth grant of workflow {workflow_id}");
            secret_store::create(&stack.secretsmanager(), &secret_id, &value, &description).await?;
        }
    }
    println!(
        "connected: workflow '{workflow_id}' can read Outlook contacts; the grant is in secret '{secret_id}'.\n\
         The microsoft-poller uses it on its next run; a reconnect_needed mark clears then. \
         `kvsync microsoft status {workflow_id}` shows its runs."
    );
    Ok(ExitCode::SUCCESS)
}

/// The secret id the workflow names, after checking it is a `microsoft` one.
async fn oauth_secret_of(stack: &Stack, workflow_id: &str) -> Result<String, String> {
    let workflows = Workflows::new(stack.dynamodb(), stack.workflows()?);
    let settings = workflows
        .get(workflow_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no workflow '{workflow_id}'"))?;
    if settings.source != Source::Microsoft {
        return Err(format!(
            "workflow '{workflow_id}' has a source other than \"microsoft\"; set source (S) to \"microsoft\" and microsoft_oauth_secret (S) to e.g. \"{}{workflow_id}/microsoft-oauth\"",
            stack.secrets_prefix
        ));
    }
    settings
        .microsoft_oauth_secret
        .clone()
        .ok_or_else(|| format!("workflow '{workflow_id}' has no microsoft_oauth_secret"))
}

/// `kvsync microsoft status <workflow_id>`: the last run, its counts,
/// `reconnect_needed`, and per folder its delta link and a listing in
/// progress.
pub async fn status(stack_args: &StackArgs, workflow_id: &str) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let table = Stack::table(
        &stack.microsoft_sync_table,
        "microsoft-sync",
        "MICROSOFT_SYNC_TABLE",
    )?;
    let store = GoogleSyncStore::new(stack.dynamodb(), table.clone());
    let state = store.state(workflow_id).await.map_err(|e| e.to_string())?;
    let now = now_ms();
    println!("workflow {workflow_id}");
    match (state.last_run_ms, &state.last_run) {
        (Some(at), Some(summary)) => {
            println!(
                "  last run      {} ({} ago)",
                when(at),
                crate::google::minutes(now - at)
            );
            if let Ok(summary) = serde_json::from_str::<serde_json::Value>(summary) {
                println!("  counts        {}", crate::google::counts(&summary));
                if let Some(error) = summary["error"].as_str() {
                    println!("  stopped       {error}");
                }
            }
        }
        _ => println!("  last run      never (the microsoft-poller has not polled it yet)"),
    }
    for folder in folder_keys(&stack, &table, workflow_id).await? {
        let folder_state = store.state(&folder).await.map_err(|e| e.to_string())?;
        let name = folder
            .strip_prefix(&format!("{workflow_id}#"))
            .unwrap_or(&folder);
        let link = if folder_state.sync_token.is_some() {
            "a delta link (the next run lists what changed)"
        } else {
            "no delta link yet (the next run lists the folder)"
        };
        let progress = if folder_state.cursor.is_some() {
            "; a listing in progress, the next run carries on"
        } else {
            ""
        };
        println!("  folder        {name}: {link}{progress}");
    }
    if state.reconnect_needed.is_some() {
        println!(
            "  reconnect_needed: yes{} — Microsoft refuses the refresh token (invalid_grant); run `kvsync microsoft connect {workflow_id}`",
            state
                .reconnect_needed_since_ms
                .map(|since| format!(", since {}", when(since)))
                .unwrap_or_default()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("  reconnect_needed: no");
    Ok(ExitCode::SUCCESS)
}

/// The keys of the workflow's folder items (`{workflow_id}#{folder id}`).
async fn folder_keys(stack: &Stack, table: &str, workflow_id: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let page = stack
            .dynamodb()
            .scan()
            .table_name(table)
            .filter_expression("begins_with(workflow_id, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(format!("{workflow_id}#")))
            .projection_expression("workflow_id")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("DynamoDB: reading {table}: {e}"))?;
        keys.extend(
            page.items()
                .iter()
                .filter_map(|item| item.get("workflow_id")?.as_s().ok().cloned()),
        );
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    keys.sort();
    Ok(keys)
}
