//! Workflow settings from `WORKFLOWS_TABLE`, cached in the warm container
//! for at most `SETTINGS_TTL` so console edits apply within a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::Instant;

use crate::adapters::aws::error_code;
use crate::domain::settings::{self, Attr, Item, Settings, SettingsError};

pub const SETTINGS_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
}

/// Every workflow of the table, as [`Workflows::all`] read them.
#[derive(Debug, Default)]
pub struct AllWorkflows {
    /// By workflow id.
    pub valid: Vec<Settings>,
    /// Items whose settings cannot be used, each naming its workflow,
    /// attribute, expected and found (SPEC section 3).
    pub invalid: Vec<SettingsError>,
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
            .map_err(|e| WorkflowError::Unavailable(error_code(&e)))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let item: Item = settings_item(&item);
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

    /// Every workflow in the table (a paged, eventually consistent Scan),
    /// validated: the settings of the valid ones and the error of each
    /// invalid one (SPEC section 3), so one bad item hides no other. For
    /// the scheduled functions, which handle every enabled workflow (SPEC
    /// section 1); the cache is bypassed and not filled.
    pub async fn all(&self) -> Result<AllWorkflows, WorkflowError> {
        let mut all = AllWorkflows::default();
        for (workflow_id, item) in self.items().await? {
            if workflow_id.is_empty() {
                // The key is a String in the table's schema; unreachable
                // unless the table is not the template's.
                all.invalid.push(SettingsError {
                    workflow_id,
                    attribute: "workflow_id".into(),
                    expected: "a String (S)".into(),
                    found: "another type".into(),
                });
                continue;
            }
            match settings::parse(&workflow_id, &item) {
                Ok((settings, unknown)) => {
                    for attribute in unknown {
                        tracing::warn!(workflow_id, "{attribute}");
                    }
                    all.valid.push(settings);
                }
                Err(error) => all.invalid.push(error),
            }
        }
        all.valid.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
        Ok(all)
    }

    /// Every workflow item of the table as stored (a paged, eventually
    /// consistent Scan), by workflow id, unvalidated: for the health check
    /// (SPEC section 14), which reports each attribute itself. An item
    /// whose key is not a String is kept under `""` (unreachable unless
    /// the table is not the template's), so validation names it.
    pub async fn items(&self) -> Result<Vec<(String, Item)>, WorkflowError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| WorkflowError::Unavailable(error_code(&e)))?;
            for raw in output.items() {
                let item: Item = settings_item(raw);
                let workflow_id = match item.get("workflow_id") {
                    Some(Attr::S(id)) => id.clone(),
                    _ => String::new(),
                };
                items.push((workflow_id, item));
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(items)
    }

    fn cached(&self, workflow_id: &str) -> Option<Arc<Settings>> {
        let cache = self.cache.lock().ok()?;
        let (at, settings) = cache.get(workflow_id)?;
        (at.elapsed() < SETTINGS_TTL).then(|| settings.clone())
    }
}

/// A workflow item as the SDK reads it, in the types the console names
/// (what `settings::parse` takes).
pub fn settings_item(item: &std::collections::HashMap<String, AttributeValue>) -> Item {
    item.iter().map(|(k, v)| (k.clone(), attr(v))).collect()
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
