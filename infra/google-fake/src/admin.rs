//! Admin routes under `/_admin`, to drive the fake from another process
//! (make dev) as the handle does in-process: no auth, not recorded, never
//! faulted. Not part of Google's API.
//!
//! - `GET /_admin/persons`: every contact, fully rendered.
//! - `POST /_admin/persons`: adds a contact (Person fields); answers
//!   `{"resourceName"}`.
//! - `PUT /_admin/persons/{id}`: replaces a contact's fields (`id` is the
//!   `c1001` of `people/c1001`): a new etag and `updateTime`.
//! - `DELETE /_admin/persons/{id}`: deletes it.
//! - `POST /_admin/expire-sync-tokens`: every sync token issued expires.
//! - `POST /_admin/revoke-refresh-tokens`: every refresh token issued is
//!   revoked (`invalid_grant` from now on), and with it every access token.
//! - `POST /_admin/faults` `{"status": 429|5xx}`, `DELETE /_admin/faults`.
//! - `GET /_admin/requests`: what the API was asked (secrets redacted).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::people::render;
use crate::{Fault, Shared, add_person, lock, object};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_admin/persons", get(persons).post(add))
        .route("/_admin/persons/{id}", put(update).delete(delete))
        .route("/_admin/expire-sync-tokens", post(expire_sync_tokens))
        .route("/_admin/revoke-refresh-tokens", post(revoke_refresh_tokens))
        .route("/_admin/faults", post(add_fault).delete(clear_faults))
        .route("/_admin/requests", get(requests))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn persons(Extract(state): Extract<Shared>) -> Response {
    let state = lock(&state);
    let all: Vec<Value> = state
        .persons
        .iter()
        .filter(|(_, p)| !p.deleted)
        .map(|(name, p)| render(name, p, None))
        .collect();
    answer(StatusCode::OK, Value::Array(all))
}

async fn add(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(fields @ Value::Object(_)) => {
            let name = add_person(&mut lock(&state), fields);
            answer(StatusCode::CREATED, json!({"resourceName": name}))
        }
        _ => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "a JSON object of Person fields"}),
        ),
    }
}

async fn update(Extract(state): Extract<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(fields @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "a JSON object of Person fields"}),
        );
    };
    let name = format!("people/{id}");
    let fields = object(fields);
    let mut state = lock(&state);
    if state.change(&name, |person| person.fields = fields) {
        let person = state.persons.get(&name).map(|p| render(&name, p, None));
        answer(StatusCode::OK, person.unwrap_or(Value::Null))
    } else {
        answer(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no person {name}")}),
        )
    }
}

async fn delete(Extract(state): Extract<Shared>, Path(id): Path<String>) -> Response {
    let name = format!("people/{id}");
    if lock(&state).change(&name, |person| person.deleted = true) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        answer(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no person {name}")}),
        )
    }
}

async fn expire_sync_tokens(Extract(state): Extract<Shared>) -> Response {
    for info in lock(&state).sync_tokens.values_mut() {
        info.full_sync_ms = i64::MIN / 2;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Revoking a grant ends its access tokens too (Google's OAuth 2.0 docs,
/// "Revoking a token": revoking a refresh token revokes the grant), so the
/// next API call answers 401 and the client meets `invalid_grant` when it
/// tries to renew.
async fn revoke_refresh_tokens(Extract(state): Extract<Shared>) -> Response {
    let mut state = lock(&state);
    for live in state.refresh_tokens.values_mut() {
        *live = false;
    }
    state.access_tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn add_fault(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let status = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["status"].as_u64());
    let fault = match status {
        Some(429) => Fault::RateLimited,
        Some(code @ 500..=599) => Fault::Status(code as u16),
        _ => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "{\"status\": 429 or 5xx}"}),
            );
        }
    };
    lock(&state).faults.push_back(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(Extract(state): Extract<Shared>) -> Response {
    let mut state = lock(&state);
    state.faults.clear();
    state.persistent_fault = None;
    StatusCode::NO_CONTENT.into_response()
}

async fn requests(Extract(state): Extract<Shared>) -> Response {
    let recorded: Vec<Value> = lock(&state)
        .requests
        .iter()
        .map(|r| json!({"endpoint": r.endpoint, "params": r.params, "status": r.status}))
        .collect();
    answer(StatusCode::OK, Value::Array(recorded))
}
