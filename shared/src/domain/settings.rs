//! A workflow item from the DynamoDB console → validated `Settings`, with
//! error messages a console editor can act on (SPEC section 3).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::domain::contact::Region;
use crate::domain::field_map::{self, FieldMap};
use crate::domain::fields::Field;
use crate::domain::filters::{self, Filter};

/// An attribute value as the DynamoDB console offers it. The store converts
/// SDK values into this so validation stays free of I/O and of the SDK.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    S(String),
    N(String),
    Bool(bool),
    Null,
    Ss(Vec<String>),
    Ns(Vec<String>),
    L(Vec<Attr>),
    M(BTreeMap<String, Attr>),
    /// Binary and binary sets: never valid in a workflow.
    Binary,
}

impl Attr {
    fn type_name(&self) -> &'static str {
        match self {
            Attr::S(_) => "S",
            Attr::N(_) => "N",
            Attr::Bool(_) => "BOOL",
            Attr::Null => "NULL",
            Attr::Ss(_) => "SS",
            Attr::Ns(_) => "NS",
            Attr::L(_) => "L",
            Attr::M(_) => "M",
            Attr::Binary => "B",
        }
    }

    /// `S "yes"`: the type and a short rendering of the value.
    pub(crate) fn describe(&self) -> String {
        let value = match self {
            Attr::S(s) | Attr::N(s) => format!("{s:?}"),
            Attr::Bool(b) => b.to_string(),
            Attr::Ss(v) | Attr::Ns(v) => format!("{v:?}"),
            Attr::L(v) => format!("{} items", v.len()),
            Attr::M(m) => format!("{} entries", m.len()),
            Attr::Null | Attr::Binary => String::new(),
        };
        let mut text = format!("{} {value}", self.type_name());
        text.truncate(80);
        text.trim_end().to_string()
    }
}

pub type Item = BTreeMap<String, Attr>;

/// The payload format of a workflow's webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Generic,
    Google,
    FollowUpBoss,
    /// Microsoft 365 / Outlook contacts, polled through Microsoft Graph
    /// (SPEC section 15); it takes no webhooks.
    Microsoft,
}

/// How a workflow's webhooks prove where they come from (SPEC section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    Standard,
    FollowUpBoss,
    Token,
}

/// A workflow's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub workflow_id: String,
    pub enabled: bool,
    pub source: Source,
    pub create_contacts: bool,
    pub update_contacts: bool,
    pub overwrite_existing: bool,
    /// Empty: every agent.
    pub agent_ids: BTreeSet<u64>,
    pub default_agent_id: Option<u64>,
    pub agent_map: BTreeMap<String, u64>,
    pub sync_fields: BTreeSet<Field>,
    pub default_country: Region,
    pub kvcore_token_secret: String,
    pub webhook_secret: String,
    pub auth: AuthScheme,
    pub source_api_secret: Option<String>,
    pub dry_run: bool,
    /// Written to kvCORE's `source` on create, never on update (kvCORE
    /// ignores `source` on update, SPEC section 7). A workflow constant, so
    /// `sync_fields` does not gate it.
    pub lead_source: Option<String>,
    /// On update, add the event's tags the contact lacks with
    /// `PUT /contact/{id}/tags`; tags are never removed (SPEC section 6).
    pub add_tags: bool,
    /// kvCORE requests per second sent for this workflow's token by the
    /// bulk flows (phone index builds and refreshes; SPEC section 3).
    /// Positive; may be fractional (0.5 is one request every 2 s).
    pub kvcore_max_rps: f64,
    /// How events are delivered (SPEC sections 3 and 11): `Sync` answers
    /// with the results; `Queued` answers 202 and syncs each person from
    /// the sync queue.
    pub delivery: DeliveryMode,
    /// Secrets Manager id of the Google OAuth client and refresh token,
    /// JSON `{"client_id", "client_secret", "refresh_token"}` (SPEC
    /// section 10). Set: the `google-poller` polls this `google` workflow;
    /// unset: a `google` workflow only takes a bridge's webhooks.
    pub google_oauth_secret: Option<String>,
    /// What the first listing of a polled Google workflow syncs (SPEC
    /// section 10, `initial_sync`).
    pub initial_sync: InitialSync,
    /// `followupboss` only: the name the team's system is registered under
    /// with Follow Up Boss (SPEC section 3). Set: every Follow Up Boss API
    /// request carries `X-System` (this) and `X-System-Key` (the
    /// `webhook_secret` value); Follow Up Boss allows a system twice the
    /// request rate ("Rate Limiting", docs.followupboss.com).
    pub followupboss_system: Option<String>,
    /// Conditions every synced person must meet (SPEC section 12); empty:
    /// everyone.
    pub filters: Vec<Filter>,
    /// Where each kvCORE field's value comes from, over the built-in
    /// mapping (SPEC section 12).
    pub field_map: FieldMap,
    /// true: every event writes every differing field, reverting edits
    /// made in kvCORE (SPEC section 6, "Edits made in kvCORE").
    pub revert_kvcore_edits: bool,
    /// Secrets Manager id of JSON `{"tenant", "client_id",
    /// "refresh_token"}` (and `client_secret` for a confidential app),
    /// SPEC section 15; required for a `microsoft` workflow.
    pub microsoft_oauth_secret: Option<String>,
    /// The contact folders (display names) a `microsoft` workflow polls;
    /// empty: the default Contacts folder (SPEC section 15).
    pub microsoft_folders: Vec<String>,
}

/// What the first listing of a polled Google workflow syncs (SPEC section
/// 10): `All` every existing contact; `Changes` (the default) none, it
/// only records the sync token, so only later changes are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialSync {
    All,
    #[default]
    Changes,
}

/// A workflow's `delivery` (SPEC sections 3 and 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Every person is synced before the answer, which carries the results.
    Sync,
    /// The event is claimed, split into one SQS message per person and
    /// answered 202; the `sync-worker` syncs each person.
    Queued,
}

/// Per kvCORE token secret, the pace its workflows allow: the lowest
/// `kvcore_max_rps` among them (SPEC section 3), as every scheduled
/// function and worker paces that token.
pub fn kvcore_rates<'a>(
    workflows: impl IntoIterator<Item = &'a Settings>,
) -> BTreeMap<String, f64> {
    let mut rates: BTreeMap<String, f64> = BTreeMap::new();
    for settings in workflows {
        rates
            .entry(settings.kvcore_token_secret.clone())
            .and_modify(|rate| *rate = rate.min(settings.kvcore_max_rps))
            .or_insert(settings.kvcore_max_rps);
    }
    rates
}

/// `kvcore_max_rps` when a workflow does not set it (SPEC section 3).
pub const DEFAULT_KVCORE_MAX_RPS: f64 = 5.0;

impl Settings {
    /// Whether an agent passes the workflow's agent filter.
    pub fn allows_agent(&self, agent_id: Option<u64>) -> bool {
        self.agent_ids.is_empty() || agent_id.is_some_and(|id| self.agent_ids.contains(&id))
    }

    /// Whether a filter or mapping reads `source.labels` (a Google
    /// person's contact group names, SPEC section 12): then the poller
    /// reads the groups' names.
    pub fn reads_labels(&self) -> bool {
        let labels = |path: &crate::domain::paths::Path| path.is_labels();
        self.filters.iter().any(|f| labels(&f.field)) || self.field_map.paths().any(labels)
    }

    /// Whether the `google-poller` polls this workflow (SPEC section 10):
    /// enabled, `source` = `google`, with a `google_oauth_secret`.
    pub fn is_polled_google(&self) -> bool {
        self.enabled && self.source == Source::Google && self.google_oauth_secret.is_some()
    }

    /// Whether the `microsoft-poller` polls this workflow (SPEC section
    /// 15): enabled, `source` = `microsoft` (which requires a
    /// `microsoft_oauth_secret`).
    pub fn is_polled_microsoft(&self) -> bool {
        self.enabled && self.source == Source::Microsoft && self.microsoft_oauth_secret.is_some()
    }
}

/// A setting that cannot be used, said so a console editor can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflow '{workflow_id}': attribute '{attribute}' must be {expected}, found {found}")]
pub struct SettingsError {
    pub workflow_id: String,
    pub attribute: String,
    pub expected: String,
    pub found: String,
}

/// Every attribute a workflow item may have.
pub const KNOWN_ATTRIBUTES: [&str; 28] = [
    "workflow_id",
    "enabled",
    "source",
    "create_contacts",
    "update_contacts",
    "overwrite_existing",
    "agent_ids",
    "default_agent_id",
    "agent_map",
    "sync_fields",
    "default_country",
    "kvcore_token_secret",
    "webhook_secret",
    "auth",
    "source_api_secret",
    "dry_run",
    "lead_source",
    "add_tags",
    "kvcore_max_rps",
    "delivery",
    "google_oauth_secret",
    "initial_sync",
    "followupboss_system",
    "filters",
    "field_map",
    "revert_kvcore_edits",
    "microsoft_oauth_secret",
    "microsoft_folders",
];

/// A workflow attribute nobody reads, with the known name it most resembles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAttribute {
    pub attribute: String,
    pub nearest: &'static str,
}

impl fmt::Display for UnknownAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown attribute '{}' is ignored; did you mean '{}'?",
            self.attribute, self.nearest
        )
    }
}

/// Validates a workflow item. Unknown attributes do not fail the workflow
/// (a typo must not stop a team's sync); they come back to be logged.
pub fn parse(
    workflow_id: &str,
    item: &Item,
) -> Result<(Settings, Vec<UnknownAttribute>), SettingsError> {
    let read = Reader { workflow_id, item };
    let source = read.one_of(
        "source",
        &[
            ("generic", Source::Generic),
            ("google", Source::Google),
            ("followupboss", Source::FollowUpBoss),
            ("microsoft", Source::Microsoft),
        ],
    )?;
    let source = source.unwrap_or(Source::Generic);
    let auth = read
        .one_of(
            "auth",
            &[
                ("standard", AuthScheme::Standard),
                ("followupboss", AuthScheme::FollowUpBoss),
                ("token", AuthScheme::Token),
            ],
        )?
        .unwrap_or(match source {
            Source::FollowUpBoss => AuthScheme::FollowUpBoss,
            Source::Generic | Source::Google | Source::Microsoft => AuthScheme::Standard,
        });
    let default_country = match read.string("default_country")? {
        None => Region::default(),
        Some(code) => Region::parse(&code).ok_or_else(|| {
            read.error(
                "default_country",
                "an ISO country code such as \"US\"",
                &item["default_country"],
            )
        })?,
    };

    let settings = Settings {
        workflow_id: workflow_id.to_string(),
        enabled: read.boolean("enabled")?.unwrap_or(true),
        source,
        create_contacts: read.boolean("create_contacts")?.unwrap_or(true),
        update_contacts: read.boolean("update_contacts")?.unwrap_or(true),
        overwrite_existing: read.boolean("overwrite_existing")?.unwrap_or(true),
        agent_ids: read.agent_ids()?,
        default_agent_id: read.agent_id("default_agent_id")?,
        agent_map: read.agent_map()?,
        sync_fields: read.sync_fields()?,
        default_country,
        kvcore_token_secret: read.required_string("kvcore_token_secret")?,
        webhook_secret: read.required_string("webhook_secret")?,
        auth,
        source_api_secret: read.string("source_api_secret")?,
        dry_run: read.boolean("dry_run")?.unwrap_or(false),
        lead_source: read.string("lead_source")?,
        add_tags: read.boolean("add_tags")?.unwrap_or(false),
        kvcore_max_rps: read
            .positive_number("kvcore_max_rps")?
            .unwrap_or(DEFAULT_KVCORE_MAX_RPS),
        delivery: read
            .one_of(
                "delivery",
                &[
                    ("sync", DeliveryMode::Sync),
                    ("queued", DeliveryMode::Queued),
                ],
            )?
            .unwrap_or(match source {
                // A Follow Up Boss event may name hundreds of people and FUB
                // wants its 2xx within 10 s (SPEC section 11).
                Source::FollowUpBoss => DeliveryMode::Queued,
                Source::Generic | Source::Google | Source::Microsoft => DeliveryMode::Sync,
            }),
        google_oauth_secret: read.string("google_oauth_secret")?,
        initial_sync: read
            .one_of(
                "initial_sync",
                &[("all", InitialSync::All), ("changes", InitialSync::Changes)],
            )?
            .unwrap_or_default(),
        followupboss_system: read.string("followupboss_system")?,
        filters: match read.get("filters") {
            None => Vec::new(),
            Some(attr) => filters::parse(workflow_id, source, attr)?,
        },
        field_map: match read.get("field_map") {
            None => FieldMap::default(),
            Some(attr) => field_map::parse(workflow_id, source, attr)?,
        },
        revert_kvcore_edits: read.boolean("revert_kvcore_edits")?.unwrap_or(false),
        microsoft_oauth_secret: read.string("microsoft_oauth_secret")?,
        microsoft_folders: read.folder_names("microsoft_folders")?,
    };
    check_combinations(&settings, item)?;

    let unknown = item
        .keys()
        .filter(|name| !KNOWN_ATTRIBUTES.contains(&name.as_str()))
        .map(|name| UnknownAttribute {
            attribute: name.clone(),
            nearest: nearest_known(name),
        })
        .collect();
    Ok((settings, unknown))
}

fn check_combinations(settings: &Settings, item: &Item) -> Result<(), SettingsError> {
    let error = |attribute: &str, expected: &str, found: String| SettingsError {
        workflow_id: settings.workflow_id.clone(),
        attribute: attribute.to_string(),
        expected: expected.to_string(),
        found,
    };
    if !settings.create_contacts && !settings.update_contacts {
        return Err(error(
            "update_contacts",
            "true when create_contacts is false (with both false the workflow can do nothing)",
            "BOOL false".to_string(),
        ));
    }
    if settings.source == Source::FollowUpBoss && settings.source_api_secret.is_none() {
        return Err(error(
            "source_api_secret",
            "the Secrets Manager id of the Follow Up Boss API key (S) when source is \"followupboss\"",
            "nothing".to_string(),
        ));
    }
    // SPEC section 10: only a `google` workflow is polled, and
    // `initial_sync` means nothing to a workflow that is not.
    if settings.google_oauth_secret.is_some() && settings.source != Source::Google {
        return Err(error(
            "google_oauth_secret",
            "absent unless source is \"google\" (only Google Contacts is polled)",
            item.get("source").map_or_else(
                || "source absent (generic)".to_string(),
                |s| format!("source {}", s.describe()),
            ),
        ));
    }
    // SPEC section 15: a `microsoft` workflow is polled with its
    // `microsoft_oauth_secret`, and only it.
    if settings.source == Source::Microsoft && settings.microsoft_oauth_secret.is_none() {
        return Err(error(
            "microsoft_oauth_secret",
            "the Secrets Manager id of the Microsoft OAuth grant (S) when source is \"microsoft\" (kvsync microsoft connect stores it)",
            "nothing".to_string(),
        ));
    }
    for attribute in ["microsoft_oauth_secret", "microsoft_folders"] {
        if item.get(attribute).is_some_and(|a| *a != Attr::Null)
            && settings.source != Source::Microsoft
        {
            return Err(error(
                attribute,
                "absent unless source is \"microsoft\"",
                item.get("source").map_or_else(
                    || "source absent (generic)".to_string(),
                    |s| format!("source {}", s.describe()),
                ),
            ));
        }
    }
    if item.get("initial_sync").is_some_and(|a| *a != Attr::Null)
        && settings.google_oauth_secret.is_none()
        && settings.source != Source::Microsoft
    {
        return Err(error(
            "initial_sync",
            "set only on a polled workflow (source \"google\" with a google_oauth_secret, or source \"microsoft\")",
            item.get("initial_sync")
                .map_or_else(String::new, Attr::describe),
        ));
    }
    // SPEC section 3: the system key is the webhook secret, which only
    // Follow Up Boss's own webhook scheme holds.
    if settings.followupboss_system.is_some()
        && (settings.source != Source::FollowUpBoss || settings.auth != AuthScheme::FollowUpBoss)
    {
        return Err(error(
            "followupboss_system",
            "set only on a followupboss workflow whose auth is \"followupboss\" (its webhook_secret is the system key)",
            format!(
                "source {}, auth {}",
                item.get("source")
                    .map_or_else(|| "absent (generic)".to_string(), Attr::describe),
                item.get("auth")
                    .map_or_else(|| "absent".to_string(), Attr::describe)
            ),
        ));
    }
    if let Some(default) = settings.default_agent_id
        && !settings.allows_agent(Some(default))
    {
        return Err(error(
            "default_agent_id",
            "one of agent_ids (created contacts must stay within the workflow's agents)",
            item.get("default_agent_id")
                .map_or_else(String::new, Attr::describe),
        ));
    }
    Ok(())
}

fn nearest_known(name: &str) -> &'static str {
    KNOWN_ATTRIBUTES
        .iter()
        .copied()
        .max_by(|a, b| {
            strsim::jaro_winkler(name, a)
                .partial_cmp(&strsim::jaro_winkler(name, b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .unwrap_or("workflow_id")
}

/// Typed reads of one item, each failing with the attribute's name.
struct Reader<'a> {
    workflow_id: &'a str,
    item: &'a Item,
}

impl Reader<'_> {
    fn error(&self, attribute: &str, expected: &str, found: &Attr) -> SettingsError {
        SettingsError {
            workflow_id: self.workflow_id.to_string(),
            attribute: attribute.to_string(),
            expected: expected.to_string(),
            found: found.describe(),
        }
    }

    /// The attribute, with NULL read as absent (the console's way to blank one).
    fn get(&self, name: &str) -> Option<&Attr> {
        self.item.get(name).filter(|a| **a != Attr::Null)
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, SettingsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(name, "BOOL (true or false)", other)),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, SettingsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::S(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(other) => Err(self.error(name, "a non-empty string (S)", other)),
        }
    }

    fn required_string(&self, name: &str) -> Result<String, SettingsError> {
        self.string(name)?.ok_or_else(|| SettingsError {
            workflow_id: self.workflow_id.to_string(),
            attribute: name.to_string(),
            expected: "a Secrets Manager secret id (S); it is required".to_string(),
            found: "nothing".to_string(),
        })
    }

    fn one_of<T: Copy>(
        &self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, SettingsError> {
        let Some(attr) = self.get(name) else {
            return Ok(None);
        };
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let expected = format!("one of {} (S)", names.join(", "));
        match attr {
            Attr::S(s) => choices
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))
                .map(|(_, v)| Some(*v))
                .ok_or_else(|| self.error(name, &expected, attr)),
            other => Err(self.error(name, &expected, other)),
        }
    }

    /// A set of names (SS; an L of S is read too, as the console may
    /// write one), each trimmed and non-empty, in the item's order.
    fn folder_names(&self, name: &str) -> Result<Vec<String>, SettingsError> {
        const EXPECTED: &str = "a string set (SS) of contact folder display names";
        let names: Vec<String> = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(Attr::Ss(names)) => names.clone(),
            Some(attr @ Attr::L(items)) => items
                .iter()
                .map(|item| match item {
                    Attr::S(s) => Ok(s.clone()),
                    _ => Err(self.error(name, EXPECTED, attr)),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(self.error(name, EXPECTED, other)),
        };
        let mut folders = Vec::new();
        for (index, folder) in names.iter().enumerate() {
            let folder = folder.trim();
            if folder.is_empty() {
                return Err(SettingsError {
                    workflow_id: self.workflow_id.to_string(),
                    attribute: format!("{name}[{index}]"),
                    expected: "a folder's display name".into(),
                    found: "an empty string".into(),
                });
            }
            if !folders.iter().any(|f: &String| f == folder) {
                folders.push(folder.to_string());
            }
        }
        Ok(folders)
    }

    /// A positive, finite number (N), e.g. a rate.
    fn positive_number(&self, name: &str) -> Result<Option<f64>, SettingsError> {
        const EXPECTED: &str = "a positive number (N), e.g. 5 or 0.5";
        match self.get(name) {
            None => Ok(None),
            Some(attr @ Attr::N(n)) => n
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(Some)
                .ok_or_else(|| self.error(name, EXPECTED, attr)),
            Some(other) => Err(self.error(name, EXPECTED, other)),
        }
    }

    fn agent_id(&self, name: &str) -> Result<Option<u64>, SettingsError> {
        match self.get(name) {
            None => Ok(None),
            Some(attr @ Attr::N(n)) => parse_agent_id(n)
                .map(Some)
                .ok_or_else(|| self.error(name, "a kvCORE agent id, a whole number (N)", attr)),
            Some(other) => Err(self.error(name, "a kvCORE agent id, a whole number (N)", other)),
        }
    }

    fn agent_ids(&self) -> Result<BTreeSet<u64>, SettingsError> {
        const NAME: &str = "agent_ids";
        const EXPECTED: &str = "a number set (NS) or list of numbers (L of N) of kvCORE agent ids";
        let numbers: Vec<&String> = match self.get(NAME) {
            None => return Ok(BTreeSet::new()),
            Some(Attr::Ns(ns)) => ns.iter().collect(),
            Some(attr @ Attr::L(items)) => items
                .iter()
                .map(|a| match a {
                    Attr::N(n) => Ok(n),
                    _ => Err(self.error(NAME, EXPECTED, attr)),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(self.error(NAME, EXPECTED, other)),
        };
        numbers
            .into_iter()
            .map(|n| {
                parse_agent_id(n).ok_or_else(|| self.error(NAME, EXPECTED, &Attr::N(n.clone())))
            })
            .collect()
    }

    fn agent_map(&self) -> Result<BTreeMap<String, u64>, SettingsError> {
        const NAME: &str = "agent_map";
        const EXPECTED: &str = "a map (M) from source user id to kvCORE agent id (N)";
        match self.get(NAME) {
            None => Ok(BTreeMap::new()),
            Some(Attr::M(entries)) => entries
                .iter()
                .map(|(user, agent)| match agent {
                    Attr::N(n) => parse_agent_id(n)
                        .map(|id| (user.trim().to_string(), id))
                        .ok_or_else(|| self.error(&format!("{NAME}.{user}"), EXPECTED, agent)),
                    other => Err(self.error(&format!("{NAME}.{user}"), EXPECTED, other)),
                })
                .collect(),
            Some(other) => Err(self.error(NAME, EXPECTED, other)),
        }
    }

    fn sync_fields(&self) -> Result<BTreeSet<Field>, SettingsError> {
        const NAME: &str = "sync_fields";
        let all = Field::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ");
        let expected = format!("a string set (SS) of kvCORE fields: {all}");
        match self.get(NAME) {
            None => Ok(Field::ALL.into_iter().collect()),
            Some(Attr::Ss(names)) => names
                .iter()
                .map(|name| {
                    Field::from_name(name.trim())
                        .ok_or_else(|| self.error(NAME, &expected, &Attr::S(name.clone())))
                })
                .collect(),
            Some(other) => Err(self.error(NAME, &expected, other)),
        }
    }
}

fn parse_agent_id(n: &str) -> Option<u64> {
    n.trim().parse::<u64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Item {
        BTreeMap::from([
            ("workflow_id".to_string(), Attr::S("demo".into())),
            (
                "kvcore_token_secret".to_string(),
                Attr::S("kvsync/demo/kvcore".into()),
            ),
            (
                "webhook_secret".to_string(),
                Attr::S("kvsync/demo/webhook".into()),
            ),
        ])
    }

    fn with(pairs: &[(&str, Attr)]) -> Item {
        let mut item = minimal();
        for (k, v) in pairs {
            item.insert(k.to_string(), v.clone());
        }
        item
    }

    fn error_of(item: &Item) -> SettingsError {
        parse("demo", item).expect_err("should be refused")
    }

    #[test]
    fn defaults_follow_the_spec() {
        let (s, unknown) = parse("demo", &minimal()).unwrap();
        assert!(unknown.is_empty());
        assert!(s.enabled && s.create_contacts && s.update_contacts && s.overwrite_existing);
        assert!(!s.dry_run);
        assert!(!s.add_tags);
        assert_eq!(s.lead_source, None);
        assert_eq!(s.source, Source::Generic);
        assert_eq!(s.auth, AuthScheme::Standard);
        assert!(s.agent_ids.is_empty());
        assert_eq!(s.sync_fields.len(), Field::ALL.len());
        assert_eq!(s.default_country, Region::default());
        assert_eq!(s.kvcore_max_rps, 5.0);
        assert_eq!(s.google_oauth_secret, None);
        assert_eq!(s.initial_sync, InitialSync::Changes);
        assert!(!s.is_polled_google());
    }

    #[test]
    fn a_google_workflow_with_an_oauth_secret_is_polled() {
        let item = with(&[
            ("source", Attr::S("google".into())),
            ("google_oauth_secret", Attr::S("kvsync/demo/google".into())),
            ("initial_sync", Attr::S("All".into())),
        ]);
        let (s, unknown) = parse("demo", &item).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(s.google_oauth_secret.as_deref(), Some("kvsync/demo/google"));
        assert_eq!(s.initial_sync, InitialSync::All);
        assert!(s.is_polled_google());

        let bridge = with(&[("source", Attr::S("google".into()))]);
        let (s, _) = parse("demo", &bridge).unwrap();
        assert!(
            !s.is_polled_google(),
            "no secret: a webhook-bridge workflow"
        );

        let disabled = with(&[
            ("source", Attr::S("google".into())),
            ("google_oauth_secret", Attr::S("kvsync/demo/google".into())),
            ("enabled", Attr::Bool(false)),
        ]);
        assert!(!parse("demo", &disabled).unwrap().0.is_polled_google());
    }

    #[test]
    fn a_microsoft_workflow_is_polled_with_its_secret_and_folders() {
        let item = with(&[
            ("source", Attr::S("microsoft".into())),
            ("microsoft_oauth_secret", Attr::S("kvsync/demo/ms".into())),
            (
                "microsoft_folders",
                Attr::Ss(vec![" Clients ".into(), "Leads".into(), "Clients".into()]),
            ),
            ("initial_sync", Attr::S("all".into())),
        ]);
        let (s, unknown) = parse("demo", &item).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(s.is_polled_microsoft() && !s.is_polled_google());
        assert_eq!(s.microsoft_folders, ["Clients", "Leads"]);
        assert_eq!(s.initial_sync, InitialSync::All);
        assert_eq!(s.delivery, DeliveryMode::Sync);

        let default_folder = with(&[
            ("source", Attr::S("microsoft".into())),
            ("microsoft_oauth_secret", Attr::S("kvsync/demo/ms".into())),
        ]);
        assert!(
            parse("demo", &default_folder)
                .unwrap()
                .0
                .microsoft_folders
                .is_empty()
        );
    }

    #[test]
    fn microsoft_settings_are_refused_where_they_cannot_work() {
        for (item, attribute, found) in [
            (
                with(&[("source", Attr::S("microsoft".into()))]),
                "microsoft_oauth_secret",
                "nothing",
            ),
            (
                with(&[("microsoft_oauth_secret", Attr::S("kvsync/demo/ms".into()))]),
                "microsoft_oauth_secret",
                "source absent (generic)",
            ),
            (
                with(&[
                    ("source", Attr::S("google".into())),
                    ("microsoft_folders", Attr::Ss(vec!["Clients".into()])),
                ]),
                "microsoft_folders",
                "source S \"google\"",
            ),
            (
                with(&[
                    ("source", Attr::S("microsoft".into())),
                    ("microsoft_oauth_secret", Attr::S("kvsync/demo/ms".into())),
                    ("microsoft_folders", Attr::S("Clients".into())),
                ]),
                "microsoft_folders",
                "S \"Clients\"",
            ),
            (
                with(&[
                    ("source", Attr::S("microsoft".into())),
                    ("microsoft_oauth_secret", Attr::S("kvsync/demo/ms".into())),
                    (
                        "microsoft_folders",
                        Attr::Ss(vec!["Clients".into(), " ".into()]),
                    ),
                ]),
                "microsoft_folders[1]",
                "an empty string",
            ),
        ] {
            let error = error_of(&item);
            assert_eq!(error.attribute, attribute, "{error}");
            assert_eq!(error.found, found, "{error}");
        }
    }

    #[test]
    fn google_polling_settings_are_refused_where_they_cannot_work() {
        let not_google = error_of(&with(&[(
            "google_oauth_secret",
            Attr::S("kvsync/demo/google".into()),
        )]));
        assert_eq!(not_google.attribute, "google_oauth_secret");
        let not_polled = error_of(&with(&[
            ("source", Attr::S("google".into())),
            ("initial_sync", Attr::S("all".into())),
        ]));
        assert_eq!(not_polled.attribute, "initial_sync");
        let wrong = error_of(&with(&[
            ("source", Attr::S("google".into())),
            ("google_oauth_secret", Attr::S("kvsync/demo/google".into())),
            ("initial_sync", Attr::S("everything".into())),
        ]));
        assert_eq!(
            wrong.to_string(),
            "workflow 'demo': attribute 'initial_sync' must be one of \"all\", \"changes\" (S), found S \"everything\""
        );
        let wrong_type = error_of(&with(&[
            ("source", Attr::S("google".into())),
            ("google_oauth_secret", Attr::Bool(true)),
        ]));
        assert_eq!(wrong_type.attribute, "google_oauth_secret");
    }

    #[test]
    fn a_followupboss_system_needs_a_followupboss_workflow_with_its_own_auth() {
        let fub = |extra: &[(&str, Attr)]| {
            let mut all = vec![
                ("source", Attr::S("followupboss".into())),
                ("source_api_secret", Attr::S("kvsync/demo/fub".into())),
                ("followupboss_system", Attr::S(" kvsync-team ".into())),
            ];
            all.extend(extra.iter().cloned());
            with(&all)
        };
        let (settings, unknown) = parse("demo", &fub(&[])).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(settings.followupboss_system.as_deref(), Some("kvsync-team"));
        let token = error_of(&fub(&[("auth", Attr::S("token".into()))]));
        assert_eq!(token.attribute, "followupboss_system");
        assert_eq!(token.found, "source S \"followupboss\", auth S \"token\"");
        let generic = error_of(&with(&[("followupboss_system", Attr::S("x".into()))]));
        assert_eq!(generic.attribute, "followupboss_system");
        assert_eq!(generic.found, "source absent (generic), auth absent");
    }

    #[test]
    fn every_attribute_is_read() {
        let item = with(&[
            ("enabled", Attr::Bool(false)),
            ("source", Attr::S("followupboss".into())),
            ("create_contacts", Attr::Bool(false)),
            ("overwrite_existing", Attr::Bool(false)),
            ("agent_ids", Attr::Ns(vec!["7".into(), "9".into()])),
            ("default_agent_id", Attr::N("7".into())),
            (
                "agent_map",
                Attr::M(BTreeMap::from([("42".to_string(), Attr::N("9".into()))])),
            ),
            (
                "sync_fields",
                Attr::Ss(vec!["email".into(), "primary_city".into()]),
            ),
            ("default_country", Attr::S("gb".into())),
            ("source_api_secret", Attr::S("kvsync/demo/fub".into())),
            ("dry_run", Attr::Bool(true)),
            ("lead_source", Attr::S(" Follow Up Boss ".into())),
            ("add_tags", Attr::Bool(true)),
            ("kvcore_max_rps", Attr::N("2.5".into())),
        ]);
        let (s, unknown) = parse("demo", &item).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(!s.enabled && !s.create_contacts && s.update_contacts && !s.overwrite_existing);
        assert_eq!(s.source, Source::FollowUpBoss);
        assert_eq!(
            s.auth,
            AuthScheme::FollowUpBoss,
            "followupboss sources default to their own auth"
        );
        assert_eq!(s.agent_ids, BTreeSet::from([7, 9]));
        assert_eq!(s.default_agent_id, Some(7));
        assert_eq!(s.agent_map["42"], 9);
        assert_eq!(
            s.sync_fields,
            BTreeSet::from([Field::Email, Field::PrimaryCity])
        );
        assert_eq!(s.default_country, Region::parse("GB").unwrap());
        assert_eq!(s.source_api_secret.as_deref(), Some("kvsync/demo/fub"));
        assert!(s.dry_run);
        assert_eq!(s.lead_source.as_deref(), Some("Follow Up Boss"));
        assert!(s.add_tags);
        assert_eq!(s.kvcore_max_rps, 2.5);
    }

    #[test]
    fn delivery_defaults_by_source_and_is_validated() {
        assert_eq!(
            parse("demo", &minimal()).unwrap().0.delivery,
            DeliveryMode::Sync
        );
        let fub = with(&[
            ("source", Attr::S("followupboss".into())),
            ("source_api_secret", Attr::S("kvsync/demo/fub".into())),
        ]);
        assert_eq!(
            parse("demo", &fub).unwrap().0.delivery,
            DeliveryMode::Queued
        );
        let mut fub_sync = fub.clone();
        fub_sync.insert("delivery".into(), Attr::S("sync".into()));
        assert_eq!(
            parse("demo", &fub_sync).unwrap().0.delivery,
            DeliveryMode::Sync
        );
        let queued = with(&[("delivery", Attr::S("Queued".into()))]);
        assert_eq!(
            parse("demo", &queued).unwrap().0.delivery,
            DeliveryMode::Queued
        );
        assert_eq!(
            error_of(&with(&[("delivery", Attr::S("later".into()))])).to_string(),
            "workflow 'demo': attribute 'delivery' must be one of \"sync\", \"queued\" (S), found S \"later\""
        );
        assert_eq!(
            error_of(&with(&[("delivery", Attr::Bool(true))])).attribute,
            "delivery"
        );
    }

    #[test]
    fn kvcore_max_rps_must_be_a_positive_number() {
        for bad in [
            Attr::N("0".into()),
            Attr::N("-1".into()),
            Attr::S("5".into()),
        ] {
            let err = error_of(&with(&[("kvcore_max_rps", bad.clone())]));
            assert_eq!(err.attribute, "kvcore_max_rps", "{bad:?}");
        }
        assert_eq!(
            error_of(&with(&[("kvcore_max_rps", Attr::N("0".into()))])).to_string(),
            "workflow 'demo': attribute 'kvcore_max_rps' must be a positive number (N), e.g. 5 or 0.5, found N \"0\""
        );
    }

    #[test]
    fn agent_ids_may_be_a_list_of_numbers() {
        let item = with(&[("agent_ids", Attr::L(vec![Attr::N("3".into())]))]);
        assert_eq!(
            parse("demo", &item).unwrap().0.agent_ids,
            BTreeSet::from([3])
        );
    }

    #[test]
    fn a_wrong_type_names_workflow_attribute_expected_and_found() {
        let err = error_of(&with(&[("enabled", Attr::S("yes".into()))]));
        assert_eq!(err.attribute, "enabled");
        assert_eq!(
            err.to_string(),
            "workflow 'demo': attribute 'enabled' must be BOOL (true or false), found S \"yes\""
        );
    }

    #[test]
    fn a_lead_source_that_is_not_a_string_is_refused_by_name() {
        let err = error_of(&with(&[("lead_source", Attr::N("7".into()))]));
        assert_eq!(
            err.to_string(),
            "workflow 'demo': attribute 'lead_source' must be a non-empty string (S), found N \"7\""
        );
    }

    #[test]
    fn wrong_values_are_refused_with_their_attribute() {
        let cases = [
            ("source", Attr::S("hubspot".into())),
            ("auth", Attr::S("basic".into())),
            ("agent_ids", Attr::Ss(vec!["7".into()])),
            ("agent_ids", Attr::Ns(vec!["7.5".into()])),
            ("default_agent_id", Attr::S("7".into())),
            ("sync_fields", Attr::Ss(vec!["second_email".into()])),
            ("default_country", Attr::S("Narnia".into())),
            ("dry_run", Attr::N("1".into())),
            ("kvcore_token_secret", Attr::S("  ".into())),
            ("lead_source", Attr::N("1".into())),
            ("lead_source", Attr::Ss(vec!["Zillow".into()])),
            ("add_tags", Attr::S("true".into())),
        ];
        for (name, attr) in cases {
            let err = error_of(&with(&[(name, attr.clone())]));
            assert_eq!(err.attribute, name, "{attr:?}");
            assert_eq!(err.workflow_id, "demo");
        }
        let err = error_of(&with(&[(
            "agent_map",
            Attr::M(BTreeMap::from([("42".to_string(), Attr::S("x".into()))])),
        )]));
        assert_eq!(err.attribute, "agent_map.42");
    }

    #[test]
    fn required_secrets_are_named_when_missing() {
        let mut item = minimal();
        item.remove("webhook_secret");
        let err = error_of(&item);
        assert_eq!(err.attribute, "webhook_secret");
        assert_eq!(err.found, "nothing");
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let both_off = with(&[
            ("create_contacts", Attr::Bool(false)),
            ("update_contacts", Attr::Bool(false)),
        ]);
        assert_eq!(error_of(&both_off).attribute, "update_contacts");

        let fub_without_key = with(&[("source", Attr::S("followupboss".into()))]);
        assert_eq!(error_of(&fub_without_key).attribute, "source_api_secret");

        let default_outside_filter = with(&[
            ("agent_ids", Attr::Ns(vec!["7".into()])),
            ("default_agent_id", Attr::N("8".into())),
        ]);
        assert_eq!(
            error_of(&default_outside_filter).attribute,
            "default_agent_id"
        );
    }

    #[test]
    fn null_reads_as_absent() {
        let item = with(&[("enabled", Attr::Null)]);
        assert!(parse("demo", &item).unwrap().0.enabled);
    }

    #[test]
    fn unknown_attributes_come_back_with_the_nearest_name() {
        let item = with(&[("overwrite_exsting", Attr::Bool(false))]);
        let (settings, unknown) = parse("demo", &item).unwrap();
        assert!(
            settings.overwrite_existing,
            "a typo must not change behaviour"
        );
        assert_eq!(
            unknown,
            vec![UnknownAttribute {
                attribute: "overwrite_exsting".into(),
                nearest: "overwrite_existing"
            }]
        );
    }

    #[test]
    fn agent_filter() {
        let (open, _) = parse("demo", &minimal()).unwrap();
        assert!(open.allows_agent(None) && open.allows_agent(Some(1)));
        let (closed, _) =
            parse("demo", &with(&[("agent_ids", Attr::Ns(vec!["7".into()]))])).unwrap();
        assert!(closed.allows_agent(Some(7)));
        assert!(!closed.allows_agent(Some(8)));
        assert!(!closed.allows_agent(None));
    }
}
