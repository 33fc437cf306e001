//! A stateful fake of the two Google endpoints kvsync's `google-poller`
//! uses (SPEC section 10), following Google's public documentation and no
//! kinder, for tests (in-process) and `make dev`:
//!
//! - People API `people.connections.list`
//!   (<https://developers.google.com/people/api/rest/v1/people.connections/list>):
//!   `GET /v1/people/me/connections` with a bearer access token; `personFields`
//!   required and applied as a field mask; `pageSize` 1 to 1000 (default
//!   100); `pageToken`; `requestSyncToken` (the `nextSyncToken` comes on
//!   the last page only); `syncToken` (what changed since, deleted persons
//!   as `metadata.deleted: true`); "when the page_token or sync_token is
//!   specified, all other request parameters must match the first call"
//!   (400 `INVALID_ARGUMENT` otherwise, with no `ErrorInfo` reason: a sync
//!   token made under other `personFields` is refused so, like a stale
//!   page token); "Sync tokens expire 7 days after the full sync. A
//!   request with an expired sync token will get an error with an
//!   google.rpc.ErrorInfo with reason EXPIRED_SYNC_TOKEN" (400, the
//!   `google.rpc.Status` JSON shape of
//!   <https://cloud.google.com/apis/design/errors>); every person has an
//!   `etag` that changes with it and `metadata.sources[].updateTime`
//!   (<https://developers.google.com/people/api/rest/v1/people#Person>).
//! - People API `contactGroups.list` (`groups.rs`): the user's labels.
//! - The OAuth 2.0 token endpoint
//!   (<https://developers.google.com/identity/protocols/oauth2/native-app>,
//!   RFC 6749): `grant_type=authorization_code` (with PKCE, RFC 7636, and
//!   the same `redirect_uri`) and `grant_type=refresh_token`; a revoked
//!   refresh token answers 400 `{"error": "invalid_grant"}`; a wrong client
//!   401 `invalid_client`. Access tokens live `expires_in` = 3599 s.
//! - The consent page (`/o/oauth2/v2/auth`) consents at once and redirects
//!   to the `redirect_uri` with `code` and `state`, as a browser would
//!   after the user clicks Allow.
//!
//! Faults (429 `RESOURCE_EXHAUSTED`, 5xx) are injected per request.

mod admin;
mod groups;
mod oauth;
mod people;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use serde_json::{Map, Value};

/// The OAuth client the fake knows, and token lifetimes.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of access tokens (Google: 3599 s).
    pub access_token_ttl: Duration,
    /// Sync tokens expire this long after their full sync (Google: 7 days).
    pub sync_token_ttl: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            client_id: "kvsync-test.apps.googleusercontent.com".into(),
            client_secret: "kvsync-test-client-secret".into(),
            access_token_ttl: Duration::from_secs(3599),
            sync_token_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Trouble to answer a People API or token request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `RESOURCE_EXHAUSTED` ("The first page of a full sync request
    /// has an additional quota. If the quota is exceeded, a 429 error will
    /// be returned").
    RateLimited,
    /// That status (5xx) with a `google.rpc.Status` body.
    Status(u16),
}

/// Which endpoint a request went to, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `connections`, `contactGroups`, `token` or `auth`.
    pub endpoint: &'static str,
    /// Decoded query (connections, auth) or form (token) pairs; the token
    /// form's secrets are recorded as `<redacted>`.
    pub params: Vec<(String, String)>,
    pub status: u16,
}

impl RecordedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_connections(&self) -> bool {
        self.endpoint == "connections"
    }

    pub fn is_token(&self) -> bool {
        self.endpoint == "token"
    }
}

/// One person, as the fake keeps it.
#[derive(Debug, Clone)]
struct StoredPerson {
    /// The person's fields (names, emailAddresses, ...), without
    /// `resourceName`, `etag` and `metadata`.
    fields: Map<String, Value>,
    /// Bumped by every change; the etag and the change order follow it.
    version: u64,
    /// The change sequence number of its last change (incremental listings).
    changed_seq: u64,
    /// When it last changed (unix ms): `metadata.sources[].updateTime`.
    updated_ms: i64,
    deleted: bool,
}

/// A sync token as issued.
#[derive(Debug, Clone)]
struct SyncTokenInfo {
    /// The parameters of the request that made it, but `syncToken` and
    /// `pageToken`: a later call with the token must repeat them ("all
    /// other request parameters must match the first call").
    bound: Vec<(String, String)>,
    /// Changes up to this sequence number are behind it.
    seq: u64,
    /// When the full sync that started its chain ran (unix ms).
    full_sync_ms: i64,
}

/// What a page token continues.
#[derive(Debug, Clone)]
struct PageCursor {
    /// The first request's parameters but `pageToken`.
    params: Vec<(String, String)>,
    /// Incremental: changes after this; `None`: a full listing.
    since_seq: Option<u64>,
    /// The listing's snapshot: changes up to here.
    until_seq: u64,
    full_sync_ms: i64,
    /// Persons after this (change sequence, resource name) come next.
    after: (u64, String),
}

pub(crate) struct State {
    config: FakeConfig,
    persons: BTreeMap<String, StoredPerson>,
    next_person: u64,
    seq: u64,
    access_tokens: HashMap<String, i64>,
    refresh_tokens: HashMap<String, bool>,
    codes: HashMap<String, oauth::IssuedCode>,
    sync_tokens: HashMap<String, SyncTokenInfo>,
    page_tokens: HashMap<String, PageCursor>,
    next_token: u64,
    faults: VecDeque<Fault>,
    persistent_fault: Option<Fault>,
    requests: Vec<RecordedRequest>,
    /// User contact groups: resource name → name.
    contact_groups: BTreeMap<String, String>,
}

impl State {
    fn token(&mut self, prefix: &str) -> String {
        self.next_token += 1;
        format!("{prefix}{:06}{:x}", self.next_token, now_ms() % 0xffff)
    }

    fn next_fault(&mut self) -> Option<Fault> {
        self.faults
            .pop_front()
            .or_else(|| self.persistent_fault.clone())
    }

    fn change(&mut self, name: &str, edit: impl FnOnce(&mut StoredPerson)) -> bool {
        self.seq += 1;
        let seq = self.seq;
        match self.persons.get_mut(name) {
            Some(person) if !person.deleted => {
                edit(person);
                person.version += 1;
                person.changed_seq = seq;
                person.updated_ms = now_ms();
                true
            }
            _ => false,
        }
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A running fake; cheap to clone. The server lives as long as the tokio
/// runtime that started it.
#[derive(Clone)]
pub struct FakeGoogle {
    state: Shared,
    addr: SocketAddr,
}

impl FakeGoogle {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeGoogle> {
        FakeGoogle::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` (port 0: a free one).
    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeGoogle> {
        let state = Arc::new(Mutex::new(State {
            config,
            persons: BTreeMap::new(),
            next_person: 1000,
            seq: 0,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            sync_tokens: HashMap::new(),
            page_tokens: HashMap::new(),
            next_token: 0,
            faults: VecDeque::new(),
            persistent_fault: None,
            requests: Vec::new(),
            contact_groups: BTreeMap::new(),
        }));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .merge(people::routes())
            .merge(groups::routes())
            .merge(oauth::routes())
            .merge(admin::routes())
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "google-fake stopped");
            }
        });
        Ok(FakeGoogle { state, addr })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`: what `GOOGLE_PEOPLE_BASE_URL` should be.
    pub fn people_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/token`: what `GOOGLE_OAUTH_TOKEN_URL` should be.
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The consent page (the `auth_uri` of a client secret file).
    pub fn auth_url(&self) -> String {
        format!("http://{}/o/oauth2/v2/auth", self.addr)
    }

    /// `http://127.0.0.1:PORT/_admin`.
    pub fn admin_url(&self) -> String {
        format!("http://{}/_admin", self.addr)
    }

    pub fn config(&self) -> FakeConfig {
        self.state().config.clone()
    }

    /// `{"installed": {...}}`: a client secret file as the Google Cloud
    /// console downloads it for a Desktop app, pointing at this fake.
    pub fn client_secret_file(&self) -> Value {
        let config = self.config();
        serde_json::json!({"installed": {
            "client_id": config.client_id,
            "project_id": "kvsync-test",
            "auth_uri": self.auth_url(),
            "token_uri": self.token_url(),
            "client_secret": config.client_secret,
            "redirect_uris": ["http://localhost"]
        }})
    }

    /// The `google_oauth_secret` JSON of a fresh consent: the client and a
    /// new refresh token.
    pub fn oauth_secret(&self) -> Value {
        let config = self.config();
        serde_json::json!({
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": self.issue_refresh_token(),
        })
    }

    /// A refresh token, as a consent would give.
    pub fn issue_refresh_token(&self) -> String {
        let mut state = self.state();
        let token = state.token("1//rt-");
        state.refresh_tokens.insert(token.clone(), true);
        token
    }

    /// The user (or Google, after 7 days in Testing mode) revokes it: the
    /// token endpoint answers `invalid_grant` from now on.
    pub fn revoke_refresh_token(&self, token: &str) {
        if let Some(live) = self.state().refresh_tokens.get_mut(token) {
            *live = false;
        }
    }

    /// Every access token stops working (401), as when they expire.
    pub fn expire_access_tokens(&self) {
        self.state().access_tokens.clear();
    }

    /// Adds a contact: `fields` as a Person's (names, emailAddresses,
    /// phoneNumbers, ...). Answers its `resourceName` (`people/c<n>`).
    /// Adds a user contact group (a label) named `name`; answers its
    /// resource name, for a person's `memberships`.
    pub fn add_contact_group(&self, name: &str) -> String {
        let mut state = self.state();
        let resource = format!("contactGroups/{:x}", 0x1a2b + state.contact_groups.len());
        state
            .contact_groups
            .insert(resource.clone(), name.to_string());
        resource
    }

    pub fn add_person(&self, fields: Value) -> String {
        let mut state = self.state();
        add_person(&mut state, fields)
    }

    /// Adds many contacts at once (one lock); their resource names in order.
    pub fn add_persons(&self, many: Vec<Value>) -> Vec<String> {
        let mut state = self.state();
        many.into_iter()
            .map(|fields| add_person(&mut state, fields))
            .collect()
    }

    /// The user edits a contact: its fields are replaced by `fields`; a
    /// new etag and `updateTime`. `false` when there is no such person.
    pub fn update_person(&self, resource_name: &str, fields: Value) -> bool {
        let fields = object(fields);
        self.state()
            .change(resource_name, |person| person.fields = fields)
    }

    /// The user deletes a contact: gone from full listings, listed as
    /// `metadata.deleted` by incremental ones.
    pub fn delete_person(&self, resource_name: &str) -> bool {
        self.state()
            .change(resource_name, |person| person.deleted = true)
    }

    /// A person as `connections.list` with every field renders it.
    pub fn person(&self, resource_name: &str) -> Option<Value> {
        let state = self.state();
        let person = state.persons.get(resource_name)?;
        (!person.deleted).then(|| people::render(resource_name, person, None))
    }

    /// Every contact not deleted, by resource name.
    pub fn persons(&self) -> Vec<Value> {
        let state = self.state();
        state
            .persons
            .iter()
            .filter(|(_, p)| !p.deleted)
            .map(|(name, p)| people::render(name, p, None))
            .collect()
    }

    /// A sync token as a full listing with these request parameters (but
    /// `syncToken`/`pageToken`) would have made it now: what an older
    /// release of a client stored, made under other `personFields`.
    pub fn issue_sync_token(&self, params: &[(&str, &str)]) -> String {
        let mut state = self.state();
        let token = state.token("st-");
        let info = SyncTokenInfo {
            bound: people::bound_params(
                &params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            ),
            seq: state.seq,
            full_sync_ms: now_ms(),
        };
        state.sync_tokens.insert(token.clone(), info);
        token
    }

    /// Every sync token issued so far expires (400 `EXPIRED_SYNC_TOKEN`).
    pub fn expire_sync_tokens(&self) {
        let mut state = self.state();
        for info in state.sync_tokens.values_mut() {
            info.full_sync_ms = i64::MIN / 2;
        }
    }

    /// A fault for one upcoming request (People API or token endpoint);
    /// several are used in order.
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// A fault for every request until cleared with `None`.
    pub fn set_persistent_fault(&self, fault: Option<Fault>) {
        self.state().persistent_fault = fault;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    pub fn count_requests(&self, kind: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.state().requests.iter().filter(|r| kind(r)).count()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }
}

fn add_person(state: &mut State, fields: Value) -> String {
    state.next_person += 1;
    state.seq += 1;
    let name = format!("people/c{}", state.next_person);
    let person = StoredPerson {
        fields: object(fields),
        version: 1,
        changed_seq: state.seq,
        updated_ms: now_ms(),
        deleted: false,
    };
    state.persons.insert(name.clone(), person);
    name
}

fn object(value: Value) -> Map<String, Value> {
    let mut fields = match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    // Google sets these itself.
    for key in ["resourceName", "etag", "metadata"] {
        fields.remove(key);
    }
    fields
}
