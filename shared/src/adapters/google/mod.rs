//! The Google client (SPEC section 10): the OAuth 2.0 token endpoint
//! (`oauth`) and the People API's `people.connections.list` (`people`).
//! HTTP only; what to list and what to do with each person is decided in
//! `crate::flows::google_poll`.
//!
//! Not the `oauth2` crate: its HTTP client integration pins reqwest 0.12
//! (kvsync is on 0.13, so it would build a second HTTP stack into every
//! function), and what kvsync needs of OAuth is two form POSTs to one
//! endpoint (RFC 6749 sections 4.1.3 and 6) plus PKCE (RFC 7636), each a
//! few lines over the client kvsync already has.

mod groups;
mod oauth;
mod people;

use std::time::Duration;

pub use groups::GroupNames;
pub use oauth::{AccessToken, CodeGrant, Credentials, TokenGrant, pkce_challenge};
pub use people::{ConnectionsPage, ListRequest, PAGE_SIZE, PERSON_FIELDS};

/// The People API base when `GOOGLE_PEOPLE_BASE_URL` is not set (SPEC section 2).
pub const DEFAULT_PEOPLE_BASE_URL: &str = "https://people.googleapis.com/v1";
/// The token endpoint when `GOOGLE_OAUTH_TOKEN_URL` is not set (SPEC section 2).
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What Google answered instead of what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleError {
    /// The token endpoint's `invalid_grant` (RFC 6749 section 5.2): the
    /// refresh token was revoked, expired (7 days for an app in Testing
    /// mode) or the code was already used. Only a new consent fixes it.
    #[error("Google refused the refresh token (invalid_grant): run `kvsync google connect`")]
    InvalidGrant,
    /// Any other OAuth error (`invalid_client`, `unauthorized_client`...),
    /// with its `error` code; the OAuth client in the secret is wrong.
    #[error("Google's token endpoint refused the OAuth client ({status} {error})")]
    OAuthRefused { status: u16, error: String },
    /// 400 with `google.rpc.ErrorInfo` reason `EXPIRED_SYNC_TOKEN`: the
    /// sync token is over 7 days past its full sync; list everything again.
    #[error("the sync token has expired (EXPIRED_SYNC_TOKEN)")]
    ExpiredSyncToken,
    /// Another 400: a parameter Google refused (e.g. a stale page token).
    #[error("Google refused the request (400): {0}")]
    BadRequest(String),
    /// 401 from the People API: the access token is no longer good.
    #[error("Google refused the access token (401)")]
    Unauthenticated,
    /// 403: the People API is not enabled for the OAuth client's project,
    /// or the consent did not grant the contacts scope.
    #[error("Google refused access (403): {0}")]
    Forbidden(String),
    /// 429 (quota): back off to the next run.
    #[error("Google is rate limiting (429)")]
    RateLimited,
    /// 5xx: back off to the next run.
    #[error("Google is unavailable ({status})")]
    Unavailable { status: u16 },
    #[error("Google did not answer in time")]
    Timeout,
    #[error("Google could not be reached")]
    Network,
    #[error("Google answered something unexpected: {0}")]
    BadResponse(String),
}

impl GoogleError {
    /// Worth trying again on the next run, unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GoogleError::RateLimited
                | GoogleError::Unavailable { .. }
                | GoogleError::Timeout
                | GoogleError::Network
        )
    }
}

/// The Google endpoints, with one HTTP client for both.
#[derive(Debug, Clone)]
pub struct Google {
    http: reqwest::Client,
    people_base: String,
    token_url: String,
}

impl Google {
    /// `people_base` as `GOOGLE_PEOPLE_BASE_URL`, `token_url` as
    /// `GOOGLE_OAUTH_TOKEN_URL` (SPEC section 2).
    pub fn new(people_base: &str, token_url: &str) -> Result<Google, GoogleError> {
        let http = crate::adapters::http::client(Duration::from_secs(3), REQUEST_TIMEOUT)
            .ok_or(GoogleError::Network)?;
        Ok(Google {
            http,
            people_base: people_base.trim_end_matches('/').to_string(),
            token_url: token_url.to_string(),
        })
    }
}

/// Publishes `GoogleErrors` (EMF) for an answer that is Google's trouble
/// or a refusal, not for the routine ones the poller handles by design:
/// an expired sync token (a full listing follows) and an expired access
/// token (a refresh follows).
fn metered<T>(result: Result<T, GoogleError>) -> Result<T, GoogleError> {
    if let Err(error) = &result
        && !matches!(
            error,
            GoogleError::ExpiredSyncToken | GoogleError::Unauthenticated
        )
    {
        crate::adapters::metrics::emit(&[crate::adapters::metrics::google_error_record()]);
    }
    result
}

fn transport(error: reqwest::Error) -> GoogleError {
    if error.is_timeout() {
        GoogleError::Timeout
    } else {
        GoogleError::Network
    }
}

/// The time left before `deadline`, at most a request's timeout and at
/// least 100 ms (reqwest refuses a zero timeout).
fn time_left(deadline: tokio::time::Instant) -> Duration {
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    REQUEST_TIMEOUT.min(remaining.max(Duration::from_millis(100)))
}
