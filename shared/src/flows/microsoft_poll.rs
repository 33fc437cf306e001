//! Microsoft 365 / Outlook contacts as a polled source (SPEC section 15):
//! the grant in `microsoft_oauth_secret` (its rotated refresh token stored
//! back with a compare-and-swap), one delta listing per contact folder,
//! and what a listed contact says. The poll itself (lease, deadline,
//! cursor, resume, summary, pacing) is the shared `flows::poll`; the
//! listing state machine is Google's (`google_poll::listing`), with a
//! Graph link where Google has a token:
//!
//! - page token = `@odata.nextLink`, sync token = `@odata.deltaLink`
//!   (stored only when the last page is done);
//! - a folder's first listing asks for `contactFolders/{id}/contacts/delta`;
//! - 410 Gone (the delta state is gone) = Google's expired token: a full
//!   listing of the folder, syncing only what changed since the last
//!   completed listing (re-listed persons cost no kvCORE request);
//! - a delta link is used however old it is: Graph documents no fixed
//!   lifetime for Outlook delta tokens ("Use delta query to track
//!   changes", "Token duration": it depends on the internal delta token
//!   cache) and answers 410 when one is gone;
//! - 429 and 503 wait `Retry-After` when it ends before the run's
//!   deadline (at most `THROTTLE_WAITS` times a page), else the next run
//!   carries on (learn.microsoft.com/graph/throttling).

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::adapters::google::AccessToken;
use crate::adapters::metrics;
use crate::adapters::microsoft::{
    ContactFolder, Credentials, DeltaRequest, Microsoft, MicrosoftError, WELL_KNOWN_CONTACTS,
};
use crate::adapters::store::{GoogleSyncState, ListingKind};
use crate::domain::settings::{InitialSync, Settings};
use crate::domain::sources::microsoft;
use crate::flows::Services;
use crate::flows::google_poll::listing::{self, ListedPerson, Listing};
use crate::flows::poll::{PAGE_MIN_TIME, PolledSource, Poller, SourceError, SourcePage, Stream};

pub use crate::flows::poll::{Run, RunSummary, WorkflowSummary};

/// The Microsoft poller: the shared poll over the Microsoft client.
pub type MicrosoftPoller = Poller<Microsoft>;

/// Throttled answers waited out per page before the run backs off.
const THROTTLE_WAITS: u32 = 3;
/// The wait when a throttled answer has no `Retry-After` (Graph: "use an
/// exponential backoff retry policy"), doubled each time.
const THROTTLE_FIRST_WAIT: Duration = Duration::from_secs(2);

/// A workflow's grant as read this run: the secret's id and version (for
/// the compare-and-swap of a rotated refresh token) and its content.
#[derive(Debug, Clone)]
pub struct Grant {
    pub secret_id: String,
    pub version_id: String,
    pub credentials: Credentials,
}

impl PolledSource for Microsoft {
    const NAME: &'static str = "microsoft";
    const CONNECT: &'static str = "kvsync microsoft connect";
    type Credentials = Grant;
    /// The folder id (`contacts` for the default Contacts folder).
    type Target = String;

    fn polls(settings: &Settings) -> bool {
        settings.is_polled_microsoft()
    }

    async fn credentials(&self, services: &Services, settings: &Settings) -> Result<Grant, String> {
        let id = settings
            .microsoft_oauth_secret
            .as_deref()
            .unwrap_or_default();
        // Past the cache: the refresh token changes with every refresh.
        let secret = services
            .secrets
            .get_current(id)
            .await
            .map_err(|e| format!("microsoft_oauth_secret '{id}': {e}"))?;
        let credentials = Credentials::parse(&secret.value)
            .map_err(|e| format!("microsoft_oauth_secret '{id}': {e}"))?;
        Ok(Grant {
            secret_id: id.to_string(),
            version_id: secret.version_id,
            credentials,
        })
    }

    fn fingerprint(grant: &Grant) -> String {
        grant.credentials.fingerprint()
    }

    /// A new access token; the refresh token Microsoft returns with it
    /// replaces the secret's, written only over the version this run read.
    async fn refresh(
        &self,
        services: &Services,
        grant: &mut Grant,
        deadline: Instant,
    ) -> Result<AccessToken, SourceError> {
        let token = Microsoft::refresh(self, &grant.credentials, deadline)
            .await
            .map_err(source_error)?;
        if let Some(rotated) = token
            .refresh_token
            .filter(|new| *new != grant.credentials.refresh_token)
        {
            store_rotated(services, grant, rotated).await;
        }
        Ok(token.access_token)
    }

    /// One listing per folder: the default Contacts folder, or those
    /// `microsoft_folders` names.
    async fn streams(
        &self,
        settings: &Settings,
        access: &AccessToken,
        deadline: Instant,
    ) -> Result<Vec<Stream<String>>, SourceError> {
        let ids = if settings.microsoft_folders.is_empty() {
            vec![WELL_KNOWN_CONTACTS.to_string()]
        } else {
            let folders = self
                .contact_folders(access, deadline)
                .await
                .map_err(source_error)?;
            resolve_folders(&settings.workflow_id, &settings.microsoft_folders, &folders)
                .map_err(SourceError::Later)?
        };
        Ok(ids
            .into_iter()
            .map(|id| Stream {
                key: Some(id.clone()),
                target: id,
            })
            .collect())
    }

    fn start(&self, state: &GoogleSyncState, initial_sync: InitialSync, now_ms: i64) -> Listing {
        start(state, initial_sync, now_ms)
    }

    async fn page(
        &self,
        access: &AccessToken,
        folder_id: &String,
        listing: &Listing,
        deadline: Instant,
    ) -> Result<SourcePage, SourceError> {
        let request = match (&listing.page_token, &listing.kind) {
            (Some(next_link), _) => DeltaRequest::Link(next_link),
            (None, ListingKind::Incremental { sync_token }) => DeltaRequest::Link(sync_token),
            (None, ListingKind::Full) => DeltaRequest::Start { folder_id },
        };
        let mut wait = THROTTLE_FIRST_WAIT;
        for attempt in 0..=THROTTLE_WAITS {
            match self.delta(access, request, deadline).await {
                Ok(page) => {
                    return Ok(SourcePage {
                        records: page.value,
                        next_page: page.next_link,
                        next_sync: page.delta_link,
                    });
                }
                Err(MicrosoftError::Throttled {
                    status,
                    retry_after,
                }) => {
                    let pause = retry_after.unwrap_or(wait);
                    wait *= 2;
                    if attempt == THROTTLE_WAITS
                        || Instant::now() + pause + PAGE_MIN_TIME >= deadline
                    {
                        return Err(SourceError::Later(format!(
                            "Microsoft Graph answered {status} (Retry-After {} s); backing off to the next run",
                            pause.as_secs()
                        )));
                    }
                    tracing::info!(
                        status,
                        retry_after_s = pause.as_secs(),
                        "microsoft graph throttled; waiting Retry-After"
                    );
                    tokio::time::sleep(pause).await;
                }
                Err(error) => return Err(source_error(error)),
            }
        }
        Err(SourceError::Later(
            "Microsoft Graph kept throttling; backing off to the next run".into(),
        ))
    }

    fn listed(record: &Value) -> Option<ListedPerson> {
        listed(record)
    }

    fn reconnect_metric(workflow_id: &str) -> Value {
        metrics::source_reconnect_needed_record("microsoft", workflow_id)
    }
}

/// Stores a rotated refresh token over the version of the secret this run
/// read. Another writer first (`kvsync microsoft connect`, a doctor check):
/// theirs is kept and read back. A failed write is logged and this run goes
/// on with the new token; the old one stays in the secret.
async fn store_rotated(services: &Services, grant: &mut Grant, refresh_token: String) {
    let rotated = Credentials {
        refresh_token,
        ..grant.credentials.clone()
    };
    let id = grant.secret_id.as_str();
    match services
        .secrets
        .replace(id, &grant.version_id, &rotated.to_secret())
        .await
    {
        Ok(Some(version_id)) => {
            tracing::info!(
                secret = id,
                "microsoft refresh token rotated; the new one is stored"
            );
            grant.credentials = rotated;
            grant.version_id = version_id;
        }
        Ok(None) => {
            tracing::warn!(
                secret = id,
                "microsoft_oauth_secret changed while this run refreshed; the stored one is kept"
            );
            if let Ok(current) = services.secrets.get_current(id).await
                && let Ok(credentials) = Credentials::parse(&current.value)
            {
                grant.credentials = credentials;
                grant.version_id = current.version_id;
            }
        }
        Err(error) => {
            tracing::error!(
                secret = id,
                %error,
                "microsoft refresh token rotated but not stored; the secret keeps the previous one"
            );
            grant.credentials = rotated;
        }
    }
}

/// The first request of a run over a folder's stored state: the listing a
/// cursor was on, else the stored delta link, else a full listing.
pub fn start(state: &GoogleSyncState, initial_sync: InitialSync, now_ms: i64) -> Listing {
    if let Some(cursor) = &state.cursor {
        return Listing {
            kind: cursor.kind.clone(),
            page_token: cursor.page_token.clone(),
            started_ms: cursor.started_ms,
            persons: cursor.persons,
        };
    }
    match &state.sync_token {
        Some(delta_link) => Listing {
            kind: ListingKind::Incremental {
                sync_token: delta_link.clone(),
            },
            page_token: None,
            started_ms: now_ms,
            persons: crate::adapters::store::SyncPersons::All,
        },
        None => listing::full_listing(state, initial_sync, now_ms),
    }
}

/// What the poller reads of a listed contact: `id#changeKey`, `@removed`,
/// `lastModifiedDateTime`. `None` without an `id`.
pub fn listed(contact: &Value) -> Option<ListedPerson> {
    let id = contact["id"].as_str()?;
    Some(ListedPerson {
        event_id: microsoft::event_id(id, contact["changeKey"].as_str()),
        deleted: contact.get("@removed").is_some(),
        updated_ms: contact["lastModifiedDateTime"]
            .as_str()
            .and_then(rfc3339_ms),
    })
}

fn rfc3339_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The folder ids of `names` among `folders` (exact display name first,
/// else one that differs only in case); the error names the workflow, the
/// attribute with its index, and the folders there are.
pub fn resolve_folders(
    workflow_id: &str,
    names: &[String],
    folders: &[ContactFolder],
) -> Result<Vec<String>, String> {
    names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            folders
                .iter()
                .find(|f| f.display_name == *name)
                .or_else(|| {
                    folders
                        .iter()
                        .find(|f| f.display_name.eq_ignore_ascii_case(name))
                })
                .map(|f| f.id.clone())
                .ok_or_else(|| {
                    let there: Vec<&str> =
                        folders.iter().map(|f| f.display_name.as_str()).collect();
                    format!(
                        "workflow '{workflow_id}': attribute 'microsoft_folders[{index}]' must be the display name of a contact folder under Contacts ({}), found \"{name}\"",
                        if there.is_empty() {
                            "there are none".to_string()
                        } else {
                            format!("there are: {}", there.join(", "))
                        }
                    )
                })
        })
        .collect()
}

fn source_error(error: MicrosoftError) -> SourceError {
    match error {
        MicrosoftError::InvalidGrant => SourceError::InvalidGrant,
        MicrosoftError::Unauthenticated => SourceError::Unauthenticated,
        MicrosoftError::DeltaGone => SourceError::Expired,
        MicrosoftError::BadRequest { status, message } => SourceError::Rejected(format!(
            "Microsoft Graph refused the listing ({status}): {message}"
        )),
        error if error.is_transient() => {
            SourceError::Later(format!("{error}; backing off to the next run"))
        }
        error => SourceError::Later(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::{ListingCursor, SyncPersons};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn a_folder_lists_from_its_cursor_its_delta_link_or_everything() {
        let fresh = GoogleSyncState::default();
        let first = start(&fresh, InitialSync::All, NOW);
        assert_eq!(first.kind, ListingKind::Full);
        assert_eq!(first.persons, SyncPersons::All);
        assert_eq!(
            start(&fresh, InitialSync::Changes, NOW).persons,
            SyncPersons::None
        );

        // A delta link is used however old its full listing is.
        let synced = GoogleSyncState {
            sync_token: Some("https://graph/delta?$deltatoken=d1".into()),
            full_listing_ms: Some(NOW - 30 * 24 * 3600 * 1000),
            synced_through_ms: Some(NOW - 60_000),
            ..GoogleSyncState::default()
        };
        let incremental = start(&synced, InitialSync::Changes, NOW);
        assert_eq!(
            incremental.kind,
            ListingKind::Incremental {
                sync_token: "https://graph/delta?$deltatoken=d1".into()
            }
        );
        assert_eq!(incremental.persons, SyncPersons::All);

        let paused = GoogleSyncState {
            cursor: Some(ListingCursor {
                kind: ListingKind::Full,
                page_token: Some("https://graph/delta?$skiptoken=s2".into()),
                started_ms: NOW - 5,
                persons: SyncPersons::ChangedSince(NOW - 100),
            }),
            ..synced
        };
        let resumed = start(&paused, InitialSync::All, NOW);
        assert_eq!(
            resumed.page_token.as_deref(),
            Some("https://graph/delta?$skiptoken=s2")
        );
        assert_eq!(resumed.started_ms, NOW - 5);
        assert_eq!(resumed.persons, SyncPersons::ChangedSince(NOW - 100));
    }

    #[test]
    fn a_listed_contact_is_read_for_its_version_removal_and_change_time() {
        let contact = json!({"id": "AAMk1", "changeKey": "EQ1",
            "lastModifiedDateTime": "2024-05-02T10:00:00Z", "givenName": "Ann"});
        assert_eq!(
            listed(&contact),
            Some(ListedPerson {
                event_id: "AAMk1#EQ1".into(),
                deleted: false,
                updated_ms: Some(1_714_644_000_000),
            })
        );
        let removed = json!({"id": "AAMk2", "@removed": {"reason": "deleted"}});
        let read = listed(&removed).unwrap();
        assert!(read.deleted);
        assert_eq!(read.event_id, "AAMk2");
        assert_eq!(listed(&json!({"givenName": "x"})), None);
    }

    #[test]
    fn folders_are_found_by_display_name() {
        let folders = [
            ContactFolder {
                id: "f1".into(),
                display_name: "Clients".into(),
            },
            ContactFolder {
                id: "f2".into(),
                display_name: "clients".into(),
            },
            ContactFolder {
                id: "f3".into(),
                display_name: "Leads".into(),
            },
        ];
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolve_folders("w", &names(&["clients", "LEADS"]), &folders).unwrap(),
            ["f2", "f3"],
            "the exact name first, else any case"
        );
        let error = resolve_folders("w", &names(&["Leads", "Vendors"]), &folders).unwrap_err();
        assert_eq!(
            error,
            "workflow 'w': attribute 'microsoft_folders[1]' must be the display name of a contact folder under Contacts (there are: Clients, clients, Leads), found \"Vendors\""
        );
        assert!(
            resolve_folders("w", &names(&["X"]), &[])
                .unwrap_err()
                .contains("there are none")
        );
    }

    #[test]
    fn graph_errors_map_to_what_the_poll_does() {
        assert_eq!(
            source_error(MicrosoftError::DeltaGone),
            SourceError::Expired
        );
        assert_eq!(
            source_error(MicrosoftError::InvalidGrant),
            SourceError::InvalidGrant
        );
        assert!(matches!(
            source_error(MicrosoftError::Throttled {
                status: 429,
                retry_after: None
            }),
            SourceError::Later(m) if m.contains("backing off")
        ));
        assert!(matches!(
            source_error(MicrosoftError::BadRequest { status: 404, message: "gone".into() }),
            SourceError::Rejected(m) if m.contains("404")
        ));
    }
}
