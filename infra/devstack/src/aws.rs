//! AWS against a local endpoint (moto_server): SDK config, tables from the template, secrets, items.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType as DdbKeyType,
    ScalarAttributeType, TimeToLiveSpecification, TimeToLiveStatus,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use crate::Result;
use crate::template::{self, KeyType, ScalarType};

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "test";
pub const SECRET_ACCESS_KEY: &str = "test";

/// SDK config for a local endpoint: us-east-1, static test credentials.
pub async fn local_sdk_config(endpoint_url: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
        None,
        "devstack",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(endpoint_url)
        .load()
        .await
}

/// Creates every table of the template as `{name_prefix}{LogicalId}` (PAY_PER_REQUEST, same keys,
/// TTL when the template enables it); a table that already exists is reused.
/// Returns env var → table name for the tables the webhook function is given.
pub async fn create_tables(
    client: &aws_sdk_dynamodb::Client,
    template: &Path,
    name_prefix: &str,
) -> Result<BTreeMap<String, String>> {
    let mut names = BTreeMap::new();
    for def in template::tables(template)? {
        let name = format!("{name_prefix}{}", def.logical_id);
        let mut req = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attr, ty) in &def.attributes {
            let ty = match ty {
                ScalarType::S => ScalarAttributeType::S,
                ScalarType::N => ScalarAttributeType::N,
                ScalarType::B => ScalarAttributeType::B,
            };
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ty)
                    .build()?,
            );
        }
        for (attr, ty) in &def.key_schema {
            let ty = match ty {
                KeyType::Hash => DdbKeyType::Hash,
                KeyType::Range => DdbKeyType::Range,
            };
            req = req.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(ty)
                    .build()?,
            );
        }
        if let Err(err) = req.send().await {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !exists {
                return Err(format!("creating table {name}: {}", describe(&err)).into());
            }
        }
        if let Some(ttl) = &def.ttl_attribute {
            enable_ttl(client, &name, ttl).await?;
        }
        if let Some(var) = def.env_var {
            names.insert(var, name);
        }
    }
    Ok(names)
}

/// What a test stack changes in the template's queues: shorter visibility
/// timeouts and receive limits make retries and dead letters quick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOverrides {
    /// Seconds, for every queue.
    pub visibility_timeout: Option<u64>,
    /// `maxReceiveCount` of every queue with a RedrivePolicy.
    pub max_receive_count: Option<u64>,
}

/// A queue as created: its logical id, URL and ARN, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedQueue {
    pub def: template::QueueDef,
    pub url: String,
    pub arn: String,
}

/// Creates every SQS queue of the template as `{name_prefix}{LogicalId}`
/// (dead-letter queues first, so redrive policies can name them), with the
/// template's visibility timeout and redrive policy unless `overrides`
/// says otherwise; a queue that already exists is reused as it is.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    template: &Path,
    name_prefix: &str,
    overrides: QueueOverrides,
) -> Result<Vec<CreatedQueue>> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let mut defs = template::queues(template)?;
    // Queues without a redrive first: they are the targets.
    defs.sort_by_key(|d| d.redrive.is_some());
    let mut created: Vec<CreatedQueue> = Vec::new();
    for mut def in defs {
        if let Some(seconds) = overrides.visibility_timeout {
            def.visibility_timeout = Some(seconds);
        }
        if let (Some(count), Some(redrive)) = (overrides.max_receive_count, def.redrive.as_mut()) {
            redrive.1 = count;
        }
        let name = format!("{name_prefix}{}", def.logical_id);
        let mut request = client.create_queue().queue_name(&name);
        if let Some(seconds) = def.visibility_timeout {
            request =
                request.attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some((target, count)) = &def.redrive {
            let target_arn = created
                .iter()
                .find(|q| q.def.logical_id == *target)
                .map(|q| q.arn.clone())
                .ok_or_else(|| {
                    format!(
                        "{}: its dead-letter queue {target} is not in the template",
                        def.logical_id
                    )
                })?;
            let policy =
                serde_json::json!({"deadLetterTargetArn": target_arn, "maxReceiveCount": count});
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .map_err(|e| {
                format!(
                    "creating queue {name}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?
            .queue_url
            .ok_or_else(|| format!("creating queue {name}: no QueueUrl"))?;
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading queue {name}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| format!("queue {name} has no QueueArn"))?;
        created.push(CreatedQueue { def, url, arn });
    }
    Ok(created)
}

async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str, attribute: &str) -> Result<()> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await;
    let enabled = current
        .ok()
        .and_then(|d| d.time_to_live_description)
        .is_some_and(|d| {
            d.time_to_live_status == Some(TimeToLiveStatus::Enabled)
                && d.attribute_name.as_deref() == Some(attribute)
        });
    if enabled {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| format!("enabling TTL on {table}: {}", describe(&e)))?;
    Ok(())
}

/// Creates the secret, or puts a new value when it already exists.
pub async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    match client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| format!("putting secret {name}: {}", describe(&e)))?;
            Ok(())
        }
        Err(err) => Err(format!("creating secret {name}: {}", describe(&err)).into()),
    }
}

/// Puts one item given as DynamoDB JSON (`{"workflow_id": {"S": "demo"}, ...}`).
pub async fn put_item_json(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: &Value,
) -> Result<()> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item_from_json(item)?))
        .send()
        .await
        .map_err(|e| format!("putting item into {table}: {}", describe(&e)))?;
    Ok(())
}

/// Every item of a table, as DynamoDB JSON (tests look at what the function recorded).
pub async fn scan_json(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("scanning {table}: {}", describe(&e)))?;
        out.extend(page.items().iter().map(item_to_json));
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// DynamoDB JSON object → item.
pub fn item_from_json(item: &Value) -> Result<HashMap<String, AttributeValue>> {
    let Value::Object(map) = item else {
        return Err(format!("a DynamoDB item must be a JSON object, got {item}").into());
    };
    map.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                attribute_from_json(v).map_err(|e| format!("attribute {k}: {e}"))?,
            ))
        })
        .collect()
}

/// One DynamoDB JSON value (`{"S": "x"}`, `{"N": "7"}`, `{"NS": ["7"]}`, `{"M": {...}}`, ...).
/// N and NS also take JSON numbers, for convenience.
pub fn attribute_from_json(value: &Value) -> Result<AttributeValue> {
    let Some((ty, v)) = value
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(
            format!("expected a one-key object like {{\"S\": \"...\"}}, got {value}").into(),
        );
    };
    let strings = |v: &Value, number: bool| -> Result<Vec<String>> {
        let items = v
            .as_array()
            .ok_or_else(|| format!("{ty} must be a list, got {v}"))?;
        items
            .iter()
            .map(|i| scalar(i, number).ok_or_else(|| format!("bad {ty} entry {i}").into()))
            .collect()
    };
    Ok(match ty.as_str() {
        "S" => AttributeValue::S(
            scalar(v, false).ok_or_else(|| format!("S must be a string, got {v}"))?,
        ),
        "N" => AttributeValue::N(
            scalar(v, true).ok_or_else(|| format!("N must be a number string, got {v}"))?,
        ),
        "BOOL" => AttributeValue::Bool(
            v.as_bool()
                .ok_or_else(|| format!("BOOL must be true or false, got {v}"))?,
        ),
        "NULL" => AttributeValue::Null(true),
        "B" => AttributeValue::B(Blob::new(
            B64.decode(v.as_str().ok_or("B must be a base64 string")?)?,
        )),
        "SS" => AttributeValue::Ss(strings(v, false)?),
        "NS" => AttributeValue::Ns(strings(v, true)?),
        "BS" => AttributeValue::Bs(
            strings(v, false)?
                .iter()
                .map(|s| Ok(Blob::new(B64.decode(s)?)))
                .collect::<Result<_>>()?,
        ),
        "L" => AttributeValue::L(
            v.as_array()
                .ok_or_else(|| format!("L must be a list, got {v}"))?
                .iter()
                .map(attribute_from_json)
                .collect::<Result<_>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(v)?),
        other => return Err(format!("unknown DynamoDB type {other}").into()),
    })
}

fn scalar(v: &Value, number: bool) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if number => Some(n.to_string()),
        _ => None,
    }
}

/// Item → DynamoDB JSON, the inverse of [`item_from_json`].
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Value {
    let mut keys: Vec<_> = item.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), attribute_to_json(&item[k])))
            .collect(),
    )
}

pub fn attribute_to_json(value: &AttributeValue) -> Value {
    let (ty, v) = match value {
        AttributeValue::S(s) => ("S", Value::from(s.as_str())),
        AttributeValue::N(n) => ("N", Value::from(n.as_str())),
        AttributeValue::Bool(b) => ("BOOL", Value::from(*b)),
        AttributeValue::Null(_) => ("NULL", Value::from(true)),
        AttributeValue::B(b) => ("B", Value::from(B64.encode(b.as_ref()))),
        AttributeValue::Ss(ss) => ("SS", Value::from(ss.clone())),
        AttributeValue::Ns(ns) => ("NS", Value::from(ns.clone())),
        AttributeValue::Bs(bs) => (
            "BS",
            bs.iter()
                .map(|b| Value::from(B64.encode(b.as_ref())))
                .collect(),
        ),
        AttributeValue::L(l) => ("L", l.iter().map(attribute_to_json).collect()),
        AttributeValue::M(m) => ("M", item_to_json(m)),
        _ => ("UNKNOWN", Value::Null),
    };
    Value::Object(Map::from_iter([(ty.to_string(), v)]))
}

/// An SDK error with its service code and message (the default Display says only "service error").
pub fn describe<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => format!(
            "{}: {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or_default()
        ),
        None => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_every_type_both_ways() {
        let item = json!({
            "workflow_id": {"S": "demo"},
            "default_agent_id": {"N": "7"},
            "enabled": {"BOOL": true},
            "nothing": {"NULL": true},
            "sync_fields": {"SS": ["email", "first_name"]},
            "agent_ids": {"NS": ["7", "9"]},
            "list": {"L": [{"N": "1"}, {"S": "x"}]},
            "agent_map": {"M": {"42": {"N": "7"}}},
            "blob": {"B": "aGk="}
        });
        let av = item_from_json(&item).unwrap();
        assert_eq!(av["workflow_id"], AttributeValue::S("demo".into()));
        assert_eq!(av["default_agent_id"], AttributeValue::N("7".into()));
        assert_eq!(av["enabled"], AttributeValue::Bool(true));
        assert_eq!(av["nothing"], AttributeValue::Null(true));
        assert_eq!(
            av["sync_fields"],
            AttributeValue::Ss(vec!["email".into(), "first_name".into()])
        );
        assert_eq!(
            av["agent_ids"],
            AttributeValue::Ns(vec!["7".into(), "9".into()])
        );
        assert_eq!(
            av["list"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::S("x".into())
            ])
        );
        let AttributeValue::M(m) = &av["agent_map"] else {
            panic!()
        };
        assert_eq!(m["42"], AttributeValue::N("7".into()));
        assert_eq!(av["blob"], AttributeValue::B(Blob::new(b"hi".to_vec())));
        assert_eq!(item_to_json(&av), item);
    }

    #[test]
    fn numbers_may_be_json_numbers() {
        let av = item_from_json(&json!({"n": {"N": 7}, "ns": {"NS": [7, "8"]}})).unwrap();
        assert_eq!(av["n"], AttributeValue::N("7".into()));
        assert_eq!(av["ns"], AttributeValue::Ns(vec!["7".into(), "8".into()]));
    }

    #[test]
    fn rejects_plain_json_with_the_attribute_named() {
        let err = item_from_json(&json!({"enabled": true}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("enabled"), "{err}");
        assert!(item_from_json(&json!({"x": {"Q": "1"}})).is_err());
        assert!(item_from_json(&json!({"x": {"S": 1}})).is_err());
        assert!(item_from_json(&json!([1])).is_err());
    }
}
