//! Admin routes under `/_admin`, to drive the fake from another process
//! (make dev) as the handle does in-process: no auth, not recorded, never
//! faulted. Not part of Microsoft's API.
//!
//! - `GET /_admin/contacts`: every contact, rendered.
//! - `POST /_admin/contacts`: adds a contact to the default folder
//!   (Graph contact fields); answers `{"id"}`.
//! - `PUT /_admin/contacts/{id}`: replaces a contact's fields.
//! - `DELETE /_admin/contacts/{id}`: deletes it.
//! - `POST /_admin/lose-delta-state`: every delta token answers 410.
//! - `POST /_admin/revoke-grants`: every refresh token is revoked.
//! - `POST /_admin/sign-in` `{"user_code"}`: the person signs in.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::graph::render;
use crate::{DEFAULT_FOLDER_ID, Shared, add_contact, lock, object};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_admin/contacts", get(contacts).post(add))
        .route("/_admin/contacts/{id}", put(update).delete(delete))
        .route("/_admin/lose-delta-state", post(lose_delta_state))
        .route("/_admin/revoke-grants", post(revoke_grants))
        .route("/_admin/sign-in", post(sign_in))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn contacts(Extract(state): Extract<Shared>) -> Response {
    let state = lock(&state);
    let all: Vec<Value> = state
        .contacts
        .iter()
        .filter(|(_, c)| !c.deleted)
        .map(|(id, c)| render(id, c))
        .collect();
    answer(StatusCode::OK, Value::Array(all))
}

async fn add(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(fields @ Value::Object(_)) => {
            let id = add_contact(&mut lock(&state), DEFAULT_FOLDER_ID, fields);
            answer(StatusCode::CREATED, json!({"id": id}))
        }
        _ => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "a JSON object of contact fields"}),
        ),
    }
}

async fn update(Extract(state): Extract<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(fields @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "a JSON object of contact fields"}),
        );
    };
    let fields = object(fields);
    if lock(&state).change(&id, |contact| contact.fields = fields) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        answer(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no contact {id}")}),
        )
    }
}

async fn delete(Extract(state): Extract<Shared>, Path(id): Path<String>) -> Response {
    if lock(&state).change(&id, |contact| contact.deleted = true) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        answer(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no contact {id}")}),
        )
    }
}

async fn lose_delta_state(Extract(state): Extract<Shared>) -> Response {
    for delta in lock(&state).delta_tokens.values_mut() {
        delta.gone = true;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn revoke_grants(Extract(state): Extract<Shared>) -> Response {
    let mut state = lock(&state);
    for live in state.refresh_tokens.values_mut() {
        *live = false;
    }
    state.access_tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn sign_in(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["user_code"].as_str().map(String::from));
    match code {
        Some(code) if crate::oauth::sign_in(&mut lock(&state), &code, true) => {
            StatusCode::NO_CONTENT.into_response()
        }
        _ => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "{\"user_code\"} of a pending device code"}),
        ),
    }
}
