//! `GET /v1/contactGroups`, as
//! <https://developers.google.com/people/api/rest/v1/contactGroups/list>
//! documents it: the authenticated user's contact groups ("labels"),
//! members not populated; `pageSize` 1 to 1000 ("Defaults to 30 if not set
//! or set to 0"), `pageToken`, `groupFields` (default `metadata`,
//! `groupType`, `memberCount`, `name`); answered `{"contactGroups": [...],
//! "totalItems", "nextPageToken"}`. Each group is a `ContactGroup`
//! (<https://developers.google.com/people/api/rest/v1/contactGroups#ContactGroup>):
//! `resourceName`, `etag`, `groupType` (`USER_CONTACT_GROUP` or
//! `SYSTEM_CONTACT_GROUP`), `name`, `formattedName`. Every account has the
//! system groups `myContacts` and `starred`.

use axum::Router;
use axum::extract::{RawQuery, State as Extract};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::people::{fault_response, rpc_error};
use crate::{RecordedRequest, Shared, State, lock, now_ms};

const MAX_PAGE_SIZE: usize = 1000;
const DEFAULT_PAGE_SIZE: usize = 30;
/// The groups every account has (`contactGroups/{id}` → `name`).
pub const SYSTEM_GROUPS: [(&str, &str); 2] = [
    ("contactGroups/myContacts", "myContacts"),
    ("contactGroups/starred", "starred"),
];

pub fn routes() -> Router<Shared> {
    Router::new().route("/v1/contactGroups", get(list_groups))
}

async fn list_groups(
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
        endpoint: "contactGroups",
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
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
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
    let start = match param("pageToken") {
        None => 0,
        Some(token) => match token.strip_prefix("groups-").and_then(|n| n.parse().ok()) {
            Some(start) => start,
            None => {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Request contains an invalid argument: pageToken.",
                    None,
                );
            }
        },
    };
    let mask: Vec<&str> = param("groupFields")
        .filter(|m| !m.is_empty())
        .map_or(vec!["metadata", "groupType", "memberCount", "name"], |m| {
            m.split(',').map(str::trim).collect()
        });
    let all: Vec<(String, String, &str)> = SYSTEM_GROUPS
        .iter()
        .map(|(r, n)| (r.to_string(), n.to_string(), "SYSTEM_CONTACT_GROUP"))
        .chain(
            state
                .contact_groups
                .iter()
                .map(|(r, n)| (r.clone(), n.clone(), "USER_CONTACT_GROUP")),
        )
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(page_size)
        .map(|(resource, name, kind)| {
            let mut group =
                json!({"resourceName": resource, "etag": format!("g{}", resource.len())});
            if mask.contains(&"groupType") {
                group["groupType"] = json!(kind);
            }
            if mask.contains(&"name") {
                group["name"] = json!(name);
                group["formattedName"] = json!(match name.as_str() {
                    "myContacts" => "My Contacts",
                    "starred" => "Starred",
                    other => other,
                });
            }
            group
        })
        .collect();
    let mut body = json!({"contactGroups": page, "totalItems": all.len()});
    if start + page_size < all.len() {
        body["nextPageToken"] = json!(format!("groups-{}", start + page_size));
    }
    (axum::http::StatusCode::OK, axum::Json(body)).into_response()
}
