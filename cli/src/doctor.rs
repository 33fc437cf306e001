//! `kvsync doctor <workflow_id>` / `--all`: is a workflow healthy, and if
//! not, what to do. One line per check, each `ok`, `warning`, `problem` or
//! `skipped` (could not be checked here, and why), with the next step;
//! exit status 1 when any check is a problem; `--json` for scripts.
//!
//! The checks: the settings as the function validates them
//! (`settings::parse`), unknown attributes; each secret the workflow names
//! present and of its shape (a typo'd id is named with the nearest existing
//! id under the stack's prefix); the kvCORE token accepted
//! (`GET /contacts?limit=1`) and its expiry (JWT `exp`, read without
//! checking the signature: kvCORE's own answer is the proof, the expiry
//! only a reminder; `kvsync::adapters::kvcore::token`); for Follow Up Boss the API
//! key accepted (`GET /identity`) and the people webhooks registered to
//! the workflow's URL; for Google the grant alive (a refresh-token exchange
//! at `GOOGLE_OAUTH_TOKEN_URL`) and the last poll; the phone index built
//! and fresh (SPEC section 9); failed events waiting for a replay.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use kvsync::adapters::followupboss::{SourceError, Webhook};
use kvsync::adapters::kvcore::KvcoreError;
use kvsync::adapters::kvcore::token::{EXPIRY_WARNING_DAYS, Expiry};
use kvsync::adapters::secrets;
use kvsync::adapters::store::{EventStatus, GoogleSyncStore, IndexMeta};
use kvsync::domain::settings::{self, Attr, AuthScheme, Settings, Source};
use kvsync::domain::sources::followupboss::SYNCED_EVENTS;
use kvsync::flows::phone_index::{REBUILD_AFTER, Scope};
use kvsync::flows::services::Services;
use serde::Serialize;

use crate::followupboss::{SystemArgs, resolve_system, same_url};
use crate::item;
use crate::secret_store;
use crate::stack::{Stack, StackArgs};

/// The default token endpoint (SPEC section 2, `GOOGLE_OAUTH_TOKEN_URL`).
const GOOGLE_OAUTH_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// A phone index whose last refresh is older than this is stale: the
/// scheduled indexer refreshes every 5 minutes by default.
const INDEX_STALE_AFTER_MS: i64 = 60 * 60 * 1000;
/// One network check may take this long (kvCORE retries within it).
const CHECK_BUDGET: Duration = Duration::from_secs(15);

/// `kvsync doctor`.
#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: 0 when no check is a problem (warnings allowed), 1 when one
is, 2 when the checks could not run (e.g. AWS unreachable).

Examples:
  kvsync doctor leads
  kvsync doctor --all --json | jq '.checks[] | select(.status != \"ok\")'")]
pub struct DoctorArgs {
    /// The workflow to check.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub workflow_id: Option<String>,
    /// Check every workflow in the table.
    #[arg(long)]
    pub all: bool,
    /// Print JSON: {"ok", "problems", "warnings", "checks": [{"workflow_id", "check", "status", "detail", "action"}]}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub system: SystemArgs,
}

/// How a check came out, in rising order of trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not checked here (e.g. a table this stack does not have); says why.
    Skipped,
    Warning,
    Problem,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
            Status::Problem => "problem",
        }
    }

    fn color(self) -> Color {
        match self {
            Status::Ok => Color::Green,
            Status::Skipped => Color::DarkGrey,
            Status::Warning => Color::Yellow,
            Status::Problem => Color::Red,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub workflow_id: String,
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it; `None` when nothing is to be done.
    pub action: Option<String>,
}

/// A check's outcome before it is given its workflow and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub detail: String,
    pub action: Option<String>,
}

fn verdict(status: Status, detail: impl Into<String>, action: Option<String>) -> Verdict {
    Verdict {
        status,
        detail: detail.into(),
        action,
    }
}

fn ok(detail: impl Into<String>) -> Verdict {
    verdict(Status::Ok, detail, None)
}

pub async fn run(stack_args: &StackArgs, args: DoctorArgs) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let services = stack.services()?;
    let ids = match (&args.workflow_id, args.all) {
        (_, true) => workflow_ids(&stack).await?,
        (Some(id), false) => vec![id.clone()],
        (None, false) => return Err("give a workflow id or --all".into()),
    };
    let secret_names = secret_store::names_under(&stack.secretsmanager(), &stack.secrets_prefix)
        .await
        .unwrap_or_default();
    let doctor = Doctor {
        stack: &stack,
        services: &services,
        system: &args.system,
        secret_names,
        now_ms: kvsync::clock::now_ms(),
    };
    let mut checks = Vec::new();
    if ids.is_empty() {
        checks.push(Check {
            workflow_id: String::new(),
            check: "workflows".into(),
            status: Status::Warning,
            detail: "the workflows table has no workflow".into(),
            action: Some("create one: kvsync workflow new <workflow_id> --source generic".into()),
        });
    }
    for id in &ids {
        checks.extend(doctor.workflow(id).await?);
    }
    let problems = checks
        .iter()
        .filter(|c| c.status == Status::Problem)
        .count();
    let warnings = checks
        .iter()
        .filter(|c| c.status == Status::Warning)
        .count();
    if args.json {
        let report = serde_json::json!({
            "ok": problems == 0,
            "problems": problems,
            "warnings": warnings,
            "checks": checks,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", table(&checks, args.all));
        println!(
            "{} problem{}, {} warning{}",
            problems,
            if problems == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        );
    }
    Ok(if problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The report as a table, coloured on a terminal (not with NO_COLOR).
fn table(checks: &[Check], with_workflow: bool) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        table.force_no_tty();
    }
    let mut header = vec!["check", "status", "detail", "what to do"];
    if with_workflow {
        header.insert(0, "workflow");
    }
    table.set_header(header);
    for check in checks {
        let mut row = vec![
            Cell::new(&check.check),
            Cell::new(check.status.label()).fg(check.status.color()),
            Cell::new(&check.detail),
            Cell::new(check.action.as_deref().unwrap_or("")),
        ];
        if with_workflow {
            row.insert(0, Cell::new(&check.workflow_id));
        }
        table.add_row(row);
    }
    table
}

/// Every workflow id in the table (a paged Scan of the key only).
async fn workflow_ids(stack: &Stack) -> Result<Vec<String>, String> {
    let table = stack.workflows()?;
    let client = stack.dynamodb();
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&table)
            .projection_expression("workflow_id")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("listing workflows in {table}: {}", e.into_service_error()))?;
        ids.extend(
            page.items()
                .iter()
                .filter_map(|item| match item.get("workflow_id") {
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(id)) => Some(id.clone()),
                    _ => None,
                }),
        );
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    ids.sort();
    Ok(ids)
}

struct Doctor<'a> {
    stack: &'a Stack,
    services: &'a Services,
    system: &'a SystemArgs,
    /// Every secret name under the stack's prefix, for "did you mean".
    secret_names: Vec<String>,
    now_ms: i64,
}

/// The secrets a workflow may name, with the shape each must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    KvcoreToken,
    Webhook(AuthScheme),
    FollowUpBossKey,
    GoogleOauth,
}

impl Doctor<'_> {
    async fn workflow(&self, workflow_id: &str) -> Result<Vec<Check>, String> {
        let mut checks = Vec::new();
        let mut add = |check: &str, v: Verdict| {
            checks.push(Check {
                workflow_id: workflow_id.to_string(),
                check: check.to_string(),
                status: v.status,
                detail: v.detail,
                action: v.action,
            })
        };
        let table = self.stack.workflows()?;
        let Some(raw) = self.stack.workflow_item(workflow_id).await? else {
            let ids = workflow_ids(self.stack).await.unwrap_or_default();
            let action = match secret_store::nearest(workflow_id, &ids) {
                Some(near) => format!(
                    "did you mean '{near}'? Or create it: kvsync workflow new {workflow_id}"
                ),
                None => format!("create it: kvsync workflow new {workflow_id}"),
            };
            add(
                "workflow",
                verdict(
                    Status::Problem,
                    format!("no workflow '{workflow_id}' in {table}"),
                    Some(action),
                ),
            );
            return Ok(checks);
        };
        let item = item::from_sdk(&raw);

        // Settings, exactly as the function validates them.
        let settings = match settings::parse(workflow_id, &item) {
            Ok((settings, unknown)) => {
                add("settings", ok(describe(&settings)));
                for attribute in unknown {
                    add(
                        "attributes",
                        verdict(
                            Status::Warning,
                            attribute.to_string(),
                            Some(format!(
                                "rename '{}' to '{}' in the DynamoDB console, or remove it",
                                attribute.attribute, attribute.nearest
                            )),
                        ),
                    );
                }
                if !settings.enabled {
                    add(
                        "enabled",
                        verdict(
                            Status::Warning,
                            "the workflow is disabled: events are recorded as skipped",
                            Some("set enabled to true in the console when it should sync".into()),
                        ),
                    );
                }
                if settings.dry_run {
                    add(
                        "dry_run",
                        verdict(
                            Status::Warning,
                            "dry run: nothing is written to kvCORE",
                            Some("set dry_run to false in the console to sync for real".into()),
                        ),
                    );
                }
                Some(settings)
            }
            Err(error) => {
                add(
                    "settings",
                    verdict(
                        Status::Problem,
                        error.to_string(),
                        Some(format!("fix '{}' in the DynamoDB console", error.attribute)),
                    ),
                );
                None
            }
        };

        // Secrets, named by the item even when the settings are invalid.
        let auth = settings.as_ref().map(|s| s.auth);
        let named = |name: &str| match item.get(name) {
            Some(Attr::S(id)) if !id.trim().is_empty() => Some(id.trim().to_string()),
            _ => None,
        };
        let mut kvcore_token = None;
        if let Some(id) = named("kvcore_token_secret") {
            let (v, value) = self
                .secret("kvcore_token_secret", &id, SecretKind::KvcoreToken)
                .await;
            add("kvcore_token_secret", v);
            kvcore_token = value.as_deref().and_then(secrets::kvcore_token);
        }
        if let Some(id) = named("webhook_secret") {
            let kind = SecretKind::Webhook(auth.unwrap_or(AuthScheme::Standard));
            add(
                "webhook_secret",
                self.secret("webhook_secret", &id, kind).await.0,
            );
        }
        let mut fub_key = None;
        if let Some(id) = named("source_api_secret") {
            let (v, value) = self
                .secret("source_api_secret", &id, SecretKind::FollowUpBossKey)
                .await;
            add("source_api_secret", v);
            fub_key = value;
        }
        let mut google_oauth = None;
        if let Some(id) = named("google_oauth_secret") {
            let (v, value) = self
                .secret("google_oauth_secret", &id, SecretKind::GoogleOauth)
                .await;
            add("google_oauth_secret", v);
            google_oauth = value;
        }

        // kvCORE: the token accepted, and when it expires.
        if let Some(token) = &kvcore_token {
            add("kvCORE token", self.kvcore_accepts(token).await);
            add(
                "kvCORE token expiry",
                expiry_verdict(Expiry::of(token), self.now_ms / 1000),
            );
        }

        if let Some(settings) = &settings {
            if settings.source == Source::FollowUpBoss
                && let Some(key) = &fub_key
            {
                for (check, v) in self.followupboss(settings, key).await {
                    add(check, v);
                }
            }
            if let Some(oauth) = &google_oauth {
                add("Google grant", google_grant(oauth).await);
            }
            if settings.source == Source::Google || google_oauth.is_some() {
                add(
                    "Google last poll",
                    self.google_poll(workflow_id, google_oauth.is_some()).await,
                );
            }
            if settings.source == Source::Microsoft {
                add("Microsoft grant", self.microsoft_grant(settings).await);
            }
            let scope = Scope::of(settings);
            let index = match self.services.phone_index.meta(&scope.id).await {
                Ok(meta) => index_verdict(&meta, self.now_ms, workflow_id),
                Err(error) => verdict(
                    Status::Warning,
                    format!("could not read the phone index: {error}"),
                    None,
                ),
            };
            add("phone index", index);
        }

        let failed = match self.services.ledger.events(workflow_id).await {
            Ok(events) => failed_verdict(
                events
                    .iter()
                    .filter(|e| e.status == EventStatus::Failed)
                    .count(),
                workflow_id,
            ),
            Err(error) => verdict(
                Status::Warning,
                format!("could not read the events: {error}"),
                None,
            ),
        };
        add("failed events", failed);
        Ok(checks)
    }

    /// Reads a secret and checks its shape; answers the value when usable.
    async fn secret(
        &self,
        attribute: &str,
        id: &str,
        kind: SecretKind,
    ) -> (Verdict, Option<String>) {
        match self.services.secrets.get(id).await {
            Ok(value) => {
                let v = shape_verdict(kind, &value, id);
                let usable = v.status != Status::Problem;
                (v, usable.then(|| value.to_string()))
            }
            Err(secrets::SecretError::Unusable { reason, .. }) => {
                let action = match secret_store::nearest(id, &self.secret_names) {
                    Some(near) => format!(
                        "did you mean '{near}'? Set {attribute} to it in the console, or create '{id}'"
                    ),
                    None => format!(
                        "create the secret '{id}' (under the prefix '{}'), or fix {attribute} in the console",
                        self.stack.secrets_prefix
                    ),
                };
                (
                    verdict(
                        Status::Problem,
                        format!("secret '{id}' cannot be read: {reason}"),
                        Some(action),
                    ),
                    None,
                )
            }
            Err(error) => (
                verdict(Status::Warning, error.to_string(), Some("try again".into())),
                None,
            ),
        }
    }

    async fn kvcore_accepts(&self, token: &str) -> Verdict {
        let deadline = tokio::time::Instant::now() + CHECK_BUDGET;
        let session = self.services.kvcore.session(token, deadline);
        match session.list_page(&[], 1, 1).await {
            Ok(_) => ok("accepted (GET /contacts?limit=1)"),
            Err(KvcoreError::Unauthorized) => verdict(
                Status::Problem,
                "kvCORE refused the token (401)",
                Some("put a current kvCORE API token in the kvcore_token_secret secret (kvCORE: Settings → API)".into()),
            ),
            Err(error) => verdict(Status::Warning, format!("could not check: {error}"), Some("try again; check KVCORE_BASE_URL".into())),
        }
    }

    async fn followupboss(
        &self,
        settings: &Settings,
        api_key: &str,
    ) -> Vec<(&'static str, Verdict)> {
        let fub = &self.services.followupboss;
        let mut out = Vec::new();
        let key_ok = match fub.check_key(api_key).await {
            Ok(()) => {
                out.push(("Follow Up Boss key", ok("accepted (GET /identity)")));
                true
            }
            Err(SourceError::Unauthorized(status)) => {
                out.push(("Follow Up Boss key", verdict(Status::Problem, format!("Follow Up Boss refused the API key ({status})"), Some("put the account owner's API key (Admin → API) in the source_api_secret secret".into()))));
                false
            }
            Err(error) => {
                out.push((
                    "Follow Up Boss key",
                    verdict(
                        Status::Warning,
                        format!("could not check: {error}"),
                        Some("try again; check FOLLOWUPBOSS_BASE_URL".into()),
                    ),
                ));
                false
            }
        };
        if !key_ok {
            return out;
        }
        let system = match resolve_system(self.services, settings, self.system).await {
            Ok(system) => system,
            Err(why) => {
                out.push(("Follow Up Boss webhooks", verdict(Status::Skipped, why, Some("set FOLLOWUPBOSS_SYSTEM (and FOLLOWUPBOSS_SYSTEM_KEY) to check the webhooks".into()))));
                return out;
            }
        };
        let v = match fub.webhooks(api_key, &system).await {
            Ok(webhooks) => webhooks_verdict(
                &webhooks,
                &settings.workflow_id,
                self.stack.workflow_url(&settings.workflow_id).as_deref(),
            ),
            Err(error) => verdict(
                Status::Warning,
                format!("could not list the webhooks: {error}"),
                Some("check FOLLOWUPBOSS_SYSTEM and FOLLOWUPBOSS_SYSTEM_KEY".into()),
            ),
        };
        out.push(("Follow Up Boss webhooks", v));
        out
    }

    /// A `microsoft` workflow's grant (SPEC section 15): its secret reads
    /// as one, and the microsoft-poller does not record `reconnect_needed`.
    /// No token is asked for here: Microsoft rotates the refresh token with
    /// every refresh, and a check must not write the secret.
    async fn microsoft_grant(&self, settings: &Settings) -> Verdict {
        let workflow_id = settings.workflow_id.as_str();
        let connect = Some(format!("kvsync microsoft connect {workflow_id}"));
        let id = settings
            .microsoft_oauth_secret
            .as_deref()
            .unwrap_or_default();
        match self.services.secrets.get(id).await {
            Ok(value) => {
                if let Err(error) = kvsync::adapters::microsoft::Credentials::parse(&value) {
                    return verdict(Status::Problem, format!("'{id}': {error}"), connect);
                }
            }
            Err(error) => return verdict(Status::Problem, error.to_string(), connect),
        }
        let Some(table) = &self.stack.microsoft_sync_table else {
            return verdict(
                Status::Skipped,
                "the Microsoft sync table is not known",
                Some("pass --microsoft-sync-table, set MICROSOFT_SYNC_TABLE, or --stack".into()),
            );
        };
        let store = GoogleSyncStore::new(self.stack.dynamodb(), table.clone());
        match store.state(workflow_id).await {
            Ok(state) if state.reconnect_needed.is_some() => verdict(
                Status::Problem,
                "Microsoft refused the grant (invalid_grant): polling is stopped",
                connect,
            ),
            Ok(state) => match state.last_run_ms {
                Some(at) => ok(format!(
                    "'{id}' holds a grant; last poll {} ago",
                    ago(self.now_ms - at)
                )),
                None => verdict(
                    Status::Warning,
                    format!("'{id}' holds a grant; not polled yet"),
                    Some(
                        "the microsoft-poller runs every few minutes; check its logs if this stays"
                            .into(),
                    ),
                ),
            },
            Err(error) => verdict(
                Status::Warning,
                format!("could not read the sync state: {error}"),
                None,
            ),
        }
    }

    async fn google_poll(&self, workflow_id: &str, polled: bool) -> Verdict {
        if !polled {
            return verdict(
                Status::Skipped,
                "not polled (no google_oauth_secret): events come from a bridge",
                Some(format!(
                    "to poll Google Contacts: kvsync google connect {workflow_id} --client-secret client_secret.json"
                )),
            );
        }
        let Some(table) = &self.stack.google_sync_table else {
            return verdict(
                Status::Skipped,
                "the Google sync table is not known",
                Some("pass --google-sync-table, set GOOGLE_SYNC_TABLE, or --stack".into()),
            );
        };
        let store = GoogleSyncStore::new(self.stack.dynamodb(), table.clone());
        match store.state(workflow_id).await {
            Ok(state) => {
                if state.reconnect_needed.is_some() {
                    return verdict(
                        Status::Problem,
                        "Google refused the grant (invalid_grant): polling is stopped",
                        Some(format!(
                            "kvsync google connect {workflow_id} --client-secret client_secret.json"
                        )),
                    );
                }
                match state.last_run_ms {
                    Some(at) => ok(format!("last run {} ago{}", ago(self.now_ms - at), state.last_run.map(|s| format!(": {s}")).unwrap_or_default())),
                    None => verdict(Status::Warning, "not polled yet", Some("the google-poller runs every few minutes; check its logs if this stays".into())),
                }
            }
            Err(error) => verdict(
                Status::Warning,
                format!("could not read the sync state: {error}"),
                None,
            ),
        }
    }
}

/// The settings in a few words.
fn describe(settings: &Settings) -> String {
    let source = match settings.source {
        Source::Generic => "generic",
        Source::Google => "google",
        Source::FollowUpBoss => "followupboss",
        Source::Microsoft => "microsoft",
    };
    let auth = match settings.auth {
        AuthScheme::Standard => "standard",
        AuthScheme::FollowUpBoss => "followupboss",
        AuthScheme::Token => "token",
    };
    format!("valid (source {source}, auth {auth})")
}

/// Whether a secret's value has the shape its attribute needs (SPEC
/// sections 3, 4, 10). The value never appears in the verdict.
pub fn shape_verdict(kind: SecretKind, value: &str, id: &str) -> Verdict {
    match kind {
        SecretKind::KvcoreToken => match secrets::kvcore_token(value) {
            Some(_) => ok(format!("'{id}' holds a kvCORE token")),
            None => verdict(
                Status::Problem,
                format!("'{id}' does not hold a kvCORE token"),
                Some("store the bare token, or JSON {\"token\": \"...\"}".into()),
            ),
        },
        SecretKind::Webhook(AuthScheme::Standard) => {
            match kvsync::domain::auth::standard_key(value) {
                Ok(_) if value.trim().starts_with("whsec_") => {
                    ok(format!("'{id}' holds a Standard Webhooks key"))
                }
                Ok(_) => verdict(
                    Status::Warning,
                    format!("'{id}' is base64 without the whsec_ prefix"),
                    Some("store it as whsec_<base64> (the sender's libraries expect that)".into()),
                ),
                Err(_) => verdict(
                    Status::Problem,
                    format!("'{id}' is not a Standard Webhooks key (whsec_ followed by base64)"),
                    Some(
                        "store whsec_<base64>; every signed delivery is refused until then".into(),
                    ),
                ),
            }
        }
        SecretKind::Webhook(AuthScheme::FollowUpBoss) => {
            ok(format!("'{id}' holds the Follow Up Boss system key"))
        }
        SecretKind::Webhook(AuthScheme::Token) => ok(format!("'{id}' holds the webhook token")),
        SecretKind::FollowUpBossKey => {
            if value.trim().contains(char::is_whitespace) || value.trim().starts_with('{') {
                verdict(
                    Status::Problem,
                    format!("'{id}' does not look like a Follow Up Boss API key"),
                    Some("store the bare API key (Admin → API)".into()),
                )
            } else {
                ok(format!("'{id}' holds an API key"))
            }
        }
        SecretKind::GoogleOauth => {
            let fields = ["client_id", "client_secret", "refresh_token"];
            let missing: Vec<&str> = match serde_json::from_str::<serde_json::Value>(value) {
                Ok(json) => fields
                    .into_iter()
                    .filter(|f| json[*f].as_str().is_none_or(|s| s.trim().is_empty()))
                    .collect(),
                Err(_) => fields.to_vec(),
            };
            if missing.is_empty() {
                ok(format!("'{id}' holds a Google OAuth grant"))
            } else {
                verdict(Status::Problem, format!("'{id}' lacks {}", missing.join(", ")), Some("store JSON {\"client_id\", \"client_secret\", \"refresh_token\"}: kvsync google connect".into()))
            }
        }
    }
}

/// The token's expiry: a problem once expired, a warning under
/// `EXPIRY_WARNING_DAYS` or when unknown.
pub fn expiry_verdict(expiry: Expiry, now_s: i64) -> Verdict {
    let renew = || {
        Some("create a new kvCORE API token (kvCORE: Settings → API) and put it in the kvcore_token_secret secret".to_string())
    };
    match expiry {
        Expiry::At(exp) => {
            let date = date_of(exp);
            let days = expiry.days_left(now_s).unwrap_or_default();
            if days < 0.0 {
                verdict(Status::Problem, format!("expired on {date}"), renew())
            } else if days < EXPIRY_WARNING_DAYS {
                verdict(
                    Status::Warning,
                    format!("expires in {} days ({date})", days.floor()),
                    renew(),
                )
            } else {
                ok(format!("expires in {} days ({date})", days.floor()))
            }
        }
        Expiry::Never => ok("the token carries no expiry"),
        Expiry::Unknown => verdict(
            Status::Warning,
            "expiry unknown: the token is not a JWT",
            Some("check the token's expiry in kvCORE".into()),
        ),
    }
}

/// Both people events registered to the workflow's URL (exactly, when the
/// URL is known; else any URL ending in `/<workflow_id>`).
pub fn webhooks_verdict(webhooks: &[Webhook], workflow_id: &str, url: Option<&str>) -> Verdict {
    let ours = |w: &&Webhook| match url {
        Some(url) => same_url(&w.url, url),
        None => w
            .url
            .trim_end_matches('/')
            .ends_with(&format!("/webhooks/{workflow_id}")),
    };
    let mut missing = Vec::new();
    let mut disabled = Vec::new();
    for event in SYNCED_EVENTS {
        match webhooks.iter().filter(|w| w.event == event).find(ours) {
            None => missing.push(event),
            Some(w)
                if w.status
                    .as_deref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case("active")) =>
            {
                disabled.push(event)
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        return verdict(
            Status::Problem,
            format!("not registered: {}", missing.join(", ")),
            Some(format!("kvsync followupboss subscribe {workflow_id}")),
        );
    }
    if !disabled.is_empty() {
        return verdict(
            Status::Problem,
            format!(
                "disabled by Follow Up Boss (deliveries kept failing): {}",
                disabled.join(", ")
            ),
            Some(format!(
                "fix the cause (kvsync history {workflow_id}), then kvsync followupboss unsubscribe {workflow_id} and subscribe again"
            )),
        );
    }
    ok(format!("{} registered", SYNCED_EVENTS.join(" and ")))
}

/// The phone index of the workflow's scope (SPEC section 9).
pub fn index_verdict(meta: &IndexMeta, now_ms: i64, workflow_id: &str) -> Verdict {
    let build = || {
        Some(format!(
            "kvsync index build {workflow_id} (or wait for the scheduled kvcore-indexer)"
        ))
    };
    match (meta.built_at_ms, &meta.build) {
        (None, Some(cursor)) => verdict(
            Status::Warning,
            format!(
                "first build in progress ({} contacts read); phone lookups answer 503 until it ends",
                cursor.contacts_read
            ),
            build(),
        ),
        (None, None) => verdict(
            Status::Warning,
            "not built yet: events that need a phone lookup answer 503 until it is",
            build(),
        ),
        (Some(built), _) => {
            let refreshed = meta.last_refresh_ms.unwrap_or(built).max(built);
            if now_ms - refreshed > INDEX_STALE_AFTER_MS {
                verdict(
                    Status::Warning,
                    format!(
                        "last refreshed {} ago; the scheduled indexer should refresh it every few minutes",
                        ago(now_ms - refreshed)
                    ),
                    Some("check the kvcore-indexer's logs and its errors alarm".into()),
                )
            } else if now_ms - built > 2 * REBUILD_AFTER.as_millis() as i64 {
                verdict(
                    Status::Warning,
                    format!(
                        "last full build {} ago (daily expected)",
                        ago(now_ms - built)
                    ),
                    Some("check the kvcore-indexer's logs".into()),
                )
            } else {
                ok(format!(
                    "{} contact{}, refreshed {} ago",
                    meta.contacts,
                    if meta.contacts == 1 { "" } else { "s" },
                    ago(now_ms - refreshed)
                ))
            }
        }
    }
}

/// Failed events wait for a replay.
pub fn failed_verdict(failed: usize, workflow_id: &str) -> Verdict {
    if failed == 0 {
        ok("none")
    } else {
        verdict(
            Status::Warning,
            format!(
                "{failed} failed event{} kept",
                if failed == 1 { "" } else { "s" }
            ),
            Some(format!(
                "kvsync failed {workflow_id}; then kvsync replay {workflow_id} --failed"
            )),
        )
    }
}

/// A refresh-token exchange (RFC 6749 section 6) at
/// `GOOGLE_OAUTH_TOKEN_URL`: the grant is alive when Google issues an
/// access token; `invalid_grant` means it was revoked or expired.
async fn google_grant(oauth: &str) -> Verdict {
    let json: serde_json::Value = serde_json::from_str(oauth).unwrap_or_default();
    let field = |name: &str| json[name].as_str().unwrap_or_default().to_string();
    let url = std::env::var("GOOGLE_OAUTH_TOKEN_URL")
        .unwrap_or_else(|_| GOOGLE_OAUTH_TOKEN_URL.to_string());
    let client = match reqwest::Client::builder().timeout(CHECK_BUDGET).build() {
        Ok(client) => client,
        Err(error) => return verdict(Status::Warning, format!("could not check: {error}"), None),
    };
    let form = [
        ("grant_type", "refresh_token".to_string()),
        ("client_id", field("client_id")),
        ("client_secret", field("client_secret")),
        ("refresh_token", field("refresh_token")),
    ];
    match client.post(&url).form(&form).send().await {
        Ok(response) if response.status().is_success() => ok("Google issued an access token"),
        Ok(response) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let error = body["error"].as_str().unwrap_or("error").to_string();
            if error == "invalid_grant" {
                verdict(
                    Status::Problem,
                    "Google refused the grant (invalid_grant: revoked or expired)",
                    Some(
                        "kvsync google connect <workflow_id> --client-secret client_secret.json"
                            .into(),
                    ),
                )
            } else {
                verdict(
                    Status::Problem,
                    format!("Google refused the exchange ({status} {error})"),
                    Some("check client_id and client_secret in google_oauth_secret".into()),
                )
            }
        }
        Err(error) => verdict(
            Status::Warning,
            format!("could not reach Google: {error}"),
            Some("try again; check GOOGLE_OAUTH_TOKEN_URL".into()),
        ),
    }
}

/// `unix_s` as a calendar date (UTC).
fn date_of(unix_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_s)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| format!("unix time {unix_s}"))
}

/// A duration in ms, roughly: "40 s", "12 min", "3 h", "2 days".
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsync::adapters::store::BuildCursor;

    const NOW_S: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    #[test]
    fn expiry_is_ok_far_off_a_warning_within_30_days_a_problem_once_past() {
        assert_eq!(
            expiry_verdict(Expiry::At(NOW_S + 200 * DAY), NOW_S).status,
            Status::Ok
        );
        let soon = expiry_verdict(Expiry::At(NOW_S + 10 * DAY + 5), NOW_S);
        assert_eq!(soon.status, Status::Warning);
        assert!(
            soon.detail.contains("expires in 10 days"),
            "{}",
            soon.detail
        );
        assert!(soon.action.is_some());
        assert_eq!(
            expiry_verdict(Expiry::At(NOW_S + 30 * DAY), NOW_S).status,
            Status::Ok
        );
        assert_eq!(
            expiry_verdict(Expiry::At(NOW_S + 30 * DAY - 1), NOW_S).status,
            Status::Warning
        );
        let past = expiry_verdict(Expiry::At(NOW_S - DAY), NOW_S);
        assert_eq!(past.status, Status::Problem);
        assert!(past.detail.starts_with("expired on "));
        let unknown = expiry_verdict(Expiry::Unknown, NOW_S);
        assert_eq!(unknown.status, Status::Warning);
        assert!(unknown.detail.contains("expiry unknown"));
        assert_eq!(expiry_verdict(Expiry::Never, NOW_S).status, Status::Ok);
    }

    #[test]
    fn secret_shapes() {
        let standard = SecretKind::Webhook(AuthScheme::Standard);
        assert_eq!(
            shape_verdict(standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "w").status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(standard, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "w").status,
            Status::Warning
        );
        assert_eq!(
            shape_verdict(standard, "whsec_***", "w").status,
            Status::Problem
        );
        assert_eq!(
            shape_verdict(SecretKind::KvcoreToken, r#"{"token": "t"}"#, "k").status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(SecretKind::KvcoreToken, r#"{"key": "t"}"#, "k").status,
            Status::Problem
        );
        let google = shape_verdict(
            SecretKind::GoogleOauth,
            r#"{"client_id": "c", "client_secret": "s"}"#,
            "g",
        );
        assert_eq!(google.status, Status::Problem);
        assert!(google.detail.contains("refresh_token"));
        assert_eq!(
            shape_verdict(
                SecretKind::GoogleOauth,
                r#"{"client_id": "c", "client_secret": "s", "refresh_token": "r"}"#,
                "g"
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(SecretKind::FollowUpBossKey, "fka_123", "f").status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(SecretKind::FollowUpBossKey, "two words", "f").status,
            Status::Problem
        );
        // The value never shows.
        let v = shape_verdict(SecretKind::KvcoreToken, "{\"nope\": \"s3cr3t\"}", "k");
        assert!(!v.detail.contains("s3cr3t") && !v.action.unwrap().contains("s3cr3t"));
    }

    fn webhook(id: u64, event: &str, url: &str, status: &str) -> Webhook {
        Webhook {
            id,
            event: event.into(),
            url: url.into(),
            status: Some(status.into()),
            system: None,
        }
    }

    #[test]
    fn webhooks_need_both_people_events_at_the_workflows_url() {
        let url = "https://x.example/webhooks/fub";
        let both = [
            webhook(1, "peopleCreated", url, "Active"),
            webhook(2, "peopleUpdated", url, "Active"),
        ];
        assert_eq!(webhooks_verdict(&both, "fub", Some(url)).status, Status::Ok);
        assert_eq!(webhooks_verdict(&both, "fub", None).status, Status::Ok);
        let one = webhooks_verdict(&both[..1], "fub", Some(url));
        assert_eq!(one.status, Status::Problem);
        assert_eq!(one.detail, "not registered: peopleUpdated");
        assert_eq!(
            one.action.as_deref(),
            Some("kvsync followupboss subscribe fub")
        );
        let elsewhere = [
            webhook(1, "peopleCreated", "https://y/webhooks/other", "Active"),
            both[1].clone(),
        ];
        assert_eq!(
            webhooks_verdict(&elsewhere, "fub", None).status,
            Status::Problem
        );
        let disabled = [
            both[0].clone(),
            webhook(2, "peopleUpdated", url, "Disabled"),
        ];
        assert_eq!(
            webhooks_verdict(&disabled, "fub", Some(url)).status,
            Status::Problem
        );
    }

    #[test]
    fn the_index_is_a_warning_until_built_and_when_stale() {
        let now = NOW_S * 1000;
        let never = IndexMeta::default();
        assert_eq!(index_verdict(&never, now, "wf").status, Status::Warning);
        let building = IndexMeta {
            build: Some(BuildCursor {
                started_ms: 0,
                next_page: 2,
                contacts_read: 500,
            }),
            ..Default::default()
        };
        let v = index_verdict(&building, now, "wf");
        assert_eq!(v.status, Status::Warning);
        assert!(v.detail.contains("500"));
        let fresh = IndexMeta {
            built_at_ms: Some(now - 3_600_000),
            last_refresh_ms: Some(now - 60_000),
            contacts: 42,
            ..Default::default()
        };
        let v = index_verdict(&fresh, now, "wf");
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.detail, "42 contacts, refreshed 1 min ago");
        // A build counts as a refresh: stale only when both are old.
        let stale = IndexMeta {
            built_at_ms: Some(now - 5 * 3_600_000),
            last_refresh_ms: Some(now - 3 * 3_600_000),
            ..fresh.clone()
        };
        let v = index_verdict(&stale, now, "wf");
        assert_eq!(v.status, Status::Warning);
        assert_eq!(
            v.detail,
            "last refreshed 3 h ago; the scheduled indexer should refresh it every few minutes"
        );
        let old_build = IndexMeta {
            built_at_ms: Some(now - 3 * 86_400_000),
            last_refresh_ms: Some(now - 60_000),
            ..fresh
        };
        assert_eq!(index_verdict(&old_build, now, "wf").status, Status::Warning);
    }

    #[test]
    fn failed_events_are_a_warning_with_the_replay_command() {
        assert_eq!(failed_verdict(0, "wf").status, Status::Ok);
        let v = failed_verdict(3, "wf");
        assert_eq!(v.status, Status::Warning);
        assert_eq!(v.detail, "3 failed events kept");
        assert!(v.action.unwrap().contains("kvsync replay wf --failed"));
    }

    #[test]
    fn problems_outrank_warnings() {
        assert!(
            Status::Problem > Status::Warning
                && Status::Warning > Status::Skipped
                && Status::Skipped > Status::Ok
        );
    }
}
