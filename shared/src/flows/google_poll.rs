//! Google Contacts as a polled source (SPEC section 10): the OAuth secret
//! and token, the one listing of `people/me/connections` a workflow has,
//! and what a listed person says. The poll itself (lease, deadline,
//! cursor, resume, summary, pacing) is the shared `flows::poll`; the
//! listing's rules are `listing`.

pub mod listing;

use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;

use crate::adapters::google::{AccessToken, Credentials, Google, GoogleError, GroupNames};
use crate::adapters::metrics;
use crate::adapters::store::GoogleSyncState;
use crate::domain::record::name_google_memberships;
use crate::domain::settings::{InitialSync, Settings};
use crate::flows::Services;
use crate::flows::poll::{PolledSource, Poller, SourceError, SourcePage, Stream};
use listing::{ListedPerson, Listing};

pub use crate::flows::poll::{Run, RunSummary, WorkflowSummary};

/// The Google poller: the shared poll over Google's client.
pub type GooglePoller = Poller<Google>;

impl PolledSource for Google {
    const NAME: &'static str = "google";
    const CONNECT: &'static str = "kvsync google connect";
    type Credentials = Credentials;
    /// The workflow's contact group names, when its `filters` or
    /// `field_map` read `source.labels` (SPEC section 12): read once a run
    /// (`contactGroups.list`), so a label renamed in Google shows by the
    /// next run.
    type Target = Option<Arc<GroupNames>>;

    fn polls(settings: &Settings) -> bool {
        settings.is_polled_google()
    }

    /// The workflow's OAuth client and refresh token.
    async fn credentials(
        &self,
        services: &Services,
        settings: &Settings,
    ) -> Result<Credentials, String> {
        let id = settings.google_oauth_secret.as_deref().unwrap_or_default();
        let secret = services
            .secrets
            .get(id)
            .await
            .map_err(|e| format!("google_oauth_secret '{id}': {e}"))?;
        Credentials::parse(&secret).map_err(|e| format!("google_oauth_secret '{id}': {e}"))
    }

    fn fingerprint(credentials: &Credentials) -> String {
        credentials.fingerprint()
    }

    async fn refresh(
        &self,
        _services: &Services,
        credentials: &mut Credentials,
        deadline: Instant,
    ) -> Result<AccessToken, SourceError> {
        Google::refresh(self, credentials, deadline)
            .await
            .map_err(source_error)
    }

    /// One listing: the workflow's own state item, with its contact
    /// group names when `source.labels` is read.
    async fn streams(
        &self,
        settings: &Settings,
        access: &AccessToken,
        deadline: Instant,
    ) -> Result<Vec<Stream<Self::Target>>, SourceError> {
        let names = match settings.reads_labels() {
            false => None,
            true => Some(Arc::new(
                self.contact_group_names(access, deadline)
                    .await
                    .map_err(source_error)?,
            )),
        };
        Ok(vec![Stream {
            key: None,
            target: names,
        }])
    }

    fn start(&self, state: &GoogleSyncState, initial_sync: InitialSync, now_ms: i64) -> Listing {
        listing::start(state, initial_sync, now_ms)
    }

    async fn page(
        &self,
        access: &AccessToken,
        names: &Self::Target,
        listing: &Listing,
        deadline: Instant,
    ) -> Result<SourcePage, SourceError> {
        let mut page = self
            .connections(access, listing.request(), deadline)
            .await
            .map_err(source_error)?;
        // Each membership named, so the event's kept payload (and a replay
        // of it) carries the labels it was filtered on.
        if let Some(names) = names {
            for person in &mut page.connections {
                name_google_memberships(person, names);
            }
        }
        Ok(SourcePage {
            records: page.connections,
            next_page: page.next_page_token,
            next_sync: page.next_sync_token,
        })
    }

    fn listed(record: &Value) -> Option<ListedPerson> {
        ListedPerson::of(record)
    }

    fn reconnect_metric(workflow_id: &str) -> Value {
        metrics::reconnect_needed_record(workflow_id)
    }
}

fn source_error(error: GoogleError) -> SourceError {
    match error {
        GoogleError::InvalidGrant => SourceError::InvalidGrant,
        GoogleError::Unauthenticated => SourceError::Unauthenticated,
        GoogleError::ExpiredSyncToken => SourceError::Expired,
        GoogleError::BadRequest(message) => {
            SourceError::Rejected(format!("Google refused the listing (400): {message}"))
        }
        error if error.is_transient() => {
            SourceError::Later(format!("{error}; backing off to the next run"))
        }
        error => SourceError::Later(error.to_string()),
    }
}
