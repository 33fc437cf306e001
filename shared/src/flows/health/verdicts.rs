//! The health checks' verdicts: plain data in, a status, a detail, the
//! next step and the problem kind found out (SPEC section 14). No I/O: the
//! checks in `super` read, these decide.

use serde::Serialize;

use crate::adapters::followupboss::Webhook;
use crate::adapters::kvcore::token::{EXPIRY_WARNING_DAYS, Expiry};
use crate::adapters::secrets;
use crate::adapters::store::IndexMeta;
use crate::domain::settings::{AuthScheme, Settings, Source};
use crate::domain::sources::followupboss::SYNCED_EVENTS;
use crate::flows::phone_index::REBUILD_AFTER;

/// A phone index whose last refresh is older than this is stale: the
/// scheduled indexer refreshes every 5 minutes by default.
pub const INDEX_STALE_AFTER_MS: i64 = 60 * 60 * 1000;

/// How a check came out, in rising order of trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not checked here (e.g. a table this stack does not have); says why.
    Skipped,
    Warning,
    Problem,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
            Status::Problem => "problem",
        }
    }
}

/// The problems the daily health check meters, one EMF metric each per
/// workflow (SPEC section 14), each alarmed in template.yaml with the
/// command that fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The kvCORE token expires within `EXPIRY_WARNING_DAYS` (or has).
    TokenExpiring,
    /// kvCORE answers 401 to the token.
    TokenRefused,
    /// Google refuses the grant (`invalid_grant`): `kvsync google connect`.
    GoogleReconnect,
    /// A Follow Up Boss people webhook is missing or `Disabled`.
    FollowUpBossWebhook,
    /// The phone index is not built, or not refreshed within the hour.
    PhoneIndexStale,
    /// Failed events or dead-lettered persons wait for `kvsync replay`.
    ReplayWaiting,
}

impl Problem {
    pub const ALL: [Problem; 6] = [
        Problem::TokenExpiring,
        Problem::TokenRefused,
        Problem::GoogleReconnect,
        Problem::FollowUpBossWebhook,
        Problem::PhoneIndexStale,
        Problem::ReplayWaiting,
    ];

    /// The EMF metric (namespace `kvsync`) the health check publishes for
    /// it; template.yaml's alarms and dashboard name the same.
    pub fn metric(self) -> &'static str {
        match self {
            Problem::TokenExpiring => "HealthTokenExpiring",
            Problem::TokenRefused => "HealthTokenRefused",
            Problem::GoogleReconnect => "HealthGoogleReconnect",
            Problem::FollowUpBossWebhook => "HealthFollowUpBossWebhook",
            Problem::PhoneIndexStale => "HealthPhoneIndexStale",
            Problem::ReplayWaiting => "HealthReplayWaiting",
        }
    }
}

/// A check's outcome before it is given its workflow and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub detail: String,
    /// What to do about it; `None` when nothing is to be done.
    pub action: Option<String>,
    /// The metered problem this verdict found, if any.
    pub problem: Option<Problem>,
}

pub fn verdict(status: Status, detail: impl Into<String>, action: Option<String>) -> Verdict {
    Verdict {
        status,
        detail: detail.into(),
        action,
        problem: None,
    }
}

pub fn ok(detail: impl Into<String>) -> Verdict {
    verdict(Status::Ok, detail, None)
}

impl Verdict {
    /// The same verdict, marked as the metered `problem`.
    pub fn found(self, problem: Problem) -> Verdict {
        Verdict {
            problem: Some(problem),
            ..self
        }
    }
}

/// The secrets a workflow may name, with the shape each must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    KvcoreToken,
    Webhook(AuthScheme),
    FollowUpBossKey,
    GoogleOauth,
}

/// Whether two webhook URLs are the same (a trailing slash aside).
pub fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// Whether a secret's value has the shape its attribute needs (SPEC
/// sections 3, 4, 10). The value never appears in the verdict.
pub fn shape_verdict(kind: SecretKind, value: &str, id: &str) -> Verdict {
    match kind {
        SecretKind::KvcoreToken => match secrets::kvcore_token(value) {
            Some(_) => ok(format!("'{id}' holds a kvCORE token")),
            None => verdict(
                Status::Problem,
                format!("'{id}' does not hold a kvCORE token"),
                Some("store the bare token, or JSON {\"token\": \"...\"}".into()),
            ),
        },
        SecretKind::Webhook(AuthScheme::Standard) => {
            match crate::domain::auth::standard_key(value) {
                Ok(_) if value.trim().starts_with("whsec_") => {
                    ok(format!("'{id}' holds a Standard Webhooks key"))
                }
                Ok(_) => verdict(
                    Status::Warning,
                    format!("'{id}' is base64 without the whsec_ prefix"),
                    Some("store it as whsec_<base64> (the sender's libraries expect that)".into()),
                ),
                Err(_) => verdict(
                    Status::Problem,
                    format!("'{id}' is not a Standard Webhooks key (whsec_ followed by base64)"),
                    Some(
                        "store whsec_<base64>; every signed delivery is refused until then".into(),
                    ),
                ),
            }
        }
        SecretKind::Webhook(AuthScheme::FollowUpBoss) => {
            ok(format!("'{id}' holds the Follow Up Boss system key"))
        }
        SecretKind::Webhook(AuthScheme::Token) => ok(format!("'{id}' holds the webhook token")),
        SecretKind::FollowUpBossKey => {
            if value.trim().contains(char::is_whitespace) || value.trim().starts_with('{') {
                verdict(
                    Status::Problem,
                    format!("'{id}' does not look like a Follow Up Boss API key"),
                    Some("store the bare API key (Admin → API)".into()),
                )
            } else {
                ok(format!("'{id}' holds an API key"))
            }
        }
        SecretKind::GoogleOauth => {
            let fields = ["client_id", "client_secret", "refresh_token"];
            let missing: Vec<&str> = match serde_json::from_str::<serde_json::Value>(value) {
                Ok(json) => fields
                    .into_iter()
                    .filter(|f| json[*f].as_str().is_none_or(|s| s.trim().is_empty()))
                    .collect(),
                Err(_) => fields.to_vec(),
            };
            if missing.is_empty() {
                ok(format!("'{id}' holds a Google OAuth grant"))
            } else {
                verdict(
                    Status::Problem,
                    format!("'{id}' lacks {}", missing.join(", ")),
                    Some("store JSON {\"client_id\", \"client_secret\", \"refresh_token\"}: kvsync google connect".into()),
                )
            }
        }
    }
}

/// The next step for a kvCORE token that is refused or expiring (SPEC
/// section 7: a JWT made under Lead Engine → Lead Dropbox, valid one year).
pub fn replace_token(workflow_id: &str) -> String {
    format!(
        "make a new kvCORE token (Lead Engine → Lead Dropbox), then: kvsync workflow token {workflow_id}"
    )
}

/// The token's expiry: a problem once expired, a warning under
/// `EXPIRY_WARNING_DAYS` or when unknown; both of those first are the
/// metered `TokenExpiring`.
pub fn expiry_verdict(expiry: Expiry, now_s: i64, workflow_id: &str) -> Verdict {
    let renew = || Some(replace_token(workflow_id));
    match expiry {
        Expiry::At(exp) => {
            let date = date_of(exp);
            let days = expiry.days_left(now_s).unwrap_or_default();
            if days < 0.0 {
                verdict(Status::Problem, format!("expired on {date}"), renew())
                    .found(Problem::TokenExpiring)
            } else if days < EXPIRY_WARNING_DAYS {
                verdict(
                    Status::Warning,
                    format!("expires in {} days ({date})", days.floor()),
                    renew(),
                )
                .found(Problem::TokenExpiring)
            } else {
                ok(format!("expires in {} days ({date})", days.floor()))
            }
        }
        Expiry::Never => ok("the token carries no expiry"),
        Expiry::Unknown => verdict(
            Status::Warning,
            "expiry unknown: the token is not a JWT",
            Some("check the token's expiry in kvCORE".into()),
        ),
    }
}

/// Both people events registered to the workflow's URL (exactly, when the
/// URL is known; else any URL ending in `/webhooks/<workflow_id>`), and
/// `Active`: Follow Up Boss lists each webhook with its `status`, `Active`
/// or `Disabled` once its deliveries kept failing
/// (https://docs.followupboss.com/reference/webhooks-guide;
/// `GET /v1/webhooks`). Missing or disabled is the metered
/// `FollowUpBossWebhook`.
pub fn webhooks_verdict(webhooks: &[Webhook], workflow_id: &str, url: Option<&str>) -> Verdict {
    let ours = |w: &&Webhook| match url {
        Some(url) => same_url(&w.url, url),
        None => w
            .url
            .trim_end_matches('/')
            .ends_with(&format!("/webhooks/{workflow_id}")),
    };
    let mut missing = Vec::new();
    let mut disabled = Vec::new();
    for event in SYNCED_EVENTS {
        match webhooks.iter().filter(|w| w.event == event).find(ours) {
            None => missing.push(event),
            Some(w)
                if w.status
                    .as_deref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case("active")) =>
            {
                disabled.push(event)
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        return verdict(
            Status::Problem,
            format!("not registered: {}", missing.join(", ")),
            Some(format!("kvsync followupboss subscribe {workflow_id}")),
        )
        .found(Problem::FollowUpBossWebhook);
    }
    if !disabled.is_empty() {
        return verdict(
            Status::Problem,
            format!(
                "disabled by Follow Up Boss (deliveries kept failing): {}",
                disabled.join(", ")
            ),
            Some(format!(
                "fix the cause (kvsync history {workflow_id}), then kvsync followupboss unsubscribe {workflow_id} and subscribe again"
            )),
        )
        .found(Problem::FollowUpBossWebhook);
    }
    ok(format!("{} registered", SYNCED_EVENTS.join(" and ")))
}

/// A `followupboss` workflow without `followupboss_system` sends its
/// Follow Up Boss requests without `X-System`/`X-System-Key` (SPEC section
/// 3), and Follow Up Boss then allows half the request rate
/// (docs.followupboss.com, "Rate Limiting" and "Identification"): a
/// warning. `None` for other sources.
pub fn followupboss_system_verdict(settings: &Settings) -> Option<Verdict> {
    if settings.source != Source::FollowUpBoss {
        return None;
    }
    Some(match &settings.followupboss_system {
        Some(name) => ok(format!(
            "every Follow Up Boss request carries X-System '{name}' and its key"
        )),
        None => verdict(
            Status::Warning,
            "followupboss_system is not set: Follow Up Boss requests go without X-System/X-System-Key, and Follow Up Boss allows them half the request rate",
            Some(format!(
                "set followupboss_system (S) on workflow '{}' to the name your system is registered under with Follow Up Boss (its key is the webhook_secret)",
                settings.workflow_id
            )),
        ),
    })
}

/// The phone index of the workflow's scope (SPEC section 9). Not built
/// (and no build under way), not refreshed within `INDEX_STALE_AFTER_MS`,
/// or not rebuilt within two days is the metered `PhoneIndexStale`.
pub fn index_verdict(meta: &IndexMeta, now_ms: i64, workflow_id: &str) -> Verdict {
    let build = || {
        Some(format!(
            "kvsync index build {workflow_id} (or wait for the scheduled kvcore-indexer)"
        ))
    };
    match (meta.built_at_ms, &meta.build) {
        (None, Some(cursor)) => verdict(
            Status::Warning,
            format!(
                "first build in progress ({} contacts read); phone lookups answer 503 until it ends",
                cursor.contacts_read
            ),
            build(),
        ),
        (None, None) => verdict(
            Status::Warning,
            "not built yet: events that need a phone lookup answer 503 until it is",
            build(),
        )
        .found(Problem::PhoneIndexStale),
        (Some(built), _) => {
            let refreshed = meta.last_refresh_ms.unwrap_or(built).max(built);
            if now_ms - refreshed > INDEX_STALE_AFTER_MS {
                verdict(
                    Status::Warning,
                    format!(
                        "last refreshed {} ago; the scheduled indexer should refresh it every few minutes",
                        ago(now_ms - refreshed)
                    ),
                    Some(format!("kvsync index build {workflow_id}; check the kvcore-indexer's logs and its errors alarm")),
                )
                .found(Problem::PhoneIndexStale)
            } else if now_ms - built > 2 * REBUILD_AFTER.as_millis() as i64 {
                verdict(
                    Status::Warning,
                    format!(
                        "last full build {} ago (daily expected)",
                        ago(now_ms - built)
                    ),
                    Some(format!(
                        "kvsync index build {workflow_id}; check the kvcore-indexer's logs"
                    )),
                )
                .found(Problem::PhoneIndexStale)
            } else {
                ok(format!(
                    "{} contact{}, refreshed {} ago",
                    meta.contacts,
                    if meta.contacts == 1 { "" } else { "s" },
                    ago(now_ms - refreshed)
                ))
            }
        }
    }
}

/// What waits for `kvsync replay`: events that ended failed, and persons
/// of queued events recorded failed past the sync queue's receive limit
/// (they went to the dead-letter queue, SPEC section 11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub failed_events: u64,
    pub dead_letters: u64,
}

/// Failed events and dead letters wait for a replay: the metered
/// `ReplayWaiting`.
pub fn waiting_verdict(waiting: Waiting, workflow_id: &str) -> Verdict {
    let Waiting {
        failed_events,
        dead_letters,
    } = waiting;
    if failed_events == 0 && dead_letters == 0 {
        return ok("none");
    }
    let mut parts = Vec::new();
    let mut steps = vec![format!("kvsync failed {workflow_id}")];
    if failed_events > 0 {
        parts.push(format!(
            "{failed_events} failed event{} kept",
            if failed_events == 1 { "" } else { "s" }
        ));
        steps.push(format!("kvsync replay {workflow_id} --failed"));
    }
    if dead_letters > 0 {
        parts.push(format!(
            "{dead_letters} dead-lettered person{}",
            if dead_letters == 1 { "" } else { "s" }
        ));
        steps.push(format!("kvsync replay {workflow_id} --dlq"));
    }
    verdict(
        Status::Warning,
        parts.join(", "),
        Some(steps.join("; then ")),
    )
    .found(Problem::ReplayWaiting)
}

/// `unix_s` as a calendar date (UTC).
pub fn date_of(unix_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_s)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| format!("unix time {unix_s}"))
}

/// A duration in ms, roughly: "40 s", "12 min", "3 h", "2 days".
pub fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::BuildCursor;

    const NOW_S: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    #[test]
    fn a_followupboss_workflow_without_its_system_is_a_warning() {
        use crate::domain::settings::{self, Attr, Item};
        let item = |extra: &[(&str, &str)]| {
            let mut item: Item = [
                ("kvcore_token_secret", "k"),
                ("webhook_secret", "w"),
                ("source", "followupboss"),
                ("source_api_secret", "s"),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), Attr::S(v.to_string())))
            .collect();
            item.retain(|_, v| *v != Attr::S(String::new()));
            settings::parse("fub", &item).unwrap().0
        };
        let without = followupboss_system_verdict(&item(&[])).unwrap();
        assert_eq!(without.status, Status::Warning);
        assert!(
            without.detail.contains("half the request rate"),
            "{without:?}"
        );
        assert!(without.action.unwrap().contains("followupboss_system"));
        let with = followupboss_system_verdict(&item(&[("followupboss_system", "team")])).unwrap();
        assert_eq!(with.status, Status::Ok);
        let generic = item(&[("source", "generic"), ("source_api_secret", "")]);
        assert_eq!(followupboss_system_verdict(&generic), None);
    }

    #[test]
    fn expiry_is_ok_far_off_a_warning_within_30_days_a_problem_once_past() {
        assert_eq!(
            expiry_verdict(Expiry::At(NOW_S + 200 * DAY), NOW_S, "wf").status,
            Status::Ok
        );
        let soon = expiry_verdict(Expiry::At(NOW_S + 10 * DAY + 5), NOW_S, "wf");
        assert_eq!(soon.status, Status::Warning);
        assert!(
            soon.detail.contains("expires in 10 days"),
            "{}",
            soon.detail
        );
        assert!(soon.action.unwrap().contains("kvsync workflow token wf"));
        assert_eq!(soon.problem, Some(Problem::TokenExpiring));
        assert_eq!(
            expiry_verdict(Expiry::At(NOW_S + 30 * DAY), NOW_S, "wf").status,
            Status::Ok
        );
        assert_eq!(
            expiry_verdict(Expiry::At(NOW_S + 30 * DAY - 1), NOW_S, "wf").status,
            Status::Warning
        );
        let past = expiry_verdict(Expiry::At(NOW_S - DAY), NOW_S, "wf");
        assert_eq!(past.status, Status::Problem);
        assert!(past.detail.starts_with("expired on "));
        let unknown = expiry_verdict(Expiry::Unknown, NOW_S, "wf");
        assert_eq!(unknown.status, Status::Warning);
        assert!(unknown.detail.contains("expiry unknown"));
        assert_eq!(
            expiry_verdict(Expiry::Never, NOW_S, "wf").status,
            Status::Ok
        );
    }

    #[test]
    fn secret_shapes() {
        let standard = SecretKind::Webhook(AuthScheme::Standard);
        assert_eq!(
            shape_verdict(standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "w").status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(standard, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "w").status,
            Status::Warning
        );
        assert_eq!(
            shape_verdict(standard, "whsec_***", "w").status,
            Status::Problem
        );
        assert_eq!(
            shape_verdict(SecretKind::KvcoreToken, r#"{"token": "t"}"#, "k").status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(SecretKind::KvcoreToken, r#"{"key": "t"}"#, "k").status,
            Status::Problem
        );
        let google = shape_verdict(
            SecretKind::GoogleOauth,
            r#"{"client_id": "c", "client_secret": "s"}"#,
            "g",
        );
        assert_eq!(google.status, Status::Problem);
        assert!(google.detail.contains("refresh_token"));
        assert_eq!(
            shape_verdict(
                SecretKind::GoogleOauth,
                r#"{"client_id": "c", "client_secret": "s", "refresh_token": "r"}"#,
                "g"
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(SecretKind::FollowUpBossKey, "fka_123", "f").status,
            Status::Ok
        );
        assert_eq!(
            shape_verdict(SecretKind::FollowUpBossKey, "two words", "f").status,
            Status::Problem
        );
        // The value never shows.
        let v = shape_verdict(SecretKind::KvcoreToken, "{\"nope\": \"s3cr3t\"}", "k");
        assert!(!v.detail.contains("s3cr3t") && !v.action.unwrap().contains("s3cr3t"));
    }

    fn webhook(id: u64, event: &str, url: &str, status: &str) -> Webhook {
        Webhook {
            id,
            event: event.into(),
            url: url.into(),
            status: Some(status.into()),
            system: None,
        }
    }

    #[test]
    fn webhooks_need_both_people_events_at_the_workflows_url() {
        let url = "https://x.example/webhooks/fub";
        let both = [
            webhook(1, "peopleCreated", url, "Active"),
            webhook(2, "peopleUpdated", url, "Active"),
        ];
        assert_eq!(webhooks_verdict(&both, "fub", Some(url)).status, Status::Ok);
        assert_eq!(webhooks_verdict(&both, "fub", None).status, Status::Ok);
        let one = webhooks_verdict(&both[..1], "fub", Some(url));
        assert_eq!(one.status, Status::Problem);
        assert_eq!(one.detail, "not registered: peopleUpdated");
        assert_eq!(
            one.action.as_deref(),
            Some("kvsync followupboss subscribe fub")
        );
        let elsewhere = [
            webhook(1, "peopleCreated", "https://y/webhooks/other", "Active"),
            both[1].clone(),
        ];
        assert_eq!(
            webhooks_verdict(&elsewhere, "fub", None).status,
            Status::Problem
        );
        let disabled = [
            both[0].clone(),
            webhook(2, "peopleUpdated", url, "Disabled"),
        ];
        let v = webhooks_verdict(&disabled, "fub", Some(url));
        assert_eq!(v.status, Status::Problem);
        assert_eq!(v.problem, Some(Problem::FollowUpBossWebhook));
        assert_eq!(one.problem, Some(Problem::FollowUpBossWebhook));
        assert_eq!(webhooks_verdict(&both, "fub", None).problem, None);
    }

    #[test]
    fn the_index_is_a_warning_until_built_and_when_stale() {
        let now = NOW_S * 1000;
        let never = IndexMeta::default();
        let v = index_verdict(&never, now, "wf");
        assert_eq!(v.status, Status::Warning);
        assert_eq!(v.problem, Some(Problem::PhoneIndexStale));
        let building = IndexMeta {
            build: Some(BuildCursor {
                started_ms: 0,
                next_page: 2,
                contacts_read: 500,
            }),
            ..Default::default()
        };
        let v = index_verdict(&building, now, "wf");
        assert_eq!(v.status, Status::Warning);
        assert!(v.detail.contains("500"));
        assert_eq!(v.problem, None, "a first build under way is not stale");
        let fresh = IndexMeta {
            built_at_ms: Some(now - 3_600_000),
            last_refresh_ms: Some(now - 60_000),
            contacts: 42,
            ..Default::default()
        };
        let v = index_verdict(&fresh, now, "wf");
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.detail, "42 contacts, refreshed 1 min ago");
        // A build counts as a refresh: stale only when both are old.
        let stale = IndexMeta {
            built_at_ms: Some(now - 5 * 3_600_000),
            last_refresh_ms: Some(now - 3 * 3_600_000),
            ..fresh.clone()
        };
        let v = index_verdict(&stale, now, "wf");
        assert_eq!(v.status, Status::Warning);
        assert_eq!(
            v.detail,
            "last refreshed 3 h ago; the scheduled indexer should refresh it every few minutes"
        );
        assert_eq!(v.problem, Some(Problem::PhoneIndexStale));
        let old_build = IndexMeta {
            built_at_ms: Some(now - 3 * 86_400_000),
            last_refresh_ms: Some(now - 60_000),
            ..fresh
        };
        assert_eq!(index_verdict(&old_build, now, "wf").status, Status::Warning);
    }

    #[test]
    fn failed_events_and_dead_letters_are_a_warning_with_the_replay_command() {
        let none = waiting_verdict(Waiting::default(), "wf");
        assert_eq!((none.status, none.problem), (Status::Ok, None));
        let v = waiting_verdict(
            Waiting {
                failed_events: 3,
                dead_letters: 0,
            },
            "wf",
        );
        assert_eq!(v.status, Status::Warning);
        assert_eq!(v.problem, Some(Problem::ReplayWaiting));
        assert_eq!(v.detail, "3 failed events kept");
        assert!(v.action.unwrap().contains("kvsync replay wf --failed"));
        let v = waiting_verdict(
            Waiting {
                failed_events: 0,
                dead_letters: 1,
            },
            "wf",
        );
        assert_eq!(v.detail, "1 dead-lettered person");
        assert!(v.action.unwrap().contains("kvsync replay wf --dlq"));
    }

    #[test]
    fn problems_outrank_warnings() {
        assert!(
            Status::Problem > Status::Warning
                && Status::Warning > Status::Skipped
                && Status::Skipped > Status::Ok
        );
    }
}
