//! `GET /v1/people/me/connections`, as
//! <https://developers.google.com/people/api/rest/v1/people.connections/list>
//! documents it (see the crate docs for each rule), and the `Person`
//! rendering of <https://developers.google.com/people/api/rest/v1/people#Person>.

use axum::Router;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::{
    Fault, PageCursor, RecordedRequest, Shared, State, StoredPerson, SyncTokenInfo, lock, now_ms,
};

/// "Valid values are between 1 and 1000, inclusive. Defaults to 100 if
/// not set or set to 0."
const MAX_PAGE_SIZE: usize = 1000;
const DEFAULT_PAGE_SIZE: usize = 100;

pub fn routes() -> Router<Shared> {
    Router::new().route("/v1/people/me/connections", get(connections))
}

/// The `google.rpc.Status` error body (<https://cloud.google.com/apis/design/errors>),
/// with an `ErrorInfo` detail when there is a reason.
pub fn rpc_error(code: u16, status: &str, message: &str, reason: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(reason) = reason {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "people.googleapis.com",
        }]);
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({ "error": error }))).into_response()
}

pub fn fault_response(fault: &Fault) -> Response {
    match fault {
        Fault::RateLimited => rpc_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user'.",
            Some("RATE_LIMIT_EXCEEDED"),
        ),
        Fault::Status(code) => rpc_error(
            *code,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            None,
        ),
    }
}

async fn connections(
    Extract(state): Extract<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let mut state = lock(&state);
    let response = list(&mut state, &headers, &params);
    state.requests.push(RecordedRequest {
        endpoint: "connections",
        params,
        status: response.status().as_u16(),
    });
    response
}

fn list(state: &mut State, headers: &HeaderMap, params: &[(String, String)]) -> Response {
    if let Some(fault) = state.next_fault() {
        return fault_response(&fault);
    }
    let now = now_ms();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let authorized = bearer
        .and_then(|token| state.access_tokens.get(token))
        .is_some_and(|expires| *expires > now);
    if !authorized {
        return rpc_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            Some("ACCESS_TOKEN_EXPIRED"),
        );
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(mask) = param("personFields").filter(|m| !m.is_empty()) else {
        return rpc_error(
            400,
            "INVALID_ARGUMENT",
            "personFields mask is required. Please specify one or more valid paths.",
            None,
        );
    };
    let page_size = match param("pageSize").map(str::parse::<usize>) {
        None | Some(Ok(0)) => DEFAULT_PAGE_SIZE,
        Some(Ok(n)) if n <= MAX_PAGE_SIZE => n,
        _ => {
            return rpc_error(
                400,
                "INVALID_ARGUMENT",
                "Invalid pageSize: must be between 1 and 1000.",
                None,
            );
        }
    };
    let first_call: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "pageToken")
        .cloned()
        .collect();

    let cursor = match (param("pageToken"), param("syncToken")) {
        (Some(token), _) => match state.page_tokens.get(token) {
            None => {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Request contains an invalid argument: pageToken.",
                    None,
                );
            }
            Some(cursor) if cursor.params != first_call => {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "When the page_token or sync_token is specified, all other request parameters must match the first call.",
                    None,
                );
            }
            Some(cursor) => cursor.clone(),
        },
        (None, Some(token)) => match state.sync_tokens.get(token) {
            None => {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Request contains an invalid argument: syncToken.",
                    None,
                );
            }
            // people.connections.list: "When the page_token or sync_token
            // is specified, all other request parameters must match the
            // first call." Google's answer names no reason.
            Some(info) if info.bound != bound_params(params) => {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Request contains an invalid argument.",
                    None,
                );
            }
            Some(info)
                if now - info.full_sync_ms > state.config.sync_token_ttl.as_millis() as i64 =>
            {
                return rpc_error(
                    400,
                    "FAILED_PRECONDITION",
                    "Sync token is expired. Clear local cache and retry call without the sync token.",
                    Some("EXPIRED_SYNC_TOKEN"),
                );
            }
            Some(info) => PageCursor {
                params: first_call.clone(),
                since_seq: Some(info.seq),
                until_seq: state.seq,
                full_sync_ms: info.full_sync_ms,
                after: (0, String::new()),
            },
        },
        (None, None) => PageCursor {
            params: first_call.clone(),
            since_seq: None,
            until_seq: state.seq,
            full_sync_ms: now,
            after: (0, String::new()),
        },
    };

    // Least recently changed first (the default LAST_MODIFIED_ASCENDING);
    // a person changed during the listing moves to its end, so it is
    // never missed (at worst listed twice).
    let mut listed: Vec<(&String, &StoredPerson)> = state
        .persons
        .iter()
        .filter(|(_, p)| match cursor.since_seq {
            None => !p.deleted,
            Some(since) => p.changed_seq > since && p.changed_seq <= cursor.until_seq,
        })
        .collect();
    let total = listed.len();
    listed.sort_by(|a, b| (a.1.changed_seq, a.0).cmp(&(b.1.changed_seq, b.0)));
    let page: Vec<(&String, &StoredPerson)> = listed
        .into_iter()
        .filter(|(name, p)| (p.changed_seq, (*name).clone()) > cursor.after)
        .take(page_size + 1)
        .collect();
    let more = page.len() > page_size;
    let fields: Vec<&str> = mask.split(',').map(str::trim).collect();
    let connections: Vec<Value> = page
        .iter()
        .take(page_size)
        .map(|(name, person)| render(name, person, Some(&fields)))
        .collect();
    let last = page
        .get(page_size.saturating_sub(1))
        .map(|(name, p)| (p.changed_seq, (*name).clone()));

    let mut body = json!({
        "connections": connections,
        "totalPeople": total,
        "totalItems": total,
    });
    if more && let Some(after) = last {
        let token = state.token("pt-");
        state
            .page_tokens
            .insert(token.clone(), PageCursor { after, ..cursor });
        body["nextPageToken"] = json!(token);
    } else if param("requestSyncToken") == Some("true") {
        let token = state.token("st-");
        state.sync_tokens.insert(
            token.clone(),
            SyncTokenInfo {
                bound: bound_params(&cursor.params),
                seq: cursor.until_seq,
                full_sync_ms: cursor.full_sync_ms,
            },
        );
        body["nextSyncToken"] = json!(token);
    }
    if connections_is_empty(&body) {
        // Google leaves out an empty list.
        if let Some(map) = body.as_object_mut() {
            map.remove("connections");
        }
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The parameters a sync token is bound to: all but `syncToken` and
/// `pageToken`, sorted (their order in the query does not matter).
pub(crate) fn bound_params(params: &[(String, String)]) -> Vec<(String, String)> {
    let mut bound: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "syncToken" && k != "pageToken")
        .cloned()
        .collect();
    bound.sort();
    bound
}

fn connections_is_empty(body: &Value) -> bool {
    body["connections"].as_array().is_some_and(Vec::is_empty)
}

/// A person as the API renders it: `resourceName`, `etag`, the masked
/// fields, and `metadata` (sources with `updateTime`; `deleted`) when the
/// mask asks for it or the person was deleted. `mask` `None`: every field.
pub fn render(name: &str, person: &StoredPerson, mask: Option<&[&str]>) -> Value {
    let etag = etag_of(name, person.version);
    let mut out = Map::new();
    out.insert("resourceName".into(), json!(name));
    out.insert("etag".into(), json!(etag));
    let wants = |field: &str| mask.is_none_or(|m| m.contains(&field));
    if !person.deleted {
        for (key, value) in &person.fields {
            if wants(key) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if wants("metadata") || person.deleted {
        let update_time = rfc3339(person.updated_ms);
        let id = name.trim_start_matches("people/c");
        let mut metadata = json!({
            "sources": [{"type": "CONTACT", "id": id, "etag": etag, "updateTime": update_time}],
            "objectType": "PERSON",
        });
        if person.deleted {
            metadata["deleted"] = json!(true);
        }
        out.insert("metadata".into(), metadata);
    }
    Value::Object(out)
}

/// An opaque etag that changes with every version.
fn etag_of(name: &str, version: u64) -> String {
    let raw = format!("{name}:{version}");
    format!(
        "%Eg{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw)
    )
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}
