//! An SQS event source mapping, as Lambda runs one (SPEC section 11): up to
//! `max_concurrency` pollers, each long-polling the queue and invoking its
//! own process of the function binary through the Runtime API emulator
//! with the real SQS event JSON (`{"Records": [...]}`), one batch at a
//! time. With `ReportBatchItemFailures` the answer's `batchItemFailures`
//! name the messages that failed: the others are deleted, those stay and
//! become visible again after the queue's visibility timeout. An invocation
//! that errs, times out or dies deletes nothing; a dead process is replaced
//! by a new one for the next batch, as Lambda starts a new sandbox.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use crate::Result;
use crate::aws;
use crate::runtime_api::{InvokeError, LambdaProcess, SpawnOptions};

/// Between two empty short polls.
const SHORT_POLL_PAUSE: Duration = Duration::from_millis(200);

/// How the source polls and invokes.
#[derive(Debug, Clone)]
pub struct SqsSourceOptions {
    pub queue_url: String,
    pub queue_arn: String,
    /// Messages per invocation, 1 to 10 (the template's `BatchSize`).
    pub batch_size: i32,
    /// Pollers, each with its own function process (the template's
    /// `ScalingConfig.MaximumConcurrency`).
    pub max_concurrency: usize,
    /// Long-poll wait, seconds (Lambda uses 20). 0: short polls, 200 ms
    /// apart while the queue is empty (for moto_server, which serves one
    /// request at a time and would be held by a long poll).
    pub wait_time_seconds: i32,
}

/// The function each poller runs.
#[derive(Debug, Clone)]
pub struct SourceFunction {
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub spawn: SpawnOptions,
}

#[derive(Default)]
struct Counters {
    invocations: AtomicU64,
    deleted: AtomicU64,
    returned: AtomicU64,
    failed_invocations: AtomicU64,
    pids: Mutex<Vec<Option<u32>>>,
}

/// A running event source; dropping it stops the pollers and their processes.
pub struct SqsSource {
    tasks: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl SqsSource {
    /// Starts the pollers. Each spawns its process on its first batch.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        function: SourceFunction,
        options: SqsSourceOptions,
    ) -> Result<SqsSource> {
        if !function.binary.is_file() {
            return Err(format!(
                "function binary {} not found: run `cargo build -p sync-worker` or set SYNC_WORKER_BIN",
                function.binary.display()
            )
            .into());
        }
        let counters = Arc::new(Counters {
            pids: Mutex::new(vec![None; options.max_concurrency]),
            ..Counters::default()
        });
        let tasks = (0..options.max_concurrency.max(1))
            .map(|slot| {
                let poller = Poller {
                    slot,
                    sqs: sqs.clone(),
                    function: function.clone(),
                    options: options.clone(),
                    counters: counters.clone(),
                };
                tokio::spawn(poller.run())
            })
            .collect();
        Ok(SqsSource { tasks, counters })
    }

    /// Invocations so far.
    pub fn invocations(&self) -> u64 {
        self.counters.invocations.load(Ordering::Relaxed)
    }

    /// Messages deleted after a successful invocation.
    pub fn deleted(&self) -> u64 {
        self.counters.deleted.load(Ordering::Relaxed)
    }

    /// Messages left on the queue: named in `batchItemFailures`, or in a
    /// failed invocation.
    pub fn returned(&self) -> u64 {
        self.counters.returned.load(Ordering::Relaxed)
    }

    /// Invocations that erred, timed out or died.
    pub fn failed_invocations(&self) -> u64 {
        self.counters.failed_invocations.load(Ordering::Relaxed)
    }

    /// The pids of the function processes running now.
    pub fn pids(&self) -> Vec<u32> {
        self.counters
            .pids
            .lock()
            .map(|pids| pids.iter().flatten().copied().collect())
            .unwrap_or_default()
    }
}

impl Drop for SqsSource {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Poller {
    slot: usize,
    sqs: aws_sdk_sqs::Client,
    function: SourceFunction,
    options: SqsSourceOptions,
    counters: Arc<Counters>,
}

impl Poller {
    async fn run(self) {
        let mut process: Option<LambdaProcess> = None;
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.options.queue_url)
                .max_number_of_messages(self.options.batch_size.clamp(1, 10))
                .wait_time_seconds(self.options.wait_time_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let messages = match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "sqs source: receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                if self.options.wait_time_seconds == 0 {
                    // Short polls: moto_server answers one request at a time,
                    // so a long poll there would hold every other caller.
                    tokio::time::sleep(SHORT_POLL_PAUSE).await;
                }
                continue;
            }
            if process.as_ref().is_some_and(|p| p.exit_status().is_some()) {
                process = None;
            }
            let running = match process.take() {
                Some(running) => running,
                None => match LambdaProcess::spawn_with(
                    &self.function.binary,
                    &self.function.env,
                    self.function.spawn.clone(),
                )
                .await
                {
                    Ok(spawned) => spawned,
                    Err(error) => {
                        tracing::error!(%error, "sqs source: the function did not start");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            self.set_pid(Some(running.pid()));
            let event = sqs_event(&messages, &self.options.queue_arn);
            self.counters.invocations.fetch_add(1, Ordering::Relaxed);
            let failed_ids = match running.invoke(event).await {
                Ok(answer) => {
                    process = Some(running);
                    batch_item_failures(&answer, &messages)
                }
                Err(InvokeError::Function(error)) => {
                    tracing::warn!(%error, "sqs source: the invocation failed; its batch comes back");
                    self.counters
                        .failed_invocations
                        .fetch_add(1, Ordering::Relaxed);
                    process = Some(running);
                    None
                }
                Err(error) => {
                    // Timed out or died: Lambda replaces the sandbox.
                    tracing::warn!(%error, "sqs source: the function is gone; its batch comes back");
                    self.counters
                        .failed_invocations
                        .fetch_add(1, Ordering::Relaxed);
                    self.set_pid(None);
                    running.shutdown().await;
                    None
                }
            };
            let keep: Vec<&str> = match &failed_ids {
                Some(ids) => ids.iter().map(String::as_str).collect(),
                None => messages.iter().filter_map(|m| m.message_id()).collect(),
            };
            let done: Vec<&Message> = messages
                .iter()
                .filter(|m| !m.message_id().is_some_and(|id| keep.contains(&id)))
                .collect();
            self.counters
                .returned
                .fetch_add((messages.len() - done.len()) as u64, Ordering::Relaxed);
            self.delete(&done).await;
        }
    }

    fn set_pid(&self, pid: Option<u32>) {
        if let Ok(mut pids) = self.counters.pids.lock()
            && let Some(slot) = pids.get_mut(self.slot)
        {
            *slot = pid;
        }
    }

    async fn delete(&self, messages: &[&Message]) {
        if messages.is_empty() {
            return;
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        let count = entries.len() as u64;
        match self
            .sqs
            .delete_message_batch()
            .queue_url(&self.options.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => {
                let failed = output.failed().len() as u64;
                self.counters
                    .deleted
                    .fetch_add(count - failed, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "sqs source: delete failed; the messages come back");
            }
        }
    }
}

/// The SQS event Lambda sends (`{"Records": [...]}`), as documented for
/// SQS event sources.
pub fn sqs_event(messages: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), Value::from(v.as_str())))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": aws::REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The ids an answer names in `batchItemFailures`. `None` (the whole batch
/// failed) when the answer is not a valid partial batch response or names
/// a message that was not in the batch, as Lambda reads it; an empty or
/// null answer fails nothing.
pub fn batch_item_failures(answer: &Value, messages: &[Message]) -> Option<Vec<String>> {
    let failures = match answer {
        Value::Null => return Some(Vec::new()),
        Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return None,
        },
        _ => return None,
    };
    let mut ids = Vec::new();
    for item in failures {
        let id = item.get("itemIdentifier")?.as_str()?;
        if !messages.iter().any(|m| m.message_id() == Some(id)) {
            return None;
        }
        ids.push(id.to_string());
    }
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> Message {
        Message::builder()
            .message_id(id)
            .receipt_handle(format!("rh-{id}"))
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build()
    }

    #[test]
    fn the_event_is_what_lambda_sends() {
        let event = sqs_event(&[message("m1")], "arn:aws:sqs:us-east-1:123456789012:q");
        let record = &event["Records"][0];
        assert_eq!(record["messageId"], "m1");
        assert_eq!(record["receiptHandle"], "rh-m1");
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(
            record["eventSourceARN"],
            "arn:aws:sqs:us-east-1:123456789012:q"
        );
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "2");
    }

    #[test]
    fn partial_batch_responses_are_read_as_lambda_reads_them() {
        let batch = [message("a"), message("b")];
        assert_eq!(
            batch_item_failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "b"}]}),
                &batch
            ),
            Some(vec!["b".to_string()])
        );
        assert_eq!(
            batch_item_failures(&json!({"batchItemFailures": []}), &batch),
            Some(vec![])
        );
        assert_eq!(batch_item_failures(&Value::Null, &batch), Some(vec![]));
        assert_eq!(batch_item_failures(&json!({}), &batch), Some(vec![]));
        // Unknown or missing ids, or a malformed answer: the whole batch fails.
        assert_eq!(
            batch_item_failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}),
                &batch
            ),
            None
        );
        assert_eq!(
            batch_item_failures(&json!({"batchItemFailures": [{}]}), &batch),
            None
        );
        assert_eq!(batch_item_failures(&json!("ok"), &batch), None);
    }
}
