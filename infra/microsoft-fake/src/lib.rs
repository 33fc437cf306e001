//! A stateful fake of the Microsoft endpoints kvsync's `microsoft-poller`
//! and `kvsync microsoft connect` use (SPEC section 15), following
//! Microsoft's public documentation and no kinder, for tests (in-process)
//! and `make dev`:
//!
//! - Microsoft Graph `contact: delta`
//!   (<https://learn.microsoft.com/graph/api/contact-delta>) under
//!   `/v1.0/me/contactFolders/{id}/contacts/delta`, with the delta rounds
//!   of "Use delta query to track changes in Microsoft Graph data"
//!   (<https://learn.microsoft.com/graph/delta-query-overview>): a round's
//!   pages link on with `@odata.nextLink` (`$skiptoken`), its last page
//!   carries `@odata.deltaLink` (`$deltatoken`) and only the last page
//!   does; a round from a delta link lists what changed since, deleted
//!   contacts as `{"id", "@removed": {"reason": "deleted"}}`; a delta
//!   token whose state is gone answers 410 Gone (`syncStateNotFound`,
//!   with a `Location` to start over). Pages honour `Prefer:
//!   odata.maxpagesize` up to 200 contacts and answer
//!   `Preference-Applied`; without it a page holds 10 (Outlook's default
//!   page size; "Paging Microsoft Graph data in your app",
//!   <https://learn.microsoft.com/graph/paging>). The well-known folder
//!   name `contacts` is the default Contacts folder; `GET
//!   /v1.0/me/contactFolders` lists the folders under it
//!   (<https://learn.microsoft.com/graph/api/user-list-contactfolders>).
//!   Every contact has an `id`, a `changeKey` that changes with it and
//!   `lastModifiedDateTime`
//!   (<https://learn.microsoft.com/graph/api/resources/contact>).
//!   Requests need `Authorization: Bearer` with a live access token (401
//!   `InvalidAuthenticationToken` otherwise). Throttling answers 429 (or
//!   503) with `Retry-After` seconds
//!   (<https://learn.microsoft.com/graph/throttling>), injected per request.
//! - The Microsoft identity platform token endpoint
//!   `/{tenant}/oauth2/v2.0/token`
//!   (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>,
//!   "Refresh the access token"): `grant_type=refresh_token` with the
//!   app's `client_id` and a `scope`; the answer carries a NEW refresh token
//!   when `offline_access` is asked ("Refresh tokens replace themselves
//!   with a fresh token upon every use") and, the harsher reading, the one
//!   used stops working; a revoked or used refresh token answers 400
//!   `invalid_grant`; an unknown app 400 `unauthorized_client`.
//! - The device authorization grant
//!   (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>,
//!   RFC 8628): `/{tenant}/oauth2/v2.0/devicecode` answers `device_code`,
//!   `user_code`, `verification_uri`, `expires_in` (900 s) and `interval`
//!   (5 s); polling the token endpoint with
//!   `grant_type=urn:ietf:params:oauth:grant-type:device_code` answers
//!   `authorization_pending` until the person signs in, `slow_down` when
//!   polled faster than the interval, `expired_token` past `expires_in`,
//!   `authorization_declined`, `bad_verification_code` for an unknown code.
//!   The sign-in page `/devicelogin` (the `verification_uri`) takes the
//!   user code, as the person would type it.

mod admin;
mod graph;
mod oauth;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use serde_json::{Map, Value};

/// The app registration the fake knows, and lifetimes.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// The tenant the app lives in; `common` and `organizations` are
    /// taken too.
    pub tenant: String,
    /// `expires_in` of access tokens (Microsoft: 3599 s and more).
    pub access_token_ttl: Duration,
    /// `interval` of a device code (Microsoft: 5 s).
    pub device_interval: Duration,
    /// `expires_in` of a device code (Microsoft: 900 s).
    pub device_code_ttl: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            client_id: "00000000-0000-4000-8000-00000000c0de".into(),
            tenant: "kvsync-test.onmicrosoft.com".into(),
            access_token_ttl: Duration::from_secs(3599),
            device_interval: Duration::from_secs(5),
            device_code_ttl: Duration::from_secs(900),
        }
    }
}

/// Trouble to answer a Graph request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 (or 503) with `Retry-After` seconds.
    Throttled { status: u16, retry_after_s: u64 },
    /// That status (5xx) with a Graph error body.
    Status(u16),
}

/// A request as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `delta`, `folders`, `token` or `devicecode`.
    pub endpoint: &'static str,
    /// Decoded query (Graph) or form (token) pairs; secrets are recorded
    /// as `<redacted>`. The Graph folder is recorded as `folder`.
    pub params: Vec<(String, String)>,
    /// The `Prefer` header (Graph).
    pub prefer: Option<String>,
    pub status: u16,
}

impl RecordedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_delta(&self) -> bool {
        self.endpoint == "delta"
    }

    pub fn is_token(&self) -> bool {
        self.endpoint == "token"
    }
}

/// One contact, as the fake keeps it.
#[derive(Debug, Clone)]
struct StoredContact {
    /// The folder id it is in.
    folder: String,
    /// The contact's fields (givenName, emailAddresses, ...), without the
    /// ones Graph sets.
    fields: Map<String, Value>,
    /// Bumped by every change: the `changeKey` follows it.
    version: u64,
    /// The change sequence number of its last change.
    changed_seq: u64,
    /// `lastModifiedDateTime` (unix ms).
    modified_ms: i64,
    created_ms: i64,
    deleted: bool,
}

/// A delta token as issued: the state of a folder up to `seq`.
#[derive(Debug, Clone)]
struct DeltaState {
    folder: String,
    seq: u64,
    /// The state is gone: 410.
    gone: bool,
}

/// What a skip token continues.
#[derive(Debug, Clone)]
struct RoundCursor {
    folder: String,
    /// From a delta token: changes after this; `None`: every contact.
    since_seq: Option<u64>,
    /// The round's snapshot: changes up to here.
    until_seq: u64,
    page_size: usize,
    /// Contacts after this (change sequence, id) come next.
    after: (u64, String),
}

#[derive(Debug, Clone)]
struct DeviceCode {
    user_code: String,
    expires_ms: i64,
    interval_ms: i64,
    last_poll_ms: Option<i64>,
    signed_in: bool,
    declined: bool,
    used: bool,
    scope: String,
}

pub(crate) struct State {
    config: FakeConfig,
    /// Folder id → display name; the default Contacts folder is not here.
    folders: BTreeMap<String, String>,
    contacts: BTreeMap<String, StoredContact>,
    next_id: u64,
    seq: u64,
    access_tokens: HashMap<String, i64>,
    /// Refresh token → live.
    refresh_tokens: HashMap<String, bool>,
    delta_tokens: HashMap<String, DeltaState>,
    skip_tokens: HashMap<String, RoundCursor>,
    device_codes: HashMap<String, DeviceCode>,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
}

/// The default Contacts folder's id (its well-known name is `contacts`).
pub const DEFAULT_FOLDER_ID: &str = "AAMkADefaultContacts";

impl State {
    fn token(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:06}{:x}", self.next_id, now_ms() % 0xffff)
    }

    fn change(&mut self, id: &str, edit: impl FnOnce(&mut StoredContact)) -> bool {
        self.seq += 1;
        let seq = self.seq;
        match self.contacts.get_mut(id) {
            Some(contact) if !contact.deleted => {
                edit(contact);
                contact.version += 1;
                contact.changed_seq = seq;
                contact.modified_ms = now_ms();
                true
            }
            _ => false,
        }
    }

    /// A folder id from the URL: `contacts` is the default folder.
    fn folder_id(&self, name: &str) -> Option<String> {
        if name.eq_ignore_ascii_case("contacts") || name == DEFAULT_FOLDER_ID {
            Some(DEFAULT_FOLDER_ID.to_string())
        } else {
            self.folders.contains_key(name).then(|| name.to_string())
        }
    }

    fn issue_refresh_token(&mut self) -> String {
        let token = self.token("M.C5-rt-");
        self.refresh_tokens.insert(token.clone(), true);
        token
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
pub struct FakeMicrosoft {
    state: Shared,
    addr: SocketAddr,
}

impl FakeMicrosoft {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeMicrosoft> {
        FakeMicrosoft::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` (port 0: a free one).
    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeMicrosoft> {
        let state = Arc::new(Mutex::new(State {
            config,
            folders: BTreeMap::new(),
            contacts: BTreeMap::new(),
            next_id: 1000,
            seq: 0,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            delta_tokens: HashMap::new(),
            skip_tokens: HashMap::new(),
            device_codes: HashMap::new(),
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .merge(graph::routes())
            .merge(oauth::routes())
            .merge(admin::routes())
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "microsoft-fake stopped");
            }
        });
        Ok(FakeMicrosoft { state, addr })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1.0`: what `MICROSOFT_GRAPH_BASE_URL` should be.
    pub fn graph_base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`: what
    /// `MICROSOFT_TOKEN_URL` should be (kvsync puts the tenant in).
    pub fn token_url(&self) -> String {
        format!("http://{}/{{tenant}}/oauth2/v2.0/token", self.addr)
    }

    /// The sign-in page a device code is entered at.
    pub fn device_login_url(&self) -> String {
        format!("http://{}/devicelogin", self.addr)
    }

    pub fn config(&self) -> FakeConfig {
        self.state().config.clone()
    }

    /// The `microsoft_oauth_secret` JSON of a fresh sign-in: the app
    /// registration and a new refresh token.
    pub fn oauth_secret(&self) -> Value {
        let config = self.config();
        serde_json::json!({
            "tenant": config.tenant,
            "client_id": config.client_id,
            "refresh_token": self.issue_refresh_token(),
        })
    }

    /// A refresh token, as a sign-in would give.
    pub fn issue_refresh_token(&self) -> String {
        self.state().issue_refresh_token()
    }

    /// Whether a refresh token is still honoured.
    pub fn refresh_token_is_live(&self, token: &str) -> bool {
        self.state()
            .refresh_tokens
            .get(token)
            .copied()
            .unwrap_or(false)
    }

    /// The user (or an admin) revokes the grant: every refresh token
    /// answers `invalid_grant` from now on, and every access token 401.
    pub fn revoke_grants(&self) {
        let mut state = self.state();
        for live in state.refresh_tokens.values_mut() {
            *live = false;
        }
        state.access_tokens.clear();
    }

    /// Every access token stops working (401), as when they expire.
    pub fn expire_access_tokens(&self) {
        self.state().access_tokens.clear();
    }

    /// Adds a contact folder under the default Contacts folder; its id.
    pub fn add_folder(&self, display_name: &str) -> String {
        let mut state = self.state();
        let id = state.token("AAMkFolder");
        state.folders.insert(id.clone(), display_name.to_string());
        id
    }

    /// Adds a contact to the default Contacts folder: `fields` as a
    /// Graph contact's (givenName, emailAddresses, ...). Answers its id.
    pub fn add_contact(&self, fields: Value) -> String {
        self.add_contact_to(DEFAULT_FOLDER_ID, fields)
    }

    /// Adds a contact to a folder (an id from `add_folder`).
    pub fn add_contact_to(&self, folder: &str, fields: Value) -> String {
        add_contact(&mut self.state(), folder, fields)
    }

    /// Adds many contacts to the default folder at once (one lock).
    pub fn add_contacts(&self, many: Vec<Value>) -> Vec<String> {
        let mut state = self.state();
        many.into_iter()
            .map(|fields| add_contact(&mut state, DEFAULT_FOLDER_ID, fields))
            .collect()
    }

    /// The user edits a contact: its fields are replaced; a new
    /// `changeKey` and `lastModifiedDateTime`.
    pub fn update_contact(&self, id: &str, fields: Value) -> bool {
        let fields = object(fields);
        self.state().change(id, |contact| contact.fields = fields)
    }

    /// The user deletes a contact: gone from full rounds, `@removed` in
    /// rounds from a delta link.
    pub fn delete_contact(&self, id: &str) -> bool {
        self.state().change(id, |contact| contact.deleted = true)
    }

    /// A contact as Graph renders it.
    pub fn contact(&self, id: &str) -> Option<Value> {
        let state = self.state();
        let contact = state.contacts.get(id)?;
        (!contact.deleted).then(|| graph::render(id, contact))
    }

    /// The state behind every delta token issued so far is gone (410).
    pub fn lose_delta_state(&self) {
        for state in self.state().delta_tokens.values_mut() {
            state.gone = true;
        }
    }

    /// A fault for one upcoming Graph request; several are used in order.
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// The person signs in at the device login page with this user code.
    pub fn sign_in(&self, user_code: &str) -> bool {
        oauth::sign_in(&mut self.state(), user_code, true)
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

fn add_contact(state: &mut State, folder: &str, fields: Value) -> String {
    let folder = state
        .folder_id(folder)
        .unwrap_or_else(|| DEFAULT_FOLDER_ID.to_string());
    state.seq += 1;
    let id = state.token("AAMkContact");
    let now = now_ms();
    state.contacts.insert(
        id.clone(),
        StoredContact {
            folder,
            fields: object(fields),
            version: 1,
            changed_seq: state.seq,
            modified_ms: now,
            created_ms: now,
            deleted: false,
        },
    );
    id
}

fn object(value: Value) -> Map<String, Value> {
    let mut fields = match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    // Graph sets these itself.
    for key in [
        "id",
        "changeKey",
        "lastModifiedDateTime",
        "createdDateTime",
        "parentFolderId",
        "@odata.etag",
        "@removed",
    ] {
        fields.remove(key);
    }
    fields
}
