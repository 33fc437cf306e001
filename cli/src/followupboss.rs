//! `kvsync followupboss subscribe|unsubscribe|list <workflow_id>`: the
//! Follow Up Boss webhooks of a `followupboss` workflow, registered with the
//! account owner's API key (the workflow's `source_api_secret`) for the
//! team's registered system (`X-System`, `X-System-Key`): from
//! `--system`/`--system-key`, else `FOLLOWUPBOSS_SYSTEM` /
//! `FOLLOWUPBOSS_SYSTEM_KEY`, else (the key only) the workflow's
//! `webhook_secret` when its auth is `followupboss`, since Follow Up Boss
//! signs deliveries with the registering system's key and the function
//! checks them with that secret. API: `kvsync::adapters::followupboss`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use kvsync::adapters::followupboss::{MAX_WEBHOOKS_PER_EVENT, SourceError, System, Webhook};
use kvsync::domain::settings::{Settings, Source};
use kvsync::domain::sources::followupboss::SYNCED_EVENTS;
pub use kvsync::flows::health::same_url;
use kvsync::flows::health::{SystemSetting, followupboss_system};
use kvsync::flows::services::Services;

use crate::stack::{Stack, StackArgs};

/// The registered system, from flags or the environment.
#[derive(Debug, Clone, Args)]
pub struct SystemArgs {
    /// Your system's name as registered with Follow Up Boss (X-System).
    #[arg(long = "system", global = true, env = "FOLLOWUPBOSS_SYSTEM")]
    pub system: Option<String>,
    /// Your system's key (X-System-Key); prefer the environment variable
    /// [default: the workflow's webhook_secret when its auth is followupboss].
    #[arg(
        long = "system-key",
        global = true,
        env = "FOLLOWUPBOSS_SYSTEM_KEY",
        hide_env_values = true
    )]
    pub system_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register peopleCreated and peopleUpdated webhooks pointing at the
    /// workflow's URL; run again, it registers nothing twice.
    #[command(
        after_help = "Example:\n  FOLLOWUPBOSS_SYSTEM=acme-kvsync FOLLOWUPBOSS_SYSTEM_KEY=... kvsync followupboss subscribe fub --webhook-url https://abc123.execute-api.us-east-1.amazonaws.com/webhooks"
    )]
    Subscribe {
        /// The workflow (source followupboss).
        workflow_id: String,
        /// The workflow's webhook URL, `<WebhookUrl>/<workflow_id>` (the
        /// workflow id is appended when missing) [default: from
        /// --webhook-url or --stack].
        #[arg(long)]
        url: Option<String>,
    },
    /// Remove the workflow's webhooks (those pointing at its URL), or the
    /// ones given by id.
    #[command(
        after_help = "Examples:\n  kvsync followupboss unsubscribe fub\n  kvsync followupboss unsubscribe fub --id 12 --id 13"
    )]
    Unsubscribe {
        /// The workflow (its API key is used).
        workflow_id: String,
        /// The workflow's webhook URL [default: from --webhook-url or --stack].
        #[arg(long)]
        url: Option<String>,
        /// Remove these webhooks (ids from `list`) instead.
        #[arg(long = "id")]
        ids: Vec<u64>,
    },
    /// The system's webhooks; those pointing at the workflow are marked.
    #[command(after_help = "Example:\n  kvsync followupboss list fub")]
    List {
        /// The workflow (its API key is used).
        workflow_id: String,
        /// The workflow's webhook URL [default: from --webhook-url or --stack].
        #[arg(long)]
        url: Option<String>,
    },
}

/// What one webhooks command needs: the key, the system, the URL.
pub struct Access {
    pub api_key: String,
    pub system: System,
}

pub async fn run(
    stack_args: &StackArgs,
    system: &SystemArgs,
    command: Command,
) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let services = stack.services()?;
    match command {
        Command::Subscribe { workflow_id, url } => {
            let settings = workflow(&services, &workflow_id).await?;
            let access = access(&services, &settings, system).await?;
            let url = workflow_url(&stack, &workflow_id, url)?;
            subscribe(&services, &access, &url).await
        }
        Command::Unsubscribe {
            workflow_id,
            url,
            ids,
        } => {
            let settings = workflow(&services, &workflow_id).await?;
            let access = access(&services, &settings, system).await?;
            let existing = services
                .followupboss
                .webhooks(&access.api_key, &access.system)
                .await
                .map_err(fub_error)?;
            let doomed: Vec<&Webhook> = if ids.is_empty() {
                let url = workflow_url(&stack, &workflow_id, url)?;
                existing.iter().filter(|w| same_url(&w.url, &url)).collect()
            } else {
                for id in &ids {
                    if !existing.iter().any(|w| w.id == *id) {
                        return Err(format!(
                            "system '{}' has no webhook {id} (see `kvsync followupboss list {workflow_id}`)",
                            access.system.name
                        ));
                    }
                }
                existing.iter().filter(|w| ids.contains(&w.id)).collect()
            };
            if doomed.is_empty() {
                println!(
                    "no webhooks of workflow '{workflow_id}' are registered; nothing to remove"
                );
            }
            for webhook in doomed {
                let removed = services
                    .followupboss
                    .delete_webhook(&access.api_key, &access.system, webhook.id)
                    .await
                    .map_err(fub_error)?;
                let how = if removed { "removed" } else { "already gone" };
                println!(
                    "{how}: {} {} (id {})",
                    webhook.event, webhook.url, webhook.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { workflow_id, url } => {
            let settings = workflow(&services, &workflow_id).await?;
            let access = access(&services, &settings, system).await?;
            let url = workflow_url(&stack, &workflow_id, url).ok();
            let existing = services
                .followupboss
                .webhooks(&access.api_key, &access.system)
                .await
                .map_err(fub_error)?;
            if existing.is_empty() {
                println!("system '{}' has no webhooks", access.system.name);
            }
            for webhook in &existing {
                let mine = url.as_deref().is_some_and(|u| same_url(&webhook.url, u));
                println!(
                    "{:>8}  {:<16} {:<9} {}{}",
                    webhook.id,
                    webhook.event,
                    webhook.status.as_deref().unwrap_or("-"),
                    webhook.url,
                    if mine { "  (this workflow)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Registers what is missing; see `Command::Subscribe`.
async fn subscribe(services: &Services, access: &Access, url: &str) -> Result<ExitCode, String> {
    let existing = services
        .followupboss
        .webhooks(&access.api_key, &access.system)
        .await
        .map_err(fub_error)?;
    for event in SYNCED_EVENTS {
        let of_event: Vec<&Webhook> = existing.iter().filter(|w| w.event == event).collect();
        if let Some(found) = of_event.iter().find(|w| same_url(&w.url, url)) {
            println!(
                "already registered: {event} → {} (id {})",
                found.url, found.id
            );
            continue;
        }
        if of_event.len() >= MAX_WEBHOOKS_PER_EVENT {
            let taken: Vec<String> = of_event
                .iter()
                .map(|w| format!("{} (id {})", w.url, w.id))
                .collect();
            return Err(format!(
                "Follow Up Boss allows {MAX_WEBHOOKS_PER_EVENT} {event} webhooks per system and '{}' has them: {}; remove one with `kvsync followupboss unsubscribe <workflow_id> --id <id>`",
                access.system.name,
                taken.join(", ")
            ));
        }
        let created = services
            .followupboss
            .create_webhook(&access.api_key, &access.system, event, url)
            .await
            .map_err(fub_error)?;
        println!("registered: {event} → {} (id {})", created.url, created.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// The workflow's settings; it must be a `followupboss` one.
async fn workflow(services: &Services, workflow_id: &str) -> Result<Settings, String> {
    let settings = services
        .workflows
        .get(workflow_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no workflow '{workflow_id}' (see `kvsync doctor --all`)"))?;
    if settings.source != Source::FollowUpBoss {
        return Err(format!(
            "workflow '{workflow_id}' has source other than \"followupboss\"; Follow Up Boss webhooks would not be understood by it"
        ));
    }
    Ok((*settings).clone())
}

/// The API key (the workflow's `source_api_secret`) and the system.
pub async fn access(
    services: &Services,
    settings: &Settings,
    system: &SystemArgs,
) -> Result<Access, String> {
    let id = settings
        .source_api_secret
        .as_deref()
        .ok_or("the workflow has no source_api_secret")?;
    let api_key = services
        .secrets
        .get(id)
        .await
        .map_err(|e| format!("source_api_secret: {e}"))?
        .to_string();
    let system = resolve_system(services, settings, system).await?;
    Ok(Access { api_key, system })
}

/// The system from flags/env; its key may default to the workflow's
/// `webhook_secret` (see the module docs). `Err` says what to set.
pub async fn resolve_system(
    services: &Services,
    settings: &Settings,
    system: &SystemArgs,
) -> Result<System, String> {
    let setting = SystemSetting {
        name: system.system.clone(),
        key: system.system_key.clone(),
    };
    followupboss_system(&services.secrets, settings, &setting).await
}

/// `--url`, else `<WebhookUrl>/<workflow_id>` of the stack.
fn workflow_url(stack: &Stack, workflow_id: &str, url: Option<String>) -> Result<String, String> {
    match url {
        Some(url) => {
            let url = url.trim().trim_end_matches('/').to_string();
            Ok(if url.ends_with(&format!("/{workflow_id}")) {
                url
            } else {
                format!("{url}/{workflow_id}")
            })
        }
        None => stack.workflow_url(workflow_id).ok_or_else(|| {
            "the webhook URL is not known: pass --url <WebhookUrl>/<workflow_id>, --webhook-url <WebhookUrl>, or --stack <stack name>".to_string()
        }),
    }
}

fn fub_error(error: SourceError) -> String {
    match error {
        SourceError::Unauthorized(status) => format!(
            "Follow Up Boss refused the request ({status}): check the API key in the workflow's source_api_secret (it must be the account owner's) and FOLLOWUPBOSS_SYSTEM / FOLLOWUPBOSS_SYSTEM_KEY"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_match_regardless_of_a_trailing_slash() {
        assert!(same_url("https://x/webhooks/a/", "https://x/webhooks/a"));
        assert!(!same_url("https://x/webhooks/a", "https://x/webhooks/ab"));
    }
}
