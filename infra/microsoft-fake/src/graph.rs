//! Microsoft Graph: `GET /v1.0/me/contactFolders` and `GET
//! /v1.0/me/contactFolders/{id}/contacts/delta`, as the crate docs say.

use axum::Router;
use axum::extract::{Path, RawQuery, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{DeltaState, Fault, RecordedRequest, RoundCursor, Shared, State, StoredContact, lock};

/// Graph's page size for contacts without `Prefer: odata.maxpagesize`
/// (Outlook's default of 10), and the most it pages (200).
pub const DEFAULT_PAGE_SIZE: usize = 10;
pub const MAX_PAGE_SIZE: usize = 200;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1.0/me/contactFolders", get(folders))
        .route(
            "/v1.0/me/contactFolders/{folder}/contacts/delta",
            get(delta),
        )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The 401 to answer unless the bearer token is live.
fn unauthorized(state: &State, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| state.access_tokens.get(t)) {
        Some(expires) if *expires > crate::now_ms() => None,
        _ => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty, expired or not valid.",
            );
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"\", error=\"invalid_token\""),
            );
            Some(response)
        }
    }
}

/// The next injected fault's answer, if any.
fn fault(state: &mut State) -> Option<Response> {
    match state.faults.pop_front()? {
        Fault::Throttled {
            status,
            retry_after_s,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let mut response = error(code, "TooManyRequests", "The request has been throttled.");
            if let Ok(value) = HeaderValue::from_str(&retry_after_s.to_string()) {
                response.headers_mut().insert("retry-after", value);
            }
            Some(response)
        }
        Fault::Status(status) => Some(error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "ServiceNotAvailable",
            "The service is temporarily unavailable.",
        )),
    }
}

fn query_pairs(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn record(
    state: &mut State,
    endpoint: &'static str,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
    response: Response,
) -> Response {
    state.requests.push(RecordedRequest {
        endpoint,
        params,
        prefer: headers
            .get("prefer")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        status: response.status().as_u16(),
    });
    response
}

async fn folders(
    Extract(state): Extract<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut state = lock(&state);
    let params = query_pairs(&query);
    let response = match unauthorized(&state, &headers) {
        Some(response) => response,
        None => match fault(&mut state) {
            Some(response) => response,
            None => {
                let value: Vec<Value> = state
                    .folders
                    .iter()
                    .map(|(id, name)| {
                        json!({"id": id, "displayName": name, "parentFolderId": crate::DEFAULT_FOLDER_ID})
                    })
                    .collect();
                (StatusCode::OK, axum::Json(json!({"value": value}))).into_response()
            }
        },
    };
    record(&mut state, "folders", params, &headers, response)
}

/// `odata.maxpagesize` of a `Prefer` header, capped at Graph's maximum.
fn page_size(headers: &HeaderMap) -> (usize, bool) {
    let asked = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .find_map(|n| n.trim().parse::<usize>().ok())
        .filter(|n| *n > 0);
    match asked {
        Some(n) => (n.min(MAX_PAGE_SIZE), true),
        None => (DEFAULT_PAGE_SIZE, false),
    }
}

async fn delta(
    Extract(state): Extract<Shared>,
    Path(folder): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut state = lock(&state);
    let mut params = query_pairs(&query);
    params.push(("folder".into(), folder.clone()));
    let response = match unauthorized(&state, &headers) {
        Some(response) => response,
        None => match fault(&mut state) {
            Some(response) => response,
            None => delta_page(&mut state, &folder, &params, &headers),
        },
    };
    record(&mut state, "delta", params, &headers, response)
}

fn delta_page(
    state: &mut State,
    folder_name: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Response {
    let Some(folder) = state.folder_id(folder_name) else {
        return error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (asked_size, preferred) = page_size(headers);
    let cursor = match (param("$skiptoken"), param("$deltatoken")) {
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "$skiptoken and $deltatoken cannot be used together.",
            );
        }
        (Some(skip), None) => match state.skip_tokens.get(&skip) {
            Some(cursor) if cursor.folder == folder => cursor.clone(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidSyncStateData",
                    "The skip token is not valid for this folder.",
                );
            }
        },
        (None, Some(token)) => match state.delta_tokens.get(&token) {
            Some(DeltaState { gone: true, .. }) | None => {
                // The delta state is gone: start over (delta-query-overview,
                // "410 Gone ... syncStateNotFound", with a Location).
                let mut response = error(
                    StatusCode::GONE,
                    "syncStateNotFound",
                    "The sync state generation is not found. Start a full synchronization.",
                );
                let fresh = format!("/v1.0/me/contactFolders/{folder_name}/contacts/delta");
                if let Ok(value) = HeaderValue::from_str(&fresh) {
                    response.headers_mut().insert("location", value);
                }
                return response;
            }
            Some(delta) if delta.folder != folder => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidSyncStateData",
                    "The delta token is not valid for this folder.",
                );
            }
            Some(delta) => RoundCursor {
                folder: folder.clone(),
                since_seq: Some(delta.seq),
                until_seq: state.seq,
                page_size: asked_size,
                after: (0, String::new()),
            },
        },
        (None, None) => RoundCursor {
            folder: folder.clone(),
            since_seq: None,
            until_seq: state.seq,
            page_size: asked_size,
            after: (0, String::new()),
        },
    };
    // A page of the round holds what Prefer asks now (each request carries it).
    let size = if preferred {
        asked_size
    } else {
        cursor.page_size.min(asked_size)
    };

    let mut entries: Vec<(&String, &StoredContact)> = state
        .contacts
        .iter()
        .filter(|(_, c)| c.folder == folder)
        .filter(|(_, c)| c.changed_seq <= cursor.until_seq)
        .filter(|(_, c)| match cursor.since_seq {
            None => !c.deleted,
            Some(since) => c.changed_seq > since,
        })
        .filter(|(id, c)| (c.changed_seq, (*id).clone()) > cursor.after)
        .collect();
    entries.sort_by_key(|(id, c)| (c.changed_seq, (*id).clone()));
    let more = entries.len() > size;
    entries.truncate(size);
    let value: Vec<Value> = entries
        .iter()
        .map(|(id, c)| {
            if c.deleted {
                json!({"@odata.type": "#microsoft.graph.contact", "id": id, "@removed": {"reason": "deleted"}})
            } else {
                render(id, c)
            }
        })
        .collect();
    let last = entries.last().map(|(id, c)| (c.changed_seq, (*id).clone()));
    let base = format!(
        "http://{}/v1.0/me/contactFolders/{folder_name}/contacts/delta",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
    );
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(contact)",
        "value": value,
    });
    if more {
        let token = state.token("skip");
        state.skip_tokens.insert(
            token.clone(),
            RoundCursor {
                after: last.unwrap_or_default(),
                page_size: size,
                ..cursor
            },
        );
        body["@odata.nextLink"] = json!(format!("{base}?$skiptoken={token}"));
    } else {
        let token = state.token("delta");
        state.delta_tokens.insert(
            token.clone(),
            DeltaState {
                folder: folder.clone(),
                seq: cursor.until_seq,
                gone: false,
            },
        );
        body["@odata.deltaLink"] = json!(format!("{base}?$deltatoken={token}"));
    }
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    if preferred && let Ok(value) = HeaderValue::from_str(&format!("odata.maxpagesize={size}")) {
        response.headers_mut().insert("preference-applied", value);
    }
    response
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A contact as Graph sends it: its fields and the ones Graph sets.
pub fn render(id: &str, contact: &StoredContact) -> Value {
    let mut out = contact.fields.clone();
    let change_key = format!("EQAAABYAAAD{:04}", contact.version);
    out.insert("@odata.etag".into(), json!(format!("W/\"{change_key}\"")));
    out.insert("id".into(), json!(id));
    out.insert("changeKey".into(), json!(change_key));
    out.insert("createdDateTime".into(), json!(rfc3339(contact.created_ms)));
    out.insert(
        "lastModifiedDateTime".into(),
        json!(rfc3339(contact.modified_ms)),
    );
    out.insert("parentFolderId".into(), json!(contact.folder));
    Value::Object(out)
}
