//! Admin routes under `/_admin`, to drive the fake from another process
//! (make dev, benchmarks): no auth, not recorded, never faulted.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::routes::{answer, errors};
use crate::{Fault, Shared, lock};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_admin/contacts", get(contacts).post(insert_contact))
        .route("/_admin/requests", get(requests).delete(clear_requests))
        .route("/_admin/faults", post(add_fault).delete(clear_faults))
        .route("/_admin/reset", post(reset))
        .route("/_admin/config", put(configure))
        .route("/_admin/health", get(|| async { "ok" }))
}

/// A JSON body of type `T`, if it is one.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Option<T> {
    serde_json::from_slice(body).ok()
}

fn invalid_json() -> Response {
    errors(StatusCode::BAD_REQUEST, "Invalid JSON.")
}

/// `GET /_admin/contacts`: every contact's current version.
async fn contacts(Extract(state): Extract<Shared>) -> Response {
    answer(StatusCode::OK, Value::Array(lock(&state).contacts.all()))
}

/// `POST /_admin/contacts`: seeds a contact, searchable at once.
async fn insert_contact(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Some(fields) = parse(&body) else {
        return invalid_json();
    };
    let id = lock(&state).contacts.insert_indexed(fields);
    answer(StatusCode::CREATED, json!({"id": id}))
}

async fn requests(Extract(state): Extract<Shared>) -> Response {
    let requests: Vec<Value> = lock(&state)
        .requests
        .iter()
        .map(|r| json!({"method": r.method, "path": r.path, "query": r.query, "body": r.body}))
        .collect();
    answer(StatusCode::OK, Value::Array(requests))
}

async fn clear_requests(Extract(state): Extract<Shared>) -> StatusCode {
    lock(&state).requests.clear();
    StatusCode::NO_CONTENT
}

/// `{"status": 500}`, `{"status": 429, "retry_after_secs": 1}` or
/// `{"delay_ms": 3000}`; `"persistent": true` for every request.
#[derive(Deserialize)]
struct FaultSpec {
    status: Option<u16>,
    retry_after_secs: Option<u64>,
    delay_ms: Option<u64>,
    #[serde(default)]
    persistent: bool,
}

async fn add_fault(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Some(spec) = parse::<FaultSpec>(&body) else {
        return invalid_json();
    };
    let fault = match (spec.status, spec.delay_ms) {
        (Some(429), _) => Fault::RateLimited {
            retry_after_secs: spec.retry_after_secs.unwrap_or(1),
        },
        (Some(status), _) if StatusCode::from_u16(status).is_ok() => Fault::Status(status),
        (None, Some(ms)) => Fault::Delay(Duration::from_millis(ms)),
        _ => {
            return errors(
                StatusCode::BAD_REQUEST,
                "Give a status (100-999) or delay_ms.",
            );
        }
    };
    let mut state = lock(&state);
    if spec.persistent {
        state.persistent_fault = Some(fault);
    } else {
        state.faults.push_back(fault);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(Extract(state): Extract<Shared>) -> StatusCode {
    lock(&state).clear_faults();
    StatusCode::NO_CONTENT
}

async fn reset(Extract(state): Extract<Shared>) -> StatusCode {
    lock(&state).reset();
    StatusCode::NO_CONTENT
}

/// `{"search_lag_ms": n, "reject_duplicate_emails": bool}`, either optional.
#[derive(Deserialize)]
struct ConfigSpec {
    search_lag_ms: Option<u64>,
    reject_duplicate_emails: Option<bool>,
}

async fn configure(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Some(spec) = parse::<ConfigSpec>(&body) else {
        return invalid_json();
    };
    let mut state = lock(&state);
    if let Some(ms) = spec.search_lag_ms {
        state.config.search_lag = Duration::from_millis(ms);
    }
    if let Some(on) = spec.reject_duplicate_emails {
        state.config.reject_duplicate_emails = on;
    }
    answer(
        StatusCode::OK,
        json!({
            "search_lag_ms": u64::try_from(state.config.search_lag.as_millis()).unwrap_or(u64::MAX),
            "reject_duplicate_emails": state.config.reject_duplicate_emails,
        }),
    )
}
