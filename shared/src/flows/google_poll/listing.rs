//! The listing state machine of a polled Google workflow (SPEC section 10),
//! pure: which `connections.list` request comes next, given the stored
//! sync state and what the last page brought. No I/O; `google_poll` runs it.
//!
//! - No sync token, or one whose full listing is over 6 days old (Google
//!   expires them 7 days after the full sync): a full listing.
//! - Else an incremental listing with the token.
//! - Every page is followed; the next sync token (last page only) is kept
//!   only when the last page is done.
//! - `EXPIRED_SYNC_TOKEN`: the incremental listing becomes a full one.
//! - A sync token is bound to the request that made it: Google answers
//!   `400 INVALID_ARGUMENT` when "all other request parameters" do not
//!   "match the first call" (people.connections.list,
//!   developers.google.com/people/api/rest/v1/people.connections/list).
//!   The `personFields` a token was made under are kept with it; a token
//!   made under other fields than `PERSON_FIELDS` is dropped for a full
//!   listing, and so is one that an incremental listing's first page is
//!   refused with a 400 other than `EXPIRED_SYNC_TOKEN` (a token stored
//!   before the fields were kept, or bound otherwise): that full listing
//!   runs once for the token; should it be refused too, the run fails
//!   and says so in the workflow's last run.
//! - A run that stops (deadline, Google 429/5xx, kvCORE trouble) saves a
//!   cursor at the page it was on; the next run lists that page again
//!   (persons already applied at their etag are answered from the ledger).
//! - What a listing syncs: on the very first listing, everyone
//!   (`initial_sync` = `all`) or no one (`changes`: it only records the
//!   token); on a later full listing, only persons changed since the last
//!   completed listing began (less an overlap for clock skew), so
//!   re-listing never syncs a contact `changes` left out.

use serde_json::Value;

use crate::adapters::google::{ListRequest, PERSON_FIELDS};
use crate::adapters::store::{GoogleSyncState, ListingCursor, ListingKind, SyncPersons};
use crate::domain::settings::InitialSync;

/// A sync token whose full listing is older than this is not used (Google:
/// "Sync tokens expire 7 days after the full sync"); a day of margin.
pub const TOKEN_MAX_AGE_MS: i64 = 6 * 24 * 3600 * 1000;
/// A later full listing syncs persons changed since the last completed
/// listing began, less this: Google's `updateTime` and this clock may
/// disagree, and a person synced twice costs nothing.
pub const CHANGE_OVERLAP_MS: i64 = 10 * 60 * 1000;

/// The listing in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub kind: ListingKind,
    /// The page to ask for; `None`: the first.
    pub page_token: Option<String>,
    /// When this listing began (unix ms): the next listing's "changed since".
    pub started_ms: i64,
    pub persons: SyncPersons,
}

/// What happened to the page asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEvent {
    /// Listed (and its persons handled): what the page pointed to next.
    Listed {
        next_page_token: Option<String>,
        next_sync_token: Option<String>,
    },
    /// 400 `EXPIRED_SYNC_TOKEN`.
    SyncTokenExpired,
    /// Another 400: with a page token, the page token is stale.
    Rejected,
    /// The run stops on this page (deadline, Google 429/5xx, a transient
    /// kvCORE or AWS failure); the page is listed again next run.
    Stopped,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask for this page.
    Fetch(Listing),
    /// The listing is complete: store this and clear the cursor.
    Finished(Completed),
    /// Save this cursor; the next run resumes from it.
    Paused(ListingCursor),
    /// A request Google refuses that no restart fixes; keep the state.
    Failed,
}

/// What a completed listing leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// `None` when Google sent none (the next run lists everyone).
    pub sync_token: Option<String>,
    /// The `personFields` `sync_token` was made under (kept with it).
    pub sync_token_fields: Option<String>,
    /// When the full listing behind `sync_token` began.
    pub full_listing_ms: Option<i64>,
    /// When this listing began.
    pub synced_through_ms: i64,
}

/// The first request of a run.
pub fn start(state: &GoogleSyncState, initial_sync: InitialSync, now_ms: i64) -> Listing {
    if let Some(cursor) = &state.cursor {
        return Listing {
            kind: cursor.kind.clone(),
            page_token: cursor.page_token.clone(),
            started_ms: cursor.started_ms,
            persons: cursor.persons,
        };
    }
    let token_fresh = state
        .full_listing_ms
        .is_some_and(|at| now_ms - at <= TOKEN_MAX_AGE_MS);
    // A token made under other `personFields` than this release asks for
    // is refused by Google: not sent at all.
    let token_bound_here = state
        .sync_token_fields
        .as_deref()
        .is_none_or(|fields| fields == PERSON_FIELDS);
    match &state.sync_token {
        Some(token) if token_fresh && token_bound_here => Listing {
            kind: ListingKind::Incremental {
                sync_token: token.clone(),
            },
            page_token: None,
            started_ms: now_ms,
            persons: SyncPersons::All,
        },
        _ => full_listing(state, initial_sync, now_ms),
    }
}

/// A full listing: the first one syncs as `initial_sync` says; a later one
/// only what changed since the last completed listing began.
pub fn full_listing(state: &GoogleSyncState, initial_sync: InitialSync, now_ms: i64) -> Listing {
    let persons = match (state.synced_through_ms, initial_sync) {
        (Some(through), _) => SyncPersons::ChangedSince(through - CHANGE_OVERLAP_MS),
        (None, InitialSync::All) => SyncPersons::All,
        (None, InitialSync::Changes) => SyncPersons::None,
    };
    Listing {
        kind: ListingKind::Full,
        page_token: None,
        started_ms: now_ms,
        persons,
    }
}

impl Listing {
    /// The `connections.list` parameters of this page.
    pub fn request(&self) -> ListRequest<'_> {
        ListRequest {
            sync_token: match &self.kind {
                ListingKind::Full => None,
                ListingKind::Incremental { sync_token } => Some(sync_token),
            },
            page_token: self.page_token.as_deref(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.kind == ListingKind::Full
    }

    /// The step after this page.
    pub fn on(
        self,
        event: PageEvent,
        state: &GoogleSyncState,
        initial_sync: InitialSync,
        now_ms: i64,
    ) -> Step {
        match event {
            PageEvent::Listed {
                next_page_token: Some(next),
                ..
            } => Step::Fetch(Listing {
                page_token: Some(next),
                ..self
            }),
            PageEvent::Listed {
                next_page_token: None,
                next_sync_token,
            } => Step::Finished(Completed {
                full_listing_ms: match (&self.kind, &next_sync_token) {
                    (_, None) => None,
                    (ListingKind::Full, Some(_)) => Some(self.started_ms),
                    (ListingKind::Incremental { .. }, Some(_)) => state.full_listing_ms,
                },
                sync_token_fields: next_sync_token.as_ref().map(|_| PERSON_FIELDS.to_string()),
                sync_token: next_sync_token,
                synced_through_ms: self.started_ms,
            }),
            PageEvent::SyncTokenExpired => match self.kind {
                ListingKind::Incremental { .. } => {
                    Step::Fetch(full_listing(state, initial_sync, now_ms))
                }
                // A full listing sends no token; nothing can have expired.
                ListingKind::Full => Step::Failed,
            },
            // A saved page token Google no longer takes: the same listing
            // from its first page (what was done is answered as done).
            PageEvent::Rejected if self.page_token.is_some() => Step::Fetch(Listing {
                page_token: None,
                ..self
            }),
            // The sync token itself refused (not expired): bound to another
            // request. One full listing replaces it; a full listing sends
            // no token, so a refusal of that fails the run.
            PageEvent::Rejected => match self.kind {
                ListingKind::Incremental { .. } => {
                    Step::Fetch(full_listing(state, initial_sync, now_ms))
                }
                ListingKind::Full => Step::Failed,
            },
            PageEvent::Stopped => Step::Paused(ListingCursor {
                kind: self.kind,
                page_token: self.page_token,
                started_ms: self.started_ms,
                persons: self.persons,
            }),
        }
    }
}

impl SyncPersons {
    /// Whether a listed person (not deleted) is synced, by its newest
    /// `metadata.sources[].updateTime`; a person without one is synced.
    pub fn wants(&self, updated_ms: Option<i64>) -> bool {
        match self {
            SyncPersons::None => false,
            SyncPersons::All => true,
            SyncPersons::ChangedSince(since) => updated_ms.is_none_or(|at| at >= *since),
        }
    }
}

/// What the poller reads of a listed person before syncing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPerson {
    /// `resourceName#etag`: the event id (SPEC section 10).
    pub event_id: String,
    /// `metadata.deleted`: skipped.
    pub deleted: bool,
    /// The newest `metadata.sources[].updateTime` (unix ms).
    pub updated_ms: Option<i64>,
}

impl ListedPerson {
    /// `None` for an entry without a `resourceName` (nothing to sync).
    pub fn of(person: &Value) -> Option<ListedPerson> {
        let resource_name = person["resourceName"].as_str()?;
        let event_id = match person["etag"].as_str() {
            Some(etag) => format!("{resource_name}#{etag}"),
            None => resource_name.to_string(),
        };
        let metadata = &person["metadata"];
        let updated_ms = metadata["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|source| source["updateTime"].as_str())
            .filter_map(rfc3339_ms)
            .max();
        Some(ListedPerson {
            event_id,
            deleted: metadata["deleted"].as_bool().unwrap_or(false),
            updated_ms,
        })
    }
}

fn rfc3339_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY: i64 = 24 * 3600 * 1000;
    const NOW: i64 = 1_700_000_000_000;

    fn listed(page: Option<&str>, sync: Option<&str>) -> PageEvent {
        PageEvent::Listed {
            next_page_token: page.map(String::from),
            next_sync_token: sync.map(String::from),
        }
    }

    fn synced(token: &str, full_at: i64, through: i64) -> GoogleSyncState {
        GoogleSyncState {
            sync_token: Some(token.into()),
            full_listing_ms: Some(full_at),
            synced_through_ms: Some(through),
            ..GoogleSyncState::default()
        }
    }

    fn fetch(step: Step) -> Listing {
        match step {
            Step::Fetch(listing) => listing,
            other => panic!("expected a fetch, got {other:?}"),
        }
    }

    #[test]
    fn the_first_run_lists_everyone_and_keeps_the_token_of_the_last_page_only() {
        let state = GoogleSyncState::default();
        for (initial, persons) in [
            (InitialSync::All, SyncPersons::All),
            (InitialSync::Changes, SyncPersons::None),
        ] {
            let first = start(&state, initial, NOW);
            assert_eq!(first.kind, ListingKind::Full);
            assert_eq!(first.persons, persons, "{initial:?}");
            assert_eq!(
                first.request(),
                ListRequest {
                    sync_token: None,
                    page_token: None
                }
            );
            let second = fetch(first.on(listed(Some("p2"), None), &state, initial, NOW + 5));
            assert_eq!(second.request().page_token, Some("p2"));
            assert_eq!(second.started_ms, NOW, "a listing keeps its start");
            let done = second.on(listed(None, Some("s1")), &state, initial, NOW + 9);
            assert_eq!(
                done,
                Step::Finished(Completed {
                    sync_token: Some("s1".into()),
                    sync_token_fields: Some(PERSON_FIELDS.into()),
                    full_listing_ms: Some(NOW),
                    synced_through_ms: NOW,
                })
            );
        }
    }

    #[test]
    fn with_a_fresh_token_a_run_lists_what_changed_and_syncs_all_of_it() {
        let state = synced("s1", NOW - 2 * DAY, NOW - 120_000);
        let listing = start(&state, InitialSync::Changes, NOW);
        assert_eq!(
            listing.request(),
            ListRequest {
                sync_token: Some("s1"),
                page_token: None
            }
        );
        assert_eq!(listing.persons, SyncPersons::All);
        let done = listing.on(listed(None, Some("s2")), &state, InitialSync::Changes, NOW);
        assert_eq!(
            done,
            Step::Finished(Completed {
                sync_token: Some("s2".into()),
                sync_token_fields: Some(PERSON_FIELDS.into()),
                full_listing_ms: Some(NOW - 2 * DAY),
                synced_through_ms: NOW,
            }),
            "the token's age still counts from its full listing"
        );
    }

    #[test]
    fn an_expired_token_turns_into_a_full_listing_of_what_changed_since() {
        let state = synced("s1", NOW - 2 * DAY, NOW - 120_000);
        let listing = start(&state, InitialSync::All, NOW);
        let full = fetch(listing.on(PageEvent::SyncTokenExpired, &state, InitialSync::All, NOW));
        assert_eq!(full.kind, ListingKind::Full);
        assert_eq!(full.request().sync_token, None);
        assert_eq!(
            full.persons,
            SyncPersons::ChangedSince(NOW - 120_000 - CHANGE_OVERLAP_MS),
            "not everyone again: initial_sync is for the first listing only"
        );
        assert_eq!(
            fetch(
                full.clone()
                    .on(listed(Some("p2"), None), &state, InitialSync::All, NOW)
            )
            .kind,
            ListingKind::Full
        );
        assert_eq!(
            full.on(PageEvent::SyncTokenExpired, &state, InitialSync::All, NOW),
            Step::Failed
        );
    }

    #[test]
    fn a_token_older_than_six_days_is_not_used() {
        let young = synced("s1", NOW - TOKEN_MAX_AGE_MS, NOW - 60_000);
        assert!(!start(&young, InitialSync::All, NOW).is_full());
        let old = synced("s1", NOW - TOKEN_MAX_AGE_MS - 1, NOW - 60_000);
        let listing = start(&old, InitialSync::All, NOW);
        assert!(listing.is_full());
        assert_eq!(
            listing.persons,
            SyncPersons::ChangedSince(NOW - 60_000 - CHANGE_OVERLAP_MS)
        );
        let no_age = GoogleSyncState {
            full_listing_ms: None,
            ..young
        };
        assert!(start(&no_age, InitialSync::All, NOW).is_full());
    }

    #[test]
    fn a_stopped_listing_resumes_at_the_page_it_stopped_on() {
        let state = GoogleSyncState::default();
        let first = start(&state, InitialSync::All, NOW);
        let second = fetch(first.on(listed(Some("p2"), None), &state, InitialSync::All, NOW));
        let Step::Paused(cursor) = second.on(PageEvent::Stopped, &state, InitialSync::All, NOW)
        else {
            panic!("paused");
        };
        assert_eq!(cursor.page_token.as_deref(), Some("p2"));
        assert_eq!(cursor.persons, SyncPersons::All);

        // The next run, much later: the same listing, the same page, the
        // same rule for persons, the same start.
        let later = GoogleSyncState {
            cursor: Some(cursor),
            ..state.clone()
        };
        let resumed = start(&later, InitialSync::Changes, NOW + DAY);
        assert_eq!(resumed.request().page_token, Some("p2"));
        assert_eq!(resumed.persons, SyncPersons::All);
        assert_eq!(resumed.started_ms, NOW);
        let done = resumed.on(
            listed(None, Some("s1")),
            &later,
            InitialSync::All,
            NOW + DAY,
        );
        assert_eq!(
            done,
            Step::Finished(Completed {
                sync_token: Some("s1".into()),
                sync_token_fields: Some(PERSON_FIELDS.into()),
                full_listing_ms: Some(NOW),
                synced_through_ms: NOW,
            })
        );

        // Stopped on an incremental listing's first page: it keeps its token.
        let state = synced("s1", NOW - DAY, NOW - 60_000);
        let Step::Paused(cursor) = start(&state, InitialSync::All, NOW).on(
            PageEvent::Stopped,
            &state,
            InitialSync::All,
            NOW,
        ) else {
            panic!("paused");
        };
        assert_eq!(
            cursor.kind,
            ListingKind::Incremental {
                sync_token: "s1".into()
            }
        );
        assert_eq!(cursor.page_token, None);
    }

    #[test]
    fn a_stale_page_token_restarts_the_same_listing() {
        let state = GoogleSyncState {
            cursor: Some(ListingCursor {
                kind: ListingKind::Full,
                page_token: Some("old".into()),
                started_ms: NOW - DAY,
                persons: SyncPersons::All,
            }),
            ..GoogleSyncState::default()
        };
        let resumed = start(&state, InitialSync::Changes, NOW);
        let again = fetch(resumed.on(PageEvent::Rejected, &state, InitialSync::Changes, NOW));
        assert_eq!(again.page_token, None);
        assert_eq!(again.persons, SyncPersons::All);
        assert_eq!(again.started_ms, NOW - DAY);
        assert_eq!(
            again.on(PageEvent::Rejected, &state, InitialSync::Changes, NOW),
            Step::Failed
        );
    }

    #[test]
    fn a_token_made_under_other_person_fields_is_dropped_for_a_full_listing() {
        let bound = |fields: Option<&str>| GoogleSyncState {
            sync_token_fields: fields.map(String::from),
            ..synced("s1", NOW - DAY, NOW - 60_000)
        };
        assert!(!start(&bound(Some(PERSON_FIELDS)), InitialSync::All, NOW).is_full());
        // Stored before the fields were kept: tried (a refusal falls back).
        assert!(!start(&bound(None), InitialSync::All, NOW).is_full());
        let other = bound(Some("names,emailAddresses,metadata"));
        let listing = start(&other, InitialSync::All, NOW);
        assert!(listing.is_full());
        assert_eq!(listing.request().sync_token, None);
        assert_eq!(
            listing.persons,
            SyncPersons::ChangedSince(NOW - 60_000 - CHANGE_OVERLAP_MS),
            "what changed since the last listing, not everyone"
        );
        let Step::Finished(done) =
            listing.on(listed(None, Some("s2")), &other, InitialSync::All, NOW)
        else {
            panic!("finished");
        };
        assert_eq!(done.sync_token.as_deref(), Some("s2"));
        assert_eq!(done.sync_token_fields.as_deref(), Some(PERSON_FIELDS));
    }

    #[test]
    fn a_refused_token_starts_one_full_listing_and_a_second_refusal_fails() {
        let state = synced("s1", NOW - DAY, NOW - 60_000);
        let incremental = start(&state, InitialSync::All, NOW);
        assert_eq!(incremental.request().sync_token, Some("s1"));
        let full = fetch(incremental.on(PageEvent::Rejected, &state, InitialSync::All, NOW));
        assert!(full.is_full());
        assert_eq!(full.request().sync_token, None);
        assert_eq!(
            full.persons,
            SyncPersons::ChangedSince(NOW - 60_000 - CHANGE_OVERLAP_MS)
        );
        assert_eq!(
            full.on(PageEvent::Rejected, &state, InitialSync::All, NOW),
            Step::Failed,
            "the second refusal fails the run"
        );
    }

    #[test]
    fn a_last_page_without_a_token_leaves_none() {
        let state = synced("s1", NOW - DAY, NOW - 60_000);
        let done = start(&state, InitialSync::All, NOW).on(
            listed(None, None),
            &state,
            InitialSync::All,
            NOW,
        );
        assert_eq!(
            done,
            Step::Finished(Completed {
                sync_token: None,
                sync_token_fields: None,
                full_listing_ms: None,
                synced_through_ms: NOW,
            })
        );
    }

    #[test]
    fn which_persons_a_listing_syncs() {
        assert!(!SyncPersons::None.wants(Some(NOW)));
        assert!(SyncPersons::All.wants(None));
        let since = SyncPersons::ChangedSince(NOW);
        assert!(since.wants(Some(NOW)) && since.wants(None));
        assert!(!since.wants(Some(NOW - 1)));
    }

    #[test]
    fn a_listed_person_is_read_for_its_id_deletion_and_newest_change() {
        let person = json!({
            "resourceName": "people/c1", "etag": "%EgU=",
            "metadata": {"sources": [
                {"type": "CONTACT", "updateTime": "2024-05-01T10:00:00.123Z"},
                {"type": "PROFILE", "updateTime": "2024-05-02T10:00:00Z"}
            ]}
        });
        let read = ListedPerson::of(&person).unwrap();
        assert_eq!(read.event_id, "people/c1#%EgU=");
        assert!(!read.deleted);
        assert_eq!(read.updated_ms, Some(1_714_644_000_000));
        let deleted =
            json!({"resourceName": "people/c2", "etag": "e", "metadata": {"deleted": true}});
        let read = ListedPerson::of(&deleted).unwrap();
        assert!(read.deleted);
        assert_eq!(read.updated_ms, None);
        assert_eq!(ListedPerson::of(&json!({"etag": "e"})), None);
    }
}
