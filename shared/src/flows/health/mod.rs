//! The health checks of a workflow (SPEC section 14), one implementation
//! with two callers: `kvsync doctor` prints them, the scheduled
//! `health-check` function runs them daily over every enabled workflow and
//! publishes one EMF metric per workflow and problem kind (`Problem`).
//!
//! The checks: the settings as the function validates them
//! (`settings::parse`), unknown attributes; each secret the workflow names
//! present and of its shape; the kvCORE token accepted
//! (`GET /contacts?limit=1`, SPEC section 7) and its expiry (JWT `exp`,
//! read without checking the signature: kvCORE's own answer is the proof,
//! the expiry only a reminder; `adapters::kvcore::token`); for Follow Up
//! Boss the API key accepted (`GET /identity`) and the people webhooks
//! registered to the workflow's URL and `Active`; for Google the grant
//! alive (a refresh-token exchange at `GOOGLE_OAUTH_TOKEN_URL`) and the
//! last poll; the phone index built and fresh (SPEC section 9); failed
//! events and dead letters waiting for a replay. The decisions are in
//! `verdicts`; this module reads.

mod verdicts;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::adapters::followupboss::{SourceError, System};
use crate::adapters::google::{Credentials, Google, GoogleError};
use crate::adapters::kvcore::KvcoreError;
use crate::adapters::kvcore::token::Expiry;
use crate::adapters::metrics;
use crate::adapters::secrets::{self, Secrets};
use crate::adapters::store::{EventStatus, GoogleSyncStore, Ledger, StoreError, WorkflowError};
use crate::domain::settings::{self, Attr, AuthScheme, Item, Settings, Source};
use crate::flows::phone_index::Scope;
use crate::flows::scheduled::{InvalidWorkflow, skipped_workflows};
use crate::flows::services::Services;

pub use verdicts::{
    INDEX_STALE_AFTER_MS, Problem, SecretKind, Status, Verdict, Waiting, ago, date_of,
    expiry_verdict, followupboss_system_verdict, index_verdict, ok, replace_token, same_url,
    shape_verdict, verdict, waiting_verdict, webhooks_verdict,
};

/// One network check may take this long (kvCORE retries within it).
pub const CHECK_BUDGET: Duration = Duration::from_secs(15);

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub workflow_id: String,
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it; `None` when nothing is to be done.
    pub action: Option<String>,
    /// The metered problem this check found (SPEC section 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// The Follow Up Boss system the webhooks are listed for (`X-System`,
/// `X-System-Key`): the CLI's `--system`/`--system-key` or
/// `FOLLOWUPBOSS_SYSTEM`/`FOLLOWUPBOSS_SYSTEM_KEY`.
#[derive(Debug, Clone, Default)]
pub struct SystemSetting {
    pub name: Option<String>,
    pub key: Option<String>,
}

/// What the checks read, besides the clients every flow has.
pub struct Health<'a> {
    pub services: &'a Services,
    /// The Google token endpoint: a polled workflow's grant is checked by
    /// a refresh; `None`: not checked.
    pub google: Option<&'a Google>,
    /// `GOOGLE_SYNC_TABLE`: the poller's state (`reconnect_needed`, the
    /// last run); `None`: skipped.
    pub google_sync: Option<&'a GoogleSyncStore>,
    /// `MICROSOFT_SYNC_TABLE`: the microsoft-poller's state; `None`:
    /// skipped.
    pub microsoft_sync: Option<&'a GoogleSyncStore>,
    pub followupboss_system: SystemSetting,
    /// `<WebhookUrl>` (without the workflow id), when known: a Follow Up
    /// Boss webhook must point exactly at `<WebhookUrl>/<workflow_id>`;
    /// else at any URL ending in `/webhooks/<workflow_id>`.
    pub webhook_url: Option<String>,
    /// Every secret name under the stack's prefix, for "did you mean"
    /// (the CLI lists them; the function does not).
    pub secret_names: Vec<String>,
    /// The stack's secrets prefix, when known, for the messages.
    pub secrets_prefix: Option<String>,
    pub now_ms: i64,
}

impl Health<'_> {
    /// Every check of one workflow's item, in a fixed order.
    pub async fn workflow(&self, workflow_id: &str, item: &Item) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut add = |check: &str, v: Verdict| {
            checks.push(Check {
                workflow_id: workflow_id.to_string(),
                check: check.to_string(),
                status: v.status,
                detail: v.detail,
                action: v.action,
                problem: v.problem,
            })
        };

        // Settings, exactly as the function validates them.
        let settings = match settings::parse(workflow_id, item) {
            Ok((settings, unknown)) => {
                add("settings", ok(describe(&settings)));
                for attribute in unknown {
                    add(
                        "attributes",
                        verdict(
                            Status::Warning,
                            attribute.to_string(),
                            Some(format!(
                                "rename '{}' to '{}' in the DynamoDB console, or remove it",
                                attribute.attribute, attribute.nearest
                            )),
                        ),
                    );
                }
                if !settings.enabled {
                    add(
                        "enabled",
                        verdict(
                            Status::Warning,
                            "the workflow is disabled: events are recorded as skipped",
                            Some("set enabled to true in the console when it should sync".into()),
                        ),
                    );
                }
                if settings.dry_run {
                    add(
                        "dry_run",
                        verdict(
                            Status::Warning,
                            "dry run: nothing is written to kvCORE",
                            Some("set dry_run to false in the console to sync for real".into()),
                        ),
                    );
                }
                Some(settings)
            }
            Err(error) => {
                add(
                    "settings",
                    verdict(
                        Status::Problem,
                        error.to_string(),
                        Some(format!("fix '{}' in the DynamoDB console", error.attribute)),
                    ),
                );
                None
            }
        };

        // Secrets, named by the item even when the settings are invalid.
        let auth = settings.as_ref().map(|s| s.auth);
        let named = |name: &str| match item.get(name) {
            Some(Attr::S(id)) if !id.trim().is_empty() => Some(id.trim().to_string()),
            _ => None,
        };
        let mut kvcore_token = None;
        if let Some(id) = named("kvcore_token_secret") {
            let (v, value) = self
                .secret("kvcore_token_secret", &id, SecretKind::KvcoreToken)
                .await;
            add("kvcore_token_secret", v);
            kvcore_token = value.as_deref().and_then(secrets::kvcore_token);
        }
        if let Some(id) = named("webhook_secret") {
            let kind = SecretKind::Webhook(auth.unwrap_or(AuthScheme::Standard));
            add(
                "webhook_secret",
                self.secret("webhook_secret", &id, kind).await.0,
            );
        }
        let mut fub_key = None;
        if let Some(id) = named("source_api_secret") {
            let (v, value) = self
                .secret("source_api_secret", &id, SecretKind::FollowUpBossKey)
                .await;
            add("source_api_secret", v);
            fub_key = value;
        }
        let mut google_oauth = None;
        if let Some(id) = named("google_oauth_secret") {
            let (v, value) = self
                .secret("google_oauth_secret", &id, SecretKind::GoogleOauth)
                .await;
            add("google_oauth_secret", v);
            google_oauth = value;
        }

        // kvCORE: the token accepted, and when it expires.
        if let Some(token) = &kvcore_token {
            add(
                "kvCORE token",
                self.kvcore_accepts(token, workflow_id).await,
            );
            add(
                "kvCORE token expiry",
                expiry_verdict(Expiry::of(token), self.now_ms / 1000, workflow_id),
            );
        }

        if let Some(settings) = &settings {
            if let Some(v) = followupboss_system_verdict(settings) {
                add("followupboss_system", v);
            }
            if settings.source == Source::FollowUpBoss
                && let Some(key) = &fub_key
            {
                for (check, v) in self.followupboss(settings, key).await {
                    add(check, v);
                }
            }
            if let Some(oauth) = &google_oauth {
                add("Google grant", self.google_grant(oauth, workflow_id).await);
            }
            if settings.source == Source::Google || google_oauth.is_some() {
                add(
                    "Google last poll",
                    self.google_poll(workflow_id, google_oauth.is_some()).await,
                );
            }
            if settings.source == Source::Microsoft {
                add("Microsoft grant", self.microsoft_grant(settings).await);
            }
            let scope = Scope::of(settings);
            let index = match self.services.phone_index.meta(&scope.id).await {
                Ok(meta) => index_verdict(&meta, self.now_ms, workflow_id),
                Err(error) => verdict(
                    Status::Warning,
                    format!("could not read the phone index: {error}"),
                    None,
                ),
            };
            add("phone index", index);
        }

        let waiting = match waiting(&self.services.ledger, workflow_id).await {
            Ok(waiting) => waiting_verdict(waiting, workflow_id),
            Err(error) => verdict(
                Status::Warning,
                format!("could not read the events: {error}"),
                None,
            ),
        };
        add("failed events", waiting);
        checks
    }

    /// Reads a secret and checks its shape; answers the value when usable.
    async fn secret(
        &self,
        attribute: &str,
        id: &str,
        kind: SecretKind,
    ) -> (Verdict, Option<String>) {
        match self.services.secrets.get(id).await {
            Ok(value) => {
                let v = shape_verdict(kind, &value, id);
                let usable = v.status != Status::Problem;
                (v, usable.then(|| value.to_string()))
            }
            Err(secrets::SecretError::Unusable { reason, .. }) => {
                let action = match (nearest(id, &self.secret_names), &self.secrets_prefix) {
                    (Some(near), _) => format!(
                        "did you mean '{near}'? Set {attribute} to it in the console, or create '{id}'"
                    ),
                    (None, Some(prefix)) => format!(
                        "create the secret '{id}' (under the prefix '{prefix}'), or fix {attribute} in the console"
                    ),
                    (None, None) => {
                        format!("create the secret '{id}', or fix {attribute} in the console")
                    }
                };
                (
                    verdict(
                        Status::Problem,
                        format!("secret '{id}' cannot be read: {reason}"),
                        Some(action),
                    ),
                    None,
                )
            }
            Err(error) => (
                verdict(Status::Warning, error.to_string(), Some("try again".into())),
                None,
            ),
        }
    }

    /// One read-only request, `GET /contacts?limit=1` (SPEC section 7): a
    /// 401 is the metered `TokenRefused`.
    async fn kvcore_accepts(&self, token: &str, workflow_id: &str) -> Verdict {
        match token_accepted(self.services, token).await {
            Ok(()) => ok("accepted (GET /contacts?limit=1)"),
            Err(KvcoreError::Unauthorized) => verdict(
                Status::Problem,
                "kvCORE refused the token (401)",
                Some(replace_token(workflow_id)),
            )
            .found(Problem::TokenRefused),
            Err(error) => verdict(
                Status::Warning,
                format!("could not check: {error}"),
                Some("try again; check KVCORE_BASE_URL".into()),
            ),
        }
    }

    async fn followupboss(
        &self,
        settings: &Settings,
        api_key: &str,
    ) -> Vec<(&'static str, Verdict)> {
        let fub = &self.services.followupboss;
        let mut out = Vec::new();
        let key_ok = match fub.check_key(api_key).await {
            Ok(()) => {
                out.push(("Follow Up Boss key", ok("accepted (GET /identity)")));
                true
            }
            Err(SourceError::Unauthorized(status)) => {
                out.push((
                    "Follow Up Boss key",
                    verdict(
                        Status::Problem,
                        format!("Follow Up Boss refused the API key ({status})"),
                        Some("put the account owner's API key (Admin → API) in the source_api_secret secret".into()),
                    ),
                ));
                false
            }
            Err(error) => {
                out.push((
                    "Follow Up Boss key",
                    verdict(
                        Status::Warning,
                        format!("could not check: {error}"),
                        Some("try again; check FOLLOWUPBOSS_BASE_URL".into()),
                    ),
                ));
                false
            }
        };
        if !key_ok {
            return out;
        }
        let system = match followupboss_system(
            &self.services.secrets,
            settings,
            &self.followupboss_system,
        )
        .await
        {
            Ok(system) => system,
            Err(why) => {
                out.push((
                    "Follow Up Boss webhooks",
                    verdict(
                        Status::Skipped,
                        why,
                        Some("set FOLLOWUPBOSS_SYSTEM (and FOLLOWUPBOSS_SYSTEM_KEY) to check the webhooks".into()),
                    ),
                ));
                return out;
            }
        };
        let url = self
            .webhook_url
            .as_ref()
            .map(|base| format!("{}/{}", base.trim_end_matches('/'), settings.workflow_id));
        let v = match fub.webhooks(api_key, &system).await {
            Ok(webhooks) => webhooks_verdict(&webhooks, &settings.workflow_id, url.as_deref()),
            Err(error) => verdict(
                Status::Warning,
                format!("could not list the webhooks: {error}"),
                Some("check FOLLOWUPBOSS_SYSTEM and FOLLOWUPBOSS_SYSTEM_KEY".into()),
            ),
        };
        out.push(("Follow Up Boss webhooks", v));
        out
    }

    /// A refresh-token exchange (RFC 6749 section 6) at
    /// `GOOGLE_OAUTH_TOKEN_URL`: the grant is alive when Google issues an
    /// access token; `invalid_grant` (revoked or expired) is the metered
    /// `GoogleReconnect`.
    async fn google_grant(&self, oauth: &str, workflow_id: &str) -> Verdict {
        let Some(google) = self.google else {
            return verdict(
                Status::Skipped,
                "the Google token endpoint is not configured here",
                None,
            );
        };
        let credentials = match Credentials::parse(oauth) {
            Ok(credentials) => credentials,
            Err(why) => return verdict(Status::Problem, why, Some(connect(workflow_id))),
        };
        match google
            .refresh(&credentials, Instant::now() + CHECK_BUDGET)
            .await
        {
            Ok(_) => ok("Google issued an access token"),
            Err(GoogleError::InvalidGrant) => verdict(
                Status::Problem,
                "Google refused the grant (invalid_grant: revoked or expired)",
                Some(connect(workflow_id)),
            )
            .found(Problem::GoogleReconnect),
            Err(error @ GoogleError::OAuthRefused { .. }) => verdict(
                Status::Problem,
                error.to_string(),
                Some("check client_id and client_secret in google_oauth_secret".into()),
            ),
            Err(error) => verdict(
                Status::Warning,
                format!("could not reach Google: {error}"),
                Some("try again; check GOOGLE_OAUTH_TOKEN_URL".into()),
            ),
        }
    }

    /// A `microsoft` workflow's grant (SPEC section 15): its secret reads
    /// as one, and the microsoft-poller does not record `reconnect_needed`.
    /// No token is asked for here: Microsoft rotates the refresh token with
    /// every refresh, and a check must not write the secret. The poller
    /// meters `ReconnectNeeded` (source `microsoft`) itself, alarmed.
    async fn microsoft_grant(&self, settings: &Settings) -> Verdict {
        let workflow_id = settings.workflow_id.as_str();
        let connect = Some(format!("kvsync microsoft connect {workflow_id}"));
        let id = settings
            .microsoft_oauth_secret
            .as_deref()
            .unwrap_or_default();
        match self.services.secrets.get(id).await {
            Ok(value) => {
                if let Err(error) = crate::adapters::microsoft::Credentials::parse(&value) {
                    return verdict(Status::Problem, format!("'{id}': {error}"), connect);
                }
            }
            Err(error) => return verdict(Status::Problem, error.to_string(), connect),
        }
        let Some(store) = self.microsoft_sync else {
            return verdict(
                Status::Skipped,
                "the Microsoft sync table is not known",
                Some("pass --microsoft-sync-table, set MICROSOFT_SYNC_TABLE, or --stack".into()),
            );
        };
        match store.state(workflow_id).await {
            Ok(state) if state.reconnect_needed.is_some() => verdict(
                Status::Problem,
                "Microsoft refused the grant (invalid_grant): polling is stopped",
                connect,
            ),
            Ok(state) => match state.last_run_ms {
                Some(at) => ok(format!(
                    "'{id}' holds a grant; last poll {} ago",
                    ago(self.now_ms - at)
                )),
                None => verdict(
                    Status::Warning,
                    format!("'{id}' holds a grant; not polled yet"),
                    Some(
                        "the microsoft-poller runs every few minutes; check its logs if this stays"
                            .into(),
                    ),
                ),
            },
            Err(error) => verdict(
                Status::Warning,
                format!("could not read the sync state: {error}"),
                None,
            ),
        }
    }

    async fn google_poll(&self, workflow_id: &str, polled: bool) -> Verdict {
        if !polled {
            return verdict(
                Status::Skipped,
                "not polled (no google_oauth_secret): events come from a bridge",
                Some(format!(
                    "to poll Google Contacts: kvsync google connect {workflow_id} --client-secret client_secret.json"
                )),
            );
        }
        let Some(store) = self.google_sync else {
            return verdict(
                Status::Skipped,
                "the Google sync table is not known",
                Some("pass --google-sync-table, set GOOGLE_SYNC_TABLE, or --stack".into()),
            );
        };
        match store.state(workflow_id).await {
            Ok(state) if state.reconnect_needed.is_some() => verdict(
                Status::Problem,
                "Google refused the grant (invalid_grant): polling is stopped",
                Some(connect(workflow_id)),
            )
            .found(Problem::GoogleReconnect),
            Ok(state) => match state.last_run_ms {
                Some(at) => ok(format!(
                    "last run {} ago{}",
                    ago(self.now_ms - at),
                    state.last_run.map(|s| format!(": {s}")).unwrap_or_default()
                )),
                None => verdict(
                    Status::Warning,
                    "not polled yet",
                    Some(
                        "the google-poller runs every few minutes; check its logs if this stays"
                            .into(),
                    ),
                ),
            },
            Err(error) => verdict(
                Status::Warning,
                format!("could not read the sync state: {error}"),
                None,
            ),
        }
    }
}

fn connect(workflow_id: &str) -> String {
    format!("kvsync google connect {workflow_id} --client-secret client_secret.json")
}

/// The candidate most like `id`, if any is at all alike: the better of
/// Jaro-Winkler similarity (which weighs a shared beginning, as ids under
/// one prefix have) and normalized Damerau-Levenshtein (which counts a
/// swap of two letters, `dco` for `doc`, as one edit). For "did you mean"
/// (a secret id, a workflow id).
pub fn nearest<'a>(id: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .filter(|c| c.as_str() != id)
        .map(|c| {
            let score =
                strsim::jaro_winkler(id, c).max(strsim::normalized_damerau_levenshtein(id, c));
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.as_str())
}

/// Whether kvCORE accepts `token`: one read-only request,
/// `GET /contacts?limit=1` (SPEC section 7), within `CHECK_BUDGET`.
pub async fn token_accepted(services: &Services, token: &str) -> Result<(), KvcoreError> {
    let session = services
        .kvcore
        .session(token, Instant::now() + CHECK_BUDGET);
    session.list_page(&[], 1, 1).await.map(|_| ())
}

/// What waits for `kvsync replay` in a workflow's records.
pub async fn waiting(ledger: &Ledger, workflow_id: &str) -> Result<Waiting, StoreError> {
    let events = ledger.events(workflow_id).await?;
    Ok(Waiting {
        failed_events: events
            .iter()
            .filter(|e| e.status == EventStatus::Failed)
            .count() as u64,
        dead_letters: events
            .iter()
            .filter_map(|e| e.queued.as_ref())
            .map(|q| q.failed)
            .sum(),
    })
}

/// The Follow Up Boss system: its name from `setting`, its key from
/// `setting` or, for a `followupboss`-auth workflow, its `webhook_secret`
/// (Follow Up Boss signs deliveries with the registering system's key,
/// https://docs.followupboss.com/reference/webhooks-guide). `Err` says
/// what to set.
pub async fn followupboss_system(
    secrets: &Secrets,
    settings: &Settings,
    setting: &SystemSetting,
) -> Result<System, String> {
    let name = setting
        .name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or("the Follow Up Boss system name is not set: set FOLLOWUPBOSS_SYSTEM (or pass --system), the name your system is registered under with Follow Up Boss")?;
    let key = match setting.key.clone().filter(|s| !s.trim().is_empty()) {
        Some(key) => key,
        None if settings.auth == AuthScheme::FollowUpBoss => secrets
            .get(&settings.webhook_secret)
            .await
            .map_err(|e| format!("webhook_secret (the system key): {e}"))?
            .to_string(),
        None => {
            return Err(
                "the Follow Up Boss system key is not set: set FOLLOWUPBOSS_SYSTEM_KEY".into(),
            );
        }
    };
    Ok(System {
        name: name.trim().to_string(),
        key: key.trim().to_string(),
    })
}

/// The settings in a few words.
fn describe(settings: &Settings) -> String {
    let source = match settings.source {
        Source::Generic => "generic",
        Source::Google => "google",
        Source::FollowUpBoss => "followupboss",
        Source::Microsoft => "microsoft",
    };
    let auth = match settings.auth {
        AuthScheme::Standard => "standard",
        AuthScheme::FollowUpBoss => "followupboss",
        AuthScheme::Token => "token",
    };
    format!("valid (source {source}, auth {auth})")
}

/// One workflow's part of a scheduled health run: the problems found and
/// the checks that are not `ok`.
#[derive(Debug, Serialize)]
pub struct WorkflowHealth {
    pub workflow_id: String,
    pub problems: Vec<Problem>,
    pub checks: Vec<Check>,
}

/// What a scheduled run found (the function's JSON answer, SPEC section 1).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub workflows: Vec<WorkflowHealth>,
    /// Enabled workflows not checked before the deadline (the next run
    /// checks them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
    /// Misconfigured workflow items (SPEC section 3), each with its error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_workflows: Vec<InvalidWorkflow>,
}

/// The metered problems among `checks`, each once.
pub fn problems(checks: &[Check]) -> Vec<Problem> {
    let found: BTreeSet<Problem> = checks.iter().filter_map(|c| c.problem).collect();
    found.into_iter().collect()
}

impl Health<'_> {
    /// The daily run (SPEC section 14): every check of every enabled
    /// workflow, one after the other; each workflow publishes one EMF
    /// metric per problem kind, 1 when found and 0 when not, so a healthy
    /// workflow publishes zeros and an alarm returns to OK once fixed. A
    /// workflow is not started after `deadline` less `CHECK_BUDGET`.
    /// Fails only when the workflows cannot be read at all.
    pub async fn run(&self, deadline: Instant) -> Result<Summary, WorkflowError> {
        let items = self.services.workflows.items().await?;
        let mut invalid = Vec::new();
        let mut summary = Summary {
            workflows: Vec::new(),
            unchecked: Vec::new(),
            invalid_workflows: Vec::new(),
        };
        for (workflow_id, item) in items {
            let settings = match settings::parse(&workflow_id, &item) {
                Ok((settings, _)) => settings,
                Err(error) => {
                    invalid.push(error);
                    continue;
                }
            };
            if !settings.enabled {
                continue;
            }
            if Instant::now() + CHECK_BUDGET > deadline {
                summary.unchecked.push(workflow_id);
                continue;
            }
            let checks = self.workflow(&workflow_id, &item).await;
            let found = problems(&checks);
            let values: Vec<(&'static str, f64)> = Problem::ALL
                .iter()
                .map(|p| (p.metric(), if found.contains(p) { 1.0 } else { 0.0 }))
                .collect();
            metrics::emit(&[metrics::health_record(&workflow_id, &values)]);
            if !found.is_empty() {
                tracing::warn!(%workflow_id, problems = ?found, "workflow health problems");
            }
            summary.workflows.push(WorkflowHealth {
                workflow_id,
                problems: found,
                checks: checks
                    .into_iter()
                    .filter(|c| c.status != Status::Ok)
                    .collect(),
            });
        }
        summary.invalid_workflows = skipped_workflows(&invalid);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(problem: Option<Problem>) -> Check {
        Check {
            workflow_id: "wf".into(),
            check: "c".into(),
            status: Status::Warning,
            detail: String::new(),
            action: None,
            problem,
        }
    }

    #[test]
    fn each_problem_kind_counts_once() {
        let checks = [
            check(Some(Problem::GoogleReconnect)),
            check(None),
            check(Some(Problem::GoogleReconnect)),
            check(Some(Problem::TokenExpiring)),
        ];
        assert_eq!(
            problems(&checks),
            [Problem::TokenExpiring, Problem::GoogleReconnect]
        );
    }

    #[test]
    fn every_problem_has_its_own_metric() {
        let names: BTreeSet<&str> = Problem::ALL.iter().map(|p| p.metric()).collect();
        assert_eq!(names.len(), Problem::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("Health")));
    }
}
