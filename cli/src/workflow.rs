//! `kvsync workflow new <workflow_id> --source generic|google|followupboss`:
//! a working workflow in one command. Writes the workflow item with every
//! required attribute in the types the DynamoDB console shows (SPEC section
//! 3), validated by `settings::parse` as the function validates it; creates
//! the secrets it names under the stack's prefix (a generated Standard
//! Webhooks secret, printed once; the kvCORE token and Follow Up Boss keys
//! typed at a hidden prompt or read from stdin, never from argv); refuses
//! to replace an existing workflow without `--force`; prints the webhook
//! URL and the next step for the source.

use std::process::ExitCode;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use base64::Engine;
use clap::{Args, ValueEnum};
use kvsync::domain::settings::{self, Attr, Item};
use rand::RngCore;

use crate::item;
use crate::secret_store;
use crate::stack::{Stack, StackArgs, dynamo_message};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// kvsync's own JSON (SPEC section 5), signed with Standard Webhooks.
    Generic,
    /// Google People `Person` JSON from a bridge; or polled with
    /// `kvsync google connect`.
    Google,
    /// Follow Up Boss's native webhooks (`kvsync followupboss subscribe`).
    Followupboss,
}

impl SourceArg {
    fn name(self) -> &'static str {
        match self {
            SourceArg::Generic => "generic",
            SourceArg::Google => "google",
            SourceArg::Followupboss => "followupboss",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Standard Webhooks signatures with a generated whsec_ secret.
    Standard,
    /// Follow Up Boss's FUB-Signature, keyed by the system key.
    Followupboss,
    /// A shared token in X-Kvsync-Token (for sources that cannot sign).
    Token,
}

impl AuthArg {
    fn name(self) -> &'static str {
        match self {
            AuthArg::Standard => "standard",
            AuthArg::Followupboss => "followupboss",
            AuthArg::Token => "token",
        }
    }
}

/// `kvsync workflow new`.
#[derive(Debug, Args)]
#[command(after_help = "\
Secrets are read from a hidden prompt, or one per line from stdin when it
is not a terminal, in this order: the kvCORE API token; for followupboss,
the Follow Up Boss API key, then the system key (X-System-Key; or set
FOLLOWUPBOSS_SYSTEM_KEY). A secret that already exists is used as it is.

Examples:
  kvsync workflow new leads --source generic
  printf '%s\\n' \"$KVCORE_TOKEN\" \"$FUB_API_KEY\" | FOLLOWUPBOSS_SYSTEM_KEY=... kvsync workflow new fub --source followupboss")]
pub struct NewArgs {
    /// The new workflow's id: the last part of its webhook URL.
    pub workflow_id: String,
    /// The payload format of the source app (SPEC section 5).
    #[arg(long, value_enum, default_value = "generic")]
    pub source: SourceArg,
    /// How deliveries authenticate [default: standard; followupboss for
    /// --source followupboss].
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Secrets Manager id of the kvCORE API token; several workflows may
    /// share one [default: <prefix><workflow_id>/kvcore-token].
    #[arg(long)]
    pub kvcore_token_secret: Option<String>,
    /// Secrets Manager id of the webhook secret
    /// [default: <prefix><workflow_id>/webhook-secret].
    #[arg(long)]
    pub webhook_secret: Option<String>,
    /// Secrets Manager id of the Follow Up Boss API key (followupboss only)
    /// [default: <prefix><workflow_id>/followupboss-api-key].
    #[arg(long)]
    pub source_api_secret: Option<String>,
    /// kvCORE agent (user) id assigned to contacts the workflow creates.
    #[arg(long)]
    pub default_agent_id: Option<u64>,
    /// Region for phone numbers written without a country code.
    #[arg(long, default_value = "US")]
    pub default_country: String,
    /// Written to kvCORE's `source` on create (default for followupboss:
    /// "Follow Up Boss").
    #[arg(long)]
    pub lead_source: Option<String>,
    /// "Do not overwrite existing information": fill only empty fields.
    #[arg(long)]
    pub no_overwrite: bool,
    /// Decide and record, but send no writes to kvCORE.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace an existing workflow item of this id (its secrets are kept).
    #[arg(long)]
    pub force: bool,
}

/// Creates the workflow; see the module docs.
pub async fn new(stack_args: &StackArgs, args: NewArgs) -> Result<ExitCode, String> {
    let stack = Stack::resolve(stack_args).await?;
    let table = stack.workflows()?;
    let workflow_id = args.workflow_id.trim().to_string();
    if workflow_id.is_empty() || workflow_id.contains('/') || workflow_id.contains(' ') {
        return Err(format!(
            "workflow id {workflow_id:?}: use letters, digits, '-' or '_' (it is part of the URL)"
        ));
    }
    let auth = args.auth.unwrap_or(match args.source {
        SourceArg::Followupboss => AuthArg::Followupboss,
        SourceArg::Generic | SourceArg::Google => AuthArg::Standard,
    });
    let prefix = &stack.secrets_prefix;
    let kvcore_token_secret = args
        .kvcore_token_secret
        .clone()
        .unwrap_or_else(|| format!("{prefix}{workflow_id}/kvcore-token"));
    let webhook_secret = args
        .webhook_secret
        .clone()
        .unwrap_or_else(|| format!("{prefix}{workflow_id}/webhook-secret"));
    let source_api_secret = (args.source == SourceArg::Followupboss).then(|| {
        args.source_api_secret
            .clone()
            .unwrap_or_else(|| format!("{prefix}{workflow_id}/followupboss-api-key"))
    });

    let item = workflow_item(
        &args,
        &workflow_id,
        auth,
        &kvcore_token_secret,
        &webhook_secret,
        source_api_secret.as_deref(),
    );
    // The function's own validation, before anything is written.
    let (_, unknown) = settings::parse(&workflow_id, &item).map_err(|e| e.to_string())?;
    if let Some(attribute) = unknown.first() {
        return Err(format!("internal: the new item has {attribute}"));
    }
    for id in [&kvcore_token_secret, &webhook_secret]
        .into_iter()
        .chain(source_api_secret.as_ref())
    {
        if !id.starts_with(prefix.as_str()) {
            eprintln!(
                "warning: secret '{id}' is not under the stack's prefix '{prefix}': the function may not read it"
            );
        }
    }

    let dynamodb = stack.dynamodb();
    if !args.force && stack.workflow_item(&workflow_id).await?.is_some() {
        return Err(refuse_overwrite(&workflow_id));
    }

    // Secrets: each one is created only when missing.
    let secrets = stack.secretsmanager();
    let mut created_whsec = None;
    if !secret_store::exists(&secrets, &kvcore_token_secret).await? {
        let token = secret_store::read_value("kvCORE API token")?;
        secret_store::create(
            &secrets,
            &kvcore_token_secret,
            &token,
            "kvCORE API token (kvsync)",
        )
        .await?;
        println!("created secret {kvcore_token_secret} (kvCORE API token)");
    } else {
        println!("using the existing secret {kvcore_token_secret} (kvCORE API token)");
    }
    if let Some(id) = &source_api_secret {
        if !secret_store::exists(&secrets, id).await? {
            let key = secret_store::read_value("Follow Up Boss API key")?;
            secret_store::create(&secrets, id, &key, "Follow Up Boss API key (kvsync)").await?;
            println!("created secret {id} (Follow Up Boss API key)");
        } else {
            println!("using the existing secret {id} (Follow Up Boss API key)");
        }
    }
    if !secret_store::exists(&secrets, &webhook_secret).await? {
        let (value, what) = match auth {
            AuthArg::Standard => {
                let value = new_whsec();
                created_whsec = Some(value.clone());
                (value, "Standard Webhooks secret")
            }
            AuthArg::Token => {
                let value = new_token();
                created_whsec = Some(value.clone());
                (value, "webhook token")
            }
            AuthArg::Followupboss => {
                let key = match std::env::var("FOLLOWUPBOSS_SYSTEM_KEY") {
                    Ok(key) if !key.trim().is_empty() => key.trim().to_string(),
                    _ => secret_store::read_value("Follow Up Boss system key (X-System-Key)")?,
                };
                (key, "Follow Up Boss system key")
            }
        };
        secret_store::create(
            &secrets,
            &webhook_secret,
            &value,
            &format!("{what} (kvsync)"),
        )
        .await?;
        println!("created secret {webhook_secret} ({what})");
    } else {
        println!("using the existing secret {webhook_secret} (webhook secret)");
    }

    let mut put = dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(item::to_sdk(&item)));
    if !args.force {
        // Another operator may have created it meanwhile.
        put = put.condition_expression("attribute_not_exists(workflow_id)");
    }
    match put.send().await {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PutItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            return Err(refuse_overwrite(&workflow_id));
        }
        Err(e) => {
            return Err(format!(
                "writing workflow '{workflow_id}' to {table}: {}",
                dynamo_message(&e)
            ));
        }
    }
    println!(
        "wrote workflow '{workflow_id}' to {table} (source {}, auth {})",
        args.source.name(),
        auth.name()
    );

    let url = stack.workflow_url(&workflow_id);
    let shown_url = url.clone().unwrap_or_else(|| {
        format!("<WebhookUrl>/{workflow_id}  (pass --webhook-url or --stack to see it)")
    });
    println!("\nwebhook URL: {shown_url}");
    if let Some(secret) = &created_whsec {
        let header = match auth {
            AuthArg::Token => "X-Kvsync-Token",
            _ => "webhook signatures",
        };
        println!("webhook secret ({header}; shown once, kept in {webhook_secret}):\n  {secret}");
    }
    println!("\nnext:");
    let url_arg = url.unwrap_or_else(|| format!("<WebhookUrl>/{workflow_id}"));
    match (args.source, auth) {
        (SourceArg::Followupboss, _) => {
            println!(
                "  FOLLOWUPBOSS_SYSTEM=<your system> FOLLOWUPBOSS_SYSTEM_KEY=<its key> kvsync followupboss subscribe {workflow_id}"
            );
            println!("  kvsync doctor {workflow_id}");
        }
        (SourceArg::Google, _) => {
            println!(
                "  poll Google Contacts: kvsync google connect {workflow_id} --client-secret client_secret.json"
            );
            println!("  or point a bridge at the webhook URL with the secret above");
            println!("  kvsync doctor {workflow_id}");
        }
        (SourceArg::Generic, AuthArg::Token) => {
            println!(
                "  infra/send-event --url {url_arg} --token <the token above> infra/events/generic-john-smith.json"
            );
            println!("  kvsync doctor {workflow_id}");
        }
        (SourceArg::Generic, _) => {
            println!(
                "  infra/send-event --url {url_arg} --whsec <the secret above> infra/events/generic-john-smith.json"
            );
            println!("  kvsync doctor {workflow_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn refuse_overwrite(workflow_id: &str) -> String {
    format!(
        "workflow '{workflow_id}' already exists; edit it in the DynamoDB console, or pass --force to replace it (its secrets are kept)"
    )
}

/// The item: every required attribute, and the main switches written out
/// so the console shows them (SPEC section 3 types).
fn workflow_item(
    args: &NewArgs,
    workflow_id: &str,
    auth: AuthArg,
    kvcore_token_secret: &str,
    webhook_secret: &str,
    source_api_secret: Option<&str>,
) -> Item {
    let s = |v: &str| Attr::S(v.to_string());
    let mut item = Item::from([
        ("workflow_id".to_string(), s(workflow_id)),
        ("enabled".to_string(), Attr::Bool(true)),
        ("source".to_string(), s(args.source.name())),
        ("auth".to_string(), s(auth.name())),
        ("create_contacts".to_string(), Attr::Bool(true)),
        ("update_contacts".to_string(), Attr::Bool(true)),
        (
            "overwrite_existing".to_string(),
            Attr::Bool(!args.no_overwrite),
        ),
        ("dry_run".to_string(), Attr::Bool(args.dry_run)),
        (
            "default_country".to_string(),
            s(args.default_country.trim()),
        ),
        ("kvcore_token_secret".to_string(), s(kvcore_token_secret)),
        ("webhook_secret".to_string(), s(webhook_secret)),
    ]);
    if let Some(id) = source_api_secret {
        item.insert("source_api_secret".into(), s(id));
    }
    if let Some(agent) = args.default_agent_id {
        item.insert("default_agent_id".into(), Attr::N(agent.to_string()));
    }
    let lead_source = args
        .lead_source
        .clone()
        .or_else(|| (args.source == SourceArg::Followupboss).then(|| "Follow Up Boss".to_string()));
    if let Some(lead_source) = lead_source {
        item.insert("lead_source".into(), s(&lead_source));
    }
    item
}

/// A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes
/// (standardwebhooks.com recommends 24 to 64 bytes).
pub fn new_whsec() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// A token for `auth` = `token`: 32 random bytes, URL-safe base64.
fn new_token() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsync::domain::settings::{AuthScheme, Source};

    fn args(source: SourceArg) -> NewArgs {
        NewArgs {
            workflow_id: "leads".into(),
            source,
            auth: None,
            kvcore_token_secret: None,
            webhook_secret: None,
            source_api_secret: None,
            default_agent_id: Some(7),
            default_country: "US".into(),
            lead_source: None,
            no_overwrite: true,
            dry_run: false,
            force: false,
        }
    }

    #[test]
    fn the_item_is_what_the_function_accepts() {
        let a = args(SourceArg::Followupboss);
        let item = workflow_item(
            &a,
            "leads",
            AuthArg::Followupboss,
            "kvsync/t",
            "kvsync/w",
            Some("kvsync/f"),
        );
        let (settings, unknown) = settings::parse("leads", &item).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(settings.source, Source::FollowUpBoss);
        assert_eq!(settings.auth, AuthScheme::FollowUpBoss);
        assert_eq!(settings.source_api_secret.as_deref(), Some("kvsync/f"));
        assert_eq!(settings.default_agent_id, Some(7));
        assert!(!settings.overwrite_existing);
        assert_eq!(settings.lead_source.as_deref(), Some("Follow Up Boss"));
        assert_eq!(item["enabled"], Attr::Bool(true));
        assert_eq!(item["default_agent_id"], Attr::N("7".into()));
    }

    #[test]
    fn generated_secrets_are_standard_webhooks_keys() {
        let secret = new_whsec();
        let key = kvsync::domain::auth::standard_key(&secret).unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(key.len(), 32);
        assert_ne!(new_whsec(), secret);
    }
}
