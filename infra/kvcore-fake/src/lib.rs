//! A stateful fake of the kvCORE public API subset kvsync uses (SPEC
//! section 7), for tests (in-process) and `make dev` (the `kvcore-fake`
//! binary). It is deliberately awkward where kvCORE is: prefix-matching
//! filters, a search that reaches Profile Details, a lagging search index,
//! 409 duplicates, hashtags ignored on update, 429 with Retry-After, 5xx.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use kvcore_fake::{FakeConfig, FakeKvcore, Fault};
//! let fake = FakeKvcore::start(FakeConfig::default()).await?;
//! fake.insert_contact(serde_json::json!({"email": "ann@example.com"}));
//! fake.push_fault(Fault::RateLimited { retry_after_secs: 1 });
//! // point the client at fake.base_url() with token "kvcore-test-token" …
//! assert_eq!(fake.requests().iter().filter(|r| r.is_search()).count(), 0);
//! # Ok(()) }
//! ```

mod admin;
mod routes;
mod search;
mod store;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use store::Contacts;

/// How the fake behaves; everything but `tokens` and `first_id` can be
/// changed later through the handle or `PUT /_admin/config`.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Bearer tokens accepted.
    pub tokens: Vec<String>,
    /// How long list queries (`GET /contacts`) keep showing a contact as it
    /// was before an API write (kvCORE: up to ~30 s).
    pub search_lag: Duration,
    /// Answer 409 to a create whose email another contact already has.
    pub reject_duplicate_emails: bool,
    /// The id of the first contact (and again after `reset`).
    pub first_id: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            tokens: vec!["kvcore-test-token".to_string()],
            search_lag: Duration::ZERO,
            reject_duplicate_emails: true,
            first_id: 1001,
        }
    }
}

/// Infrastructure trouble to answer an API request with; applied before
/// authentication, as a load balancer or rate limiter would.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// That status with `{"errors": ["Server Error"]}`.
    Status(u16),
    /// 429 with a `Retry-After` header.
    RateLimited { retry_after_secs: u64 },
    /// Answer normally, but only after this long (for timeout tests).
    Delay(Duration),
}

/// An API request as the fake received it (admin requests are not kept).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// e.g. `/v2/public/contacts`
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body; `None` when empty or not JSON.
    pub body: Option<Value>,
}

impl RecordedRequest {
    /// `GET /contacts` (a filter or a free-text search).
    pub fn is_search(&self) -> bool {
        self.method == "GET" && self.path == "/v2/public/contacts"
    }

    /// `GET /contact/{id}`.
    pub fn is_get(&self) -> bool {
        self.method == "GET" && self.path.starts_with("/v2/public/contact/")
    }

    /// `POST /contact`.
    pub fn is_create(&self) -> bool {
        self.method == "POST" && self.path == "/v2/public/contact"
    }

    /// `PUT /contact/{id}`.
    pub fn is_update(&self) -> bool {
        self.method == "PUT" && self.path.starts_with("/v2/public/contact/")
    }

    /// The decoded value of query parameter `name`, e.g. `"filter[email]"`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Everything the server and the handle share.
pub(crate) struct State {
    config: FakeConfig,
    contacts: Contacts,
    requests: Vec<RecordedRequest>,
    faults: VecDeque<Fault>,
    persistent_fault: Option<Fault>,
}

impl State {
    fn new(config: FakeConfig) -> State {
        State {
            contacts: Contacts::new(config.first_id),
            config,
            requests: Vec::new(),
            faults: VecDeque::new(),
            persistent_fault: None,
        }
    }

    /// The fault for the next API request: one-shot ones first.
    fn next_fault(&mut self) -> Option<Fault> {
        self.faults
            .pop_front()
            .or_else(|| self.persistent_fault.clone())
    }

    fn clear_faults(&mut self) {
        self.faults.clear();
        self.persistent_fault = None;
    }

    fn reset(&mut self) {
        self.contacts.clear();
        self.requests.clear();
        self.clear_faults();
    }
}

type Shared = Arc<Mutex<State>>;

/// A poisoned lock only means a test thread panicked; the data is fine.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake; cheap to clone. The server lives as long as the tokio
/// runtime that started it.
#[derive(Clone)]
pub struct FakeKvcore {
    state: Shared,
    addr: SocketAddr,
}

impl FakeKvcore {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeKvcore> {
        FakeKvcore::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` (port 0: a free one).
    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeKvcore> {
        let state = Arc::new(Mutex::new(State::new(config)));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = routes::router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "kvcore-fake stopped");
            }
        });
        Ok(FakeKvcore { state, addr })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v2/public`, what `KVCORE_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2/public", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Seeds a contact (no validation), visible to searches at once, as if
    /// it had been in kvCORE for long; returns its id. A non-object seeds
    /// an empty contact.
    pub fn insert_contact(&self, fields: Value) -> u64 {
        self.state().contacts.insert_indexed(object(fields))
    }

    /// Seeds a contact as if someone had just created it through the API:
    /// searches do not show it until the search lag has passed.
    pub fn insert_unindexed_contact(&self, fields: Value) -> u64 {
        self.state().contacts.insert_now(object(fields))
    }

    /// The current version of a contact, as `GET /contact/{id}` answers it.
    pub fn contact(&self, id: u64) -> Option<Value> {
        self.state().contacts.get(id)
    }

    /// Every contact's current version, by id ascending.
    pub fn contacts(&self) -> Vec<Value> {
        self.state().contacts.all()
    }

    /// Every API request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// How many API requests received so far satisfy `kind`, e.g.
    /// `fake.count_requests(RecordedRequest::is_create)`.
    pub fn count_requests(&self, kind: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.state().requests.iter().filter(|r| kind(r)).count()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    pub fn set_search_lag(&self, lag: Duration) {
        self.state().config.search_lag = lag;
    }

    pub fn set_reject_duplicate_emails(&self, on: bool) {
        self.state().config.reject_duplicate_emails = on;
    }

    /// A fault for one upcoming API request; several are used in order.
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// A fault for every API request (after any one-shot ones) until
    /// cleared with `None`.
    pub fn set_persistent_fault(&self, fault: Option<Fault>) {
        self.state().persistent_fault = fault;
    }

    /// Contacts, requests and faults cleared; ids start again at
    /// `first_id`. The search lag and duplicate rule stay as they are.
    pub fn reset(&self) {
        self.state().reset();
    }
}

fn object(fields: Value) -> serde_json::Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
