//! A stateful fake of the Follow Up Boss API subset kvsync uses:
//! `GET /v1/people/{id}` with HTTP Basic auth (the API key as user name,
//! empty password), 404 for people it no longer has, and scripted 429/5xx;
//! `GET /v1/identity` (whose key it is); and the webhooks API
//! `kvsync followupboss subscribe|unsubscribe|list` drives.
//!
//! Webhooks as Follow Up Boss documents them
//! (https://docs.followupboss.com/reference/webhooks-guide and
//! https://docs.followupboss.com/reference/identification), strictly:
//! - every webhooks request needs the API key (Basic; 401 otherwise) and a
//!   registered system's `X-System` and `X-System-Key` headers (401 without
//!   them or with a key that is not the system's; register systems with
//!   [`FakeFollowUpBoss::register_system`]);
//! - `POST /v1/webhooks` takes `{"event", "url"}`: the event one of the
//!   documented webhook events, the url HTTPS; at most two webhooks per
//!   event and system (a third is 400); answers 201 with the webhook
//!   `{"id", "event", "url", "status": "Active", "system"}`; `status`
//!   turns `Disabled` when Follow Up Boss gives up on the url
//!   ([`FakeFollowUpBoss::disable_webhook`]);
//! - `GET /v1/webhooks` lists the calling system's webhooks,
//!   `{"_metadata": {"collection", "offset", "limit", "total"}, "webhooks"}`,
//!   with `limit`/`offset`;
//! - `DELETE /v1/webhooks/{id}` answers 204, or 404 when the system has no
//!   such webhook.
//!
//! Errors are `{"errorMessage": "..."}` as Follow Up Boss answers them.
//! Which status a bad system key gets is not documented; the fake answers
//! 401 like a bad API key.
//!
//! People reads, as Follow Up Boss documents them, strictly:
//! - a newly created person may not be readable "until the person has
//!   been assigned to an agent"
//!   (https://docs.followupboss.com/reference/common-issues, "Access to
//!   Newly Created People"): [`FakeFollowUpBoss::put_new_person`] makes a
//!   person answer 404 for a while, then 200;
//! - a registered system's `X-System`/`X-System-Key` may come on every
//!   request ("Identification"); a request that names a system must name
//!   a registered one with its key (401 otherwise, as the webhooks API);
//!   [`FakeFollowUpBoss::headers`] records every request's headers so a
//!   test can see what kvsync sent;
//! - 429 "with a Retry-After header"
//!   (https://docs.followupboss.com/reference/rate-limiting); the harsher
//!   reading also has 429 without one ([`Fault::RateLimitedWithoutRetryAfter`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use base64::Engine;
use serde_json::{Value, json};

/// Trouble to answer with instead of the person.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Status(u16),
    /// 429 with `Retry-After`, as "Rate Limiting" documents it.
    RateLimited {
        retry_after_secs: u64,
    },
    /// 429 without `Retry-After` (the harsher reading).
    RateLimitedWithoutRetryAfter,
}

/// One request as the fake received it: method, path and every header
/// (names lower-cased), authorized or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The value of header `name` (lower-case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The people webhook events Follow Up Boss documents (webhooks guide,
/// "Supported webhook events", People). The guide lists more families
/// (notes, tasks, deals, ...) that kvsync never registers; the fake does
/// not model them and refuses them as unknown.
pub const WEBHOOK_EVENTS: [&str; 8] = [
    "peopleCreated",
    "peopleUpdated",
    "peopleDeleted",
    "peopleTagsCreated",
    "peopleStageUpdated",
    "peopleRelationshipCreated",
    "peopleRelationshipUpdated",
    "peopleRelationshipDeleted",
];

/// Webhooks allowed per event and system (webhooks guide).
pub const MAX_WEBHOOKS_PER_EVENT: usize = 2;

/// A webhook as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeWebhook {
    pub id: u64,
    pub system: String,
    pub event: String,
    pub url: String,
    /// `Active` when registered; `Disabled` once Follow Up Boss gave up on
    /// its url ([`FakeFollowUpBoss::disable_webhook`]).
    pub status: String,
}

#[derive(Default)]
struct Inner {
    people: BTreeMap<String, Value>,
    requests: Vec<String>,
    faults: VecDeque<Fault>,
    /// Registered systems: name → key.
    systems: BTreeMap<String, String>,
    webhooks: Vec<FakeWebhook>,
    next_webhook_id: u64,
    /// Webhooks requests, `"METHOD /path"`, in order.
    webhook_requests: Vec<String>,
    /// Every request, with its headers, in order.
    seen: Vec<SeenRequest>,
    /// People not readable yet (the new-person window): id → until when.
    unreadable_until: BTreeMap<String, Instant>,
}

#[derive(Clone)]
pub struct FakeFollowUpBoss {
    api_key: Arc<str>,
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
}

impl FakeFollowUpBoss {
    /// Starts on a free loopback port, accepting only `api_key`.
    pub async fn start(api_key: &str) -> std::io::Result<FakeFollowUpBoss> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeFollowUpBoss {
            api_key: api_key.into(),
            inner: Arc::default(),
            addr: listener.local_addr()?,
        };
        let app = Router::new()
            .route("/v1/people/{id}", get(person))
            .route("/v1/identity", get(identity))
            .route("/v1/webhooks", get(list_webhooks).post(create_webhook))
            .route("/v1/webhooks/{id}", delete(delete_webhook))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"errorMessage": "Not found"})),
                )
            })
            .with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "followupboss-fake stopped");
            }
        });
        Ok(fake)
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds or replaces a person (by its `id`).
    pub fn put_person(&self, person: Value) {
        let id = match &person["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.inner().people.insert(id, person);
    }

    /// Adds a person that Follow Up Boss has just created and not yet
    /// assigned: reads of it answer 404 for `unreadable_for`, then 200
    /// ("Access to Newly Created People").
    pub fn put_new_person(&self, person: Value, unreadable_for: Duration) {
        let id = match &person["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut inner = self.inner();
        inner
            .unreadable_until
            .insert(id.clone(), Instant::now() + unreadable_for);
        inner.people.insert(id, person);
    }

    /// Every request so far (people, identity, webhooks) with its headers.
    pub fn headers(&self) -> Vec<SeenRequest> {
        self.inner().seen.clone()
    }

    pub fn remove_person(&self, id: &str) {
        self.inner().people.remove(id);
    }

    /// The ids of the people asked for, in order (authorized or not).
    pub fn requests(&self) -> Vec<String> {
        self.inner().requests.clone()
    }

    /// A fault for the next request (one each, in order).
    pub fn push_fault(&self, fault: Fault) {
        self.inner().faults.push_back(fault);
    }

    /// Registers a system (Follow Up Boss's system registration): its
    /// `X-System` name and `X-System-Key` key.
    pub fn register_system(&self, name: &str, key: &str) {
        self.inner()
            .systems
            .insert(name.to_string(), key.to_string());
    }

    /// Follow Up Boss disables a webhook whose deliveries keep failing and
    /// lists it with `"status": "Disabled"` from then on (webhooks guide,
    /// https://docs.followupboss.com/reference/webhooks-guide; `GET
    /// /v1/webhooks` shows each webhook's `status`). It is not delivered to
    /// again; the fake delivers nothing anyway. False when there is no such
    /// webhook.
    pub fn disable_webhook(&self, id: u64) -> bool {
        let mut inner = self.inner();
        match inner.webhooks.iter_mut().find(|w| w.id == id) {
            Some(webhook) => {
                webhook.status = "Disabled".to_string();
                true
            }
            None => false,
        }
    }

    /// Every webhook registered, by any system, in id order.
    pub fn webhooks(&self) -> Vec<FakeWebhook> {
        self.inner().webhooks.clone()
    }

    /// Webhooks requests so far, `"METHOD /v1/webhooks[/id]"`, in order
    /// (authorized or not).
    pub fn webhook_requests(&self) -> Vec<String> {
        self.inner().webhook_requests.clone()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", self.api_key));
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .is_some_and(|given| given == expected)
    }

    /// The calling system, or the error answer: the API key first, then
    /// the registered system's name and key.
    fn system_of(&self, headers: &HeaderMap) -> Result<String, (StatusCode, &'static str)> {
        if !self.authorized(headers) {
            return Err((StatusCode::UNAUTHORIZED, "Invalid API key"));
        }
        match self.named_system(headers)? {
            Some(system) => Ok(system),
            None => Err((
                StatusCode::UNAUTHORIZED,
                "X-System and X-System-Key headers are required",
            )),
        }
    }

    /// The system a request names, if it names one: a registered name with
    /// its key, else the error answer. Half a pair is an error too.
    fn named_system(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<String>, (StatusCode, &'static str)> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match (header("x-system"), header("x-system-key")) {
            (None, None) => Ok(None),
            (Some(name), Some(key)) => match self.inner().systems.get(name) {
                Some(registered) if registered == key => Ok(Some(name.to_string())),
                _ => Err((StatusCode::UNAUTHORIZED, "Invalid X-System-Key")),
            },
            _ => Err((
                StatusCode::UNAUTHORIZED,
                "X-System and X-System-Key go together",
            )),
        }
    }

    fn see(&self, method: &str, path: &str, headers: &HeaderMap) {
        let headers = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        self.inner().seen.push(SeenRequest {
            method: method.to_string(),
            path: path.to_string(),
            headers,
        });
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"errorMessage": message}))).into_response()
}

fn webhook_json(webhook: &FakeWebhook) -> Value {
    json!({
        "id": webhook.id,
        "event": webhook.event,
        "url": webhook.url,
        "status": webhook.status,
        "system": webhook.system,
    })
}

async fn identity(State(fake): State<FakeFollowUpBoss>, headers: HeaderMap) -> Response {
    fake.see("GET", "/v1/identity", &headers);
    if !fake.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    (
        StatusCode::OK,
        axum::Json(json!({
            "account": {"id": 1, "domain": "fake", "owner": {"id": 1, "name": "Owner"}},
            "user": {"id": 1, "name": "Owner", "role": "Broker"},
        })),
    )
        .into_response()
}

async fn list_webhooks(
    State(fake): State<FakeFollowUpBoss>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.see("GET", "/v1/webhooks", &headers);
    fake.inner()
        .webhook_requests
        .push("GET /v1/webhooks".to_string());
    let system = match fake.system_of(&headers) {
        Ok(system) => system,
        Err((status, message)) => return error(status, message),
    };
    let number = |name: &str, default: usize| {
        query
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (limit, offset) = (number("limit", 10).clamp(1, 100), number("offset", 0));
    let inner = fake.inner();
    let mine: Vec<&FakeWebhook> = inner
        .webhooks
        .iter()
        .filter(|w| w.system == system)
        .collect();
    let page: Vec<Value> = mine
        .iter()
        .skip(offset)
        .take(limit)
        .map(|w| webhook_json(w))
        .collect();
    (
        StatusCode::OK,
        axum::Json(json!({
            "_metadata": {"collection": "webhooks", "offset": offset, "limit": limit, "total": mine.len()},
            "webhooks": page,
        })),
    )
        .into_response()
}

async fn create_webhook(
    State(fake): State<FakeFollowUpBoss>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    fake.see("POST", "/v1/webhooks", &headers);
    fake.inner()
        .webhook_requests
        .push("POST /v1/webhooks".to_string());
    let system = match fake.system_of(&headers) {
        Ok(system) => system,
        Err((status, message)) => return error(status, message),
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let (Some(event), Some(url)) = (body["event"].as_str(), body["url"].as_str()) else {
        return error(StatusCode::BAD_REQUEST, "event and url are required");
    };
    if !WEBHOOK_EVENTS.contains(&event) {
        return error(StatusCode::BAD_REQUEST, &format!("Invalid event: {event}"));
    }
    if !url.starts_with("https://") || url.len() <= "https://".len() {
        return error(StatusCode::BAD_REQUEST, "The webhook url must use HTTPS");
    }
    let mut inner = fake.inner();
    let registered = inner
        .webhooks
        .iter()
        .filter(|w| w.system == system && w.event == event)
        .count();
    if registered >= MAX_WEBHOOKS_PER_EVENT {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "A system may register at most {MAX_WEBHOOKS_PER_EVENT} webhooks per event; {event} has {registered}"
            ),
        );
    }
    inner.next_webhook_id += 1;
    let webhook = FakeWebhook {
        id: inner.next_webhook_id,
        system,
        event: event.to_string(),
        url: url.to_string(),
        status: "Active".to_string(),
    };
    inner.webhooks.push(webhook.clone());
    (StatusCode::CREATED, axum::Json(webhook_json(&webhook))).into_response()
}

async fn delete_webhook(
    State(fake): State<FakeFollowUpBoss>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.see("DELETE", &format!("/v1/webhooks/{id}"), &headers);
    fake.inner()
        .webhook_requests
        .push(format!("DELETE /v1/webhooks/{id}"));
    let system = match fake.system_of(&headers) {
        Ok(system) => system,
        Err((status, message)) => return error(status, message),
    };
    let mut inner = fake.inner();
    let before = inner.webhooks.len();
    inner
        .webhooks
        .retain(|w| !(w.system == system && w.id.to_string() == id));
    if inner.webhooks.len() == before {
        return error(StatusCode::NOT_FOUND, "Webhook not found");
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn person(
    State(fake): State<FakeFollowUpBoss>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.see("GET", &format!("/v1/people/{id}"), &headers);
    let fault = {
        let mut inner = fake.inner();
        inner.requests.push(id.clone());
        inner.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, axum::Json(json!({"errorMessage": "Server error"}))).into_response();
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let body = axum::Json(json!({"errorMessage": "Too many requests"}));
            let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
        Some(Fault::RateLimitedWithoutRetryAfter) => {
            let body = axum::Json(json!({"errorMessage": "Too many requests"}));
            return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
        }
        None => {}
    }
    if !fake.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errorMessage": "Invalid API key"})),
        )
            .into_response();
    }
    if let Err((status, message)) = fake.named_system(&headers) {
        return error(status, message);
    }
    let inner = fake.inner();
    let not_assigned_yet = inner
        .unreadable_until
        .get(&id)
        .is_some_and(|until| Instant::now() < *until);
    match inner.people.get(&id).filter(|_| !not_assigned_yet) {
        Some(person) => {
            let person = with_fields(person, query.get("fields").map(String::as_str));
            (StatusCode::OK, axum::Json(person)).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errorMessage": "Person not found"})),
        )
            .into_response(),
    }
}

/// A person as `GET /v1/people/{id}` answers it for `fields`: custom
/// fields (`custom<Name>`) only when asked for, by name or with
/// `allFields` (docs.followupboss.com, "Custom Field Naming" and the
/// people endpoints' `fields` parameter: "allFields" returns every field,
/// custom ones included; without it only the standard fields come).
fn with_fields(person: &Value, fields: Option<&str>) -> Value {
    let asked: Vec<&str> = fields
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    if asked.contains(&"allFields") {
        return person.clone();
    }
    let mut person = person.clone();
    if let Some(map) = person.as_object_mut() {
        map.retain(|key, _| !is_custom(key) || asked.contains(&key.as_str()));
    }
    person
}

fn is_custom(key: &str) -> bool {
    key.strip_prefix("custom")
        .and_then(|rest| rest.chars().next())
        .is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_fields_come_only_when_asked_for() {
        let person = json!({"id": 7, "stage": "Lead", "customLeadType": "Buyer", "customer": 1});
        let plain = with_fields(&person, None);
        assert_eq!(plain, json!({"id": 7, "stage": "Lead", "customer": 1}));
        assert_eq!(with_fields(&person, Some("allFields")), person);
        assert_eq!(
            with_fields(&person, Some("id, customLeadType"))["customLeadType"],
            "Buyer"
        );
    }

    #[tokio::test]
    async fn people_behind_basic_auth() {
        let fake = FakeFollowUpBoss::start("key-1").await.unwrap();
        fake.put_person(json!({"id": 7, "firstName": "Lu"}));
        let http = reqwest::Client::new();
        let url = format!("{}/people/7", fake.base_url());
        let ok = http
            .get(&url)
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.json::<Value>().await.unwrap()["firstName"], "Lu");
        let wrong = http
            .get(&url)
            .basic_auth("key-2", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        fake.remove_person("7");
        let gone = http
            .get(&url)
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404);
        fake.push_fault(Fault::RateLimited {
            retry_after_secs: 2,
        });
        let limited = http
            .get(&url)
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "2");
        assert_eq!(fake.requests(), ["7", "7", "7", "7"]);
    }

    #[tokio::test]
    async fn a_new_person_answers_404_until_assigned_and_every_request_s_headers_are_kept() {
        let fake = FakeFollowUpBoss::start("key-1").await.unwrap();
        fake.register_system("kvsync", "sys-key");
        fake.put_new_person(
            json!({"id": 8, "firstName": "New"}),
            Duration::from_millis(300),
        );
        let get = |system: Option<(&'static str, &'static str)>| {
            let mut request = reqwest::Client::new()
                .get(format!("{}/people/8", fake.base_url()))
                .basic_auth("key-1", Some(""));
            if let Some((name, key)) = system {
                request = request.header("X-System", name).header("X-System-Key", key);
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(
            get(Some(("kvsync", "sys-key"))).await,
            404,
            "not assigned yet"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(get(Some(("kvsync", "sys-key"))).await, 200);
        assert_eq!(get(None).await, 200, "without a system: allowed");
        assert_eq!(get(Some(("kvsync", "wrong"))).await, 401);
        assert_eq!(get(Some(("other", "sys-key"))).await, 401);
        let seen = fake.headers();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0].path, "/v1/people/8");
        assert_eq!(seen[0].header("x-system"), Some("kvsync"));
        assert_eq!(seen[0].header("x-system-key"), Some("sys-key"));
        assert_eq!(seen[2].header("x-system"), None);

        fake.push_fault(Fault::RateLimitedWithoutRetryAfter);
        let limited = reqwest::Client::new()
            .get(format!("{}/people/8", fake.base_url()))
            .basic_auth("key-1", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        assert!(limited.headers().get("retry-after").is_none());
    }

    async fn post(fake: &FakeFollowUpBoss, system: (&str, &str), body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/webhooks", fake.base_url()))
            .basic_auth("key-1", Some(""))
            .header("X-System", system.0)
            .header("X-System-Key", system.1)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn webhooks_need_a_registered_system_https_and_two_per_event_at_most() {
        let fake = FakeFollowUpBoss::start("key-1").await.unwrap();
        fake.register_system("kvsync", "sys-key");
        fake.register_system("other", "other-key");
        let url = "https://example.com/webhooks/wf";
        let people = json!({"event": "peopleCreated", "url": url});

        // Without the system headers, or with a wrong key: refused.
        let bare = reqwest::Client::new()
            .post(format!("{}/webhooks", fake.base_url()))
            .basic_auth("key-1", Some(""))
            .json(&people)
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), 401);
        assert_eq!(
            post(&fake, ("kvsync", "wrong"), people.clone()).await.0,
            401
        );
        // http, an unknown event, a missing url: 400.
        let http = json!({"event": "peopleCreated", "url": "http://example.com/x"});
        assert_eq!(post(&fake, ("kvsync", "sys-key"), http).await.0, 400);
        let unknown = json!({"event": "peopleMoved", "url": url});
        assert_eq!(post(&fake, ("kvsync", "sys-key"), unknown).await.0, 400);
        assert_eq!(
            post(
                &fake,
                ("kvsync", "sys-key"),
                json!({"event": "peopleCreated"})
            )
            .await
            .0,
            400
        );
        assert!(fake.webhooks().is_empty());

        let (status, created) = post(&fake, ("kvsync", "sys-key"), people.clone()).await;
        assert_eq!(status, 201);
        assert_eq!(created["event"], "peopleCreated");
        assert_eq!(created["url"], url);
        assert_eq!(created["status"], "Active");
        assert_eq!(
            post(&fake, ("kvsync", "sys-key"), people.clone()).await.0,
            201
        );
        let (status, third) = post(&fake, ("kvsync", "sys-key"), people.clone()).await;
        assert_eq!(status, 400, "{third}");
        assert!(
            third["errorMessage"]
                .as_str()
                .unwrap()
                .contains("at most 2")
        );
        // The limit is per system: another system may still register.
        assert_eq!(post(&fake, ("other", "other-key"), people).await.0, 201);

        // Each system lists its own.
        let list = reqwest::Client::new()
            .get(format!("{}/webhooks?limit=1&offset=1", fake.base_url()))
            .basic_auth("key-1", Some(""))
            .header("X-System", "kvsync")
            .header("X-System-Key", "sys-key")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(list["_metadata"]["total"], 2);
        assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
        assert_eq!(list["webhooks"][0]["id"], 2);

        // Delete: 204, then 404; another system's webhook is not its to delete.
        let delete = |id: u64, system: (&'static str, &'static str)| {
            let url = format!("{}/webhooks/{id}", fake.base_url());
            async move {
                reqwest::Client::new()
                    .delete(url)
                    .basic_auth("key-1", Some(""))
                    .header("X-System", system.0)
                    .header("X-System-Key", system.1)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(delete(1, ("kvsync", "sys-key")).await, 204);
        assert_eq!(delete(1, ("kvsync", "sys-key")).await, 404);
        assert_eq!(delete(3, ("kvsync", "sys-key")).await, 404);
        assert_eq!(fake.webhooks().len(), 2);
    }
}
