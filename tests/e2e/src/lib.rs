//! The end-to-end harness: a `LocalStack` (moto tables from template.yaml,
//! the kvCORE fake) plus one running `webhook` process, driven through the
//! Lambda Runtime API as Lambda would.

use kvcore_fake::{FakeConfig, FakeKvcore, RecordedRequest};
use kvsync_devstack::{LambdaHttpResponse, LambdaProcess, LocalStack, StackOptions};
use serde_json::Value;

pub use serde_json::json;

pub struct World {
    pub stack: LocalStack,
    pub function: LambdaProcess,
}

/// One answer of the function, with its body parsed.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    fn from(response: LambdaHttpResponse) -> Answer {
        let body = serde_json::from_str(&response.body).unwrap_or(Value::String(response.body));
        Answer {
            status: response.status,
            body,
        }
    }

    /// The only result of a one-person event.
    pub fn result(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        let results = self.body["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "one person: {self:?}");
        &results[0]
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl World {
    pub async fn start() -> World {
        World::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(kvcore: FakeConfig) -> World {
        let stack = LocalStack::start(StackOptions {
            kvcore,
            ..StackOptions::default()
        })
        .await
        .expect("local stack starts (is MOTO_URL set? run `make test`)");
        let function = stack.spawn_function().await.expect("webhook binary starts");
        World { stack, function }
    }

    pub fn kvcore(&self) -> &FakeKvcore {
        self.stack.fake()
    }

    /// Seeds a working workflow with these attribute overrides (DynamoDB JSON).
    pub async fn workflow(&self, id: &str, overrides: Value) {
        self.stack
            .seed_workflow(id, overrides)
            .await
            .expect("workflow seeded");
    }

    /// Sends a properly authenticated delivery.
    pub async fn send(&self, workflow_id: &str, body: &Value) -> Answer {
        let response = self
            .stack
            .send(&self.function, workflow_id, body)
            .await
            .expect("the function answers");
        Answer::from(response)
    }

    /// Sends exactly these headers, query and body.
    pub async fn send_raw(
        &self,
        workflow_id: &str,
        headers: &[(&str, &str)],
        query: &str,
        body: &[u8],
    ) -> Answer {
        let response = self
            .stack
            .send_raw(&self.function, workflow_id, headers, query, body)
            .await
            .expect("the function answers");
        Answer::from(response)
    }

    /// kvCORE requests that change something (POST and PUT).
    pub fn kvcore_writes(&self) -> Vec<RecordedRequest> {
        self.kvcore()
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" || r.method == "PUT")
            .collect()
    }

    /// Everything the function has logged so far, one string.
    pub fn logs(&self) -> String {
        self.function.logs().join("\n")
    }
}

/// A generic payload for one contact.
pub fn event(contact: Value) -> Value {
    json!({ "contact": contact })
}
