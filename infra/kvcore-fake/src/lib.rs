//! A stateful fake of the kvCORE public API subset kvsync uses, following
//! the vendor's documentation (SPEC section 7) and nothing kinder, for tests
//! (in-process) and `make dev` (the `kvcore-fake` binary). Where the docs
//! are vague it takes the harsher reading. So it has: no free-text search
//! and no phone filter (unknown parameters are ignored: the request lists
//! everyone), partial list rows, prefix-matching text filters, a lagging
//! list (`filter[email]` and `filter[updated_at]` alike), duplicates
//! accepted, `hashtags` and `source` set on create only, optionally loosely
//! typed values, 429 with or without `Retry-After`, 5xx, and latency.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use kvcore_fake::{FakeConfig, FakeKvcore, Fault};
//! let fake = FakeKvcore::start(FakeConfig::default()).await?;
//! fake.insert_contact(serde_json::json!({"email": "ann@example.com"}));
//! fake.push_fault(Fault::RateLimited { retry_after_secs: 1 });
//! // point the client at fake.base_url() with token "kvcore-test-token" …
//! assert_eq!(fake.requests().iter().filter(|r| r.is_list()).count(), 0);
//! # Ok(()) }
//! ```

mod admin;
mod filters;
mod routes;
mod store;
pub mod token;
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

pub use store::DuplicatePolicy;
use store::{Contacts, Snapshot};

/// How the fake behaves; everything but `tokens` and `first_id` can be
/// changed later through the handle or `PUT /_admin/config`.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Bearer tokens accepted (SPEC section 7: 401 on a bad token, and on
    /// a JWT past its `exp`: [`token::jwt`] mints kvCORE-shaped ones).
    pub tokens: Vec<String>,
    /// The list's lag: every `GET /contacts` shows each contact as it was
    /// at least this long ago, so a contact created later is missing and
    /// one changed later shows its old version (SPEC section 7: "~30 s, in
    /// `filter[email]` and `filter[updated_at]` alike"). `GET /contact/{id}`
    /// never lags. Default zero so that tests opt in; the name is kept from
    /// when the fake had a search.
    pub search_lag: Duration,
    /// How creates whose email and owner are taken are answered; default
    /// `Accept` (SPEC section 7: "Duplicates are allowed").
    pub duplicates: DuplicatePolicy,
    /// Answer ids, agent ids, flags, phones, empty values and timestamps
    /// typed as loosely as SPEC section 7 allows, alternating by id (see
    /// `wire`). Default true: the harsher reading, so every test meets the
    /// types production may send.
    pub loose_types: bool,
    /// Added to every API request's answer time (benchmarks: kvCORE is
    /// not local). Admin requests are never slowed.
    pub latency: Duration,
    /// The id of the first contact (and again after `reset`).
    pub first_id: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            tokens: vec!["kvcore-test-token".to_string()],
            search_lag: Duration::ZERO,
            duplicates: DuplicatePolicy::Accept,
            loose_types: true,
            latency: Duration::ZERO,
            first_id: 1001,
        }
    }
}

/// Infrastructure trouble to answer an API request with; applied before
/// authentication, as a load balancer or rate limiter would (SPEC section
/// 7: "429 rate limited (... `Retry-After` may be missing ...); 5xx
/// transient").
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// That status with `{"errors": ["Server Error"]}`.
    Status(u16),
    /// 429 with a `Retry-After` header of this many seconds.
    RateLimited { retry_after_secs: u64 },
    /// 429 without `Retry-After`.
    RateLimitedWithoutRetryAfter,
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
    /// `GET /contacts`, whatever its parameters.
    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.path == "/v2/public/contacts"
    }

    /// The same as [`RecordedRequest::is_list`]: `GET /contacts` (kvCORE
    /// has no search; the name is kept for callers).
    pub fn is_search(&self) -> bool {
        self.is_list()
    }

    /// `GET /contact/{id}`.
    pub fn is_get(&self) -> bool {
        self.method == "GET" && self.contact_id().is_some()
    }

    /// `POST /contact`.
    pub fn is_create(&self) -> bool {
        self.method == "POST" && self.path == "/v2/public/contact"
    }

    /// `PUT /contact/{id}` (not the tags route).
    pub fn is_update(&self) -> bool {
        self.method == "PUT" && self.contact_id().is_some()
    }

    /// `PUT /contact/{id}/tags`.
    pub fn is_tags(&self) -> bool {
        self.method == "PUT"
            && self
                .path
                .strip_prefix("/v2/public/contact/")
                .and_then(|rest| rest.strip_suffix("/tags"))
                .is_some_and(|id| id.parse::<u64>().is_ok())
    }

    /// The `{id}` of `/contact/{id}` (exactly that path).
    pub fn contact_id(&self) -> Option<u64> {
        self.path
            .strip_prefix("/v2/public/contact/")
            .and_then(|id| id.parse().ok())
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
    /// When each of `requests` arrived (same order), for rate checks.
    request_times: Vec<std::time::Instant>,
    faults: VecDeque<Fault>,
    persistent_fault: Option<Fault>,
}

impl State {
    fn new(config: FakeConfig) -> State {
        State {
            contacts: Contacts::new(config.first_id),
            config,
            requests: Vec::new(),
            request_times: Vec::new(),
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
        self.request_times.clear();
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

    /// Seeds a contact (no validation) as if it had been in kvCORE for long:
    /// lists show it at once. `created_at`/`updated_at` may be given (unix
    /// seconds or `"YYYY-MM-DD HH:MM:SS"` UTC) to make it old; otherwise
    /// both are now. Returns its id; a non-object seeds an empty contact.
    pub fn insert_contact(&self, fields: Value) -> u64 {
        self.state().contacts.insert_seeded(object(fields))
    }

    /// Seeds many contacts at once, as [`FakeKvcore::insert_contact`] does
    /// (one lock for all: 20,000 take milliseconds). Returns their ids, in
    /// order.
    pub fn insert_contacts(&self, contacts: Vec<Value>) -> Vec<u64> {
        let mut state = self.state();
        contacts
            .into_iter()
            .map(|fields| state.contacts.insert_seeded(object(fields)))
            .collect()
    }

    /// Seeds a contact as if someone had just created it through the API:
    /// lists do not show it until the list lag has passed.
    pub fn insert_unindexed_contact(&self, fields: Value) -> u64 {
        self.state().contacts.insert_now(object(fields))
    }

    /// A person edits the contact in kvCORE's UI: every given field but
    /// `id`, `name`, `created_at`, `updated_at` is set (tags and source
    /// too), as a new version with a new `updated_at` that lists show only
    /// after the lag. `false` when there is no such contact (or it was
    /// deleted); a non-object changes nothing but `updated_at`.
    pub fn update_contact_as_person(&self, id: u64, fields: Value) -> bool {
        let mut state = self.state();
        let lag = state.config.search_lag;
        state.contacts.edit_as_person(id, object(fields), lag)
    }

    /// A person archives the contact: lists hide it unless
    /// `includeArchived=1` (once the lag has passed); `GET /contact/{id}`
    /// still answers it. `false` when there is no such contact.
    pub fn archive_contact(&self, id: u64) -> bool {
        let mut state = self.state();
        let lag = state.config.search_lag;
        state.contacts.archive(id, lag)
    }

    /// A person deletes the contact: `GET /contact/{id}` answers 404 at
    /// once; lists drop it once the lag has passed. `false` when there is
    /// no such contact.
    pub fn delete_contact(&self, id: u64) -> bool {
        let mut state = self.state();
        let lag = state.config.search_lag;
        state.contacts.delete(id, lag)
    }

    /// The current version of a contact as `GET /contact/{id}` answers it
    /// with `loose_types` off (the full record, timestamps as
    /// `"YYYY-MM-DD HH:MM:SS"`); `None` when unknown or deleted.
    pub fn contact(&self, id: u64) -> Option<Value> {
        self.state().contacts.get(id).as_ref().map(full_record)
    }

    /// Every contact's current version, as [`FakeKvcore::contact`] gives
    /// it, by id ascending; archived ones included, deleted ones not.
    pub fn contacts(&self) -> Vec<Value> {
        self.state()
            .contacts
            .all()
            .iter()
            .map(full_record)
            .collect()
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
        let mut state = self.state();
        state.requests.clear();
        state.request_times.clear();
    }

    /// When each API request arrived, in the order of [`FakeKvcore::requests`]
    /// (before any latency or fault): what a rate limit would count.
    pub fn request_times(&self) -> Vec<std::time::Instant> {
        self.state().request_times.clone()
    }

    /// Sets the list's lag ([`FakeConfig::search_lag`]).
    pub fn set_list_lag(&self, lag: Duration) {
        self.state().config.search_lag = lag;
    }

    /// The same as [`FakeKvcore::set_list_lag`] (the older name).
    pub fn set_search_lag(&self, lag: Duration) {
        self.set_list_lag(lag);
    }

    /// Sets how duplicate creates are answered ([`FakeConfig::duplicates`]).
    pub fn set_duplicates(&self, policy: DuplicatePolicy) {
        self.state().config.duplicates = policy;
    }

    /// The older switch: `true` refuses duplicates with 409, `false`
    /// accepts them.
    pub fn set_reject_duplicate_emails(&self, on: bool) {
        self.set_duplicates(if on {
            DuplicatePolicy::Conflict409
        } else {
            DuplicatePolicy::Accept
        });
    }

    /// Sets [`FakeConfig::loose_types`].
    pub fn set_loose_types(&self, on: bool) {
        self.state().config.loose_types = on;
    }

    /// Sets [`FakeConfig::latency`]: every API request from now on takes at
    /// least this long.
    pub fn set_latency(&self, latency: Duration) {
        self.state().config.latency = latency;
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
    /// `first_id`. The configuration (lag, duplicates, loose types,
    /// latency) stays as it is.
    pub fn reset(&self) {
        self.state().reset();
    }
}

fn full_record(contact: &Snapshot) -> Value {
    wire::render(contact, wire::View::Full, false)
}

fn object(fields: Value) -> serde_json::Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
