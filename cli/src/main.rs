//! `kvsync`: the operator's command. It finds the stack's tables from
//! flags, the environment the webhook function has (WORKFLOWS_TABLE,
//! EVENTS_TABLE, PERSONS_TABLE, PHONE_INDEX_TABLE, KVCORE_BASE_URL; AWS
//! credentials and region as usual) or the deployed stack's outputs
//! (`--stack`), sets up workflows (`workflow new`), checks them (`doctor`),
//! registers Follow Up Boss webhooks, and replays events through the very
//! code path the webhook uses.
//!
//! Arguments are parsed by `clap` (derive); `kvsync completions <shell>`
//! prints a completion script. Every command's `--help` ends with an
//! example.

mod doctor;
mod followupboss;
mod google;
mod import;
mod index;
mod item;
mod microsoft;
mod queued;
mod secret_store;
mod stack;
mod token;
mod try_event;
mod workflow;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use kvsync::adapters::store::{EventRecord, EventStatus};
use kvsync::flows::{self, Invocation, Services};
use stack::{Stack, StackArgs};

/// One replay gets as long as one webhook invocation.
const REPLAY_BUDGET: Duration = Duration::from_secs(25);

/// kvsync operator command: set up and check workflows, Follow Up Boss
/// webhooks, failed events, replay, history, usage and the phone index.
///
/// Stack resources come from the environment the webhook function has
/// (WORKFLOWS_TABLE, EVENTS_TABLE, PERSONS_TABLE, PHONE_INDEX_TABLE,
/// KVCORE_BASE_URL, ...) or from the flags each command names.
#[derive(Debug, Parser)]
#[command(
    name = "kvsync",
    version,
    after_help = "Example:\n  kvsync doctor demo"
)]
struct Cli {
    #[command(flatten)]
    stack: StackArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up a workflow: its item, its secrets, its webhook URL; replace
    /// its kvCORE token.
    #[command(
        subcommand,
        after_help = "Examples:\n  kvsync workflow new leads --source generic\n  kvsync workflow token leads"
    )]
    Workflow(WorkflowCommand),
    /// Check a workflow (or all): settings, secrets, kvCORE token and its
    /// expiry, Follow Up Boss webhooks, Google grant, phone index, failed
    /// events.
    #[command(after_help = "Example:\n  kvsync doctor leads")]
    Doctor(doctor::DoctorArgs),
    /// Follow Up Boss webhooks of a followupboss workflow: subscribe,
    /// unsubscribe, list.
    #[command(after_help = "Example:\n  kvsync followupboss subscribe fub")]
    Followupboss {
        #[command(flatten)]
        system: followupboss::SystemArgs,
        #[command(subcommand)]
        command: followupboss::Command,
    },
    /// List the events of a workflow that ended failed, with their error.
    #[command(after_help = "Example:\n  kvsync failed demo")]
    Failed {
        /// The workflow's id (its key in the workflows table).
        workflow_id: String,
    },
    /// Run events again through the webhook's own code path (a succeeded one
    /// changes nothing).
    #[command(
        after_help = "Examples:\n  kvsync replay demo --failed\n  kvsync replay demo msg_123 msg_124\n  kvsync replay fub --dlq"
    )]
    Replay {
        /// The workflow's id.
        workflow_id: String,
        /// The events to replay, by event id.
        #[arg(required_unless_present_any = ["failed", "dlq"], conflicts_with_all = ["failed", "dlq"])]
        event_ids: Vec<String>,
        /// Replay every event of the workflow that ended failed (a queued
        /// event queues its failed persons again).
        #[arg(long, conflicts_with = "dlq")]
        failed: bool,
        /// Move the workflow's persons in the sync dead-letter queue back to
        /// the sync queue (needs SYNC_QUEUE_URL and SYNC_DLQ_URL).
        #[arg(long)]
        dlq: bool,
    },
    /// Recent events of a workflow and their outcomes, newest first.
    #[command(after_help = "Example:\n  kvsync history demo --limit 20")]
    History {
        /// The workflow's id.
        workflow_id: String,
        /// How many events to show at most.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Events synced per month, by outcome: created, updated, unchanged,
    /// skipped, failed.
    #[command(after_help = "Example:\n  kvsync usage demo")]
    Usage {
        /// The workflow's id.
        workflow_id: String,
    },
    /// Google Contacts polling of a `google` workflow (SPEC section 10):
    /// connect an account, see the poller's last run.
    #[command(
        subcommand,
        after_help = "Examples:\n  kvsync google connect contacts --client-secret client_secret.json\n  kvsync google status contacts"
    )]
    Google(GoogleCommand),
    /// Microsoft 365 / Outlook contacts of a `microsoft` workflow (SPEC
    /// section 15): connect an account with a device code, see the
    /// poller's last run.
    #[command(
        subcommand,
        after_help = "Examples:\n  kvsync microsoft connect contacts --tenant contoso.onmicrosoft.com --client-id 00000000-0000-0000-0000-000000000000\n  kvsync microsoft status contacts"
    )]
    Microsoft(MicrosoftCommand),
    /// A one-time import of a CSV export (SPEC section 13): --preview decides
    /// every row against kvCORE and writes a report (CSV and HTML) without
    /// writing to kvCORE; --apply then queues the rows that write.
    #[command(
        after_help = "Examples:\n  kvsync import demo contacts.csv --preview\n  kvsync import demo contacts.csv --apply\n  kvsync import demo export.csv --preview --map \"Cell #=mobile\" --out reports/"
    )]
    Import(import::ImportArgs),
    /// The phone index of a workflow's scope (SPEC section 9).
    #[command(
        subcommand,
        after_help = "Examples:\n  kvsync index build demo\n  kvsync index status demo"
    )]
    Index(IndexCommand),
    /// Print a shell completion script to stdout.
    #[command(
        after_help = "Example:\n  kvsync completions bash > ~/.local/share/bash-completion/completions/kvsync"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum WorkflowCommand {
    /// Create a workflow: a valid item, its secrets (a generated webhook
    /// secret; the kvCORE token and API keys from a prompt or stdin), then
    /// the webhook URL and the next step.
    New(workflow::NewArgs),
    /// What the workflow makes of a sample event, writing nothing: the
    /// people parsed, each filter's verdict, the kvCORE values mapped and
    /// the decision against kvCORE (read-only lookups).
    #[command(after_help = "Example:\n  kvsync workflow try fub sample-event.json")]
    Try {
        /// The workflow's id.
        workflow_id: String,
        /// A sample event body, as the source sends it.
        event: std::path::PathBuf,
    },
    /// Replace the workflow's kvCORE token: read hidden (or from stdin),
    /// checked with kvCORE first (a refused token is not stored), then its
    /// expiry and what waits for `kvsync replay`.
    Token(token::TokenArgs),
}

#[derive(Debug, Subcommand)]
enum GoogleCommand {
    /// Google's consent for installed apps (a loopback redirect on
    /// 127.0.0.1): prints the consent URL, waits for the browser, and stores
    /// the refresh token in the workflow's google_oauth_secret (never shown).
    #[command(
        after_help = "Example:\n  kvsync google connect contacts --client-secret client_secret.json"
    )]
    Connect(google::ConnectArgs),
    /// The google-poller's last run for the workflow, its counts, the sync
    /// token's age and reconnect_needed.
    #[command(after_help = "Example:\n  kvsync google status contacts")]
    Status {
        /// The workflow's id.
        workflow_id: String,
    },
    /// What `initial_sync: all` would do before the first listing: every
    /// Google person decided against kvCORE, reported as an import preview
    /// (CSV and HTML). Nothing is written.
    #[command(after_help = "Example:\n  kvsync google preview contacts --out reports/")]
    Preview {
        /// The workflow's id.
        workflow_id: String,
        /// Where the report goes (a directory) [default: the current one].
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum MicrosoftCommand {
    /// The device code flow: prints a code and the address to enter it
    /// at, waits for the sign-in, and stores the grant in the workflow's
    /// microsoft_oauth_secret (the token is never shown).
    #[command(
        after_help = "Example:\n  kvsync microsoft connect contacts --tenant contoso.onmicrosoft.com --client-id 00000000-0000-0000-0000-000000000000"
    )]
    Connect(microsoft::ConnectArgs),
    /// The microsoft-poller's last run for the workflow, its counts, its
    /// folders and reconnect_needed.
    #[command(after_help = "Example:\n  kvsync microsoft status contacts")]
    Status {
        /// The workflow's id.
        workflow_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    /// Build (or resume building) the phone index of the workflow's scope,
    /// with progress.
    #[command(after_help = "Example:\n  kvsync index build demo")]
    Build {
        /// The workflow's id.
        workflow_id: String,
    },
    /// The phone index of the workflow's scope: size, age, a build in
    /// progress.
    #[command(after_help = "Example:\n  kvsync index status demo")]
    Status {
        /// The workflow's id.
        workflow_id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(&cli.stack, cli.command).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("kvsync: {message}");
            ExitCode::from(2)
        }
    }
}

/// The clients the webhook has, for this stack.
async fn services(stack: &StackArgs) -> Result<Services, String> {
    Stack::resolve(stack).await?.services()
}

async fn run(stack: &StackArgs, command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Workflow(WorkflowCommand::New(args)) => workflow::new(stack, args).await,
        Command::Workflow(WorkflowCommand::Try { workflow_id, event }) => {
            try_event::run(&services(stack).await?, &workflow_id, &event).await
        }
        Command::Workflow(WorkflowCommand::Token(args)) => token::run(stack, args).await,
        Command::Doctor(args) => doctor::run(stack, args).await,
        Command::Followupboss { system, command } => {
            followupboss::run(stack, &system, command).await
        }
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a write error
            // (e.g. `| head`), a buffer cannot fail.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kvsync", &mut script);
            use std::io::Write;
            match std::io::stdout().write_all(&script) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(format!("writing the completion script: {e}")),
            }
        }
        Command::Google(GoogleCommand::Connect(args)) => google::connect(stack, args).await,
        Command::Google(GoogleCommand::Status { workflow_id }) => {
            google::status(stack, &workflow_id).await
        }
        Command::Microsoft(MicrosoftCommand::Connect(args)) => {
            microsoft::connect(stack, args).await
        }
        Command::Microsoft(MicrosoftCommand::Status { workflow_id }) => {
            microsoft::status(stack, &workflow_id).await
        }
        Command::Google(GoogleCommand::Preview { workflow_id, out }) => {
            let services = services(stack).await?;
            import::google_preview(&services, &workflow_id, out.as_deref()).await
        }
        Command::Import(args) => {
            let services = services(stack).await?;
            import::run(&services, args).await
        }
        Command::Index(IndexCommand::Build { workflow_id }) => {
            let services = services(stack).await?;
            index::build(&services, &workflow_id).await
        }
        Command::Index(IndexCommand::Status { workflow_id }) => {
            let services = services(stack).await?;
            index::status(&services, &workflow_id).await
        }
        Command::Failed { workflow_id } => {
            let services = services(stack).await?;
            let failed = failed_events(&services, &workflow_id).await?;
            if failed.is_empty() {
                println!("no failed events for workflow '{workflow_id}'");
            }
            for record in failed {
                println!(
                    "{}  {}  attempts {}  {}: {}",
                    when(record.updated_at_ms),
                    record.event_id,
                    record.attempts,
                    record.error_code.as_deref().unwrap_or("-"),
                    record.error_message.as_deref().unwrap_or("-"),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            workflow_id,
            event_ids,
            failed,
            dlq,
        } => {
            let services = services(stack).await?;
            if dlq {
                return queued::drain_dlq(&services, &workflow_id).await;
            }
            let event_ids: Vec<String> = if failed {
                failed_events(&services, &workflow_id)
                    .await?
                    .into_iter()
                    .map(|r| r.event_id)
                    .collect()
            } else {
                event_ids
            };
            let mut all_ok = true;
            for event_id in &event_ids {
                let invocation = Invocation::within(REPLAY_BUDGET);
                match flows::delivery::replay(&services, &workflow_id, event_id, invocation).await {
                    Ok(answer) => {
                        println!("{}", serde_json::to_string(&answer).unwrap_or_default())
                    }
                    Err(error) => {
                        all_ok = false;
                        eprintln!("{event_id}: {} ({error})", error.code());
                    }
                }
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::History { workflow_id, limit } => {
            let services = services(stack).await?;
            let records = services
                .ledger
                .events(&workflow_id)
                .await
                .map_err(|e| e.to_string())?;
            for record in records.into_iter().take(limit) {
                match queued::history_detail(&services, &record).await? {
                    Some(detail) => println!(
                        "{}  {}  {detail}",
                        when(record.updated_at_ms),
                        record.event_id
                    ),
                    None => println!("{}", history_line(&record)),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Usage { workflow_id } => {
            let services = services(stack).await?;
            println!(
                "{:<8} {:>8} {:>8} {:>9} {:>8} {:>7}",
                "month", "created", "updated", "unchanged", "skipped", "failed"
            );
            let usage = services
                .ledger
                .usage(&workflow_id)
                .await
                .map_err(|e| e.to_string())?;
            for (month, usage) in usage {
                println!(
                    "{month:<8} {:>8} {:>8} {:>9} {:>8} {:>7}",
                    usage.created, usage.updated, usage.unchanged, usage.skipped, usage.failed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn failed_events(services: &Services, workflow_id: &str) -> Result<Vec<EventRecord>, String> {
    let records = services
        .ledger
        .events(workflow_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(records
        .into_iter()
        .filter(|r| r.status == EventStatus::Failed)
        .collect())
}

fn history_line(record: &EventRecord) -> String {
    let detail = match (&record.answer, record.status) {
        (Some(answer), _) => answer
            .results
            .iter()
            .map(|r| {
                let outcome = serde_json::to_value(r.outcome).unwrap_or_default();
                let outcome = outcome.as_str().unwrap_or("?").to_string();
                match (r.reason, r.contact_id) {
                    (Some(reason), _) => {
                        let reason = serde_json::to_value(reason).unwrap_or_default();
                        format!("{outcome} ({})", reason.as_str().unwrap_or("?"))
                    }
                    (None, Some(id)) => format!("{outcome} #{id}"),
                    (None, None) => outcome,
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        (None, EventStatus::Failed) => {
            format!("failed: {}", record.error_code.as_deref().unwrap_or("-"))
        }
        (None, _) => "in progress".to_string(),
    };
    format!(
        "{}  {}  {}",
        when(record.updated_at_ms),
        record.event_id,
        detail
    )
}

/// `unix_ms` as RFC 3339 UTC, `-` when out of range.
fn when(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".to_string())
}
