//! Where the stack's resources are: flags or their environment variables
//! (the names the functions themselves read, SPEC section 2), else the
//! outputs and parameters of the deployed CloudFormation stack (`--stack`;
//! template.yaml's `Outputs`: `WorkflowsTableName`, `EventsTableName`,
//! `PersonsTableName`, `PhoneIndexTableName`, `WebhookUrl`; parameter
//! `SecretsPrefix`). A flag or variable wins over the stack.

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use clap::Args;
use kvsync::flows::services::{Services, Tables};

/// The secrets prefix template.yaml's `SecretsPrefix` defaults to.
pub const DEFAULT_SECRETS_PREFIX: &str = "kvsync/";

/// Flags that locate the stack; every command takes them.
#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// The deployed CloudFormation stack (`sam deploy`'s stack name): its
    /// outputs give the tables and the webhook URL.
    #[arg(long, global = true, env = "KVSYNC_STACK")]
    pub stack: Option<String>,
    /// The workflows table (output WorkflowsTableName).
    #[arg(long, global = true, env = "WORKFLOWS_TABLE")]
    pub workflows_table: Option<String>,
    /// The events table (output EventsTableName).
    #[arg(long, global = true, env = "EVENTS_TABLE")]
    pub events_table: Option<String>,
    /// The persons table (output PersonsTableName).
    #[arg(long, global = true, env = "PERSONS_TABLE")]
    pub persons_table: Option<String>,
    /// The phone index table (output PhoneIndexTableName).
    #[arg(long, global = true, env = "PHONE_INDEX_TABLE")]
    pub phone_index_table: Option<String>,
    /// The Google sync table (Google polling; output GoogleSyncTableName).
    #[arg(long, global = true, env = "GOOGLE_SYNC_TABLE")]
    pub google_sync_table: Option<String>,
    /// The Microsoft sync table (Microsoft polling; output
    /// MicrosoftSyncTableName).
    #[arg(long, global = true, env = "MICROSOFT_SYNC_TABLE")]
    pub microsoft_sync_table: Option<String>,
    /// The webhook base URL, `<WebhookUrl>` of `<WebhookUrl>/<workflow_id>`
    /// (output WebhookUrl; `make dev`: http://127.0.0.1:3000/webhooks).
    #[arg(long, global = true, env = "KVSYNC_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The prefix secrets are created under and the functions may read
    /// (the stack's SecretsPrefix parameter) [default: kvsync/].
    #[arg(long, global = true, env = "KVSYNC_SECRETS_PREFIX")]
    pub secrets_prefix: Option<String>,
}

/// The stack's resources, resolved.
pub struct Stack {
    pub aws: SdkConfig,
    pub workflows_table: Option<String>,
    pub events_table: Option<String>,
    pub persons_table: Option<String>,
    pub phone_index_table: Option<String>,
    pub google_sync_table: Option<String>,
    pub microsoft_sync_table: Option<String>,
    /// Without a trailing slash.
    pub webhook_url: Option<String>,
    pub secrets_prefix: String,
}

impl Stack {
    /// Loads the AWS configuration (credentials, region, `AWS_ENDPOINT_URL`)
    /// and, with `--stack`, the stack's outputs and parameters.
    pub async fn resolve(args: &StackArgs) -> Result<Stack, String> {
        let aws = aws_config::load_from_env().await;
        let (outputs, parameters) = match &args.stack {
            Some(name) => stack_outputs(&aws, name).await?,
            None => Default::default(),
        };
        let pick = |given: &Option<String>, output: &str| {
            given
                .clone()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| outputs.get(output).cloned())
        };
        Ok(Stack {
            workflows_table: pick(&args.workflows_table, "WorkflowsTableName"),
            events_table: pick(&args.events_table, "EventsTableName"),
            persons_table: pick(&args.persons_table, "PersonsTableName"),
            phone_index_table: pick(&args.phone_index_table, "PhoneIndexTableName"),
            google_sync_table: pick(&args.google_sync_table, "GoogleSyncTableName"),
            microsoft_sync_table: pick(&args.microsoft_sync_table, "MicrosoftSyncTableName"),
            webhook_url: pick(&args.webhook_url, "WebhookUrl")
                .map(|url| url.trim_end_matches('/').to_string()),
            secrets_prefix: args
                .secrets_prefix
                .clone()
                .or_else(|| parameters.get("SecretsPrefix").cloned())
                .unwrap_or_else(|| DEFAULT_SECRETS_PREFIX.to_string()),
            aws,
        })
    }

    /// A table's name, or an error saying the three ways to give it.
    pub fn table(value: &Option<String>, flag: &str, env: &str) -> Result<String, String> {
        value.clone().ok_or_else(|| {
            format!(
                "the {flag} table is not known: pass --{flag}-table, set {env}, or pass --stack <stack name>"
            )
        })
    }

    pub fn workflows(&self) -> Result<String, String> {
        Stack::table(&self.workflows_table, "workflows", "WORKFLOWS_TABLE")
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws)
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.aws)
    }

    /// The workflow's item as the table holds it now (a consistent read),
    /// or `None` when there is none.
    pub async fn workflow_item(
        &self,
        workflow_id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, String> {
        let table = self.workflows()?;
        let output = self
            .dynamodb()
            .get_item()
            .table_name(&table)
            .key("workflow_id", AttributeValue::S(workflow_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading workflow '{workflow_id}' from {table}: {}",
                    dynamo_message(&e)
                )
            })?;
        Ok(output.item)
    }

    /// `<WebhookUrl>/<workflow_id>`, when the webhook URL is known.
    pub fn workflow_url(&self, workflow_id: &str) -> Option<String> {
        self.webhook_url
            .as_ref()
            .map(|base| format!("{base}/{workflow_id}"))
    }

    /// The clients the webhook function has (SPEC section 2), built from
    /// this stack: every table must be known. The rest comes from the
    /// environment as it does for the function (`Services::new`).
    pub fn services(&self) -> Result<Services, String> {
        let tables = Tables {
            workflows: self.workflows()?,
            events: Stack::table(&self.events_table, "events", "EVENTS_TABLE")?,
            persons: Stack::table(&self.persons_table, "persons", "PERSONS_TABLE")?,
            phone_index: Stack::table(&self.phone_index_table, "phone-index", "PHONE_INDEX_TABLE")?,
        };
        Services::new(&self.aws, tables)
    }
}

type Named = BTreeMap<String, String>;

/// The stack's outputs and parameters (`DescribeStacks`).
async fn stack_outputs(aws: &SdkConfig, name: &str) -> Result<(Named, Named), String> {
    let client = aws_sdk_cloudformation::Client::new(aws);
    let described = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            let detail = e
                .as_service_error()
                .and_then(|s| s.meta().message())
                .map(String::from)
                .unwrap_or_else(|| e.to_string());
            format!("reading stack '{name}': {detail}")
        })?;
    let stack = described
        .stacks()
        .first()
        .ok_or_else(|| format!("no stack named '{name}'"))?;
    let outputs = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect();
    let parameters = stack
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.parameter_value()?.to_string(),
            ))
        })
        .collect();
    Ok((outputs, parameters))
}

/// A DynamoDB error as an operator can act on it: the service's code and
/// message, or how to reach DynamoDB at all.
pub fn dynamo_message<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    error: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> String {
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("")
        ),
        None => {
            "could not reach DynamoDB (check AWS_ENDPOINT_URL / region / credentials)".to_string()
        }
    }
}
