//! A stateful fake of the kvCORE public API subset kvsync uses (SPEC
//! section 7), for tests (in-process) and `make dev` (the `kvcore-fake`
//! binary). It is deliberately awkward where kvCORE is: prefix-matching
//! filters, a search that reaches Profile Details, a lagging search index,
//! 409 duplicates, 429 with Retry-After, 5xx.

mod routes;
mod store;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use store::Contacts;

#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Bearer tokens accepted.
    pub tokens: Vec<String>,
    /// How long list queries do not see a write.
    pub search_lag: Duration,
    /// Answer 409 to a create whose email another contact has.
    pub reject_duplicate_emails: bool,
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

/// Infrastructure trouble to answer with instead of the real thing.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// That status with `{"errors": ["Server Error"]}`.
    Status(u16),
    /// 429 with a `Retry-After` header.
    RateLimited { retry_after_secs: u64 },
    /// Answer normally, but only after this long.
    Delay(Duration),
}

/// An API request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// e.g. `/v2/public/contacts`
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl RecordedRequest {
    pub fn is_search(&self) -> bool {
        self.method == "GET" && self.path.ends_with("/contacts")
    }
    pub fn is_get(&self) -> bool {
        self.method == "GET" && self.path.contains("/contact/")
    }
    pub fn is_create(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/contact")
    }
    pub fn is_update(&self) -> bool {
        self.method == "PUT"
    }
}

pub(crate) struct State {
    config: FakeConfig,
    contacts: Contacts,
    requests: Vec<RecordedRequest>,
    faults: VecDeque<Fault>,
    persistent_fault: Option<Fault>,
}

impl State {
    /// The fault for the next API request, if any.
    fn next_fault(&mut self) -> Option<Fault> {
        self.faults
            .pop_front()
            .or_else(|| self.persistent_fault.clone())
    }
}

/// A running fake; cheap to clone. The server stops when the runtime does.
#[derive(Clone)]
pub struct FakeKvcore {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
}

impl FakeKvcore {
    /// Starts on a free loopback port.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeKvcore> {
        FakeKvcore::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeKvcore> {
        let state = Arc::new(Mutex::new(State {
            contacts: Contacts::new(config.first_id),
            config,
            requests: Vec::new(),
            faults: VecDeque::new(),
            persistent_fault: None,
        }));
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

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v2/public`
    pub fn base_url(&self) -> String {
        format!("http://{}/v2/public", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Seeds a contact, visible to searches at once; returns its id.
    pub fn insert_contact(&self, fields: Value) -> u64 {
        let fields = fields.as_object().cloned().unwrap_or_default();
        self.state().contacts.insert_indexed(fields)
    }

    /// Adds a contact as if someone created it through the API just now:
    /// searches do not show it until the search lag has passed.
    pub fn insert_unindexed_contact(&self, fields: Value) -> u64 {
        let fields = fields.as_object().cloned().unwrap_or_default();
        self.state().contacts.insert_now(fields)
    }

    pub fn contact(&self, id: u64) -> Option<Value> {
        self.state().contacts.get(id)
    }

    /// Every contact, by id.
    pub fn contacts(&self) -> Vec<Value> {
        self.state().contacts.all()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
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

    /// A fault for the next API request (one each, in order).
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// A fault for every API request until cleared with `None`.
    pub fn set_persistent_fault(&self, fault: Option<Fault>) {
        self.state().persistent_fault = fault;
    }

    /// Contacts, requests and faults cleared; ids start over.
    pub fn reset(&self) {
        let mut state = self.state();
        state.contacts.clear();
        state.requests.clear();
        state.faults.clear();
        state.persistent_fault = None;
    }
}

/// A poisoned lock only means another request panicked; the data is fine.
pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
