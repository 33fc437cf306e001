//! `kvsync doctor <workflow_id>` / `--all`: is a workflow healthy, and if
//! not, what to do. One line per check, each `ok`, `warning`, `problem` or
//! `skipped` (could not be checked here, and why), with the next step;
//! exit status 1 when any check is a problem; `--json` for scripts.
//!
//! The checks are the library's (`kvsync::flows::health`), the same the
//! daily health-check function meters (SPEC section 14); this module reads
//! the stack, hands them what only the CLI knows (the webhook URL, the
//! secret names for "did you mean", the Follow Up Boss system) and prints.

use std::process::ExitCode;

use clap::Args;
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use kvsync::adapters::google::{DEFAULT_PEOPLE_BASE_URL, DEFAULT_TOKEN_URL, Google};
use kvsync::adapters::store::GoogleSyncStore;
use kvsync::flows::health::{Check, Health, Status, SystemSetting};
use serde_json::json;

use crate::followupboss::SystemArgs;
use crate::item;
use crate::secret_store;
use crate::stack::{Stack, StackArgs};

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
    /// Print JSON: {"ok", "problems", "warnings", "checks": [{"workflow_id", "check", "status", "detail", "action", "problem"?}]}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub system: SystemArgs,
}

fn color(status: Status) -> Color {
    match status {
        Status::Ok => Color::Green,
        Status::Skipped => Color::DarkGrey,
        Status::Warning => Color::Yellow,
        Status::Problem => Color::Red,
    }
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
    let token_url =
        std::env::var("GOOGLE_OAUTH_TOKEN_URL").unwrap_or_else(|_| DEFAULT_TOKEN_URL.to_string());
    let google = Google::new(DEFAULT_PEOPLE_BASE_URL, &token_url).map_err(|e| e.to_string())?;
    let google_sync = stack
        .google_sync_table
        .clone()
        .map(|table| GoogleSyncStore::new(stack.dynamodb(), table));
    let microsoft_sync = stack
        .microsoft_sync_table
        .clone()
        .map(|table| GoogleSyncStore::new(stack.dynamodb(), table));
    let health = Health {
        services: &services,
        google: Some(&google),
        google_sync: google_sync.as_ref(),
        microsoft_sync: microsoft_sync.as_ref(),
        followupboss_system: SystemSetting {
            name: args.system.system.clone(),
            key: args.system.system_key.clone(),
        },
        webhook_url: stack.webhook_url.clone(),
        secret_names,
        secrets_prefix: Some(stack.secrets_prefix.clone()),
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
            problem: None,
        });
    }
    for id in &ids {
        match stack.workflow_item(id).await? {
            Some(raw) => checks.extend(health.workflow(id, &item::from_sdk(&raw)).await),
            None => checks.push(missing_workflow(&stack, id).await?),
        }
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
        let report = json!({
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

/// The line for a workflow id the table does not hold, with the nearest
/// one it does.
async fn missing_workflow(stack: &Stack, workflow_id: &str) -> Result<Check, String> {
    let table = stack.workflows()?;
    let ids = workflow_ids(stack).await.unwrap_or_default();
    let action = match secret_store::nearest(workflow_id, &ids) {
        Some(near) => {
            format!("did you mean '{near}'? Or create it: kvsync workflow new {workflow_id}")
        }
        None => format!("create it: kvsync workflow new {workflow_id}"),
    };
    Ok(Check {
        workflow_id: workflow_id.to_string(),
        check: "workflow".into(),
        status: Status::Problem,
        detail: format!("no workflow '{workflow_id}' in {table}"),
        action: Some(action),
        problem: None,
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
            Cell::new(check.status.label()).fg(color(check.status)),
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
