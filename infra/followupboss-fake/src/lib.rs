//! A stateful fake of the Follow Up Boss API subset kvsync reads:
//! `GET /v1/people/{id}` with HTTP Basic auth (the API key as user name,
//! empty password), 404 for people it no longer has, and scripted 429/5xx.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};

/// Trouble to answer with instead of the person.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Status(u16),
    RateLimited { retry_after_secs: u64 },
}

#[derive(Default)]
struct Inner {
    people: BTreeMap<String, Value>,
    requests: Vec<String>,
    faults: VecDeque<Fault>,
}

#[derive(Clone)]
pub struct FakeFollowUpBoss {
    api_key: Arc<str>,
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
}

impl FakeFollowUpBoss {
    /// Starts on a free loopback port, accepting only `api_key`.
    pub async fn start(api_key: &str) -> std::io::Result<FakeFollowUpBoss> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeFollowUpBoss {
            api_key: api_key.into(),
            inner: Arc::default(),
            addr: listener.local_addr()?,
        };
        let app = Router::new()
            .route("/v1/people/{id}", get(person))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"errorMessage": "Not found"})),
                )
            })
            .with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "followupboss-fake stopped");
            }
        });
        Ok(fake)
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds or replaces a person (by its `id`).
    pub fn put_person(&self, person: Value) {
        let id = match &person["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.inner().people.insert(id, person);
    }

    pub fn remove_person(&self, id: &str) {
        self.inner().people.remove(id);
    }

    /// The ids of the people asked for, in order (authorized or not).
    pub fn requests(&self) -> Vec<String> {
        self.inner().requests.clone()
    }

    /// A fault for the next request (one each, in order).
    pub fn push_fault(&self, fault: Fault) {
        self.inner().faults.push_back(fault);
    }
}

async fn person(
    State(fake): State<FakeFollowUpBoss>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = {
        let mut inner = fake.inner();
        inner.requests.push(id.clone());
        inner.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, axum::Json(json!({"errorMessage": "Server error"}))).into_response();
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let body = axum::Json(json!({"errorMessage": "Too many requests"}));
            let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
        None => {}
    }
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{}:", fake.api_key));
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|given| given == expected);
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errorMessage": "Invalid API key"})),
        )
            .into_response();
    }
    match fake.inner().people.get(&id) {
        Some(person) => (StatusCode::OK, axum::Json(person.clone())).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errorMessage": "Person not found"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn people_behind_basic_auth() {
        let fake = FakeFollowUpBoss::start("key-1").await.unwrap();
        fake.put_person(json!({"id": 7, "firstName": "Lu"}));
        let http = reqwest::Client::new();
        let url = format!("{}/people/7", fake.base_url());
        let ok = http
            .get(&url)
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.json::<Value>().await.unwrap()["firstName"], "Lu");
        let wrong = http
            .get(&url)
            .basic_auth("key-2", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        fake.remove_person("7");
        let gone = http
            .get(&url)
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404);
        fake.push_fault(Fault::RateLimited {
            retry_after_secs: 2,
        });
        let limited = http
            .get(&url)
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "2");
        assert_eq!(fake.requests(), ["7", "7", "7", "7"]);
    }
}
