//! The identity platform: `POST /{tenant}/oauth2/v2.0/token`
//! (`refresh_token` and the device code grant), `POST
//! /{tenant}/oauth2/v2.0/devicecode`, and the sign-in page `/devicelogin`,
//! as the crate docs say. Errors are RFC 6749 section 5.2 bodies with
//! Microsoft's `error_codes`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::{DeviceCode, RecordedRequest, Shared, State, lock, now_ms};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/devicelogin", get(device_login))
}

fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
        })),
    )
        .into_response()
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn redacted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| match k.as_str() {
            "refresh_token" | "client_secret" | "device_code" => (k.clone(), "<redacted>".into()),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

fn tenant_known(state: &State, tenant: &str) -> bool {
    tenant == state.config.tenant || tenant == "common" || tenant == "organizations"
}

fn record(
    state: &mut State,
    endpoint: &'static str,
    pairs: &[(String, String)],
    response: Response,
) -> Response {
    state.requests.push(RecordedRequest {
        endpoint,
        params: redacted(pairs),
        prefer: None,
        status: response.status().as_u16(),
    });
    response
}

async fn token(
    Extract(state): Extract<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&state);
    let pairs = form(&body);
    let response = token_answer(&mut state, &tenant, &headers, &pairs);
    record(&mut state, "token", &pairs, response)
}

fn token_answer(
    state: &mut State,
    tenant: &str,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Response {
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    if !tenant_known(state, tenant) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            "Tenant not found.",
        );
    }
    if param("client_id") != Some(state.config.client_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    match param("grant_type") {
        Some("refresh_token") => {
            let Some(scope) = param("scope").filter(|s| s.contains("Contacts.Read")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    70011,
                    "The provided value for the input parameter 'scope' is not valid.",
                );
            };
            let offline = scope.contains("offline_access");
            let used = param("refresh_token").unwrap_or("");
            match state.refresh_tokens.get(used) {
                Some(true) => {}
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        700082,
                        "The refresh token has expired or been revoked.",
                    );
                }
            }
            // The harsher reading of "refresh tokens replace themselves":
            // the one used is done.
            let rotated = offline.then(|| {
                state.refresh_tokens.insert(used.to_string(), false);
                state.issue_refresh_token()
            });
            tokens(state, scope, rotated)
        }
        Some(DEVICE_GRANT) => device_token(state, param("device_code").unwrap_or("")),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        ),
    }
}

fn tokens(state: &mut State, scope: &str, refresh_token: Option<String>) -> Response {
    let access = state.token("eyJ0eXAi.access-");
    let ttl = state.config.access_token_ttl;
    state
        .access_tokens
        .insert(access.clone(), now_ms() + ttl.as_millis() as i64);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": ttl.as_secs(),
        "ext_expires_in": ttl.as_secs(),
        "access_token": access,
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn device_token(state: &mut State, device_code: &str) -> Response {
    let now = now_ms();
    let Some(code) = state.device_codes.get_mut(device_code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "bad_verification_code",
            70019,
            "The device_code sent was not recognized.",
        );
    };
    if code.used {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed.",
        );
    }
    if now >= code.expires_ms {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is expired.",
        );
    }
    // RFC 8628 section 3.5: polled before the interval is up, slow down
    // (and the interval grows by 5 s).
    let early = code
        .last_poll_ms
        .is_some_and(|last| now - last < code.interval_ms);
    code.last_poll_ms = Some(now);
    if early {
        code.interval_ms += 5000;
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "slow_down",
            70016,
            "The client is polling too quickly.",
        );
    }
    if code.declined {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "authorization_declined",
            70000,
            "The end user denied the authorization request.",
        );
    }
    if !code.signed_in {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "The authorization is pending; the user has not signed in yet.",
        );
    }
    code.used = true;
    let scope = code.scope.clone();
    let refresh = scope
        .contains("offline_access")
        .then(|| state.issue_refresh_token());
    tokens(state, &scope, refresh)
}

async fn devicecode(
    Extract(state): Extract<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&state);
    let pairs = form(&body);
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let response = if !tenant_known(&state, &tenant) {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            "Tenant not found.",
        )
    } else if param("client_id").as_deref() != Some(state.config.client_id.as_str()) {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        )
    } else if param("scope").is_none_or(|s| s.trim().is_empty()) {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        )
    } else {
        let device_code = state.token("DAQABAAEAAAD-device-");
        let user_code = format!("K{:08X}", (now_ms() as u64 ^ 0x5f3759df) & 0xffff_ffff)
            .chars()
            .take(9)
            .collect::<String>();
        let interval = state.config.device_interval;
        let ttl = state.config.device_code_ttl;
        state.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                user_code: user_code.clone(),
                expires_ms: now_ms() + ttl.as_millis() as i64,
                interval_ms: interval.as_millis() as i64,
                last_poll_ms: None,
                signed_in: false,
                declined: false,
                used: false,
                scope: param("scope").unwrap_or_default(),
            },
        );
        let verification_uri = format!("http://{host}/devicelogin");
        (
            StatusCode::OK,
            axum::Json(json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "expires_in": ttl.as_secs(),
                "interval": interval.as_secs(),
                "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
            })),
        )
            .into_response()
    };
    record(&mut state, "devicecode", &pairs, response)
}

/// The person signs in (`approve`) or declines at the sign-in page.
pub fn sign_in(state: &mut State, user_code: &str, approve: bool) -> bool {
    match state
        .device_codes
        .values_mut()
        .find(|c| c.user_code.eq_ignore_ascii_case(user_code.trim()) && !c.used)
    {
        Some(code) => {
            code.signed_in = approve;
            code.declined = !approve;
            true
        }
        None => false,
    }
}

/// `GET /devicelogin?code=...`: what the person does in a browser (sign
/// in and consent); `&decline=1` declines.
async fn device_login(
    Extract(state): Extract<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(code) = query.get("code") else {
        return Html("<p>Enter the code shown by the app: ?code=...</p>").into_response();
    };
    let approve = !query.contains_key("decline");
    if sign_in(&mut lock(&state), code, approve) {
        Html("<p>You have signed in to kvsync on your device. You may now close this window.</p>")
            .into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Html("<p>That code is not valid or has been used.</p>"),
        )
            .into_response()
    }
}
