//! The Follow Up Boss API client (SPEC section 5): fetches the people a
//! Follow Up Boss webhook names. HTTP only; reading a person is
//! `sources::followupboss::person`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use crate::retry::{self, Transient};

pub const DEFAULT_BASE_URL: &str = "https://api.followupboss.com/v1";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("Follow Up Boss refused the API key ({0}); check the workflow's source_api_secret")]
    Unauthorized(u16),
    #[error("Follow Up Boss is rate limiting (429) past the time this event had")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Follow Up Boss is unavailable ({status})")]
    Unavailable { status: u16 },
    #[error("Follow Up Boss did not answer in time")]
    Timeout,
    #[error("Follow Up Boss could not be reached")]
    Network,
    #[error("Follow Up Boss answered something unexpected: {0}")]
    BadResponse(String),
}

impl Transient for SourceError {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::RateLimited { .. }
                | SourceError::Unavailable { .. }
                | SourceError::Timeout
                | SourceError::Network
        )
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FollowUpBoss {
    http: reqwest::Client,
    base_url: String,
}

impl FollowUpBoss {
    pub fn new(base_url: &str) -> Result<FollowUpBoss, SourceError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("kvsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| SourceError::Network)?;
        Ok(FollowUpBoss {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// `GET /people/{id}` with the API key as Basic user name; `None` when
    /// Follow Up Boss no longer has the person.
    pub async fn person(
        &self,
        api_key: &str,
        id: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, SourceError> {
        let attempt = || self.person_once(api_key, id, deadline);
        retry::with_retries(deadline, "followupboss person", attempt).await
    }

    async fn person_once(
        &self,
        api_key: &str,
        id: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, SourceError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = self
            .http
            .get(format!("{}/people/{id}", self.base_url))
            .basic_auth(api_key, Some(""))
            .header("accept", "application/json")
            .timeout(REQUEST_TIMEOUT.min(remaining.max(Duration::from_millis(100))))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SourceError::Timeout
                } else {
                    SourceError::Network
                }
            })?;
        let status = response.status();
        let retry_after = retry::retry_after(response.headers());
        match status {
            s if s.is_success() => {
                let body = response.bytes().await.map_err(|_| SourceError::Network)?;
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|e| SourceError::BadResponse(format!("a person: {e}")))
            }
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(SourceError::Unauthorized(status.as_u16()))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(SourceError::RateLimited { retry_after }),
            s if s.is_server_error() => Err(SourceError::Unavailable { status: s.as_u16() }),
            s => Err(SourceError::BadResponse(format!("status {}", s.as_u16()))),
        }
    }
}
