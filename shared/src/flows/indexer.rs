//! One scheduled run of the kvcore-indexer (SPEC section 9): every enabled
//! workflow → its scope (a kvCORE token secret and a default country) → a
//! full build when the scope needs one (never built, a build to resume, the
//! last one over a day old), else a refresh. Each scope is handled on its
//! own, so one failing stops no other; the answer is a summary per scope,
//! with each kvCORE token's days left (SPEC section 7).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::adapters::kvcore::token::Expiry;
use crate::adapters::kvcore::{Kvcore, Pacer};
use crate::adapters::metrics;
use crate::adapters::secrets::{self, Secrets};
use crate::adapters::store::{
    IndexMeta, PacingStore, PhoneIndexStore, StoreError, WorkflowError, Workflows,
};
use crate::clock::now_ms;
use crate::domain::settings::{DEFAULT_KVCORE_MAX_RPS, Settings, kvcore_rates};
use crate::flows::phone_index::{IndexError, PhoneIndex, Scope, needs_build};
use crate::flows::scheduled::{InvalidWorkflow, skipped_workflows};

/// A scope is not started with less time than this left: one page and its
/// writes (the flows themselves stop at 4 s).
const SCOPE_MIN_TIME: Duration = Duration::from_secs(5);

/// The clients one warm container keeps for all its runs.
pub struct Indexer {
    pub workflows: Workflows,
    pub phone_index: PhoneIndexStore,
    pub secrets: Secrets,
    pub kvcore: Kvcore,
    /// The shared kvCORE pacing table (`PACING_TABLE`, SPEC section 11):
    /// builds keep to `kvcore_max_rps` together with the queue's workers.
    /// `None`: paced within this run only.
    pub pacing: Option<PacingStore>,
}

/// What a run did: one entry per scope, and the workflows it could not read.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub scopes: Vec<ScopeSummary>,
    /// Each kvCORE token secret enabled workflows use, with its token's
    /// days left (also published as the EMF metric `KvcoreTokenDaysLeft`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenSummary>,
    /// Misconfigured workflow items (SPEC section 3), each with its error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_workflows: Vec<InvalidWorkflow>,
}

/// One kvCORE token's expiry, by its secret's id (never the token).
#[derive(Debug, Serialize)]
pub struct TokenSummary {
    pub kvcore_token_secret: String,
    /// Days until the token's JWT `exp` (negative once expired); absent
    /// when the token has no `exp`, is not a JWT, or could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<f64>,
    /// `"at"`, `"never"` (a JWT without `exp`), `"unknown"` (not a JWT) or
    /// `"unread"` (the secret could not be read; the scope's error says why).
    pub expiry: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Build,
    Refresh,
}

/// One scope's part of the run.
#[derive(Debug, Serialize)]
pub struct ScopeSummary {
    /// `<kvcore_token_secret>#<country>` (a secret's name, not its value).
    pub scope: String,
    /// The enabled workflows that use it, by id.
    pub workflows: Vec<String>,
    pub action: Action,
    /// The build finished or the refresh ran; false: it resumes next run.
    pub finished: bool,
    /// kvCORE list pages read.
    pub pages: u32,
    /// Contacts read: a build counts its earlier runs too.
    pub contacts_read: u64,
    /// Contacts in the index when a build finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts_indexed: Option<u64>,
    /// Another invocation held the scope's lease; nothing was done.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Workflows that share one scope.
#[derive(Debug, Clone, PartialEq)]
struct ScopeGroup {
    scope: Scope,
    token_secret: String,
    workflows: Vec<String>,
}

/// This run's deadline and lease owner.
pub struct Run {
    /// No scope is started, and no page read, that cannot end by then.
    pub deadline: Instant,
    pub deadline_ms: i64,
    /// Who holds the scopes' leases: this invocation.
    pub owner: String,
}

impl Indexer {
    /// One run over every scope enabled workflows use: refreshes first,
    /// then builds, each scope on its own (a failing one stops no other,
    /// its error in its summary). Fails only when the workflows cannot be
    /// read at all.
    pub async fn run(&self, run: &Run) -> Result<Summary, WorkflowError> {
        let all = self.workflows.all().await?;
        let invalid_workflows = skipped_workflows(&all.invalid);
        let rates = kvcore_rates(all.valid.iter().filter(|s| s.enabled));
        let tokens = token_expiries(self, rates.keys()).await;
        let pacers: HashMap<String, Pacer> = rates
            .into_iter()
            .map(|(secret, rate)| {
                let pacer = Pacer::for_token(self.pacing.as_ref(), &secret, rate);
                (secret, pacer)
            })
            .collect();

        let mut planned = Vec::new();
        for group in groups(&all.valid) {
            let meta = self.phone_index.meta(&group.scope.id).await;
            planned.push((group, meta));
        }
        // Refreshes first: they are quick, so every index stays fresh even
        // when a long build then takes the rest of the run.
        let now = now_ms();
        planned.sort_by_key(|(group, meta)| {
            let build = meta.as_ref().is_ok_and(|m| needs_build(m, now));
            (build, group.scope.id.clone())
        });

        // Every group's token has a pace (both come from the same workflows).
        let fallback = Pacer::per_second(DEFAULT_KVCORE_MAX_RPS);
        let mut scopes = Vec::new();
        for (group, meta) in planned {
            let pacer = pacers.get(&group.token_secret).unwrap_or(&fallback);
            let summary = index_scope(self, run, &group, meta, pacer).await;
            match &summary.error {
                Some(error) => tracing::error!(
                    scope = %summary.scope, action = ?summary.action, %error,
                    "phone index scope failed"
                ),
                None => tracing::info!(
                    scope = %summary.scope, action = ?summary.action, finished = summary.finished,
                    pages = summary.pages, contacts_read = summary.contacts_read,
                    skipped = summary.skipped, "phone index scope done"
                ),
            }
            scopes.push(summary);
        }
        scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
        Ok(Summary {
            scopes,
            tokens,
            invalid_workflows,
        })
    }
}

/// Reads each token's expiry from its JWT `exp` and publishes its days
/// left (EMF `KvcoreTokenDaysLeft`, dimension `kvcore_token_secret`), so
/// an alarm fires weeks before a year-long token stops working. A secret
/// that cannot be read is left to its scope, which reports why.
async fn token_expiries<'a>(
    indexer: &Indexer,
    secret_ids: impl Iterator<Item = &'a String>,
) -> Vec<TokenSummary> {
    let now_s = now_ms() / 1000;
    let mut tokens = Vec::new();
    for secret_id in secret_ids {
        let expiry = match token_of(&indexer.secrets, secret_id).await {
            Ok(token) => Some(Expiry::of(&token)),
            Err(_) => None,
        };
        let days_left = expiry.and_then(|e| e.days_left(now_s));
        if let Some(days) = days_left {
            metrics::emit(&[metrics::kvcore_token_days_left_record(secret_id, days)]);
            tracing::info!(kvcore_token_secret = %secret_id, days_left = days, "kvCORE token expiry");
        }
        tokens.push(TokenSummary {
            kvcore_token_secret: secret_id.clone(),
            days_left,
            expiry: match expiry {
                Some(Expiry::At(_)) => "at",
                Some(Expiry::Never) => "never",
                Some(Expiry::Unknown) => "unknown",
                None => "unread",
            },
        });
    }
    tokens
}

/// Builds or refreshes one scope; every failure ends up in the summary.
async fn index_scope(
    indexer: &Indexer,
    run: &Run,
    group: &ScopeGroup,
    meta: Result<IndexMeta, StoreError>,
    pacer: &Pacer,
) -> ScopeSummary {
    let now = now_ms();
    let action = match &meta {
        Ok(meta) if !needs_build(meta, now) => Action::Refresh,
        _ => Action::Build,
    };
    let mut summary = ScopeSummary {
        scope: group.scope.id.clone(),
        workflows: group.workflows.clone(),
        action,
        finished: false,
        pages: 0,
        contacts_read: 0,
        contacts_indexed: None,
        skipped: false,
        error: None,
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(error) => {
            summary.error = Some(error.to_string());
            return summary;
        }
    };
    if meta.lease_until_ms.is_some_and(|until| until >= now) {
        // Another run (or a lookup's refresh) works on it: no error.
        summary.skipped = true;
        return summary;
    }
    if Instant::now() + SCOPE_MIN_TIME >= run.deadline {
        summary.error = Some("no time left in this run; the next run handles this scope".into());
        return summary;
    }
    let token = match token_of(&indexer.secrets, &group.token_secret).await {
        Ok(token) => token,
        Err(error) => {
            summary.error = Some(error);
            return summary;
        }
    };
    let session = indexer.kvcore.paced_session(&token, run.deadline, pacer);
    let index = PhoneIndex {
        store: &indexer.phone_index,
        session: &session,
        scope: &group.scope,
        owner: &run.owner,
        deadline: run.deadline,
        deadline_ms: run.deadline_ms,
    };
    let result: Result<(), IndexError> = match action {
        Action::Build => index.build(now, &mut |_| {}).await.map(|report| {
            summary.finished = report.finished;
            summary.pages = report.pages;
            summary.contacts_read = report.contacts_read;
            summary.contacts_indexed = report.contacts_indexed;
        }),
        Action::Refresh => index.refresh(now).await.map(|report| {
            summary.finished = !report.skipped;
            summary.skipped = report.skipped;
            summary.pages = report.pages;
            summary.contacts_read = report.contacts_read;
        }),
    };
    if let Err(error) = result {
        summary.error = Some(error.to_string());
    }
    summary
}

/// The kvCORE token a secret holds (bare, or JSON `{"token": ...}`).
async fn token_of(secrets: &Secrets, secret_id: &str) -> Result<String, String> {
    let secret = secrets
        .get(secret_id)
        .await
        .map_err(|e| format!("kvcore_token_secret '{secret_id}': {e}"))?;
    secrets::kvcore_token(&secret).ok_or_else(|| {
        format!(
            "kvcore_token_secret '{secret_id}': the secret must hold the kvCORE API token, bare or as {{\"token\": \"...\"}}"
        )
    })
}

/// The scopes enabled workflows use, each with its workflows (SPEC section
/// 9: workflows sharing a token secret and a country share one), by id.
fn groups(workflows: &[Settings]) -> Vec<ScopeGroup> {
    let mut by_scope: BTreeMap<String, ScopeGroup> = BTreeMap::new();
    for settings in workflows.iter().filter(|s| s.enabled) {
        let scope = Scope::of(settings);
        by_scope
            .entry(scope.id.clone())
            .or_insert_with(|| ScopeGroup {
                scope,
                token_secret: settings.kvcore_token_secret.clone(),
                workflows: Vec::new(),
            })
            .workflows
            .push(settings.workflow_id.clone());
    }
    by_scope.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::{Attr, Item, parse};

    fn workflow(id: &str, token: &str, country: &str, extra: &[(&str, Attr)]) -> Settings {
        let mut item = Item::from([
            ("kvcore_token_secret".to_string(), Attr::S(token.into())),
            ("webhook_secret".to_string(), Attr::S("w".into())),
            ("default_country".to_string(), Attr::S(country.into())),
        ]);
        for (name, value) in extra {
            item.insert(name.to_string(), value.clone());
        }
        parse(id, &item).unwrap().0
    }

    #[test]
    fn workflows_sharing_token_and_country_share_a_scope_and_disabled_ones_none() {
        let workflows = [
            workflow("b", "kvsync/t1", "US", &[]),
            workflow("a", "kvsync/t1", "US", &[]),
            workflow("c", "kvsync/t1", "GB", &[]),
            workflow("d", "kvsync/t2", "US", &[("enabled", Attr::Bool(false))]),
        ];
        let groups = groups(&workflows);
        let shape: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g.scope.id.as_str(),
                    g.workflows.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("kvsync/t1#GB", vec!["c"]),
                ("kvsync/t1#US", vec!["b", "a"]),
            ]
        );
        assert!(groups.iter().all(|g| g.token_secret == "kvsync/t1"));
    }

    #[test]
    fn a_token_is_paced_at_the_lowest_rate_its_enabled_workflows_allow() {
        let workflows = [
            workflow(
                "a",
                "kvsync/t1",
                "US",
                &[("kvcore_max_rps", Attr::N("2".into()))],
            ),
            workflow("b", "kvsync/t1", "GB", &[]),
            workflow(
                "c",
                "kvsync/t1",
                "US",
                &[
                    ("kvcore_max_rps", Attr::N("0.5".into())),
                    ("enabled", Attr::Bool(false)),
                ],
            ),
            workflow("d", "kvsync/t2", "US", &[]),
        ];
        assert_eq!(
            kvcore_rates(workflows.iter().filter(|s| s.enabled)),
            BTreeMap::from([
                ("kvsync/t1".to_string(), 2.0),
                ("kvsync/t2".to_string(), 5.0)
            ])
        );
    }

    #[test]
    fn the_summary_names_what_was_done_per_scope() {
        let summary = Summary {
            scopes: vec![ScopeSummary {
                scope: "kvsync/t1#US".into(),
                workflows: vec!["a".into()],
                action: Action::Build,
                finished: true,
                pages: 2,
                contacts_read: 900,
                contacts_indexed: Some(900),
                skipped: false,
                error: None,
            }],
            tokens: Vec::new(),
            invalid_workflows: Vec::new(),
        };
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            serde_json::json!({"scopes": [{
                "scope": "kvsync/t1#US", "workflows": ["a"], "action": "build",
                "finished": true, "pages": 2, "contacts_read": 900, "contacts_indexed": 900
            }]})
        );
    }
}
