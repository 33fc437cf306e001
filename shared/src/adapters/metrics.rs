//! CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per
//! record, which CloudWatch Logs turns into metrics. No API call, no latency.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

use crate::clock::now_ms;
use crate::domain::outcome::{EventAnswer, Outcome};

pub const NAMESPACE: &str = "kvsync";

/// One metric of a record.
struct Metric {
    name: &'static str,
    unit: &'static str,
    value: f64,
}

/// An EMF record: metrics sharing dimension values, published under each of
/// `dimension_sets` (an empty set publishes the all-workflows total).
fn record(dimensions: &[(&str, &str)], dimension_sets: &[&[&str]], metrics: &[Metric]) -> Value {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": metrics.iter().map(|m| json!({"Name": m.name, "Unit": m.unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        line.insert((*name).into(), json!(value));
    }
    for metric in metrics {
        line.insert(metric.name.into(), json!(metric.value));
    }
    Value::Object(line)
}

/// What one event cost and what became of its people.
pub fn event_records(
    workflow_id: &str,
    answer: Option<&EventAnswer>,
    kvcore_requests: u32,
    kvcore_ms: u64,
) -> Vec<Value> {
    let workflow = [("workflow_id", workflow_id)];
    let per_workflow_and_total: &[&[&str]] = &[&["workflow_id"], &[]];
    let mut records = vec![record(
        &workflow,
        per_workflow_and_total,
        &[
            Metric {
                name: "KvcoreRequests",
                unit: "Count",
                value: f64::from(kvcore_requests),
            },
            Metric {
                name: "KvcoreLatency",
                unit: "Milliseconds",
                value: kvcore_ms as f64,
            },
            Metric {
                name: "EventsFailed",
                unit: "Count",
                value: if answer.is_some() { 0.0 } else { 1.0 },
            },
        ],
    )];
    for result in answer.map(|a| a.results.as_slice()).unwrap_or_default() {
        let outcome = match result.outcome {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
        };
        records.push(record(
            &[("workflow_id", workflow_id), ("outcome", outcome)],
            &[&["workflow_id", "outcome"], &["outcome"]],
            &[Metric {
                name: "PersonsSynced",
                unit: "Count",
                value: 1.0,
            }],
        ));
    }
    records
}

/// A delivery answered 5xx, by error code. Covers what `EventsFailed` cannot:
/// deliveries refused before their event was claimed (a misconfigured
/// workflow, DynamoDB unavailable on the first read), which leave no record.
pub fn delivery_failed_record(workflow_id: &str, code: &str) -> Value {
    record(
        &[("workflow_id", workflow_id), ("code", code)],
        &[&["workflow_id", "code"], &["code"], &[]],
        &[Metric {
            name: "DeliveriesFailed",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// Days until a kvCORE token expires (its JWT `exp`; negative once
/// expired), published by the scheduled `kvcore-indexer` for each token
/// secret enabled workflows use, under the dimension `kvcore_token_secret`:
/// the secret's id, never the token, and without dimensions (whose
/// Minimum is the soonest expiry of all: template.yaml alarms on it under
/// 14 days; the per-secret metric tells which token).
pub fn kvcore_token_days_left_record(kvcore_token_secret: &str, days_left: f64) -> Value {
    record(
        &[("kvcore_token_secret", kvcore_token_secret)],
        &[&["kvcore_token_secret"], &[]],
        &[Metric {
            name: "KvcoreTokenDaysLeft",
            unit: "None",
            value: days_left,
        }],
    )
}

/// A polled Google workflow whose refresh token Google refuses
/// (`invalid_grant`, SPEC section 10): published on every run until it is
/// reconnected, so its alarm stays on until then.
pub fn reconnect_needed_record(workflow_id: &str) -> Value {
    record(
        &[("workflow_id", workflow_id)],
        &[&["workflow_id"], &[]],
        &[Metric {
            name: "ReconnectNeeded",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// A polled workflow of another source than Google (SPEC section 15:
/// `source` = `microsoft`) whose refresh token is refused: published per
/// workflow and per source (not in the all-workflows total Google's alarm
/// watches), so each source has its own alarm.
pub fn source_reconnect_needed_record(source: &str, workflow_id: &str) -> Value {
    record(
        &[("workflow_id", workflow_id), ("source", source)],
        &[&["workflow_id"], &["source"]],
        &[Metric {
            name: "ReconnectNeeded",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// A queued person failed past the sync queue's receive limit and goes to
/// the dead-letter queue (SPEC section 11), by error code; alarmed on.
pub fn dead_letter_record(workflow_id: &str, code: &str) -> Value {
    record(
        &[("workflow_id", workflow_id), ("code", code)],
        &[&["workflow_id", "code"], &[]],
        &[Metric {
            name: "DeadLetters",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// How long the oldest message of a `sync-worker` batch waited on the
/// sync queue (SPEC section 11): now less its `SentTimestamp`, in ms.
pub fn queue_age_record(age_ms: u64) -> Value {
    record(
        &[],
        &[&[]],
        &[Metric {
            name: "QueueAge",
            unit: "Milliseconds",
            value: age_ms as f64,
        }],
    )
}

/// The daily health check's verdict on one workflow (SPEC section 14):
/// `metrics` are `(name, value)`, one per problem kind (`HealthTokenExpiring`,
/// ...; `flows::health::Problem::metric`), 1 when the problem is found and
/// 0 when not, per workflow and without dimensions (whose Maximum is what
/// template.yaml alarms on; the per-workflow metric tells which).
pub fn health_record(workflow_id: &str, metrics: &[(&'static str, f64)]) -> Value {
    let metrics: Vec<Metric> = metrics
        .iter()
        .map(|(name, value)| Metric {
            name,
            unit: "Count",
            value: *value,
        })
        .collect();
    record(
        &[("workflow_id", workflow_id)],
        &[&["workflow_id"], &[]],
        &metrics,
    )
}

/// A kvCORE answer 429 (SPEC section 7: rate limited; no limit is
/// published), one per answer, retries included.
pub fn kvcore_rate_limited_record() -> Value {
    record(
        &[],
        &[&[]],
        &[Metric {
            name: "KvcoreRateLimited",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// A Google request that failed (the token endpoint or the People API;
/// `adapters::google`), one per request.
pub fn google_error_record() -> Value {
    record(
        &[],
        &[&[]],
        &[Metric {
            name: "GoogleErrors",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// A Follow Up Boss person that could not be read for a workflow's event
/// (refused key, 429, 5xx, timeout; a person it no longer has is not an
/// error).
pub fn followupboss_error_record(workflow_id: &str) -> Value {
    record(
        &[("workflow_id", workflow_id)],
        &[&["workflow_id"], &[]],
        &[Metric {
            name: "FollowUpBossErrors",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// The first invocation of a container.
pub fn cold_start_record() -> Value {
    record(
        &[],
        &[&[]],
        &[Metric {
            name: "ColdStart",
            unit: "Count",
            value: 1.0,
        }],
    )
}

/// Whether this process publishes metrics: the webhook function does; the
/// operator's CLI, whose stdout is for people, does not.
static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Writes records to stdout, where Lambda's log capture picks them up.
pub fn emit(records: &[Value]) {
    use std::io::Write;
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    for record in records {
        // A lost metric line must never fail an event.
        let _ = writeln!(out, "{record}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::PersonResult;

    fn person(outcome: Outcome) -> PersonResult {
        PersonResult {
            source_id: None,
            outcome,
            contact_id: None,
            matched_by: None,
            reason: None,
            fields: vec![],
            dry_run: false,
            problems: vec![],
        }
    }

    #[test]
    fn an_event_publishes_its_cost_and_each_persons_outcome() {
        let answer = EventAnswer {
            event_id: "e".into(),
            duplicate: false,
            results: vec![person(Outcome::Created), person(Outcome::Skipped)],
        };
        let records = event_records("leads", Some(&answer), 3, 42);
        assert_eq!(records.len(), 3);
        let cost = &records[0];
        assert_eq!(cost["workflow_id"], "leads");
        assert_eq!(cost["KvcoreRequests"], 3.0);
        assert_eq!(cost["KvcoreLatency"], 42.0);
        assert_eq!(cost["EventsFailed"], 0.0);
        let directive = &cost["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "kvsync");
        assert_eq!(directive["Dimensions"], json!([["workflow_id"], []]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["KvcoreRequests", "KvcoreLatency", "EventsFailed"]);
        assert_eq!(records[1]["outcome"], "created");
        assert_eq!(records[2]["outcome"], "skipped");
        assert_eq!(records[2]["PersonsSynced"], 1.0);
    }

    #[test]
    fn a_failed_event_counts_as_failed() {
        let records = event_records("leads", None, 5, 9000);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["EventsFailed"], 1.0);
    }

    #[test]
    fn a_failed_delivery_is_counted_by_code_and_in_total() {
        let record = delivery_failed_record("leads", "misconfigured_workflow");
        assert_eq!(record["DeliveriesFailed"], 1.0);
        assert_eq!(record["code"], "misconfigured_workflow");
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["workflow_id", "code"], ["code"], []])
        );
    }

    #[test]
    fn token_days_left_is_published_per_secret_id() {
        let record = kvcore_token_days_left_record("kvsync/leads/kvcore-token", 12.5);
        assert_eq!(record["KvcoreTokenDaysLeft"], 12.5);
        assert_eq!(record["kvcore_token_secret"], "kvsync/leads/kvcore-token");
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["kvcore_token_secret"], []])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "KvcoreTokenDaysLeft", "Unit": "None"}])
        );
    }

    #[test]
    fn a_health_record_has_one_metric_per_problem_kind() {
        let record = health_record(
            "leads",
            &[("HealthTokenRefused", 1.0), ("HealthReplayWaiting", 0.0)],
        );
        assert_eq!(record["workflow_id"], "leads");
        assert_eq!(record["HealthTokenRefused"], 1.0);
        assert_eq!(record["HealthReplayWaiting"], 0.0);
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["workflow_id"], []]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "HealthTokenRefused", "Unit": "Count"},
                {"Name": "HealthReplayWaiting", "Unit": "Count"}
            ])
        );
    }

    #[test]
    fn cold_starts_have_no_dimensions() {
        let record = cold_start_record();
        assert_eq!(record["ColdStart"], 1.0);
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
