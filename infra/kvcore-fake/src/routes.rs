//! The fake's HTTP surface: the kvCORE API under `/v2/public`, and admin
//! routes under `/_admin` for out-of-process control (make dev, benchmarks).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use crate::store::WriteError;
use crate::{Fault, RecordedRequest, State, lock};

type Shared = Arc<Mutex<State>>;

const PREFIX: &str = "/v2/public";

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/_admin/contacts", get(admin_contacts).post(admin_insert))
        .route(
            "/_admin/requests",
            get(admin_requests).delete(admin_clear_requests),
        )
        .route(
            "/_admin/faults",
            post(admin_fault).delete(admin_clear_faults),
        )
        .route("/_admin/reset", post(admin_reset))
        .route("/_admin/config", put(admin_config))
        .route("/_admin/health", get(|| async { "ok" }))
        .fallback(api)
        .with_state(state)
        .layer(axum::middleware::from_fn(log_request))
}

async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // The path only: the query may hold an email address.
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "kvcore-fake");
    response
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn errors(status: StatusCode, message: &str) -> Response {
    answer(status, json!({"errors": [message]}))
}

/// Every kvCORE API request: recorded, then faults, auth, and the route.
async fn api(
    Extract(state): Extract<Shared>,
    method: Method,
    uri: Uri,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let parsed_body = (!body.is_empty()).then(|| serde_json::from_slice::<Value>(&body).ok());
    let fault = {
        let mut state = lock(&state);
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: query.clone(),
            body: parsed_body.clone().flatten(),
        });
        state.next_fault()
    };
    match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return errors(status, "Server Error");
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = errors(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.");
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }

    let mut state = lock(&state);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| state.config.tokens.iter().any(|ok| ok == t)) {
        return errors(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    }
    let Some(path) = uri.path().strip_prefix(PREFIX) else {
        return errors(StatusCode::NOT_FOUND, "Not found.");
    };
    let fields = match parsed_body {
        None => Map::new(),
        Some(Some(Value::Object(map))) => map,
        Some(_) => return errors(StatusCode::BAD_REQUEST, "Invalid JSON."),
    };
    let id = path.strip_prefix("/contact/").map(|id| id.parse::<u64>());

    match (method, path, id) {
        (Method::GET, "/contacts", _) => list(&state, &query, &uri),
        (Method::POST, "/contact", _) => {
            let reject = state.config.reject_duplicate_emails;
            write(state.contacts.create(fields, reject), StatusCode::CREATED)
        }
        (Method::GET, _, Some(Ok(id))) => match state.contacts.get(id) {
            Some(contact) => answer(StatusCode::OK, contact),
            None => errors(StatusCode::NOT_FOUND, "Contact not found."),
        },
        (Method::PUT, _, Some(Ok(id))) => write(state.contacts.update(id, fields), StatusCode::OK),
        (_, _, Some(Err(_))) => errors(StatusCode::NOT_FOUND, "Contact not found."),
        _ => errors(StatusCode::NOT_FOUND, "Not found."),
    }
}

fn write(result: Result<Value, WriteError>, ok: StatusCode) -> Response {
    match result {
        Ok(contact) => answer(ok, contact),
        Err(WriteError::Invalid(body)) => answer(StatusCode::UNPROCESSABLE_ENTITY, body),
        Err(WriteError::Duplicate) => errors(
            StatusCode::CONFLICT,
            "A contact with this email already exists.",
        ),
        Err(WriteError::NotFound) => errors(StatusCode::NOT_FOUND, "Contact not found."),
    }
}

/// A Laravel page of what the (lagging) index finds.
fn list(state: &State, query: &[(String, String)], uri: &Uri) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let page: usize = param("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let limit: usize = param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l >= 1)
        .unwrap_or(20);
    if limit > 500 {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {"limit": ["The limit may not be greater than 500."]}}),
        );
    }
    let found = state.contacts.list(query, state.config.search_lag);
    let total = found.len();
    let last_page = total.div_ceil(limit).max(1);
    let data: Vec<Value> = found
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let path = format!("http://fake{}", uri.path());
    let page_url = |p: usize| format!("{path}?page={p}");
    let from = (!data.is_empty()).then(|| (page - 1) * limit + 1);
    answer(
        StatusCode::OK,
        json!({
            "current_page": page,
            "data": data,
            "first_page_url": page_url(1),
            "from": from,
            "last_page": last_page,
            "last_page_url": page_url(last_page),
            "next_page_url": (page < last_page).then(|| page_url(page + 1)),
            "path": path,
            "per_page": limit,
            "prev_page_url": (page > 1).then(|| page_url(page - 1)),
            "to": from.map(|f| f + data.len() - 1),
            "total": total,
        }),
    )
}

async fn admin_contacts(Extract(state): Extract<Shared>) -> Response {
    answer(StatusCode::OK, Value::Array(lock(&state).contacts.all()))
}

async fn admin_insert(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => {
            let id = lock(&state).contacts.insert_indexed(fields);
            answer(StatusCode::CREATED, json!({"id": id}))
        }
        _ => errors(StatusCode::BAD_REQUEST, "Invalid JSON."),
    }
}

async fn admin_requests(Extract(state): Extract<Shared>) -> Response {
    let requests: Vec<Value> = lock(&state)
        .requests
        .iter()
        .map(|r| json!({"method": r.method, "path": r.path, "query": r.query, "body": r.body}))
        .collect();
    answer(StatusCode::OK, Value::Array(requests))
}

async fn admin_clear_requests(Extract(state): Extract<Shared>) -> StatusCode {
    lock(&state).requests.clear();
    StatusCode::NO_CONTENT
}

/// `{"status": 500}`, `{"status": 429, "retry_after_secs": 1}` or
/// `{"delay_ms": 3000}`, with `"persistent": true` for every request.
async fn admin_fault(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Ok(spec) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, "Invalid JSON.");
    };
    let fault = match (spec["status"].as_u64(), spec["delay_ms"].as_u64()) {
        (Some(429), _) => Fault::RateLimited {
            retry_after_secs: spec["retry_after_secs"].as_u64().unwrap_or(1),
        },
        (Some(status), _) => Fault::Status(u16::try_from(status).unwrap_or(500)),
        (None, Some(ms)) => Fault::Delay(Duration::from_millis(ms)),
        (None, None) => return errors(StatusCode::BAD_REQUEST, "Give status or delay_ms."),
    };
    let mut state = lock(&state);
    if spec["persistent"].as_bool() == Some(true) {
        state.persistent_fault = Some(fault);
    } else {
        state.faults.push_back(fault);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_clear_faults(Extract(state): Extract<Shared>) -> StatusCode {
    let mut state = lock(&state);
    state.faults.clear();
    state.persistent_fault = None;
    StatusCode::NO_CONTENT
}

async fn admin_reset(Extract(state): Extract<Shared>) -> StatusCode {
    let mut state = lock(&state);
    state.contacts.clear();
    state.requests.clear();
    state.faults.clear();
    state.persistent_fault = None;
    StatusCode::NO_CONTENT
}

/// `{"search_lag_ms": n, "reject_duplicate_emails": bool}`
async fn admin_config(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let Ok(spec) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, "Invalid JSON.");
    };
    let mut state = lock(&state);
    if let Some(ms) = spec["search_lag_ms"].as_u64() {
        state.config.search_lag = Duration::from_millis(ms);
    }
    if let Some(on) = spec["reject_duplicate_emails"].as_bool() {
        state.config.reject_duplicate_emails = on;
    }
    StatusCode::NO_CONTENT.into_response()
}
