//! One poll of one polled workflow, whatever its source (Google, SPEC
//! section 10; Microsoft, section 15), top to bottom: take the workflow's
//! lease → read its OAuth secret (stop here while it still holds the
//! refresh token the source refused) → an access token (reused until it
//! expires) → the workflow's listings (Google: one; Microsoft: one per
//! contact folder, each under its own lease and state item) → list pages
//! as the listing state machine (`google_poll::listing`) says, each person
//! through `delivery::poll_person` → store the state and let the leases go.
//! The only place that orders a poller's I/O; what differs per source is
//! behind `PolledSource` (the secret, the token, the listings, one page,
//! and what a listed record says), implemented in `google_poll` and
//! `microsoft_poll`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::adapters::google::AccessToken;
use crate::adapters::kvcore::Pacer;
use crate::adapters::metrics;
use crate::adapters::store::{GoogleSyncState, GoogleSyncStore, SyncPersons, WorkflowError};
use crate::clock::now_ms;
use crate::domain::outcome::Outcome;
use crate::domain::settings::{DEFAULT_KVCORE_MAX_RPS, InitialSync, Settings, kvcore_rates};
use crate::flows::delivery;
use crate::flows::google_poll::listing::{ListedPerson, Listing, PageEvent, Step};
use crate::flows::scheduled::{InvalidWorkflow, keep_margin, skipped_workflows, time_left};
use crate::flows::{Invocation, Services, SyncError};

/// A page is not asked for with less time than this left: the page itself
/// and a few persons.
pub const PAGE_MIN_TIME: Duration = Duration::from_secs(5);
/// A person is not started with less time than this left (its lock wait
/// ends 2 s before the deadline).
const PERSON_MIN_TIME: Duration = Duration::from_secs(3);
/// Time kept back from the invocation deadline, at most: the last
/// person's record and the state's write.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
/// Without a Lambda context deadline (never in Lambda itself).
const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

/// What a polled source answered instead of a page or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The refresh token is refused (`invalid_grant`): reconnect needed.
    InvalidGrant,
    /// The access token is refused (401): renew it once.
    Unauthenticated,
    /// The stored token of an incremental listing is gone (Google
    /// `EXPIRED_SYNC_TOKEN`, Graph 410): list everything again.
    Expired,
    /// The request is refused (400): with a page token, the page token is
    /// stale; the message says what the source said.
    Rejected(String),
    /// Trouble worth waiting out (429, 5xx, timeouts, a misnamed folder
    /// the user may fix): the next run carries on.
    Later(String),
}

/// One listing of a workflow: Google's contacts, or one Microsoft folder.
#[derive(Debug, Clone)]
pub struct Stream<T> {
    /// `None`: its state is the workflow's own item; else the state item
    /// `{workflow_id}#{key}` (a Microsoft folder id).
    pub key: Option<String>,
    /// What the source needs to list it (a folder id).
    pub target: T,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct SourcePage {
    /// The records as the source sent them.
    pub records: Vec<Value>,
    /// The next page (Google `nextPageToken`, Graph `@odata.nextLink`).
    pub next_page: Option<String>,
    /// On the last page: the next listing's token (Google
    /// `nextSyncToken`, Graph `@odata.deltaLink`).
    pub next_sync: Option<String>,
}

/// What differs between polled sources. The flow calls these in order;
/// each is one source's HTTP (through its adapter) or a pure reading.
pub trait PolledSource: Send + Sync {
    /// `google`, `microsoft`: logs and messages.
    const NAME: &'static str;
    /// The command that fixes `invalid_grant`.
    const CONNECT: &'static str;
    /// The workflow's secret, read once per run.
    type Credentials: Send + Sync;
    /// What a listing needs besides its state (a folder id).
    type Target: Send + Sync;

    /// Whether this poller polls the workflow.
    fn polls(settings: &Settings) -> bool;

    /// Reads and checks the workflow's OAuth secret; the error names the
    /// secret and what is wrong, never a value.
    fn credentials(
        &self,
        services: &Services,
        settings: &Settings,
    ) -> impl Future<Output = Result<Self::Credentials, String>> + Send;

    /// A fingerprint of the refresh token (never the token).
    fn fingerprint(credentials: &Self::Credentials) -> String;

    /// A new access token. A source that rotates refresh tokens stores
    /// the new one and updates `credentials`.
    fn refresh(
        &self,
        services: &Services,
        credentials: &mut Self::Credentials,
        deadline: Instant,
    ) -> impl Future<Output = Result<AccessToken, SourceError>> + Send;

    /// The workflow's listings.
    fn streams(
        &self,
        settings: &Settings,
        access: &AccessToken,
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<Stream<Self::Target>>, SourceError>> + Send;

    /// The first request of a run over a listing's stored state.
    fn start(&self, state: &GoogleSyncState, initial_sync: InitialSync, now_ms: i64) -> Listing;

    /// One page of a listing.
    fn page(
        &self,
        access: &AccessToken,
        target: &Self::Target,
        listing: &Listing,
        deadline: Instant,
    ) -> impl Future<Output = Result<SourcePage, SourceError>> + Send;

    /// What the poller reads of a listed record before syncing it; `None`
    /// for an entry with nothing to sync.
    fn listed(record: &Value) -> Option<ListedPerson>;

    /// The EMF record of a workflow whose refresh token is refused.
    fn reconnect_metric(workflow_id: &str) -> Value;
}

/// The clients a warm poller keeps for all its runs, and the access tokens
/// it got (per workflow, with the fingerprint of the refresh token behind
/// each, so a reconnected workflow never uses the old one's).
pub struct Poller<S> {
    pub services: Services,
    pub source: S,
    pub sync_state: GoogleSyncStore,
    tokens: Mutex<HashMap<String, (String, AccessToken)>>,
}

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

impl Run {
    /// A run of an invocation whose Lambda deadline is `lambda_deadline_ms`
    /// (unix ms, 0 outside Lambda), held by `owner`.
    pub fn for_invocation(lambda_deadline_ms: u64, owner: String) -> Run {
        let now = now_ms();
        let remaining = time_left(lambda_deadline_ms, now, DEFAULT_BUDGET);
        let budget = keep_margin(remaining, DEADLINE_MARGIN);
        Run {
            deadline: Instant::now() + budget,
            deadline_ms: now + budget.as_millis() as i64,
            lease_until_ms: now + remaining.as_millis() as i64,
            owner,
        }
    }
}

/// What a run did for one workflow (the function's JSON summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkflowSummary {
    pub workflow_id: String,
    /// Records the source listed in this run (deleted ones too).
    pub listed: u64,
    pub created: u64,
    pub updated: u64,
    /// Nothing to change: kvCORE already agreed, the person was already
    /// applied at that version, or it has not changed since the last
    /// listing.
    pub unchanged: u64,
    /// Deleted in the source, outside the workflow's rules, or left out by
    /// `initial_sync` = `changes`.
    pub skipped: u64,
    /// Persons that ended failed (recorded for replay, or listed again
    /// next run when the failure was transient).
    pub failed: u64,
    /// Whether a full listing ran (first run, expired or old token).
    pub full_listing: bool,
    /// Every listing completed and its token is stored.
    pub finished: bool,
    /// Listing requests.
    pub pages: u32,
    /// The source refuses the refresh token (`invalid_grant`): not polled
    /// until its secret holds a new one (`kvsync <source> connect`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconnect_needed: bool,
    /// Another run holds this workflow's lease; nothing was done.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub busy: bool,
    /// Why the run stopped early (it carries on next run) or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run did: one entry per polled workflow, and the workflows it
/// could not read.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub workflows: Vec<WorkflowSummary>,
    /// Misconfigured workflow items (SPEC section 3), each with its error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_workflows: Vec<InvalidWorkflow>,
}

/// How a listing ended in this run.
enum Ended {
    /// Completed: its token is stored.
    Finished,
    /// Paused at a cursor (the next run carries on) or failed; the
    /// summary's error says why.
    Incomplete,
    /// The refresh token is refused.
    InvalidGrant,
    /// The progress could not be saved: stop the workflow's run.
    Unsaved,
}

impl<S: PolledSource> Poller<S> {
    pub fn new(services: Services, source: S, sync_state: GoogleSyncStore) -> Poller<S> {
        Poller {
            services,
            source,
            sync_state,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// One scheduled run: every workflow this poller polls, in turn, each
    /// under its own lease, so one failing stops no other; kvCORE is paced
    /// per token at the lowest `kvcore_max_rps` of its workflows, shared
    /// with every other function on the token through the pacing table
    /// (SPEC section 11).
    pub async fn poll_all(&self, run: &Run) -> Result<RunSummary, WorkflowError> {
        let all = self.services.workflows.all().await?;
        let invalid_workflows = skipped_workflows(&all.invalid);
        let mut polled: Vec<&Settings> = all.valid.iter().filter(|s| S::polls(s)).collect();
        polled.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
        let pacing = self.services.pacing.as_ref();
        let pacers: HashMap<String, Pacer> = kvcore_rates(polled.iter().copied())
            .into_iter()
            .map(|(secret, rate)| {
                let pacer = Pacer::for_token(pacing, &secret, rate);
                (secret, pacer)
            })
            .collect();
        let fallback = Pacer::per_second(DEFAULT_KVCORE_MAX_RPS);

        let mut workflows = Vec::new();
        for settings in polled {
            let pacer = pacers
                .get(&settings.kvcore_token_secret)
                .unwrap_or(&fallback);
            let summary = self.poll(settings, run, pacer).await;
            tracing::info!(
                source = S::NAME,
                workflow_id = %summary.workflow_id,
                listed = summary.listed,
                created = summary.created,
                updated = summary.updated,
                unchanged = summary.unchanged,
                skipped = summary.skipped,
                failed = summary.failed,
                full_listing = summary.full_listing,
                finished = summary.finished,
                busy = summary.busy,
                reconnect_needed = summary.reconnect_needed,
                error = summary.error.as_deref().unwrap_or(""),
                "{} workflow polled",
                S::NAME
            );
            workflows.push(summary);
        }
        Ok(RunSummary {
            workflows,
            invalid_workflows,
        })
    }

    /// Polls one workflow; every failure ends up in the summary.
    pub async fn poll(&self, settings: &Settings, run: &Run, pacer: &Pacer) -> WorkflowSummary {
        let workflow_id = settings.workflow_id.as_str();
        let mut summary = WorkflowSummary {
            workflow_id: workflow_id.to_string(),
            ..WorkflowSummary::default()
        };
        let mut state = match self.lease(workflow_id, run).await {
            Ok(Some(state)) => state,
            Ok(None) => {
                summary.busy = true;
                return summary;
            }
            Err(error) => {
                summary.error = Some(error);
                return summary;
            }
        };
        self.poll_leased(settings, run, pacer, &mut state, &mut summary)
            .await;
        state.last_run_ms = Some(now_ms());
        state.last_run = serde_json::to_string(&summary).ok();
        self.save(workflow_id, run, &state, &mut summary).await;
        summary
    }

    async fn lease(&self, key: &str, run: &Run) -> Result<Option<GoogleSyncState>, String> {
        self.sync_state
            .take_lease(key, &run.owner, run.lease_until_ms, now_ms())
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes a state item and lets its lease go.
    async fn save(
        &self,
        key: &str,
        run: &Run,
        state: &GoogleSyncState,
        summary: &mut WorkflowSummary,
    ) {
        match self.sync_state.write(key, &run.owner, state, true).await {
            Ok(true) => {}
            Ok(false) => {
                summary.error = Some(
                    "the workflow's lease passed to another run before this one could save; it lists again"
                        .into(),
                );
            }
            Err(error) => summary.error = Some(format!("the sync state was not saved: {error}")),
        }
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
        let mut credentials = match self.source.credentials(&self.services, settings).await {
            Ok(credentials) => credentials,
            Err(error) => {
                summary.error = Some(error);
                return;
            }
        };
        let fingerprint = S::fingerprint(&credentials);
        match &state.reconnect_needed {
            Some(refused) if *refused == fingerprint => {
                reconnect_needed::<S>(workflow_id, summary);
                return;
            }
            Some(_) => {
                tracing::info!(
                    workflow_id,
                    "{} reconnected: a new refresh token; polling again",
                    S::NAME
                );
                state.reconnect_needed = None;
                state.reconnect_needed_since_ms = None;
            }
            None => {}
        }

        let mut access = match self
            .access_token(workflow_id, &mut credentials, run, false)
            .await
        {
            Ok(token) => token,
            Err(SourceError::InvalidGrant) => {
                mark_reconnect_needed::<S>(state, fingerprint, summary, workflow_id);
                return;
            }
            Err(error) => {
                summary.error = Some(message_of(error));
                return;
            }
        };
        let streams = match self.source.streams(settings, &access, run.deadline).await {
            Ok(streams) => streams,
            Err(SourceError::InvalidGrant) => {
                mark_reconnect_needed::<S>(state, fingerprint, summary, workflow_id);
                return;
            }
            Err(error) => {
                summary.error = Some(message_of(error));
                return;
            }
        };

        summary.finished = true;
        for stream in &streams {
            let ended = match &stream.key {
                None => {
                    self.list(
                        settings,
                        workflow_id,
                        run,
                        pacer,
                        (&mut credentials, &mut access),
                        &stream.target,
                        state,
                        summary,
                    )
                    .await
                }
                Some(key) => {
                    let item = format!("{workflow_id}#{key}");
                    let mut stream_state = match self.lease(&item, run).await {
                        Ok(Some(stream_state)) => stream_state,
                        Ok(None) => {
                            summary.busy = true;
                            summary.finished = false;
                            return;
                        }
                        Err(error) => {
                            summary.error = Some(error);
                            summary.finished = false;
                            return;
                        }
                    };
                    let ended = self
                        .list(
                            settings,
                            &item,
                            run,
                            pacer,
                            (&mut credentials, &mut access),
                            &stream.target,
                            &mut stream_state,
                            summary,
                        )
                        .await;
                    self.save(&item, run, &stream_state, summary).await;
                    ended
                }
            };
            match ended {
                Ended::Finished => {}
                Ended::Incomplete | Ended::Unsaved => {
                    summary.finished = false;
                    return;
                }
                Ended::InvalidGrant => {
                    summary.finished = false;
                    mark_reconnect_needed::<S>(state, fingerprint, summary, workflow_id);
                    return;
                }
            }
        }
    }

    /// Runs one listing over its state item `key` until it completes,
    /// pauses or fails; the state says which.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        settings: &Settings,
        key: &str,
        run: &Run,
        pacer: &Pacer,
        (credentials, access): (&mut S::Credentials, &mut AccessToken),
        target: &S::Target,
        state: &mut GoogleSyncState,
        summary: &mut WorkflowSummary,
    ) -> Ended {
        let workflow_id = settings.workflow_id.as_str();
        let mut listing = self.source.start(state, settings.initial_sync, now_ms());
        let mut refused = false;
        loop {
            summary.full_listing |= listing.is_full();
            let event = match self
                .list_page(
                    settings,
                    run,
                    credentials,
                    access,
                    target,
                    &listing,
                    summary,
                )
                .await
            {
                Ok(page) => match self
                    .sync_page(settings, run, pacer, &listing, &page, summary)
                    .await
                {
                    Ok(()) => PageEvent::Listed {
                        next_page_token: page.next_page,
                        next_sync_token: page.next_sync,
                    },
                    Err(why) => {
                        summary.error = Some(why);
                        PageEvent::Stopped
                    }
                },
                Err(SourceError::Expired) => {
                    tracing::info!(
                        workflow_id,
                        "{} sync token expired; listing everyone",
                        S::NAME
                    );
                    PageEvent::SyncTokenExpired
                }
                Err(SourceError::Rejected(message)) => {
                    summary.error = Some(message);
                    PageEvent::Rejected
                }
                Err(SourceError::InvalidGrant) => {
                    refused = true;
                    PageEvent::Stopped
                }
                Err(SourceError::Later(why)) => {
                    summary.error = Some(why);
                    PageEvent::Stopped
                }
                Err(SourceError::Unauthenticated) => {
                    summary.error = Some(format!("{} refused a fresh access token (401)", S::NAME));
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
                        if let Ok(false) | Err(_) =
                            self.sync_state.write(key, &run.owner, state, false).await
                        {
                            summary.error =
                                Some("the listing's progress could not be saved".into());
                            return Ended::Unsaved;
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
                    return Ended::Finished;
                }
                Step::Paused(cursor) => {
                    state.cursor = Some(cursor);
                    return if refused {
                        Ended::InvalidGrant
                    } else {
                        Ended::Incomplete
                    };
                }
                Step::Failed => {
                    state.cursor = None;
                    return Ended::Incomplete;
                }
            }
        }
    }

    /// The workflow's access token: the one this container holds while it
    /// is fresh and from the same refresh token, else a new one.
    async fn access_token(
        &self,
        workflow_id: &str,
        credentials: &mut S::Credentials,
        run: &Run,
        renew: bool,
    ) -> Result<AccessToken, SourceError> {
        let fingerprint = S::fingerprint(credentials);
        if !renew
            && let Ok(tokens) = self.tokens.lock()
            && let Some((held_for, token)) = tokens.get(workflow_id)
            && *held_for == fingerprint
            && token.is_fresh()
        {
            return Ok(token.clone());
        }
        let token = self
            .source
            .refresh(&self.services, credentials, run.deadline)
            .await;
        if let Ok(mut tokens) = self.tokens.lock() {
            match &token {
                Ok(token) => {
                    // The refresh token now behind the workflow's secret
                    // (a rotating source stored a new one).
                    tokens.insert(
                        workflow_id.to_string(),
                        (S::fingerprint(credentials), token.clone()),
                    );
                }
                Err(_) => {
                    tokens.remove(workflow_id);
                }
            }
        }
        token
    }

    /// One page of the listing; a 401 renews the access token once.
    #[allow(clippy::too_many_arguments)]
    async fn list_page(
        &self,
        settings: &Settings,
        run: &Run,
        credentials: &mut S::Credentials,
        access: &mut AccessToken,
        target: &S::Target,
        listing: &Listing,
        summary: &mut WorkflowSummary,
    ) -> Result<SourcePage, SourceError> {
        if Instant::now() + PAGE_MIN_TIME >= run.deadline {
            return Err(SourceError::Later(
                "out of time in this run; the next run carries on".into(),
            ));
        }
        for attempt in 0..2 {
            summary.pages += 1;
            match self
                .source
                .page(access, target, listing, run.deadline)
                .await
            {
                Err(SourceError::Unauthenticated) if attempt == 0 => {
                    *access = self
                        .access_token(&settings.workflow_id, credentials, run, true)
                        .await?;
                }
                answer => return answer,
            }
        }
        Err(SourceError::Unauthenticated)
    }

    /// Syncs the persons of one page that the listing wants, in order;
    /// `Err` says why the listing stops on this page.
    async fn sync_page(
        &self,
        settings: &Settings,
        run: &Run,
        pacer: &Pacer,
        listing: &Listing,
        page: &SourcePage,
        summary: &mut WorkflowSummary,
    ) -> Result<(), String> {
        let invocation = Invocation {
            deadline: run.deadline,
            deadline_ms: run.deadline_ms,
        };
        for record in &page.records {
            summary.listed += 1;
            let Some(listed) = S::listed(record) else {
                summary.skipped += 1;
                continue;
            };
            if listed.deleted {
                summary.skipped += 1;
                continue;
            }
            if !listing.persons.wants(listed.updated_ms) {
                match listing.persons {
                    SyncPersons::ChangedSince(_) => summary.unchanged += 1,
                    _ => summary.skipped += 1,
                }
                continue;
            }
            if Instant::now() + PERSON_MIN_TIME >= run.deadline {
                return Err("out of time in this run; the next run carries on".into());
            }
            let body = serde_json::to_vec(record).unwrap_or_default();
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
                        "{} person failed",
                        S::NAME
                    );
                    if stops_the_listing(&error) {
                        return Err(format!(
                            "{code}: {error}; the next run lists this page again"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
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

fn mark_reconnect_needed<S: PolledSource>(
    state: &mut GoogleSyncState,
    fingerprint: String,
    summary: &mut WorkflowSummary,
    workflow_id: &str,
) {
    state.reconnect_needed = Some(fingerprint);
    state.reconnect_needed_since_ms = Some(now_ms());
    reconnect_needed::<S>(workflow_id, summary);
}

/// Logs, meters and reports a workflow whose refresh token the source
/// refuses.
fn reconnect_needed<S: PolledSource>(workflow_id: &str, summary: &mut WorkflowSummary) {
    tracing::error!(
        workflow_id,
        "{} reconnect needed: {} refuses the refresh token (invalid_grant); run `{}`",
        S::NAME,
        S::NAME,
        S::CONNECT
    );
    metrics::emit(&[S::reconnect_metric(workflow_id)]);
    summary.reconnect_needed = true;
    summary.error = Some(format!(
        "reconnect_needed: {} refuses the refresh token (invalid_grant); run `{}`",
        S::NAME,
        S::CONNECT
    ));
}

fn message_of(error: SourceError) -> String {
    match error {
        SourceError::Rejected(message) | SourceError::Later(message) => message,
        SourceError::InvalidGrant => "the refresh token is refused (invalid_grant)".into(),
        SourceError::Unauthenticated => "the access token is refused (401)".into(),
        SourceError::Expired => "the sync token has expired".into(),
    }
}
