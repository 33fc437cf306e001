//! Google's OAuth 2.0 endpoints for installed apps
//! (<https://developers.google.com/identity/protocols/oauth2/native-app>):
//! the consent page (consents at once and redirects, as a browser would
//! after Allow) and the token endpoint (RFC 6749 sections 4.1.3 and 6,
//! PKCE per RFC 7636; errors as RFC 6749 section 5.2 `{"error"}`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{Fault, RecordedRequest, Shared, State, lock, now_ms};

/// A code the consent page gave, for one exchange.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    redirect_uri: String,
    code_challenge: Option<String>,
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/token", post(token))
        .route("/o/oauth2/v2/auth", get(consent))
        .route("/o/oauth2/auth", get(consent))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Form values whose content must never be kept.
const SECRET_PARAMS: [&str; 4] = ["client_secret", "refresh_token", "code", "code_verifier"];

async fn token(Extract(state): Extract<Shared>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let mut state = lock(&state);
    let response = exchange(&mut state, &form);
    let params = form
        .iter()
        .map(|(k, v)| {
            let shown = if SECRET_PARAMS.contains(&k.as_str()) {
                "<redacted>".to_string()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect();
    state.requests.push(RecordedRequest {
        endpoint: "token",
        params,
        status: response.status().as_u16(),
    });
    response
}

fn exchange(state: &mut State, form: &[(String, String)]) -> Response {
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match state.next_fault() {
        Some(Fault::RateLimited) => {
            return oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "Rate Limit Exceeded",
            );
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return oauth_error(status, "internal_failure", "Backend Error");
        }
        None => {}
    }
    if param("client_id") != Some(state.config.client_id.as_str())
        || param("client_secret") != Some(state.config.client_secret.as_str())
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let refresh_token = match param("grant_type") {
        Some("refresh_token") => {
            let live = param("refresh_token")
                .and_then(|t| state.refresh_tokens.get(t))
                .copied()
                .unwrap_or(false);
            if !live {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            None
        }
        Some("authorization_code") => {
            let issued = param("code").and_then(|c| state.codes.remove(c));
            let Some(issued) = issued else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            if param("redirect_uri") != Some(issued.redirect_uri.as_str()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            if let Some(challenge) = &issued.code_challenge {
                let verifier = param("code_verifier").unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if computed != *challenge {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid code verifier.",
                    );
                }
            }
            let token = state.token("1//rt-");
            state.refresh_tokens.insert(token.clone(), true);
            Some(token)
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type",
            );
        }
    };
    let access = state.token("ya29.fake-");
    let ttl = state.config.access_token_ttl;
    state
        .access_tokens
        .insert(access.clone(), now_ms() + ttl.as_millis() as i64);
    let mut body = json!({
        "access_token": access,
        "expires_in": ttl.as_secs(),
        "scope": "https://www.googleapis.com/auth/contacts.readonly",
        "token_type": "Bearer",
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The consent page: checks the client and a loopback `redirect_uri`,
/// then redirects there with a one-time `code` and the `state`.
async fn consent(Extract(state): Extract<Shared>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut state = lock(&state);
    state.requests.push(RecordedRequest {
        endpoint: "auth",
        params: params.clone(),
        status: 302,
    });
    if param("client_id").as_deref() != Some(state.config.client_id.as_str()) {
        return (StatusCode::UNAUTHORIZED, "Error 401: invalid_client").into_response();
    }
    let Some(redirect_uri) = param("redirect_uri").filter(|uri| {
        uri.starts_with("http://127.0.0.1:")
            || uri.starts_with("http://localhost:")
            || uri.starts_with("http://[::1]:")
    }) else {
        return (StatusCode::BAD_REQUEST, "Error 400: redirect_uri_mismatch").into_response();
    };
    if param("response_type").as_deref() != Some("code") {
        return (
            StatusCode::BAD_REQUEST,
            "Error 400: unsupported_response_type",
        )
            .into_response();
    }
    let code = state.token("4/0fake-");
    state.codes.insert(
        code.clone(),
        IssuedCode {
            redirect_uri: redirect_uri.clone(),
            code_challenge: param("code_challenge"),
        },
    );
    let mut location = form_urlencoded::Serializer::new(String::new());
    location.append_pair("code", &code);
    if let Some(scope) = param("scope") {
        location.append_pair("scope", &scope);
    }
    if let Some(csrf) = param("state") {
        location.append_pair("state", &csrf);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let target = format!("{redirect_uri}{separator}{}", location.finish());
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}
