//! Reads template.yaml, the single source of truth for the tables and the function environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use crate::Result;

/// The logical id of the webhook function in template.yaml.
pub const WEBHOOK_FUNCTION: &str = "WebhookFunction";
/// The logical id of the scheduled phone index function in template.yaml.
pub const KVCORE_INDEXER_FUNCTION: &str = "KvcoreIndexerFunction";
/// The logical id of the sync queue's worker in template.yaml (SPEC section 11).
pub const SYNC_WORKER_FUNCTION: &str = "SyncWorkerFunction";
/// The logical id of the scheduled Google poller in template.yaml (SPEC section 10).
pub const GOOGLE_POLLER_FUNCTION: &str = "GooglePollerFunction";
/// The logical id of the daily health check in template.yaml (SPEC section 14).
pub const HEALTH_CHECK_FUNCTION: &str = "HealthCheckFunction";
/// The logical id of the scheduled Microsoft poller in template.yaml (SPEC section 15).
pub const MICROSOFT_POLLER_FUNCTION: &str = "MicrosoftPollerFunction";

/// One `AWS::SQS::Queue` resource, its numbers resolved with the
/// parameters' defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    pub logical_id: String,
    /// A function environment variable whose value is `!Ref <logical_id>` (the queue's URL).
    pub env_var: Option<String>,
    /// Seconds (SQS's default, 30, when unset).
    pub visibility_timeout: Option<u64>,
    /// `RedrivePolicy`: the dead-letter queue's logical id and `maxReceiveCount`.
    pub redrive: Option<(String, u64)>,
}

/// A function's `Type: SQS` event source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsSourceDef {
    pub queue_logical_id: String,
    pub batch_size: Option<u64>,
    pub maximum_concurrency: Option<u64>,
    pub function_response_types: Vec<String>,
}

/// Every SQS queue in the template, in template order.
pub fn queues(template_path: &Path) -> Result<Vec<QueueDef>> {
    let doc = load(template_path)?;
    let defaults = parameter_defaults(template_path)?;
    let mut env = Vec::new();
    for (id, resource) in resources(&doc)? {
        if str_at(resource, "Type") == Some("AWS::Serverless::Function") {
            env.extend(function_env_in(&doc, &id).unwrap_or_default());
        }
    }
    let mut out = Vec::new();
    for (id, resource) in resources(&doc)? {
        if str_at(resource, "Type") != Some("AWS::SQS::Queue") {
            continue;
        }
        let props = resource.get("Properties").unwrap_or(&Value::Null);
        let redrive = match props.get("RedrivePolicy") {
            None => None,
            Some(policy) => {
                let target = policy
                    .get("deadLetterTargetArn")
                    .and_then(get_att_resource)
                    .ok_or_else(|| {
                        format!(
                            "{id}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <Queue>.Arn"
                        )
                    })?;
                let count = policy
                    .get("maxReceiveCount")
                    .and_then(|v| number(v, &defaults))
                    .ok_or_else(|| {
                        format!("{id}: RedrivePolicy.maxReceiveCount must be a number")
                    })?;
                Some((target, count))
            }
        };
        out.push(QueueDef {
            env_var: env
                .iter()
                .find(|(_, v)| *v == EnvValue::Ref(id.clone()))
                .map(|(k, _)| k.clone()),
            visibility_timeout: props
                .get("VisibilityTimeout")
                .and_then(|v| number(v, &defaults)),
            redrive,
            logical_id: id,
        });
    }
    Ok(out)
}

/// The `Type: SQS` event source of a function, if it has one.
pub fn sqs_event_source(
    template_path: &Path,
    function_logical_id: &str,
) -> Result<Option<SqsSourceDef>> {
    let doc = load(template_path)?;
    let defaults = parameter_defaults(template_path)?;
    let function = resources(&doc)?
        .into_iter()
        .find(|(id, _)| id == function_logical_id)
        .map(|(_, v)| v)
        .ok_or_else(|| format!("template has no resource {function_logical_id}"))?;
    let Some(Value::Mapping(events)) = function.get("Properties").and_then(|p| p.get("Events"))
    else {
        return Ok(None);
    };
    for event in events.values() {
        if str_at(event, "Type") != Some("SQS") {
            continue;
        }
        let props = event.get("Properties").unwrap_or(&Value::Null);
        let queue = props
            .get("Queue")
            .and_then(get_att_resource)
            .ok_or_else(|| {
                format!("{function_logical_id}: SQS event Queue must be !GetAtt <Queue>.Arn")
            })?;
        return Ok(Some(SqsSourceDef {
            queue_logical_id: queue,
            batch_size: props.get("BatchSize").and_then(|v| number(v, &defaults)),
            maximum_concurrency: props
                .get("ScalingConfig")
                .and_then(|c| c.get("MaximumConcurrency"))
                .and_then(|v| number(v, &defaults)),
            function_response_types: list(props, "FunctionResponseTypes")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        }));
    }
    Ok(None)
}

/// `!GetAtt X.Arn` (or `{Fn::GetAtt: [X, Arn]}`) → `X`.
fn get_att_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "GetAtt" => match &t.value {
            Value::String(s) => s.split('.').next().map(str::to_string),
            Value::Sequence(parts) => parts.first()?.as_str().map(str::to_string),
            _ => None,
        },
        Value::Mapping(m) => match single_key(m, "Fn::GetAtt")? {
            Value::Sequence(parts) => parts.first()?.as_str().map(str::to_string),
            Value::String(s) => s.split('.').next().map(str::to_string),
            _ => None,
        },
        _ => None,
    }
}

/// A number, or `!Ref` a parameter with a numeric default.
fn number(value: &Value, defaults: &BTreeMap<String, String>) -> Option<u64> {
    match env_value(value) {
        EnvValue::Literal(text) => text.parse().ok(),
        EnvValue::Ref(param) => defaults.get(&param)?.parse().ok(),
        EnvValue::Other(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    S,
    N,
    B,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    Range,
}

/// One `AWS::DynamoDB::Table` resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub logical_id: String,
    /// The function environment variable whose value is `!Ref <logical_id>`
    /// (the WebhookFunction's first, then any other function's).
    pub env_var: Option<String>,
    pub attributes: Vec<(String, ScalarType)>,
    pub key_schema: Vec<(String, KeyType)>,
    pub ttl_attribute: Option<String>,
}

/// The value of one function environment variable as the template writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// `!Ref X` or `{Ref: X}`: a resource or a parameter.
    Ref(String),
    Literal(String),
    /// `!Sub`, `!GetAtt`, ...: not resolved here.
    Other(String),
}

/// The workspace's template.yaml.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// The workspace root (where Cargo.toml, template.yaml and target/ live).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Every DynamoDB table in the template, in template order.
pub fn tables(template_path: &Path) -> Result<Vec<TableDef>> {
    let doc = load(template_path)?;
    // The webhook's variables first, then every other function's: a table
    // only a scheduled function uses (the Google sync state) is named by
    // that function's variable.
    let mut env = function_env_in(&doc, WEBHOOK_FUNCTION).unwrap_or_default();
    for (id, resource) in resources(&doc)? {
        if id != WEBHOOK_FUNCTION && str_at(resource, "Type") == Some("AWS::Serverless::Function") {
            env.extend(function_env_in(&doc, &id).unwrap_or_default());
        }
    }
    let mut out = Vec::new();
    for (id, resource) in resources(&doc)? {
        if str_at(resource, "Type") != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let props = resource.get("Properties").unwrap_or(&Value::Null);
        let env_var = env
            .iter()
            .find(|(_, v)| *v == EnvValue::Ref(id.clone()))
            .map(|(k, _)| k.clone());
        out.push(TableDef {
            attributes: attributes(&id, props)?,
            key_schema: key_schema(&id, props)?,
            ttl_attribute: ttl_attribute(props),
            logical_id: id,
            env_var,
        });
    }
    Ok(out)
}

/// Names of the environment variables the template sets for a function (Globals included).
pub fn function_env_vars(template_path: &Path, function_logical_id: &str) -> Result<Vec<String>> {
    Ok(function_env(template_path, function_logical_id)?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// The environment the template gives a function: `Globals.Function` first, then its own.
pub fn function_env(
    template_path: &Path,
    function_logical_id: &str,
) -> Result<Vec<(String, EnvValue)>> {
    function_env_in(&load(template_path)?, function_logical_id)
}

/// A function's `Timeout` (seconds) and `MemorySize` (MB), its own or from `Globals.Function`.
pub fn function_limits(
    template_path: &Path,
    function_logical_id: &str,
) -> Result<(Option<u64>, Option<u64>)> {
    let doc = load(template_path)?;
    let function = resources(&doc)?
        .into_iter()
        .find(|(id, _)| id == function_logical_id)
        .map(|(_, v)| v)
        .ok_or_else(|| format!("template has no resource {function_logical_id}"))?;
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let number = |key: &str| {
        [function.get("Properties"), globals]
            .into_iter()
            .flatten()
            .find_map(|props| props.get(key)?.as_u64())
    };
    Ok((number("Timeout"), number("MemorySize")))
}

/// `Parameters` with a `Default`, as strings.
pub fn parameter_defaults(template_path: &Path) -> Result<BTreeMap<String, String>> {
    let doc = load(template_path)?;
    let mut out = BTreeMap::new();
    if let Some(Value::Mapping(params)) = doc.get("Parameters") {
        for (name, param) in params {
            if let (Some(name), Some(default)) = (name.as_str(), param.get("Default")) {
                out.insert(name.to_string(), scalar_string(default).unwrap_or_default());
            }
        }
    }
    Ok(out)
}

fn load(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_norway::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()).into())
}

fn resources(doc: &Value) -> Result<Vec<(String, &Value)>> {
    let Some(Value::Mapping(res)) = doc.get("Resources") else {
        return Err("template has no Resources mapping".into());
    };
    Ok(res
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
        .collect())
}

fn function_env_in(doc: &Value, function_logical_id: &str) -> Result<Vec<(String, EnvValue)>> {
    let function = resources(doc)?
        .into_iter()
        .find(|(id, _)| id == function_logical_id)
        .map(|(_, v)| v)
        .ok_or_else(|| format!("template has no resource {function_logical_id}"))?;
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let mut out: Vec<(String, EnvValue)> = Vec::new();
    for props in [globals, function.get("Properties")].into_iter().flatten() {
        let vars = props.get("Environment").and_then(|e| e.get("Variables"));
        if let Some(Value::Mapping(vars)) = vars {
            for (name, value) in vars {
                let Some(name) = name.as_str() else { continue };
                out.retain(|(n, _)| n != name);
                out.push((name.to_string(), env_value(value)));
            }
        }
    }
    Ok(out)
}

fn env_value(value: &Value) -> EnvValue {
    match value {
        Value::Tagged(t) if t.tag == "Ref" => match t.value.as_str() {
            Some(target) => EnvValue::Ref(target.to_string()),
            None => EnvValue::Other(format!("{value:?}")),
        },
        Value::Tagged(_) => EnvValue::Other(format!("{value:?}")),
        Value::Mapping(m) => match single_key(m, "Ref").and_then(Value::as_str) {
            Some(target) => EnvValue::Ref(target.to_string()),
            None => EnvValue::Other(format!("{value:?}")),
        },
        other => match scalar_string(other) {
            Some(s) => EnvValue::Literal(s),
            None => EnvValue::Other(format!("{other:?}")),
        },
    }
}

fn attributes(id: &str, props: &Value) -> Result<Vec<(String, ScalarType)>> {
    list(props, "AttributeDefinitions")
        .iter()
        .map(|a| {
            let name = required_str(id, a, "AttributeName")?;
            let ty = match required_str(id, a, "AttributeType")? {
                "S" => ScalarType::S,
                "N" => ScalarType::N,
                "B" => ScalarType::B,
                other => {
                    return Err(format!(
                        "{id}: attribute {name} has type {other}, expected S, N or B"
                    )
                    .into());
                }
            };
            Ok((name.to_string(), ty))
        })
        .collect()
}

fn key_schema(id: &str, props: &Value) -> Result<Vec<(String, KeyType)>> {
    let keys: Vec<_> = list(props, "KeySchema")
        .iter()
        .map(|k| {
            let name = required_str(id, k, "AttributeName")?;
            let ty = match required_str(id, k, "KeyType")? {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => {
                    return Err(format!(
                        "{id}: key {name} has KeyType {other}, expected HASH or RANGE"
                    )
                    .into());
                }
            };
            Ok((name.to_string(), ty))
        })
        .collect::<Result<_>>()?;
    if keys.is_empty() {
        return Err(format!("{id}: no KeySchema").into());
    }
    Ok(keys)
}

fn ttl_attribute(props: &Value) -> Option<String> {
    let spec = props.get("TimeToLiveSpecification")?;
    let enabled = match spec.get("Enabled")? {
        Value::Bool(b) => *b,
        other => scalar_string(other).is_some_and(|s| s.eq_ignore_ascii_case("true")),
    };
    if !enabled {
        return None;
    }
    spec.get("AttributeName")?.as_str().map(str::to_string)
}

fn list<'a>(props: &'a Value, key: &str) -> &'a [Value] {
    props
        .get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn required_str<'a>(id: &str, v: &'a Value, key: &str) -> Result<&'a str> {
    str_at(v, key).ok_or_else(|| format!("{id}: missing or non-string {key}").into())
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn single_key<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    if m.len() == 1 { m.get(key) } else { None }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real() -> Vec<TableDef> {
        tables(&template_path()).expect("template.yaml parses")
    }

    fn table(id: &str) -> TableDef {
        real().into_iter().find(|t| t.logical_id == id).unwrap()
    }

    #[test]
    fn finds_the_four_tables() {
        let ids: Vec<_> = real().into_iter().map(|t| t.logical_id).collect();
        assert_eq!(
            ids,
            [
                "WorkflowsTable",
                "EventsTable",
                "PersonsTable",
                "PhoneIndexTable",
                "PacingTable",
                "GoogleSyncTable",
                "MicrosoftSyncTable"
            ]
        );
    }

    #[test]
    fn the_sync_queue_its_dead_letter_queue_and_its_worker() {
        let queues = queues(&template_path()).unwrap();
        let sync = queues.iter().find(|q| q.logical_id == "SyncQueue").unwrap();
        assert_eq!(sync.env_var.as_deref(), Some("SYNC_QUEUE_URL"));
        assert_eq!(
            sync.redrive,
            Some(("SyncDeadLetterQueue".to_string(), 10)),
            "maxReceiveCount from the SyncMaxReceiveCount default"
        );
        let (timeout, _) = function_limits(&template_path(), SYNC_WORKER_FUNCTION).unwrap();
        assert!(
            sync.visibility_timeout > timeout,
            "{sync:?} vs Timeout {timeout:?}"
        );
        assert!(queues.iter().any(|q| q.logical_id == "SyncDeadLetterQueue"));
        let source = sqs_event_source(&template_path(), SYNC_WORKER_FUNCTION)
            .unwrap()
            .unwrap();
        assert_eq!(source.queue_logical_id, "SyncQueue");
        assert_eq!(source.function_response_types, ["ReportBatchItemFailures"]);
        assert_eq!(source.maximum_concurrency, Some(5));
        assert_eq!(
            sqs_event_source(&template_path(), WEBHOOK_FUNCTION).unwrap(),
            None
        );
    }

    #[test]
    fn key_schemas_and_attribute_types() {
        let w = table("WorkflowsTable");
        assert_eq!(w.key_schema, [("workflow_id".to_string(), KeyType::Hash)]);
        assert_eq!(w.attributes, [("workflow_id".to_string(), ScalarType::S)]);
        let e = table("EventsTable");
        assert_eq!(
            e.key_schema,
            [
                ("workflow_id".to_string(), KeyType::Hash),
                ("event_id".to_string(), KeyType::Range)
            ]
        );
        assert!(e.attributes.iter().all(|(_, t)| *t == ScalarType::S));
        assert_eq!(
            table("PersonsTable").key_schema,
            [("person_key".to_string(), KeyType::Hash)]
        );
        assert_eq!(
            table("PhoneIndexTable").key_schema,
            [
                ("scope".to_string(), KeyType::Hash),
                ("entry".to_string(), KeyType::Range)
            ]
        );
    }

    #[test]
    fn ttl_where_the_template_enables_it() {
        assert_eq!(table("WorkflowsTable").ttl_attribute, None);
        assert_eq!(
            table("EventsTable").ttl_attribute.as_deref(),
            Some("expires_at")
        );
        assert_eq!(
            table("PersonsTable").ttl_attribute.as_deref(),
            Some("expires_at")
        );
    }

    #[test]
    fn tables_map_to_function_env_vars() {
        let vars: Vec<_> = real().into_iter().map(|t| t.env_var).collect();
        let expected = [
            "WORKFLOWS_TABLE",
            "EVENTS_TABLE",
            "PERSONS_TABLE",
            "PHONE_INDEX_TABLE",
            "PACING_TABLE",
            "GOOGLE_SYNC_TABLE",
            "MICROSOFT_SYNC_TABLE",
        ]
        .map(|s| Some(s.to_string()));
        assert_eq!(vars, expected);
    }

    #[test]
    fn function_env_lists_every_variable() {
        let vars = function_env_vars(&template_path(), WEBHOOK_FUNCTION).unwrap();
        for name in [
            "WORKFLOWS_TABLE",
            "KVCORE_BASE_URL",
            "FOLLOWUPBOSS_BASE_URL",
            "RUST_LOG",
        ] {
            assert!(
                vars.iter().any(|v| v == name),
                "{name} missing from {vars:?}"
            );
        }
        assert_eq!(
            function_limits(&template_path(), WEBHOOK_FUNCTION).unwrap(),
            (Some(25), Some(128))
        );
        let env = function_env(&template_path(), WEBHOOK_FUNCTION).unwrap();
        assert!(env.contains(&(
            "KVCORE_BASE_URL".into(),
            EnvValue::Ref("KvcoreBaseUrl".into())
        )));
        assert_eq!(
            parameter_defaults(&template_path()).unwrap()["LogLevel"],
            "info"
        );
    }

    #[test]
    fn the_indexer_gets_its_own_environment_and_timeout() {
        let env = function_env(&template_path(), KVCORE_INDEXER_FUNCTION).unwrap();
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "WORKFLOWS_TABLE",
                "PHONE_INDEX_TABLE",
                "PACING_TABLE",
                "KVCORE_BASE_URL",
                "RUST_LOG"
            ]
        );
        assert!(env.contains(&(
            "PHONE_INDEX_TABLE".into(),
            EnvValue::Ref("PhoneIndexTable".into())
        )));
        assert_eq!(
            function_limits(&template_path(), KVCORE_INDEXER_FUNCTION).unwrap(),
            (Some(300), Some(128))
        );
        assert_eq!(
            parameter_defaults(&template_path()).unwrap()["IndexerSchedule"],
            "rate(5 minutes)"
        );
    }

    #[test]
    fn reads_short_and_long_ref_forms_and_globals() {
        let dir = std::env::temp_dir().join(format!("devstack-template-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.yaml");
        std::fs::write(
            &path,
            "Globals:\n  Function:\n    Environment:\n      Variables:\n        A: one\n        B: two\n\
             Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n\
             \x20         B: !Sub '${T}-x'\n          T_TABLE: {Ref: T}\n          N: 3\n\
             \x20 T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions: [{AttributeName: k, AttributeType: N}]\n\
             \x20     KeySchema: [{AttributeName: k, KeyType: HASH}]\n      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}\n",
        )
        .unwrap();
        let env = function_env(&path, "F").unwrap();
        assert_eq!(env[0], ("A".into(), EnvValue::Literal("one".into())));
        assert!(matches!(&env[1], (b, EnvValue::Other(_)) if b == "B"));
        assert_eq!(env[2], ("T_TABLE".into(), EnvValue::Ref("T".into())));
        assert_eq!(env[3], ("N".into(), EnvValue::Literal("3".into())));
        let t = &tables(&path).unwrap()[0];
        assert_eq!(
            t.env_var.as_deref(),
            Some("T_TABLE"),
            "any function's env names a table (a scheduled function's own table too)"
        );
        assert_eq!(t.attributes, [("k".to_string(), ScalarType::N)]);
        assert_eq!(t.ttl_attribute, None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
