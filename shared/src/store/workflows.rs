//! Workflow settings from `WORKFLOWS_TABLE`, cached in the warm container
//! for at most `SETTINGS_TTL` so console edits apply within a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::Instant;

use crate::secrets::aws_error_text;
use crate::settings::{self, Attr, Item, Settings, SettingsError};

pub const SETTINGS_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
}

pub struct Workflows {
    client: Client,
    table: String,
    cache: Mutex<HashMap<String, (Instant, Arc<Settings>)>>,
}

impl Workflows {
    pub fn new(client: Client, table: String) -> Workflows {
        Workflows {
            client,
            table,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The workflow's settings; `None` when there is no such workflow.
    pub async fn get(&self, workflow_id: &str) -> Result<Option<Arc<Settings>>, WorkflowError> {
        if let Some(settings) = self.cached(workflow_id) {
            return Ok(Some(settings));
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("workflow_id", AttributeValue::S(workflow_id.to_string()))
            .send()
            .await
            .map_err(|e| {
                let code = e
                    .as_service_error()
                    .and_then(|s| s.meta().code())
                    .map(String::from);
                WorkflowError::Unavailable(code.unwrap_or_else(|| aws_error_text(&e)))
            })?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let item: Item = item.iter().map(|(k, v)| (k.clone(), attr(v))).collect();
        let (settings, unknown) = settings::parse(workflow_id, &item)?;
        for attribute in unknown {
            tracing::warn!(workflow_id, "{attribute}");
        }
        let settings = Arc::new(settings);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(workflow_id.to_string(), (Instant::now(), settings.clone()));
        }
        Ok(Some(settings))
    }

    fn cached(&self, workflow_id: &str) -> Option<Arc<Settings>> {
        let cache = self.cache.lock().ok()?;
        let (at, settings) = cache.get(workflow_id)?;
        (at.elapsed() < SETTINGS_TTL).then(|| settings.clone())
    }
}

/// An SDK attribute value as the console names its types.
fn attr(value: &AttributeValue) -> Attr {
    match value {
        AttributeValue::S(s) => Attr::S(s.clone()),
        AttributeValue::N(n) => Attr::N(n.clone()),
        AttributeValue::Bool(b) => Attr::Bool(*b),
        AttributeValue::Null(_) => Attr::Null,
        AttributeValue::Ss(v) => Attr::Ss(v.clone()),
        AttributeValue::Ns(v) => Attr::Ns(v.clone()),
        AttributeValue::L(v) => Attr::L(v.iter().map(attr).collect()),
        AttributeValue::M(m) => Attr::M(m.iter().map(|(k, v)| (k.clone(), attr(v))).collect()),
        _ => Attr::Binary,
    }
}
