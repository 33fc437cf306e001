//! The Follow Up Boss API client (SPEC section 5): fetches the people a
//! Follow Up Boss webhook names, and registers the webhooks themselves
//! (`kvsync followupboss subscribe`). HTTP only; reading a person is
//! `crate::domain::sources::followupboss::person`.
//!
//! Webhooks, as Follow Up Boss documents them
//! (https://docs.followupboss.com/reference/webhooks-guide, "Webhooks";
//! https://docs.followupboss.com/reference/identification, "Identification"):
//! `GET/POST /v1/webhooks` and `DELETE /v1/webhooks/{id}`, HTTP Basic with
//! the account owner's API key, and the registered system's `X-System` and
//! `X-System-Key` headers; a webhook is `{"event", "url"}`, the url HTTPS;
//! at most two webhooks per event per system; deliveries are signed with
//! the system key (`FUB-Signature`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::adapters::retry::{self, Transient};

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
    /// A 4xx other than 401/403/404/429, with Follow Up Boss's
    /// `errorMessage` (e.g. a third webhook for one event, an http url).
    #[error("Follow Up Boss refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
}

/// Webhooks Follow Up Boss allows per event and system (webhooks guide).
pub const MAX_WEBHOOKS_PER_EVENT: usize = 2;

/// A system registered with Follow Up Boss: the `X-System` and
/// `X-System-Key` headers every webhooks request carries. Follow Up Boss
/// signs the deliveries of the webhooks a system registers with its key,
/// so a `followupboss`-auth workflow's `webhook_secret` must hold it.
#[derive(Clone)]
pub struct System {
    pub name: String,
    pub key: String,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("System").field("name", &self.name).finish()
    }
}

/// One registered webhook, as `GET /v1/webhooks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: u64,
    pub event: String,
    pub url: String,
    /// `Active` or `Disabled` (Follow Up Boss disables a webhook whose url
    /// keeps failing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The registering system's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// One page of `GET /v1/webhooks`.
#[derive(Deserialize)]
struct WebhooksPage {
    #[serde(default)]
    webhooks: Vec<Webhook>,
    #[serde(default, rename = "_metadata")]
    metadata: Option<PageMetadata>,
}

#[derive(Deserialize)]
struct PageMetadata {
    #[serde(default)]
    total: Option<u64>,
}

/// Webhooks listed per page (the list is short: two per event at most).
const WEBHOOKS_PAGE: usize = 100;

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
        let http = crate::adapters::http::client(Duration::from_secs(3), REQUEST_TIMEOUT)
            .ok_or(SourceError::Network)?;
        Ok(FollowUpBoss {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// `GET /people/{id}` with the API key as Basic user name, and the
    /// registered system's `X-System`/`X-System-Key` when given (SPEC
    /// section 3; Follow Up Boss "Identification" asks them of every
    /// request, and "Rate Limiting" allows a system twice the rate).
    /// `None` on 404: a person Follow Up Boss no longer has, or a new one
    /// not readable yet (the caller tells them apart, SPEC section 5). A
    /// 429 is waited out for its `Retry-After` while the deadline allows
    /// ("Rate Limiting": Follow Up Boss sends one with every 429).
    pub async fn person(
        &self,
        api_key: &str,
        system: Option<&System>,
        id: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, SourceError> {
        let attempt = || self.person_once(api_key, system, id, deadline);
        retry::with_retries(deadline, "followupboss person", attempt).await
    }

    async fn person_once(
        &self,
        api_key: &str,
        system: Option<&System>,
        id: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, SourceError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut request = self
            .http
            // `allFields`: custom fields (`customXxx`) come only when asked
            // for, and `filters`/`field_map` may read them (SPEC section 12;
            // docs.followupboss.com, the people endpoints' `fields`).
            .get(format!("{}/people/{id}?fields=allFields", self.base_url))
            .basic_auth(api_key, Some(""))
            .header("accept", "application/json")
            .timeout(REQUEST_TIMEOUT.min(remaining.max(Duration::from_millis(100))));
        if let Some(system) = system {
            request = request
                .header("X-System", &system.name)
                .header("X-System-Key", &system.key);
        }
        let response = request.send().await.map_err(|e| {
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

/// The webhooks API (module docs). No retries: an operator's command runs
/// it and reads the error.
impl FollowUpBoss {
    /// Every webhook the system has registered (`GET /v1/webhooks`, paged
    /// by `offset`).
    pub async fn webhooks(
        &self,
        api_key: &str,
        system: &System,
    ) -> Result<Vec<Webhook>, SourceError> {
        let mut all = Vec::new();
        loop {
            let query = [
                ("limit", WEBHOOKS_PAGE.to_string()),
                ("offset", all.len().to_string()),
            ];
            let value = self
                .webhooks_request(Method::GET, "/webhooks", &query, None, api_key, system)
                .await?
                .unwrap_or_default();
            let page: WebhooksPage = serde_json::from_value(value)
                .map_err(|e| SourceError::BadResponse(format!("a webhooks list: {e}")))?;
            let got = page.webhooks.len();
            all.extend(page.webhooks);
            let total = page.metadata.and_then(|m| m.total);
            if got < WEBHOOKS_PAGE || total.is_some_and(|t| all.len() as u64 >= t) {
                return Ok(all);
            }
        }
    }

    /// Registers a webhook (`POST /v1/webhooks` with `{"event", "url"}`).
    pub async fn create_webhook(
        &self,
        api_key: &str,
        system: &System,
        event: &str,
        url: &str,
    ) -> Result<Webhook, SourceError> {
        let body = json!({"event": event, "url": url});
        let value = self
            .webhooks_request(Method::POST, "/webhooks", &[], Some(&body), api_key, system)
            .await?
            .unwrap_or_default();
        serde_json::from_value(value)
            .map_err(|e| SourceError::BadResponse(format!("a created webhook: {e}")))
    }

    /// Removes a webhook (`DELETE /v1/webhooks/{id}`); false when Follow
    /// Up Boss has no such webhook (404).
    pub async fn delete_webhook(
        &self,
        api_key: &str,
        system: &System,
        id: u64,
    ) -> Result<bool, SourceError> {
        match self
            .webhooks_request(
                Method::DELETE,
                &format!("/webhooks/{id}"),
                &[],
                None,
                api_key,
                system,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(SourceError::Rejected { status: 404, .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Whether Follow Up Boss accepts the API key (`GET /v1/identity`, the
    /// account and user the key belongs to).
    pub async fn check_key(&self, api_key: &str) -> Result<(), SourceError> {
        self.request(Method::GET, "/identity", &[], None, api_key, None)
            .await
            .map(|_| ())
    }

    async fn webhooks_request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        api_key: &str,
        system: &System,
    ) -> Result<Option<Value>, SourceError> {
        self.request(method, path, query, body, api_key, Some(system))
            .await
    }

    /// One request; `None` for an empty (204) answer. 404 comes back as
    /// `Rejected { status: 404 }`.
    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        api_key: &str,
        system: Option<&System>,
    ) -> Result<Option<Value>, SourceError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(api_key, Some(""))
            .header("accept", "application/json")
            .query(query);
        if let Some(system) = system {
            request = request
                .header("X-System", &system.name)
                .header("X-System-Key", &system.key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                SourceError::Timeout
            } else {
                SourceError::Network
            }
        })?;
        let status = response.status();
        let retry_after = retry::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|_| SourceError::Network)?;
        match status {
            s if s.is_success() => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| SourceError::BadResponse(format!("{path}: {e}")))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(SourceError::Unauthorized(status.as_u16()))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(SourceError::RateLimited { retry_after }),
            s if s.is_server_error() => Err(SourceError::Unavailable { status: s.as_u16() }),
            s => {
                let message = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["errorMessage"].as_str().map(String::from))
                    .unwrap_or_else(|| format!("status {}", s.as_u16()));
                Err(SourceError::Rejected {
                    status: s.as_u16(),
                    message,
                })
            }
        }
    }
}
