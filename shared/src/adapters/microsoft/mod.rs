//! The Microsoft client (SPEC section 15): the Microsoft identity platform
//! token and device code endpoints (`oauth`) and Microsoft Graph's contact
//! folders and contact delta query (`graph`). HTTP only; what to list and
//! what to do with each contact is decided in `crate::flows::microsoft_poll`.
//!
//! Not the `oauth2` crate, for the reason `adapters::google` gives (it pins
//! another reqwest); what kvsync needs is three form POSTs (RFC 6749
//! section 6, RFC 8628 sections 3.1 and 3.4).

mod graph;
mod oauth;

use std::time::Duration;

pub use graph::{
    ContactFolder, DeltaPage, DeltaRequest, PAGE_SIZE, WELL_KNOWN_CONTACTS, delta_url,
};
pub use oauth::{Credentials, DeviceAuthorization, DevicePoll, MicrosoftToken, SCOPES};

/// Graph's base when `MICROSOFT_GRAPH_BASE_URL` is not set (SPEC section 15).
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";
/// The token endpoint when `MICROSOFT_TOKEN_URL` is not set (SPEC section
/// 15); `{tenant}` is the secret's tenant (`common`, `organizations`, a
/// tenant id or domain).
pub const DEFAULT_TOKEN_URL: &str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What Microsoft answered instead of what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MicrosoftError {
    /// The token endpoint's `invalid_grant` (RFC 6749 section 5.2; the
    /// identity platform's "the refresh token has expired or been
    /// revoked"): only a new sign-in fixes it.
    #[error("Microsoft refused the refresh token (invalid_grant): run `kvsync microsoft connect`")]
    InvalidGrant,
    /// Another OAuth error (`invalid_client`, `unauthorized_client`,
    /// `invalid_scope`...): the app registration in the secret is wrong.
    #[error("Microsoft's token endpoint refused the app registration ({status} {error})")]
    OAuthRefused { status: u16, error: String },
    /// 410 Gone from a delta link: the delta state is gone
    /// (`syncStateNotFound`, `resyncRequired`); list the folder again.
    #[error("the delta state is gone (410)")]
    DeltaGone,
    /// 400 or 404: a request Graph refuses (e.g. a folder that is gone).
    #[error("Microsoft Graph refused the request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    /// 401: the access token is no longer good.
    #[error("Microsoft Graph refused the access token (401)")]
    Unauthenticated,
    /// 403: the grant lacks `Contacts.Read`, or the mailbox is not there.
    #[error("Microsoft Graph refused access (403): {0}")]
    Forbidden(String),
    /// 429, 503 (and 504): throttled or busy; `retry_after` as Graph's
    /// `Retry-After` header said (seconds).
    #[error("Microsoft Graph is throttling or busy ({status})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Another 5xx: back off to the next run.
    #[error("Microsoft Graph is unavailable ({status})")]
    Unavailable { status: u16 },
    #[error("Microsoft did not answer in time")]
    Timeout,
    #[error("Microsoft could not be reached")]
    Network,
    #[error("Microsoft answered something unexpected: {0}")]
    BadResponse(String),
}

impl MicrosoftError {
    /// Worth trying again later, unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MicrosoftError::Throttled { .. }
                | MicrosoftError::Unavailable { .. }
                | MicrosoftError::Timeout
                | MicrosoftError::Network
        )
    }
}

/// The Microsoft endpoints, with one HTTP client for all.
#[derive(Debug, Clone)]
pub struct Microsoft {
    http: reqwest::Client,
    graph_base: String,
    token_url: String,
}

impl Microsoft {
    /// `graph_base` as `MICROSOFT_GRAPH_BASE_URL`, `token_url` as
    /// `MICROSOFT_TOKEN_URL` (SPEC section 15; `{tenant}` is replaced
    /// by each secret's tenant).
    pub fn new(graph_base: &str, token_url: &str) -> Result<Microsoft, MicrosoftError> {
        let http = crate::adapters::http::client(Duration::from_secs(3), REQUEST_TIMEOUT)
            .ok_or(MicrosoftError::Network)?;
        Ok(Microsoft {
            http,
            graph_base: graph_base.trim_end_matches('/').to_string(),
            token_url: token_url.to_string(),
        })
    }

    /// The Graph base this client lists under.
    pub fn graph_base(&self) -> &str {
        &self.graph_base
    }
}

fn transport(error: reqwest::Error) -> MicrosoftError {
    if error.is_timeout() {
        MicrosoftError::Timeout
    } else {
        MicrosoftError::Network
    }
}

/// The time left before `deadline`, at most a request's timeout and at
/// least 100 ms (reqwest refuses a zero timeout).
fn time_left(deadline: tokio::time::Instant) -> Duration {
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    REQUEST_TIMEOUT.min(remaining.max(Duration::from_millis(100)))
}
