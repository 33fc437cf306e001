//! One poll of one Google workflow (SPEC section 10), top to bottom: take
//! the workflow's lease → read its OAuth secret (stop here while it still
//! holds the refresh token Google refused) → an access token (reused until
//! it expires) → list pages as `listing` says, each person through
//! `delivery::poll_person` → store the sync state and let the lease go.
//! The only place that orders the poller's I/O.

pub mod listing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::adapters::google::{
    AccessToken, ConnectionsPage, Credentials, Google, GoogleError, GroupNames,
};
use crate::adapters::kvcore::Pacer;
use crate::adapters::metrics;
use crate::adapters::store::{GoogleSyncState, GoogleSyncStore};
use crate::clock::now_ms;
use crate::domain::outcome::Outcome;
use crate::domain::record::name_google_memberships;
use crate::domain::settings::Settings;
use crate::flows::delivery;
use crate::flows::{Invocation, Services, SyncError};
use listing::{ListedPerson, Listing, PageEvent, Step};

/// A page is not asked for with less time than this left: the page itself
/// and a few persons.
const PAGE_MIN_TIME: Duration = Duration::from_secs(5);
/// A person is not started with less time than this left (its lock wait
/// ends 2 s before the deadline).
const PERSON_MIN_TIME: Duration = Duration::from_secs(3);

/// The clients a warm poller keeps for all its runs, and the access tokens
/// it got (per workflow, with the fingerprint of the refresh token behind
/// each, so a reconnected workflow never uses the old one's).
pub struct GooglePoller {
    pub services: Services,
    pub google: Google,
    pub sync_state: GoogleSyncStore,
    tokens: Mutex<HashMap<String, (String, AccessToken)>>,
    /// Per workflow, its contact groups' names and when they were read.
    groups: Mutex<HashMap<String, (Instant, Arc<GroupNames>)>>,
}

/// Contact group names are read again after this long: a label renamed
/// or added in Google shows within it.
const GROUP_NAMES_TTL: Duration = Duration::from_secs(600);

/// One run's time and lease owner.
#[derive(Debug, Clone)]
pub struct Run {
    /// Nothing new is started that cannot end by then.
    pub deadline: Instant,
    pub deadline_ms: i64,
    /// The lease is held until then (unix ms), past `deadline_ms` by the
    /// time kept to write the state.
    pub lease_until_ms: i64,
    /// Who holds the leases: this invocation.
    pub owner: String,
}

/// What a run did for one workflow (the function's JSON summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkflowSummary {
    pub workflow_id: String,
    /// Persons Google listed in this run (deleted ones too).
    pub listed: u64,
    pub created: u64,
    pub updated: u64,
    /// Nothing to change: kvCORE already agreed, the person was already
    /// applied at that etag, or it has not changed since the last listing.
    pub unchanged: u64,
    /// Deleted in Google, outside the workflow's rules, or left out by
    /// `initial_sync` = `changes`.
    pub skipped: u64,
    /// Persons that ended failed (recorded for replay, or listed again
    /// next run when the failure was transient).
    pub failed: u64,
    /// Whether a full listing ran (first run, expired or old token).
    pub full_listing: bool,
    /// The listing completed and its sync token is stored.
    pub finished: bool,
    /// `connections.list` requests.
    pub pages: u32,
    /// Google refuses the refresh token (`invalid_grant`): not polled
    /// until its secret holds a new one (`kvsync google connect`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconnect_needed: bool,
    /// Another run holds this workflow's lease; nothing was done.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub busy: bool,
    /// Why the run stopped early (it carries on next run) or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a listing stopped before its end.
enum Stop {
    /// Out of time, or trouble worth waiting out (Google 429/5xx, kvCORE
    /// or AWS unavailable): the next run carries on.
    Later(String),
}

impl GooglePoller {
    pub fn new(services: Services, google: Google, sync_state: GoogleSyncStore) -> GooglePoller {
        GooglePoller {
            services,
            google,
            sync_state,
            tokens: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// Polls one workflow; every failure ends up in the summary.
    pub async fn poll(&self, settings: &Settings, run: &Run, pacer: &Pacer) -> WorkflowSummary {
        let workflow_id = settings.workflow_id.as_str();
        let mut summary = WorkflowSummary {
            workflow_id: workflow_id.to_string(),
            ..WorkflowSummary::default()
        };
        let leased = self
            .sync_state
            .take_lease(workflow_id, &run.owner, run.lease_until_ms, now_ms())
            .await;
        let mut state = match leased {
            Ok(Some(state)) => state,
            Ok(None) => {
                summary.busy = true;
                return summary;
            }
            Err(error) => {
                summary.error = Some(error.to_string());
                return summary;
            }
        };
        self.poll_leased(settings, run, pacer, &mut state, &mut summary)
            .await;
        state.last_run_ms = Some(now_ms());
        state.last_run = serde_json::to_string(&summary).ok();
        match self
            .sync_state
            .write(workflow_id, &run.owner, &state, true)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                summary.error = Some(
                    "the workflow's lease passed to another run before this one could save; it lists again"
                        .into(),
                );
            }
            Err(error) => summary.error = Some(format!("the sync state was not saved: {error}")),
        }
        summary
    }

    async fn poll_leased(
        &self,
        settings: &Settings,
        run: &Run,
        pacer: &Pacer,
        state: &mut GoogleSyncState,
        summary: &mut WorkflowSummary,
    ) {
        let workflow_id = settings.workflow_id.as_str();
        let credentials = match self.credentials(settings).await {
            Ok(credentials) => credentials,
            Err(error) => {
                summary.error = Some(error);
                return;
            }
        };
        let fingerprint = credentials.fingerprint();
        match &state.reconnect_needed {
            Some(refused) if *refused == fingerprint => {
                reconnect_needed(workflow_id, summary);
                return;
            }
            Some(_) => {
                tracing::info!(
                    workflow_id,
                    "google reconnected: a new refresh token; polling again"
                );
                state.reconnect_needed = None;
                state.reconnect_needed_since_ms = None;
            }
            None => {}
        }

        let mut access = match self
            .access_token(workflow_id, &credentials, run, false)
            .await
        {
            Ok(token) => token,
            Err(GoogleError::InvalidGrant) => {
                state.reconnect_needed = Some(fingerprint);
                state.reconnect_needed_since_ms = Some(now_ms());
                reconnect_needed(workflow_id, summary);
                return;
            }
            Err(error) => {
                summary.error = Some(backoff_message(&error));
                return;
            }
        };

        // `source.labels` needs the names of the person's contact groups.
        let names = match settings.reads_labels() {
            false => None,
            true => match self.group_names(workflow_id, &access, run).await {
                Ok(names) => Some(names),
                Err(error) => {
                    summary.error = Some(format!("contact groups: {}", backoff_message(&error)));
                    return;
                }
            },
        };
        let mut listing = listing::start(state, settings.initial_sync, now_ms());
        loop {
            summary.full_listing |= listing.is_full();
            let event = match self
                .list_page(settings, run, &credentials, &mut access, &listing, summary)
                .await
            {
                Ok(page) => {
                    match self
                        .sync_page(
                            settings,
                            run,
                            pacer,
                            Listed {
                                listing: &listing,
                                page: &page,
                                names: names.as_deref(),
                            },
                            summary,
                        )
                        .await
                    {
                        Ok(()) => PageEvent::Listed {
                            next_page_token: page.next_page_token.clone(),
                            next_sync_token: page.next_sync_token.clone(),
                        },
                        Err(Stop::Later(why)) => {
                            summary.error = Some(why);
                            PageEvent::Stopped
                        }
                    }
                }
                Err(PageError::Expired) => {
                    tracing::info!(workflow_id, "google sync token expired; listing everyone");
                    PageEvent::SyncTokenExpired
                }
                Err(PageError::Rejected(message)) => {
                    summary.error = Some(message);
                    PageEvent::Rejected
                }
                Err(PageError::Stop(Stop::Later(why))) => {
                    summary.error = Some(why);
                    PageEvent::Stopped
                }
                Err(PageError::InvalidGrant) => {
                    state.reconnect_needed = Some(credentials.fingerprint());
                    state.reconnect_needed_since_ms = Some(now_ms());
                    reconnect_needed(workflow_id, summary);
                    PageEvent::Stopped
                }
            };
            let listed = matches!(event, PageEvent::Listed { .. });
            match listing.on(event, state, settings.initial_sync, now_ms()) {
                Step::Fetch(next) => {
                    if listed {
                        // Saved after every page: a run killed past its
                        // deadline loses at most the page it was on.
                        state.cursor = Some(cursor_of(&next));
                        if let Ok(false) | Err(_) = self
                            .sync_state
                            .write(workflow_id, &run.owner, state, false)
                            .await
                        {
                            summary.error =
                                Some("the listing's progress could not be saved".into());
                            return;
                        }
                    }
                    summary.error = None;
                    listing = next;
                }
                Step::Finished(done) => {
                    state.sync_token = done.sync_token;
                    state.sync_token_fields = done.sync_token_fields;
                    state.full_listing_ms = done.full_listing_ms;
                    state.synced_through_ms = Some(done.synced_through_ms);
                    state.cursor = None;
                    summary.finished = true;
                    return;
                }
                Step::Paused(cursor) => {
                    state.cursor = Some(cursor);
                    return;
                }
                Step::Failed => {
                    state.cursor = None;
                    return;
                }
            }
        }
    }

    /// The workflow's contact group names (`contactGroups.list`), kept
    /// `GROUP_NAMES_TTL` in a warm container.
    async fn group_names(
        &self,
        workflow_id: &str,
        access: &AccessToken,
        run: &Run,
    ) -> Result<Arc<GroupNames>, GoogleError> {
        let cached = self
            .groups
            .lock()
            .ok()
            .and_then(|groups| groups.get(workflow_id).cloned());
        if let Some((read_at, names)) = cached
            && read_at.elapsed() < GROUP_NAMES_TTL
        {
            return Ok(names);
        }
        let names = Arc::new(
            self.google
                .contact_group_names(access, run.deadline)
                .await?,
        );
        if let Ok(mut groups) = self.groups.lock() {
            groups.insert(workflow_id.to_string(), (Instant::now(), names.clone()));
        }
        Ok(names)
    }

    /// The workflow's OAuth client and refresh token.
    async fn credentials(&self, settings: &Settings) -> Result<Credentials, String> {
        let id = settings.google_oauth_secret.as_deref().unwrap_or_default();
        let secret = self
            .services
            .secrets
            .get(id)
            .await
            .map_err(|e| format!("google_oauth_secret '{id}': {e}"))?;
        Credentials::parse(&secret).map_err(|e| format!("google_oauth_secret '{id}': {e}"))
    }

    /// The workflow's access token: the one this container holds while it
    /// is fresh and from the same refresh token, else a new one.
    async fn access_token(
        &self,
        workflow_id: &str,
        credentials: &Credentials,
        run: &Run,
        renew: bool,
    ) -> Result<AccessToken, GoogleError> {
        let fingerprint = credentials.fingerprint();
        if !renew
            && let Ok(tokens) = self.tokens.lock()
            && let Some((held_for, token)) = tokens.get(workflow_id)
            && *held_for == fingerprint
            && token.is_fresh()
        {
            return Ok(token.clone());
        }
        let token = self.google.refresh(credentials, run.deadline).await;
        if let Ok(mut tokens) = self.tokens.lock() {
            match &token {
                Ok(token) => {
                    tokens.insert(workflow_id.to_string(), (fingerprint, token.clone()));
                }
                Err(_) => {
                    tokens.remove(workflow_id);
                }
            }
        }
        token
    }

    /// One page of the listing; a 401 renews the access token once.
    async fn list_page(
        &self,
        settings: &Settings,
        run: &Run,
        credentials: &Credentials,
        access: &mut AccessToken,
        listing: &Listing,
        summary: &mut WorkflowSummary,
    ) -> Result<ConnectionsPage, PageError> {
        if Instant::now() + PAGE_MIN_TIME >= run.deadline {
            return Err(PageError::Stop(Stop::Later(
                "out of time in this run; the next run carries on".into(),
            )));
        }
        for attempt in 0..2 {
            summary.pages += 1;
            let page = self
                .google
                .connections(access, listing.request(), run.deadline)
                .await;
            match page {
                Ok(page) => return Ok(page),
                Err(GoogleError::Unauthenticated) if attempt == 0 => {
                    match self
                        .access_token(&settings.workflow_id, credentials, run, true)
                        .await
                    {
                        Ok(token) => *access = token,
                        Err(GoogleError::InvalidGrant) => return Err(PageError::InvalidGrant),
                        Err(error) => {
                            return Err(PageError::Stop(Stop::Later(backoff_message(&error))));
                        }
                    }
                }
                Err(GoogleError::ExpiredSyncToken) => return Err(PageError::Expired),
                Err(GoogleError::BadRequest(message)) => {
                    return Err(PageError::Rejected(format!(
                        "Google refused the listing (400): {message}"
                    )));
                }
                Err(error) => return Err(PageError::Stop(Stop::Later(backoff_message(&error)))),
            }
        }
        Err(PageError::Stop(Stop::Later(
            "Google refused a fresh access token (401)".into(),
        )))
    }

    /// Syncs the persons of one page that the listing wants, in order.
    async fn sync_page(
        &self,
        settings: &Settings,
        run: &Run,
        pacer: &Pacer,
        listed_page: Listed<'_>,
        summary: &mut WorkflowSummary,
    ) -> Result<(), Stop> {
        let Listed {
            listing,
            page,
            names,
        } = listed_page;
        let invocation = Invocation {
            deadline: run.deadline,
            deadline_ms: run.deadline_ms,
        };
        for person in &page.connections {
            summary.listed += 1;
            let Some(listed) = ListedPerson::of(person) else {
                summary.skipped += 1;
                continue;
            };
            if listed.deleted {
                summary.skipped += 1;
                continue;
            }
            if !listing.persons.wants(listed.updated_ms) {
                match listing.persons {
                    crate::adapters::store::SyncPersons::ChangedSince(_) => summary.unchanged += 1,
                    _ => summary.skipped += 1,
                }
                continue;
            }
            if Instant::now() + PERSON_MIN_TIME >= run.deadline {
                return Err(Stop::Later(
                    "out of time in this run; the next run carries on".into(),
                ));
            }
            let body = match names {
                Some(names) => {
                    let mut named = person.clone();
                    name_google_memberships(&mut named, names);
                    serde_json::to_vec(&named).unwrap_or_default()
                }
                None => serde_json::to_vec(person).unwrap_or_default(),
            };
            let answer = delivery::poll_person(
                &self.services,
                settings,
                &listed.event_id,
                &body,
                invocation,
                pacer,
            )
            .await;
            match answer {
                Ok(answer) if answer.duplicate => summary.unchanged += 1,
                Ok(answer) => {
                    for result in &answer.results {
                        match result.outcome {
                            Outcome::Created => summary.created += 1,
                            Outcome::Updated => summary.updated += 1,
                            Outcome::Unchanged => summary.unchanged += 1,
                            Outcome::Skipped => summary.skipped += 1,
                        }
                    }
                }
                Err(error) => {
                    summary.failed += 1;
                    let code = error.code();
                    tracing::warn!(
                        workflow_id = %settings.workflow_id,
                        event_id = %listed.event_id,
                        code,
                        %error,
                        "google person failed"
                    );
                    if stops_the_listing(&error) {
                        return Err(Stop::Later(format!(
                            "{code}: {error}; the next run lists this page again"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A page as listed, with what its persons need: the listing it belongs
/// to and the contact groups' names (when `source.labels` is read).
struct Listed<'a> {
    listing: &'a Listing,
    page: &'a ConnectionsPage,
    names: Option<&'a GroupNames>,
}

enum PageError {
    Expired,
    Rejected(String),
    InvalidGrant,
    Stop(Stop),
}

/// Whether a person's failure stops the listing (the page is listed again
/// next run) rather than being recorded and passed: everything but a
/// person kvCORE or the parser refuses for itself would fail the persons
/// after it too, or may pass on a later try.
fn stops_the_listing(error: &SyncError) -> bool {
    !matches!(error.code(), "invalid_payload" | "kvcore_rejected")
}

fn cursor_of(listing: &Listing) -> crate::adapters::store::ListingCursor {
    crate::adapters::store::ListingCursor {
        kind: listing.kind.clone(),
        page_token: listing.page_token.clone(),
        started_ms: listing.started_ms,
        persons: listing.persons,
    }
}

/// Logs, meters and reports a workflow whose refresh token Google refuses.
fn reconnect_needed(workflow_id: &str, summary: &mut WorkflowSummary) {
    tracing::error!(
        workflow_id,
        "google reconnect needed: Google refuses the refresh token (invalid_grant); run `kvsync google connect`"
    );
    metrics::emit(&[metrics::reconnect_needed_record(workflow_id)]);
    summary.reconnect_needed = true;
    summary.error = Some(
        "reconnect_needed: Google refuses the refresh token (invalid_grant); run `kvsync google connect`"
            .into(),
    );
}

fn backoff_message(error: &GoogleError) -> String {
    if error.is_transient() {
        format!("{error}; backing off to the next run")
    } else {
        error.to_string()
    }
}
