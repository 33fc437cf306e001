//! Admin routes under `/_admin`, to drive the fake from another process
//! (make dev, devstack, benchmarks) as the handle drives it in-process: no
//! auth, not recorded, never faulted or slowed. Not part of kvCORE.
//!
//! - `GET /_admin/contacts`: every contact's current full record.
//! - `POST /_admin/contacts`: seeds one contact (an object; answers
//!   `{"id"}`) or many (an array; answers `{"ids": [...]}`), listed at once.
//! - `POST /_admin/contacts/unindexed`: one contact as if just written
//!   through the API (lists show it after the lag); answers `{"id"}`.
//! - `PUT /_admin/contacts/{id}`: a person edits it in kvCORE's UI.
//! - `POST /_admin/contacts/{id}/archive`: a person archives it.
//! - `DELETE /_admin/contacts/{id}`: a person deletes it.
//! - `GET|DELETE /_admin/requests`, `POST|DELETE /_admin/faults`,
//!   `POST /_admin/reset`, `PUT /_admin/config`, `GET /_admin/health`.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::routes::{answer, errors};
use crate::store::DuplicatePolicy;
use crate::{Fault, Shared, State, full_record, lock};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_admin/contacts", get(contacts).post(insert_contacts))
        .route("/_admin/contacts/unindexed", post(insert_unindexed))
        .route(
            "/_admin/contacts/{id}",
            put(edit_as_person).delete(delete_contact),
        )
        .route("/_admin/contacts/{id}/archive", post(archive_contact))
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

fn no_such_contact() -> Response {
    errors(StatusCode::NOT_FOUND, "Contact not found.")
}

/// `GET /_admin/contacts`: every contact's current version.
async fn contacts(Extract(state): Extract<Shared>) -> Response {
    let all = lock(&state).contacts.all();
    answer(
        StatusCode::OK,
        Value::Array(all.iter().map(full_record).collect()),
    )
}

/// `POST /_admin/contacts`: seeds one contact or an array of them, listed
/// at once.
async fn insert_contacts(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    match parse::<Value>(&body) {
        Some(Value::Object(fields)) => {
            let id = lock(&state).contacts.insert_seeded(fields);
            answer(StatusCode::CREATED, json!({"id": id}))
        }
        Some(Value::Array(many)) => {
            let mut state = lock(&state);
            let ids: Vec<u64> = many
                .into_iter()
                .map(|fields| state.contacts.insert_seeded(object(fields)))
                .collect();
            answer(StatusCode::CREATED, json!({"ids": ids}))
        }
        _ => invalid_json(),
    }
}

/// `POST /_admin/contacts/unindexed`: a contact just written through the
/// API, which lists show only after the lag.
async fn insert_unindexed(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Some(fields) = parse::<Map<String, Value>>(&body) else {
        return invalid_json();
    };
    let id = lock(&state).contacts.insert_now(fields);
    answer(StatusCode::CREATED, json!({"id": id}))
}

/// `PUT /_admin/contacts/{id}`: a person's edit; answers the full record.
async fn edit_as_person(
    Extract(state): Extract<Shared>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    let Some(fields) = parse::<Map<String, Value>>(&body) else {
        return invalid_json();
    };
    let mut state = lock(&state);
    let lag = state.config.search_lag;
    if !state.contacts.edit_as_person(id, fields, lag) {
        return no_such_contact();
    }
    current(&state, id)
}

/// `POST /_admin/contacts/{id}/archive`; answers the full record.
async fn archive_contact(Extract(state): Extract<Shared>, Path(id): Path<u64>) -> Response {
    let mut state = lock(&state);
    let lag = state.config.search_lag;
    if !state.contacts.archive(id, lag) {
        return no_such_contact();
    }
    current(&state, id)
}

/// `DELETE /_admin/contacts/{id}`; 204.
async fn delete_contact(Extract(state): Extract<Shared>, Path(id): Path<u64>) -> Response {
    let mut state = lock(&state);
    let lag = state.config.search_lag;
    if state.contacts.delete(id, lag) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_such_contact()
    }
}

fn current(state: &State, id: u64) -> Response {
    match state.contacts.get(id) {
        Some(contact) => answer(StatusCode::OK, full_record(&contact)),
        None => no_such_contact(),
    }
}

fn object(fields: Value) -> Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
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

/// `{"status": 500}`, `{"status": 429, "retry_after_secs": 1}` (429 with
/// `Retry-After`), `{"status": 429}` (429 without it, SPEC section 7) or
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
        (Some(429), _) => match spec.retry_after_secs {
            Some(retry_after_secs) => Fault::RateLimited { retry_after_secs },
            None => Fault::RateLimitedWithoutRetryAfter,
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

/// Every field optional: `{"list_lag_ms": n}` (or its older name
/// `search_lag_ms`), `{"duplicates": "accept" | "conflict_409" |
/// "unprocessable_422"}` (or the older `{"reject_duplicate_emails": bool}`:
/// true is `conflict_409`), `{"loose_types": bool}`, `{"latency_ms": n}`.
/// Answers the whole configuration in the same names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSpec {
    list_lag_ms: Option<u64>,
    search_lag_ms: Option<u64>,
    duplicates: Option<DuplicateName>,
    reject_duplicate_emails: Option<bool>,
    loose_types: Option<bool>,
    latency_ms: Option<u64>,
}

#[derive(Deserialize, Clone, Copy)]
enum DuplicateName {
    #[serde(rename = "accept")]
    Accept,
    #[serde(rename = "conflict_409")]
    Conflict409,
    #[serde(rename = "unprocessable_422")]
    Unprocessable422,
}

impl From<DuplicateName> for DuplicatePolicy {
    fn from(name: DuplicateName) -> Self {
        match name {
            DuplicateName::Accept => DuplicatePolicy::Accept,
            DuplicateName::Conflict409 => DuplicatePolicy::Conflict409,
            DuplicateName::Unprocessable422 => DuplicatePolicy::Unprocessable422,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn configure(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Some(spec) = parse::<ConfigSpec>(&body) else {
        return errors(
            StatusCode::BAD_REQUEST,
            "Invalid JSON, or an unknown setting or value.",
        );
    };
    let mut state = lock(&state);
    let config = &mut state.config;
    if let Some(ms) = spec.list_lag_ms.or(spec.search_lag_ms) {
        config.search_lag = Duration::from_millis(ms);
    }
    if let Some(on) = spec.reject_duplicate_emails {
        config.duplicates = if on {
            DuplicatePolicy::Conflict409
        } else {
            DuplicatePolicy::Accept
        };
    }
    if let Some(name) = spec.duplicates {
        config.duplicates = name.into();
    }
    if let Some(on) = spec.loose_types {
        config.loose_types = on;
    }
    if let Some(ms) = spec.latency_ms {
        config.latency = Duration::from_millis(ms);
    }
    let duplicates = match config.duplicates {
        DuplicatePolicy::Accept => "accept",
        DuplicatePolicy::Conflict409 => "conflict_409",
        DuplicatePolicy::Unprocessable422 => "unprocessable_422",
    };
    answer(
        StatusCode::OK,
        json!({
            "list_lag_ms": millis(config.search_lag),
            "duplicates": duplicates,
            "loose_types": config.loose_types,
            "latency_ms": millis(config.latency),
        }),
    )
}
