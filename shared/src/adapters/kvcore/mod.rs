//! The kvCORE API client (SPEC section 7): HTTP only, no decisions. Transient
//! failures (429, 5xx, timeouts) are retried here, within the invocation's
//! deadline; everything else comes back as a `KvcoreError` to act on.

mod pacing;
pub mod token;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

pub use pacing::Pacer;

use crate::adapters::metrics;
use crate::adapters::retry::{self, Transient};
use crate::domain::contact::Email;
use crate::domain::kv_contact::KvContact;

pub const DEFAULT_BASE_URL: &str = "https://api.kvcore.com/v2/public";
/// The largest page kvCORE serves (SPEC section 7: `limit` at most 500).
pub const MAX_PAGE_SIZE: u32 = 500;
/// Pages of email candidates read at most (10,000 contacts whose email
/// starts with the same text); past that a lookup gives up rather than
/// decide on some of them (SPEC section 6).
const MAX_EMAIL_PAGES: u32 = 20;
/// One request may take this long before it counts as a (retried) timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvcoreError {
    #[error("kvCORE refused the API token (401); check the workflow's kvcore_token_secret")]
    Unauthorized,
    #[error("kvCORE has no such contact (404)")]
    NotFound,
    #[error("kvCORE already holds this contact (409)")]
    Conflict,
    #[error("kvCORE refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("kvCORE is rate limiting (429) past the time this event had")]
    RateLimited { retry_after: Option<Duration> },
    #[error("kvCORE is unavailable ({status})")]
    Unavailable { status: u16 },
    #[error("kvCORE did not answer in time")]
    Timeout,
    #[error("kvCORE could not be reached: {0}")]
    Network(String),
    #[error("kvCORE answered something unexpected: {0}")]
    BadResponse(String),
    /// An email has more candidates than one lookup reads; deciding on
    /// some of them could create a duplicate, so the event is kept instead.
    #[error(
        "kvCORE lists more than {read} contacts whose email starts with this one; not all were read"
    )]
    CandidatesUnread { read: usize },
}

impl Transient for KvcoreError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            KvcoreError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            KvcoreError::RateLimited { .. }
                | KvcoreError::Unavailable { .. }
                | KvcoreError::Timeout
                | KvcoreError::Network(_)
                | KvcoreError::CandidatesUnread { .. }
        )
    }
}

/// One HTTP client for the life of the container (connections are reused
/// across invocations).
#[derive(Debug, Clone)]
pub struct Kvcore {
    http: reqwest::Client,
    base_url: String,
}

impl Kvcore {
    pub fn new(base_url: &str) -> Result<Kvcore, KvcoreError> {
        let http = crate::adapters::http::client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            .ok_or_else(|| KvcoreError::Network("no TLS client could be built".into()))?;
        Ok(Kvcore {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// Requests on behalf of one workflow (its token), retried until
    /// `deadline` at the latest.
    pub fn session<'a>(&'a self, token: &'a str, deadline: Instant) -> Session<'a> {
        Session {
            kvcore: self,
            token,
            deadline,
            pacer: None,
            requests: AtomicU32::new(0),
            busy_us: AtomicU64::new(0),
        }
    }

    /// A session whose every request (retries included) first waits its
    /// turn with `pacer`, the token's `kvcore_max_rps` (SPEC section 3).
    /// For the bulk flows (phone index builds and refreshes); a webhook's
    /// few requests go unpaced through `session`.
    pub fn paced_session<'a>(
        &'a self,
        token: &'a str,
        deadline: Instant,
        pacer: &'a Pacer,
    ) -> Session<'a> {
        Session {
            pacer: Some(pacer),
            ..self.session(token, deadline)
        }
    }
}

pub struct Session<'a> {
    kvcore: &'a Kvcore,
    token: &'a str,
    deadline: Instant,
    pacer: Option<&'a Pacer>,
    requests: AtomicU32,
    busy_us: AtomicU64,
}

/// A Laravel page of contacts (SPEC section 7): partial list rows.
#[derive(Debug, Deserialize)]
pub struct ContactsPage {
    #[serde(default)]
    pub data: Vec<KvContact>,
    #[serde(default, deserialize_with = "loose_u64")]
    pub current_page: Option<u64>,
    #[serde(default, deserialize_with = "loose_u64")]
    pub last_page: Option<u64>,
    #[serde(default, deserialize_with = "loose_u64")]
    pub total: Option<u64>,
    #[serde(default)]
    pub next_page_url: Option<String>,
}

impl ContactsPage {
    /// Whether a later page exists: kvCORE's `next_page_url`, confirmed by
    /// the page numbers when it sends them.
    pub fn has_more(&self) -> bool {
        let numbered = match (self.current_page, self.last_page) {
            (Some(current), Some(last)) => current < last,
            _ => true,
        };
        self.next_page_url.as_deref().is_some_and(|u| !u.is_empty()) && numbered
    }
}

/// A page number kvCORE may send as a number or a string.
fn loose_u64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

impl Session<'_> {
    /// How many HTTP requests this session has sent (retries included).
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Time spent waiting for kvCORE's answers (retry pauses excluded).
    pub fn busy_ms(&self) -> u64 {
        self.busy_us.load(Ordering::Relaxed) / 1000
    }

    /// Every contact whose email is, or starts with, `email` (kvCORE's
    /// prefix filter; SPEC section 6 rule 1), all pages read, as partial
    /// list rows. `CandidatesUnread` when there are more than one lookup
    /// reads.
    pub async fn find_by_email(&self, email: &Email) -> Result<Vec<KvContact>, KvcoreError> {
        let mut contacts = Vec::new();
        for page in 1..=MAX_EMAIL_PAGES {
            let filter = [("filter[email]", email.as_str())];
            let listed = self.list_page(&filter, page, MAX_PAGE_SIZE).await?;
            let more = listed.has_more();
            contacts.extend(listed.data);
            if !more {
                return Ok(contacts);
            }
        }
        Err(KvcoreError::CandidatesUnread {
            read: contacts.len(),
        })
    }

    /// One page of `GET /contacts` with these documented filters (SPEC
    /// section 7), `page` from 1, `limit` at most 500.
    pub async fn list_page(
        &self,
        filter: &[(&str, &str)],
        page: u32,
        limit: u32,
    ) -> Result<ContactsPage, KvcoreError> {
        let (page_text, limit_text) = (page.to_string(), limit.min(MAX_PAGE_SIZE).to_string());
        let mut query = filter.to_vec();
        query.extend([("limit", limit_text.as_str()), ("page", page_text.as_str())]);
        let value = self.send(Method::GET, "/contacts", &query, None).await?;
        serde_json::from_value(value)
            .map_err(|e| KvcoreError::BadResponse(format!("a contacts page: {e}")))
    }

    /// The full record (SPEC section 7: list rows lack names, address,
    /// birthday, tags); `NotFound` when deleted. It does not lag.
    pub async fn get(&self, id: u64) -> Result<KvContact, KvcoreError> {
        let value = self
            .send(Method::GET, &format!("/contact/{id}"), &[], None)
            .await?;
        decode_contact(value)
    }

    pub async fn create(&self, fields: &Map<String, Value>) -> Result<KvContact, KvcoreError> {
        let value = self
            .send(Method::POST, "/contact", &[], Some(fields))
            .await?;
        decode_contact(value)
    }

    pub async fn update(
        &self,
        id: u64,
        fields: &Map<String, Value>,
    ) -> Result<KvContact, KvcoreError> {
        let value = self
            .send(Method::PUT, &format!("/contact/{id}"), &[], Some(fields))
            .await?;
        decode_contact(value)
    }

    /// Adds `tags` (names without `#`) to contact `id` with
    /// `PUT /contact/{id}/tags`, body `{"tags": [{"name": "buyer", "locked": 0}]}`
    /// (SPEC section 7). kvCORE adds them; it never removes a tag here.
    /// Errors: `NotFound` when the contact is gone, else as `update`.
    pub async fn add_tags(&self, id: u64, tags: &[String]) -> Result<(), KvcoreError> {
        let tags = tags
            .iter()
            .map(|name| serde_json::json!({"name": name, "locked": 0}))
            .collect();
        let body = Map::from_iter([("tags".to_string(), Value::Array(tags))]);
        let path = format!("/contact/{id}/tags");
        match self.send(Method::PUT, &path, &[], Some(&body)).await {
            // A 2xx means the tags were added; kvCORE does not document the
            // answer's body, so one that is not JSON is no failure.
            Ok(_) | Err(KvcoreError::BadResponse(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One request, retried on transient failures with capped exponential
    /// backoff and jitter, or after kvCORE's `Retry-After`, for as long as
    /// the deadline allows.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Map<String, Value>>,
    ) -> Result<Value, KvcoreError> {
        let attempt = || self.send_once(method.clone(), path, query, body);
        retry::with_retries(self.deadline, path, attempt).await
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Map<String, Value>>,
    ) -> Result<Value, KvcoreError> {
        if let Some(pacer) = self.pacer {
            pacer.wait(self.deadline).await?;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}{path}", self.kvcore.base_url);
        let mut request = self
            .kvcore
            .http
            .request(method.clone(), url)
            .bearer_auth(self.token)
            .header("accept", "application/json")
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        request = request.timeout(REQUEST_TIMEOUT.min(remaining.max(Duration::from_millis(100))));

        let started = Instant::now();
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport_error)?;
        let took = started.elapsed();
        self.busy_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(%method, %path, status = status.as_u16(), ms = took.as_millis() as u64, "kvCORE request");

        if status == StatusCode::TOO_MANY_REQUESTS {
            metrics::emit(&[metrics::kvcore_rate_limited_record()]);
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Some(pacer) = self.pacer
        {
            // Slow every worker on this token down, not only this retry.
            pacer.hold_off(retry_after).await;
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| KvcoreError::BadResponse(format!("{method} {path}: {e}")));
        }
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => KvcoreError::Unauthorized,
            StatusCode::NOT_FOUND => KvcoreError::NotFound,
            // A refused duplicate: 409, or 422 naming the email as taken
            // (SPEC section 7).
            StatusCode::CONFLICT => KvcoreError::Conflict,
            StatusCode::UNPROCESSABLE_ENTITY if email_taken(&bytes) => KvcoreError::Conflict,
            StatusCode::TOO_MANY_REQUESTS => KvcoreError::RateLimited { retry_after },
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                KvcoreError::Unavailable { status: s.as_u16() }
            }
            s => KvcoreError::Rejected {
                status: s.as_u16(),
                message: error_message(&bytes),
            },
        })
    }
}

fn decode_contact(value: Value) -> Result<KvContact, KvcoreError> {
    // Some kvCORE answers wrap the contact in {"data": {...}}.
    let value = match value {
        Value::Object(mut map)
            if !map.contains_key("id") && map.get("data").is_some_and(Value::is_object) =>
        {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    };
    serde_json::from_value(value).map_err(|e| KvcoreError::BadResponse(format!("a contact: {e}")))
}

/// kvCORE's `{"errors": [...]}` or `{"errors": {"field": [...]}}` as one line.
fn error_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::from_utf8_lossy(body).chars().take(200).collect();
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    match value.get("errors").or_else(|| value.get("message")) {
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(field, messages)| format!("{field}: {}", text(messages)))
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => text(other),
        None => value.to_string().chars().take(200).collect(),
    }
}

/// Whether a 422 says the email is already taken (Laravel's
/// `{"errors": {"email": ["The email has already been taken."]}}`).
fn email_taken(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let says_taken = |v: &Value| v.to_string().to_ascii_lowercase().contains("taken");
    match value.get("errors") {
        Some(Value::Object(fields)) => fields.get("email").is_some_and(says_taken),
        Some(other) => {
            says_taken(other) && other.to_string().to_ascii_lowercase().contains("email")
        }
        None => false,
    }
}

fn transport_error(error: reqwest::Error) -> KvcoreError {
    if error.is_timeout() {
        KvcoreError::Timeout
    } else {
        KvcoreError::Network(without_url(&error))
    }
}

/// reqwest errors print the URL, whose query may hold an email address.
fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(start) = error.find(" for url (") {
        error.truncate(start);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_one_line() {
        assert_eq!(
            error_message(br#"{"errors":["Contact not found."]}"#),
            "Contact not found."
        );
        assert_eq!(
            error_message(br#"{"errors":{"email":["The email must be a valid email address."]}}"#),
            "email: The email must be a valid email address."
        );
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
    }

    #[test]
    fn a_422_naming_the_email_as_taken_is_a_refused_duplicate() {
        assert!(email_taken(
            br#"{"errors":{"email":["The email has already been taken."]}}"#
        ));
        assert!(!email_taken(
            br#"{"errors":{"email":["The email must be a valid email address."]}}"#
        ));
        assert!(!email_taken(br#"{"errors":{"first_name":["taken"]}}"#));
        assert!(!email_taken(b"not json"));
    }

    #[test]
    fn pages_say_whether_more_follow() {
        let page = |v: serde_json::Value| serde_json::from_value::<ContactsPage>(v).unwrap();
        assert!(page(serde_json::json!({"data": [], "current_page": 1, "last_page": "2", "next_page_url": "x"})).has_more());
        assert!(!page(serde_json::json!({"data": [], "current_page": 2, "last_page": 2, "next_page_url": "x"})).has_more());
        assert!(!page(serde_json::json!({"data": [], "next_page_url": null})).has_more());
    }

    #[test]
    fn transient_errors() {
        assert!(KvcoreError::Unavailable { status: 502 }.is_transient());
        assert!(KvcoreError::RateLimited { retry_after: None }.is_transient());
        assert!(!KvcoreError::Conflict.is_transient());
        assert!(!KvcoreError::Unauthorized.is_transient());
    }
}
