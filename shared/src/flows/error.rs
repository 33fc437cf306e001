//! Why a delivery, a queued person or a polled person was not processed,
//! and the stable code each answers with (SPEC section 4).

use crate::adapters::followupboss::SourceError;
use crate::adapters::kvcore::KvcoreError;
use crate::adapters::retry::Transient;
use crate::adapters::store::StoreError;
use crate::domain::auth::AuthError;
use crate::domain::delivery::MAX_BODY_BYTES;
use crate::domain::sources::PayloadError;
use crate::flows::phone_index::IndexError;

/// Why a delivery was not processed. `code` names each for the answer; the
/// handler maps codes to HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the body is over {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("no workflow '{0}'")]
    UnknownWorkflow(String),
    #[error("unauthorized: {0}")]
    Unauthorized(AuthError),
    #[error(transparent)]
    InvalidPayload(#[from] PayloadError),
    #[error("this event is being processed right now; retry later")]
    InProgress,
    /// The workflow's settings or secrets cannot work; an operator must act.
    #[error("{0}")]
    Misconfigured(String),
    /// kvCORE refused or failed; transient ones are safe to retry.
    #[error(transparent)]
    Kvcore(#[from] KvcoreError),
    #[error("another event for this person is still being processed; retry later")]
    PersonBusy,
    /// The source app (Follow Up Boss) refused or failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Follow Up Boss answered 404 for a person its event names while the
    /// event is in the new-person window (SPEC section 5): transient.
    #[error(
        "Follow Up Boss does not let person {0} be read yet (404 within 10 minutes of the event: a new person until it is assigned to an agent); retried"
    )]
    PersonNotYetReadable(String),
    /// DynamoDB or Secrets Manager did not answer.
    #[error("{0}")]
    AwsUnavailable(String),
    /// The phone index of the workflow's kvCORE token has not finished its
    /// first build (SPEC section 9); the event is kept.
    #[error("the phone index of this workflow's kvCORE token is still being built; retry later")]
    PhoneIndexBuilding,
    /// Replay only: no such recorded event, or nothing left to replay it from.
    #[error("{0}")]
    NotReplayable(String),
}

impl SyncError {
    /// The stable error code of the answer (SPEC section 4).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::PayloadTooLarge => "payload_too_large",
            SyncError::UnknownWorkflow(_) => "unknown_workflow",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::InvalidPayload(_) => "invalid_payload",
            SyncError::InProgress => "in_progress",
            SyncError::Misconfigured(_) => "misconfigured_workflow",
            SyncError::Kvcore(KvcoreError::Unauthorized) => "kvcore_unauthorized",
            SyncError::Kvcore(KvcoreError::CandidatesUnread { .. }) => "kvcore_candidates_unread",
            SyncError::Kvcore(e) if e.is_transient() => "kvcore_unavailable",
            SyncError::Kvcore(_) => "kvcore_rejected",
            SyncError::PersonBusy => "person_busy",
            SyncError::Source(SourceError::Unauthorized(_)) => "source_unauthorized",
            SyncError::Source(e) if e.is_transient() => "source_unavailable",
            SyncError::Source(_) => "source_rejected",
            SyncError::PersonNotYetReadable(_) => "person_not_yet_readable",
            SyncError::AwsUnavailable(_) => "aws_unavailable",
            SyncError::PhoneIndexBuilding => "phone_index_building",
            SyncError::NotReplayable(_) => "not_replayable",
        }
    }
}

impl SyncError {
    /// How long the service that failed asked to be left alone (a 429's
    /// `Retry-After` from kvCORE or Follow Up Boss), for the sync queue's
    /// backoff (SPEC section 11).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Kvcore(e) => e.retry_after(),
            SyncError::Source(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl From<IndexError> for SyncError {
    fn from(error: IndexError) -> SyncError {
        match error {
            IndexError::Building => SyncError::PhoneIndexBuilding,
            IndexError::Kvcore(e) => SyncError::Kvcore(e),
            IndexError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> SyncError {
        SyncError::AwsUnavailable(error.to_string())
    }
}
