//! The HTTP edge: an API Gateway request → a `Delivery` → `flows::delivery::handle` →
//! the JSON answer. Every error's status is decided here, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use kvsync::adapters::metrics;
use kvsync::domain::delivery::Delivery;
use kvsync::domain::outcome::Answer;
use kvsync::flows::{self, Invocation, Services, SyncError};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;

/// Time kept back from the invocation deadline to record, answer and flush.
const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);
/// Without a Lambda context (never in Lambda itself), assume this much time.
const DEFAULT_BUDGET: Duration = Duration::from_secs(20);

/// Set once the container has served its first invocation.
static WARM: AtomicBool = AtomicBool::new(false);

pub async fn handle(services: &Services, request: Request) -> Result<Response<Body>, Error> {
    if !WARM.swap(true, Ordering::Relaxed) {
        metrics::emit(&[metrics::cold_start_record()]);
    }
    let invocation = invocation(&request);
    let delivery = delivery(request);
    Ok(
        match flows::delivery::handle(services, &delivery, invocation).await {
            Ok(answer) => json_response(status_of_answer(&answer), serde_json::to_string(&answer)?),
            Err(error) => error_response(&delivery.workflow_id, &error),
        },
    )
}

fn delivery(request: Request) -> Delivery {
    let workflow_id = request
        .path_parameters_ref()
        .and_then(|p| p.first("workflow_id"))
        .map(String::from)
        .unwrap_or_else(|| {
            // Behind a proxy route the id is the last path segment.
            let path = request.raw_http_path().trim_end_matches('/');
            path.rsplit('/').next().unwrap_or("").to_string()
        });
    let query = request
        .query_string_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    Delivery {
        workflow_id,
        headers,
        query,
        // lambda_http has already decoded a base64-encoded body.
        body: request.into_body().to_vec(),
    }
}

fn invocation(request: &Request) -> Invocation {
    let remaining = request
        .lambda_context_ref()
        .and_then(|context| context.deadline().duration_since(SystemTime::now()).ok())
        .unwrap_or(DEFAULT_BUDGET);
    Invocation::within(remaining.saturating_sub(DEADLINE_MARGIN))
}

/// 202 for an event just queued (SPEC section 11), else 200 (a redelivery
/// of a queued event is a duplicate: 200).
fn status_of_answer(answer: &Answer) -> StatusCode {
    match answer {
        Answer::Queued(queued) if !queued.duplicate => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    }
}

/// The one place errors become HTTP statuses (SPEC section 4).
fn status_of(error: &SyncError) -> StatusCode {
    match error {
        SyncError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        SyncError::UnknownWorkflow(_) | SyncError::NotReplayable(_) => StatusCode::NOT_FOUND,
        SyncError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        SyncError::InvalidPayload(_) => StatusCode::BAD_REQUEST,
        SyncError::InProgress => StatusCode::CONFLICT,
        SyncError::Misconfigured(_)
        | SyncError::Kvcore(_)
        | SyncError::PersonBusy
        | SyncError::PhoneIndexBuilding
        | SyncError::Source(_)
        | SyncError::PersonNotYetReadable(_)
        | SyncError::AwsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn error_response(workflow_id: &str, error: &SyncError) -> Response<Body> {
    let (status, code) = (status_of(error), error.code());
    let message = match error {
        // One body whatever the reason, so a caller learns nothing from it.
        SyncError::Unauthorized(_) => "missing or invalid signature or token".to_string(),
        other => other.to_string(),
    };
    match status {
        StatusCode::UNAUTHORIZED => {
            tracing::warn!(workflow_id, reason = %error, "delivery refused")
        }
        s if s.is_server_error() => {
            tracing::error!(workflow_id, code, %error, "delivery failed");
            metrics::emit(&[metrics::delivery_failed_record(workflow_id, code)]);
        }
        _ => tracing::info!(workflow_id, code, %error, "delivery refused"),
    }
    json_response(
        status,
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
}

/// `body` is already JSON text: answers are serialized once, straight to text.
fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsync::adapters::followupboss::SourceError;
    use kvsync::adapters::kvcore::KvcoreError;
    use kvsync::domain::auth::AuthError;
    use kvsync::domain::sources::PayloadError;

    /// Every error there is, with the status and code SPEC section 4 gives it.
    #[test]
    fn every_error_has_its_documented_status_and_code() {
        let cases: Vec<(SyncError, u16, &str)> = vec![
            (SyncError::PayloadTooLarge, 413, "payload_too_large"),
            (
                SyncError::UnknownWorkflow("x".into()),
                404,
                "unknown_workflow",
            ),
            (
                SyncError::Unauthorized(AuthError::Stale),
                401,
                "unauthorized",
            ),
            (
                SyncError::InvalidPayload(PayloadError::new("contact", "is required")),
                400,
                "invalid_payload",
            ),
            (SyncError::InProgress, 409, "in_progress"),
            (
                SyncError::Misconfigured("x".into()),
                503,
                "misconfigured_workflow",
            ),
            (
                SyncError::Kvcore(KvcoreError::Unavailable { status: 502 }),
                503,
                "kvcore_unavailable",
            ),
            (
                SyncError::Kvcore(KvcoreError::Timeout),
                503,
                "kvcore_unavailable",
            ),
            (
                SyncError::Kvcore(KvcoreError::Unauthorized),
                503,
                "kvcore_unauthorized",
            ),
            (
                SyncError::Kvcore(KvcoreError::Rejected {
                    status: 422,
                    message: "x".into(),
                }),
                503,
                "kvcore_rejected",
            ),
            (SyncError::PersonBusy, 503, "person_busy"),
            (SyncError::PhoneIndexBuilding, 503, "phone_index_building"),
            (
                SyncError::PersonNotYetReadable("7".into()),
                503,
                "person_not_yet_readable",
            ),
            (
                SyncError::Kvcore(KvcoreError::CandidatesUnread { read: 10_000 }),
                503,
                "kvcore_candidates_unread",
            ),
            (
                SyncError::Source(SourceError::Timeout),
                503,
                "source_unavailable",
            ),
            (
                SyncError::Source(SourceError::Unauthorized(401)),
                503,
                "source_unauthorized",
            ),
            (
                SyncError::AwsUnavailable("x".into()),
                503,
                "aws_unavailable",
            ),
        ];
        for (error, status, code) in cases {
            let response = error_response("wf", &error);
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            let Body::Text(body) = response.body() else {
                panic!("a JSON body")
            };
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["error"]["code"], code, "{error:?}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }

    #[test]
    fn a_queued_event_is_accepted_and_its_redelivery_is_ok() {
        use kvsync::domain::outcome::{EventAnswer, QueuedAnswer};
        let queued = |duplicate| {
            Answer::Queued(QueuedAnswer {
                event_id: "e".into(),
                duplicate,
                queued: 3,
            })
        };
        assert_eq!(status_of_answer(&queued(false)), StatusCode::ACCEPTED);
        assert_eq!(status_of_answer(&queued(true)), StatusCode::OK);
        let synced = Answer::Synced(EventAnswer {
            event_id: "e".into(),
            duplicate: false,
            results: vec![],
        });
        assert_eq!(status_of_answer(&synced), StatusCode::OK);
        assert_eq!(
            serde_json::to_value(queued(false)).unwrap(),
            serde_json::json!({"event_id": "e", "duplicate": false, "queued": 3})
        );
    }

    #[test]
    fn every_refusal_of_a_signature_reads_the_same() {
        let reasons = [AuthError::Missing, AuthError::Mismatch, AuthError::Stale];
        let bodies: Vec<String> = reasons
            .into_iter()
            .map(
                |reason| match error_response("wf", &SyncError::Unauthorized(reason)).body() {
                    Body::Text(body) => body.clone(),
                    _ => String::new(),
                },
            )
            .collect();
        assert!(
            bodies.windows(2).all(|pair| pair[0] == pair[1]),
            "{bodies:?}"
        );
    }
}
