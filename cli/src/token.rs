//! `kvsync workflow token <workflow_id>`: replaces a workflow's kvCORE token
//! (SPEC section 14). The new token is read from a hidden prompt on a
//! terminal, else one line of stdin (never a flag: it would stay in shell
//! history), checked with one read-only kvCORE request
//! (`GET /contacts?limit=1`, SPEC section 7) and stored only when kvCORE
//! accepts it, in the secret the workflow's `kvcore_token_secret` names (in
//! the shape it held: bare, or JSON `{"token"}`). Then its expiry (the JWT's
//! `exp`: kvCORE tokens are valid one year) and what waits for
//! `kvsync replay`.

use std::process::ExitCode;

use clap::Args;
use kvsync::adapters::kvcore::KvcoreError;
use kvsync::adapters::kvcore::token::Expiry;
use kvsync::adapters::secrets::{self, SECRET_TTL};
use kvsync::domain::settings::Attr;
use kvsync::flows::health::{self, Waiting, date_of};

use crate::item;
use crate::secret_store;
use crate::stack::{Stack, StackArgs};

/// `kvsync workflow token`.
#[derive(Debug, Args)]
#[command(after_help = "\
The token is read from a hidden prompt, or from stdin:
  printf '%s\\n' \"$KVCORE_TOKEN\" | kvsync workflow token leads

Examples:
  kvsync workflow token leads")]
pub struct TokenArgs {
    /// The workflow whose kvCORE token to replace.
    pub workflow_id: String,
}

pub async fn run(stack_args: &StackArgs, args: TokenArgs) -> Result<ExitCode, String> {
    let workflow_id = args.workflow_id.as_str();
    let stack = Stack::resolve(stack_args).await?;
    let services = stack.services()?;
    // The raw item, so a workflow whose other settings are wrong can still
    // get its token.
    let raw = stack
        .workflow_item(workflow_id)
        .await?
        .ok_or_else(|| format!("no workflow '{workflow_id}' (see `kvsync doctor --all`)"))?;
    let secret_id = match item::from_sdk(&raw).get("kvcore_token_secret") {
        Some(Attr::S(id)) if !id.trim().is_empty() => id.trim().to_string(),
        _ => {
            return Err(format!(
                "workflow '{workflow_id}': attribute 'kvcore_token_secret' must be the id of the secret holding the kvCORE token (a String), found none; set it in the DynamoDB console"
            ));
        }
    };

    let typed = secret_store::read_value("kvCORE token")?;
    let token = typed.strip_prefix("Bearer ").unwrap_or(&typed).trim();
    let token = secrets::kvcore_token(token).ok_or("the kvCORE token is empty")?;
    match health::token_accepted(&services, &token).await {
        Ok(()) => {}
        Err(KvcoreError::Unauthorized) => {
            return Err(
                "kvCORE refused this token (401); it was not stored. Copy the whole token from kvCORE (Lead Engine → Lead Dropbox) and try again".into(),
            );
        }
        Err(error) => {
            return Err(format!(
                "the token could not be checked with kvCORE ({error}); it was not stored. Try again (KVCORE_BASE_URL: {})",
                std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| "the default".into())
            ));
        }
    }

    let client = stack.secretsmanager();
    let stored = store(&client, &secret_id, &token).await?;
    println!(
        "kvCORE accepted the token (GET /contacts?limit=1); {stored} '{secret_id}' for workflow '{workflow_id}'."
    );
    println!(
        "The functions read it within {} minutes (their secrets cache).",
        SECRET_TTL.as_secs() / 60
    );
    let now_s = kvsync::clock::now_ms() / 1000;
    println!("{}", expiry_line(Expiry::of(&token), now_s));
    let waiting = health::waiting(&services.ledger, workflow_id)
        .await
        .map_err(|e| format!("the token is stored, but the events could not be read: {e}"))?;
    println!("{}", waiting_line(waiting, workflow_id));
    Ok(ExitCode::SUCCESS)
}

/// Writes the token into the secret, keeping its shape (JSON `{"token"}`
/// with its other keys, or bare); creates the secret when there is none.
/// Answers what was done, for the message.
async fn store(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    token: &str,
) -> Result<&'static str, String> {
    if !secret_store::exists(client, secret_id).await? {
        secret_store::create(client, secret_id, token, "kvCORE API token (kvsync)").await?;
        return Ok("stored it in the new secret");
    }
    let current = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .ok()
        .and_then(|out| out.secret_string().map(str::to_string))
        .unwrap_or_default();
    let value = match serde_json::from_str::<serde_json::Value>(current.trim()) {
        Ok(serde_json::Value::Object(mut fields)) => {
            fields.insert("token".into(), serde_json::Value::String(token.into()));
            serde_json::Value::Object(fields).to_string()
        }
        _ => token.to_string(),
    };
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| {
            format!(
                "Secrets Manager: storing the token in '{secret_id}': {}",
                secret_store::aws_message(&e)
            )
        })?;
    Ok("replaced the token in secret")
}

/// When the token stops working, in a sentence.
fn expiry_line(expiry: Expiry, now_s: i64) -> String {
    match expiry {
        Expiry::At(exp) => {
            let days = expiry.days_left(now_s).unwrap_or_default().floor();
            format!(
                "It expires on {} ({days} days from now); kvsync warns 30 days before.",
                date_of(exp)
            )
        }
        Expiry::Never => "It carries no expiry (a JWT without exp).".into(),
        Expiry::Unknown => "Its expiry is unknown (not a JWT); check it in kvCORE.".into(),
    }
}

/// What waits for `kvsync replay`, in a sentence or two.
fn waiting_line(waiting: Waiting, workflow_id: &str) -> String {
    let Waiting {
        failed_events,
        dead_letters,
    } = waiting;
    if failed_events == 0 && dead_letters == 0 {
        return "Nothing waits for a replay.".into();
    }
    let mut lines = Vec::new();
    if failed_events > 0 {
        lines.push(format!(
            "{failed_events} failed event{} wait{}: kvsync replay {workflow_id} --failed",
            if failed_events == 1 { "" } else { "s" },
            if failed_events == 1 { "s" } else { "" }
        ));
    }
    if dead_letters > 0 {
        lines.push(format!(
            "{dead_letters} dead-lettered person{} wait{}: kvsync replay {workflow_id} --dlq",
            if dead_letters == 1 { "" } else { "s" },
            if dead_letters == 1 { "s" } else { "" }
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_a_date_and_days() {
        let line = expiry_line(Expiry::At(86_400 * 400), 86_400 * 35);
        assert_eq!(
            line,
            "It expires on 1971-02-05 (365 days from now); kvsync warns 30 days before."
        );
        assert!(expiry_line(Expiry::Unknown, 0).contains("unknown"));
    }

    #[test]
    fn what_waits_names_the_replay_commands() {
        assert_eq!(
            waiting_line(Waiting::default(), "wf"),
            "Nothing waits for a replay."
        );
        assert_eq!(
            waiting_line(
                Waiting {
                    failed_events: 2,
                    dead_letters: 1
                },
                "wf"
            ),
            "2 failed events wait: kvsync replay wf --failed\n1 dead-lettered person waits: kvsync replay wf --dlq"
        );
    }
}
