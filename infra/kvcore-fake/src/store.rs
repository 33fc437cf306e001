//! The contacts kvCORE holds, the rules its writes follow, and its lagging
//! list: every contact keeps the versions a list may still show (SPEC
//! section 7: "The list may not show a contact created or changed in the
//! last ~30 s"). Pure data; no HTTP and no wire encoding here (`wire`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::filters::Criteria;

/// Fields the fake owns: a write never sets them (`name` is first and last
/// together, SPEC section 7).
const SERVER_OWNED: [&str; 4] = ["id", "name", "created_at", "updated_at"];

/// Fields `PUT /contact/{id}` ignores (SPEC section 7: "`hashtags` and
/// `source` can only be set on create").
const CREATE_ONLY: [&str; 2] = ["hashtags", "source"];

/// A create needs at least one of these. The docs give no validation
/// rules; this is Laravel's usual `required_without_all`, kept so that a
/// client sending an empty contact learns it.
const IDENTIFYING: [&str; 6] = [
    "first_name",
    "last_name",
    "email",
    "cell_phone_1",
    "home_phone",
    "work_phone",
];

/// How creates whose email is taken are answered (SPEC section 7:
/// "Duplicates are allowed (uniqueness is email plus owner); a refused
/// duplicate answers 409 or 422").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// Created like any other contact (kvCORE's documented default).
    #[default]
    Accept,
    /// 409 `{"errors": ["A contact with this email already exists."]}`.
    Conflict409,
    /// 422 `{"errors": {"email": ["The email has already been taken."]}}`.
    Unprocessable422,
}

/// Why a write was refused, as kvCORE says it.
#[derive(Debug, PartialEq)]
pub enum WriteError {
    /// 422 with this body.
    Invalid(Value),
    /// 409: the email is taken for this owner.
    Duplicate,
    /// 404.
    NotFound,
}

/// What became of a contact in a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Live,
    /// Hidden from lists unless `includeArchived`; `GET /contact/{id}`
    /// still answers it.
    Archived,
    /// Gone: 404, and out of lists once the list has caught up.
    Deleted,
}

/// One state of a contact: its fields (without the server-owned ones),
/// its `updated_at` and when it was written (`None`: seeded, so the list
/// shows it from the start).
struct Version {
    written: Option<Instant>,
    updated_at: i64,
    standing: Standing,
    fields: Map<String, Value>,
}

/// A contact: when it was created, and its versions, oldest first, never
/// empty. The last version is what `GET /contact/{id}` answers; lists show
/// the newest one that is at least `lag` old (SPEC section 7).
struct Record {
    created_at: i64,
    versions: Vec<Version>,
}

impl Record {
    fn current(&self) -> &Version {
        &self.versions[self.versions.len() - 1]
    }

    fn listed(&self, lag: Duration, now: Instant) -> Option<&Version> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.written.is_none_or(|at| now.duration_since(at) >= lag))
    }

    /// Adds a version written now, and forgets those the list is already
    /// past, so the history stays small.
    fn push(&mut self, standing: Standing, fields: Map<String, Value>, lag: Duration) {
        let now = Instant::now();
        let updated_at = now_unix().max(self.current().updated_at);
        self.versions.push(Version {
            written: Some(now),
            updated_at,
            standing,
            fields,
        });
        let newest_listed = self
            .versions
            .iter()
            .rposition(|v| v.written.is_none_or(|at| now.duration_since(at) >= lag));
        if let Some(index) = newest_listed {
            self.versions.drain(..index);
        }
    }
}

/// One contact as a request sees it: enough to render it (`wire`).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    pub fields: Map<String, Value>,
}

/// All contacts, by id (lists answer by id ascending, SPEC section 7).
pub struct Contacts {
    by_id: BTreeMap<u64, Record>,
    next_id: u64,
    first_id: u64,
}

impl Contacts {
    pub fn new(first_id: u64) -> Contacts {
        Contacts {
            by_id: BTreeMap::new(),
            next_id: first_id,
            first_id,
        }
    }

    /// Forgets every contact; ids start over.
    pub fn clear(&mut self) {
        self.by_id.clear();
        self.next_id = self.first_id;
    }

    /// The current version (no lag), archived ones included; `None` when
    /// unknown or deleted (SPEC section 7: "404 when it does not exist (or
    /// was deleted)").
    pub fn get(&self, id: u64) -> Option<Snapshot> {
        let record = self.by_id.get(&id)?;
        let current = record.current();
        (current.standing != Standing::Deleted).then(|| snapshot(id, record, current))
    }

    /// Every contact's current version, deleted ones left out, by id.
    pub fn all(&self) -> Vec<Snapshot> {
        self.by_id.keys().filter_map(|id| self.get(*id)).collect()
    }

    /// Seeds a contact the list already shows. `created_at`/`updated_at`
    /// may be given (unix seconds or `"YYYY-MM-DD HH:MM:SS"`) to make it
    /// old; otherwise both are now.
    pub fn insert_seeded(&mut self, fields: Map<String, Value>) -> u64 {
        self.insert(fields, None)
    }

    /// Adds a contact written just now, which lists show only after the lag.
    pub fn insert_now(&mut self, fields: Map<String, Value>) -> u64 {
        self.insert(fields, Some(Instant::now()))
    }

    /// `POST /contact`: every given field is kept (`hashtags` and `source`
    /// included, SPEC section 7); server-owned ones are ignored.
    pub fn create(
        &mut self,
        fields: Map<String, Value>,
        duplicates: DuplicatePolicy,
    ) -> Result<Snapshot, WriteError> {
        validate_email(&fields)?;
        validate_status_and_deal_type(&fields)?;
        if !IDENTIFYING.iter().any(|f| given(fields.get(*f))) {
            return Err(WriteError::Invalid(json!({"errors": {"first_name": [
                "The first name field is required when none of last name / email / \
                 cell phone 1 / home phone / work phone are present."
            ]}})));
        }
        if duplicates != DuplicatePolicy::Accept && self.taken(&fields) {
            return Err(match duplicates {
                DuplicatePolicy::Unprocessable422 => WriteError::Invalid(
                    json!({"errors": {"email": ["The email has already been taken."]}}),
                ),
                _ => WriteError::Duplicate,
            });
        }
        let id = self.insert_now(fields);
        self.get(id).ok_or(WriteError::NotFound)
    }

    /// `PUT /contact/{id}`: given fields overwrite, except that `hashtags`
    /// and `source` are ignored and `assigned_agent_id` only lands on an
    /// unassigned contact (SPEC section 7).
    pub fn update(
        &mut self,
        id: u64,
        fields: Map<String, Value>,
        lag: Duration,
    ) -> Result<Snapshot, WriteError> {
        let record = self.live(id).ok_or(WriteError::NotFound)?;
        validate_email(&fields)?;
        validate_status_and_deal_type(&fields)?;
        let current = record.current();
        let mut next = current.fields.clone();
        let unassigned = agent_id(next.get("assigned_agent_id")).is_none();
        for (name, value) in fields {
            let ignored = SERVER_OWNED.contains(&name.as_str())
                || CREATE_ONLY.contains(&name.as_str())
                || (name == "assigned_agent_id" && !unassigned);
            if !ignored {
                next.insert(name, value);
            }
        }
        let standing = current.standing;
        record.push(standing, next, lag);
        self.get(id).ok_or(WriteError::NotFound)
    }

    /// `PUT /contact/{id}/tags`: adds each name the contact lacks (compared
    /// trimmed, ignoring case); never removes one (SPEC section 7).
    pub fn add_tags(&mut self, id: u64, names: &[String], lag: Duration) -> Result<(), WriteError> {
        let record = self.live(id).ok_or(WriteError::NotFound)?;
        let current = record.current();
        let mut tags = tag_names(current.fields.get("hashtags"));
        for name in names {
            let name = name.trim();
            if !name.is_empty() && !tags.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                tags.push(name.to_string());
            }
        }
        let mut next = current.fields.clone();
        next.insert("hashtags".into(), json!(tags));
        let standing = current.standing;
        record.push(standing, next, lag);
        Ok(())
    }

    /// A person edits the contact in kvCORE's own UI: any field but the
    /// server-owned ones changes, as a new version the list shows only
    /// after the lag. `false` when unknown or deleted.
    pub fn edit_as_person(&mut self, id: u64, fields: Map<String, Value>, lag: Duration) -> bool {
        let Some(record) = self.live(id) else {
            return false;
        };
        let current = record.current();
        let mut next = current.fields.clone();
        for (name, value) in fields {
            if !SERVER_OWNED.contains(&name.as_str()) {
                next.insert(name, value);
            }
        }
        let standing = current.standing;
        record.push(standing, next, lag);
        true
    }

    /// A person archives the contact; lists catch up after the lag.
    /// `false` when unknown or deleted.
    pub fn archive(&mut self, id: u64, lag: Duration) -> bool {
        self.set_standing(id, Standing::Archived, lag)
    }

    /// A person deletes the contact: `GET` answers 404 at once; lists drop
    /// it after the lag. `false` when unknown or already deleted.
    pub fn delete(&mut self, id: u64, lag: Duration) -> bool {
        self.set_standing(id, Standing::Deleted, lag)
    }

    /// What a list query finds, as the lagging list shows it: the total,
    /// and `take` of them after skipping `skip`, by id ascending.
    pub fn list(
        &self,
        criteria: &Criteria,
        lag: Duration,
        skip: usize,
        take: usize,
    ) -> (usize, Vec<Snapshot>) {
        let now = Instant::now();
        let mut total = 0;
        let mut page = Vec::new();
        for (id, record) in &self.by_id {
            let Some(version) = record.listed(lag, now) else {
                continue;
            };
            let archived = match version.standing {
                Standing::Deleted => continue,
                Standing::Archived => true,
                Standing::Live => false,
            };
            if criteria.matches(&version.fields, version.updated_at, archived) {
                if total >= skip && page.len() < take {
                    page.push(snapshot(*id, record, version));
                }
                total += 1;
            }
        }
        (total, page)
    }

    fn live(&mut self, id: u64) -> Option<&mut Record> {
        self.by_id
            .get_mut(&id)
            .filter(|r| r.current().standing != Standing::Deleted)
    }

    fn set_standing(&mut self, id: u64, standing: Standing, lag: Duration) -> bool {
        let Some(record) = self.live(id) else {
            return false;
        };
        let fields = record.current().fields.clone();
        record.push(standing, fields, lag);
        true
    }

    /// Whether a current contact has this create's email (trimmed, any
    /// case) and the same owner (unassigned counting as one owner).
    fn taken(&self, fields: &Map<String, Value>) -> bool {
        let Some(email) = fields
            .get("email")
            .and_then(Value::as_str)
            .map(normalized_email)
            .filter(|e| !e.is_empty())
        else {
            return false;
        };
        let owner = agent_id(fields.get("assigned_agent_id"));
        self.by_id.values().any(|record| {
            let current = record.current();
            current.standing != Standing::Deleted
                && current
                    .fields
                    .get("email")
                    .and_then(Value::as_str)
                    .map(normalized_email)
                    .as_deref()
                    == Some(email.as_str())
                && agent_id(current.fields.get("assigned_agent_id")) == owner
        })
    }

    fn insert(&mut self, mut fields: Map<String, Value>, written: Option<Instant>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let now = now_unix();
        // Only a seed may say how old it is; an API write is new.
        let seeded_time = |name: &str| {
            written
                .is_none()
                .then(|| fields.get(name).and_then(timestamp))
                .flatten()
        };
        let updated_at = seeded_time("updated_at").unwrap_or(now);
        let created_at = seeded_time("created_at").unwrap_or(updated_at.min(now));
        for name in SERVER_OWNED {
            fields.remove(name);
        }
        // kvCORE never answers a null tag list, status or privacy flag.
        for (name, empty) in [
            ("hashtags", json!([])),
            ("status", json!(0)),
            ("is_private", json!(0)),
        ] {
            if fields.get(name).is_none_or(Value::is_null) {
                fields.insert(name.into(), empty);
            }
        }
        self.by_id.insert(
            id,
            Record {
                created_at,
                versions: vec![Version {
                    written,
                    updated_at,
                    standing: Standing::Live,
                    fields,
                }],
            },
        );
        id
    }
}

fn snapshot(id: u64, record: &Record, version: &Version) -> Snapshot {
    Snapshot {
        id,
        created_at: record.created_at,
        updated_at: version.updated_at,
        fields: version.fields.clone(),
    }
}

/// Tag names of a stored `hashtags` (an array of names, or a comma list).
fn tag_names(hashtags: Option<&Value>) -> Vec<String> {
    match hashtags {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(list)) => list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// An agent id given as a number or a string; 0, empty and null mean
/// unassigned (`None`). SPEC section 7: "ids and agent ids may come as
/// numbers or strings".
pub fn agent_id(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// Unix seconds of a seeded timestamp: a number, or `"YYYY-MM-DD
/// HH:MM:SS"` (UTC), the two forms SPEC section 7 documents.
fn timestamp(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let format =
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
            time::PrimitiveDateTime::parse(s.trim(), format)
                .ok()
                .map(|t| t.assume_utc().unix_timestamp())
        }
        _ => None,
    }
}

/// Given: neither null nor blank text.
fn given(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// An email, when given, must at least have an `@` (Laravel's `email` rule,
/// answered in the documented `{"errors": {"field": [...]}}` shape).
fn validate_email(fields: &Map<String, Value>) -> Result<(), WriteError> {
    let email = fields.get("email");
    let valid = !given(email)
        || email
            .and_then(Value::as_str)
            .is_some_and(|e| e.contains('@'));
    if valid {
        Ok(())
    } else {
        Err(WriteError::Invalid(
            json!({"errors": {"email": ["The email must be a valid email address."]}}),
        ))
    }
}

/// The statuses kvCORE documents for a contact (help.insiderealestate.com,
/// "[kvCORE] Contact Statuses Overview": New Lead, Client, Closed, Sphere,
/// Active Lead, Contract, Archived, Prospect), as the integer codes its
/// API sends (SPEC section 7 lists `status` among the list fields; this
/// fake has always answered it as a number, 0 for a new contact). The
/// harsher reading: a write with anything else, a name included, is
/// refused 422 in the documented `{"errors": {"field": [...]}}` shape.
const STATUS_CODES: std::ops::RangeInclusive<u64> = 0..=7;

/// `status` must be one of `STATUS_CODES` (a number, or its digits as a
/// string: SPEC section 7's loose typing); `deal_type` must be text.
/// Both are writable on create and on update (SPEC section 12).
fn validate_status_and_deal_type(fields: &Map<String, Value>) -> Result<(), WriteError> {
    let status_ok = match fields.get("status") {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_u64().is_some_and(|n| STATUS_CODES.contains(&n)),
        Some(Value::String(s)) => s.trim().parse().is_ok_and(|n| STATUS_CODES.contains(&n)),
        Some(_) => false,
    };
    if !status_ok {
        return Err(WriteError::Invalid(
            json!({"errors": {"status": ["The selected status is invalid."]}}),
        ));
    }
    if !matches!(
        fields.get("deal_type"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Err(WriteError::Invalid(
            json!({"errors": {"deal_type": ["The deal type must be a string."]}}),
        ));
    }
    Ok(())
}

fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Now, in unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LAG: Duration = Duration::ZERO;
    const LAG: Duration = Duration::from_secs(60);

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn everything() -> Criteria {
        Criteria::from_query(&[])
    }

    fn listed(contacts: &Contacts, lag: Duration) -> Vec<Snapshot> {
        contacts.list(&everything(), lag, 0, usize::MAX).1
    }

    fn ids(found: &[Snapshot]) -> Vec<u64> {
        found.iter().map(|c| c.id).collect()
    }

    #[test]
    fn a_seed_keeps_its_fields_and_may_be_old() {
        let mut contacts = Contacts::new(1001);
        let id = contacts.insert_seeded(fields(json!({
            "email": "a@ex.com", "id": 5, "name": "X", "source": "x",
            "created_at": "2020-01-02 03:04:05", "updated_at": 1_600_000_000
        })));
        assert_eq!(id, 1001);
        let contact = contacts.get(id).unwrap();
        assert_eq!(contact.id, 1001, "a given id is ignored");
        assert_eq!(contact.created_at, 1_577_934_245);
        assert_eq!(contact.updated_at, 1_600_000_000);
        assert_eq!(contact.fields.get("name"), None, "name is the server's");
        assert_eq!(contact.fields["hashtags"], json!([]));
        assert_eq!(contact.fields["status"], 0);
        assert_eq!(contact.fields["source"], "x", "other fields are kept");
        assert_eq!(contacts.insert_seeded(Map::new()), 1002);
        contacts.clear();
        assert_eq!(contacts.insert_seeded(Map::new()), 1001, "ids start over");
    }

    #[test]
    fn an_api_write_cannot_backdate() {
        let mut contacts = Contacts::new(1);
        let before = now_unix();
        let created = contacts
            .create(
                fields(json!({"email": "a@ex.com", "updated_at": 5})),
                DuplicatePolicy::Accept,
            )
            .unwrap();
        assert!(created.updated_at >= before);
        assert_eq!(created.created_at, created.updated_at);
    }

    #[test]
    fn the_list_hides_new_contacts_and_shows_old_versions() {
        let mut contacts = Contacts::new(1);
        let seeded = contacts.insert_seeded(fields(json!({"first_name": "Old"})));
        contacts
            .create(
                fields(json!({"first_name": "New"})),
                DuplicatePolicy::Accept,
            )
            .unwrap();
        contacts
            .update(seeded, fields(json!({"first_name": "Renamed"})), LAG)
            .unwrap();
        assert!(contacts.edit_as_person(seeded, fields(json!({"first_name": "By hand"})), LAG));

        let found = listed(&contacts, LAG);
        assert_eq!(ids(&found), [1], "the created contact is not listed yet");
        assert_eq!(found[0].fields["first_name"], "Old");
        assert_eq!(
            contacts.get(seeded).unwrap().fields["first_name"],
            "By hand"
        );

        let found = listed(&contacts, NO_LAG);
        assert_eq!(ids(&found), [1, 2]);
        assert_eq!(found[0].fields["first_name"], "By hand");
    }

    #[test]
    fn history_forgets_what_the_list_is_past() {
        let mut contacts = Contacts::new(1);
        let id = contacts.insert_seeded(fields(json!({"first_name": "A"})));
        for name in ["B", "C", "D"] {
            contacts
                .update(id, fields(json!({"first_name": name})), NO_LAG)
                .unwrap();
        }
        assert_eq!(contacts.by_id[&id].versions.len(), 1);
        for name in ["E", "F"] {
            contacts
                .update(id, fields(json!({"first_name": name})), LAG)
                .unwrap();
        }
        let names: Vec<&Value> = contacts.by_id[&id]
            .versions
            .iter()
            .map(|v| &v.fields["first_name"])
            .collect();
        assert_eq!(names, ["D", "E", "F"], "D is what the list shows");
    }

    #[test]
    fn paging_counts_everything_and_clones_only_the_page() {
        let mut contacts = Contacts::new(1);
        for _ in 0..10 {
            contacts.insert_seeded(fields(json!({"first_name": "P"})));
        }
        let (total, page) = contacts.list(&everything(), NO_LAG, 4, 3);
        assert_eq!(total, 10);
        assert_eq!(ids(&page), [5, 6, 7]);
    }

    #[test]
    fn duplicates_are_accepted_unless_a_policy_refuses_the_same_email_and_owner() {
        let mut contacts = Contacts::new(1);
        contacts
            .create(
                fields(json!({"email": "a@ex.com", "assigned_agent_id": 7})),
                DuplicatePolicy::Accept,
            )
            .unwrap();
        assert!(
            contacts
                .create(
                    fields(json!({"email": " A@EX.com ", "assigned_agent_id": 7})),
                    DuplicatePolicy::Accept
                )
                .is_ok()
        );
        assert_eq!(
            contacts.create(
                fields(json!({"email": " A@EX.com ", "assigned_agent_id": "7"})),
                DuplicatePolicy::Conflict409
            ),
            Err(WriteError::Duplicate)
        );
        assert_eq!(
            contacts.create(
                fields(json!({"email": "a@ex.com", "assigned_agent_id": 7})),
                DuplicatePolicy::Unprocessable422
            ),
            Err(WriteError::Invalid(
                json!({"errors": {"email": ["The email has already been taken."]}})
            ))
        );
        for other in [
            json!({"email": "a@ex.com", "assigned_agent_id": 8}),
            json!({"email": "a@ex.com"}),
            json!({"email": "a@ex.com.au", "assigned_agent_id": 7}),
        ] {
            assert!(
                contacts
                    .create(fields(other.clone()), DuplicatePolicy::Conflict409)
                    .is_ok(),
                "{other}: another owner or email"
            );
        }
    }

    #[test]
    fn create_validates() {
        let mut contacts = Contacts::new(1);
        for invalid in [
            json!({"email": "nope"}),
            json!({"email": 5}),
            json!({"status": 1}),
            json!({"first_name": " "}),
            json!({"email": "a@ex.com", "status": 8}),
            json!({"email": "a@ex.com", "status": "Client"}),
            json!({"email": "a@ex.com", "deal_type": 2}),
        ] {
            assert!(
                matches!(
                    contacts.create(fields(invalid.clone()), DuplicatePolicy::Accept),
                    Err(WriteError::Invalid(_))
                ),
                "{invalid}"
            );
        }
        assert!(
            contacts
                .create(
                    fields(json!({"email": "", "home_phone": "239 555 0100"})),
                    DuplicatePolicy::Accept
                )
                .is_ok()
        );
    }

    #[test]
    fn status_and_deal_type_are_written_on_create_and_update() {
        let mut contacts = Contacts::new(1);
        let created = contacts
            .create(
                fields(json!({"email": "a@ex.com", "status": 4, "deal_type": "buyer"})),
                DuplicatePolicy::Accept,
            )
            .unwrap();
        assert_eq!(created.fields["status"], 4);
        assert_eq!(created.fields["deal_type"], "buyer");
        let updated = contacts
            .update(
                created.id,
                fields(json!({"status": "1", "deal_type": "seller"})),
                NO_LAG,
            )
            .unwrap();
        assert_eq!(updated.fields["status"], "1");
        assert_eq!(updated.fields["deal_type"], "seller");
        assert!(matches!(
            contacts.update(created.id, fields(json!({"status": "Client"})), NO_LAG),
            Err(WriteError::Invalid(_))
        ));
    }

    #[test]
    fn update_ignores_tags_and_source_and_assigns_only_unassigned_contacts() {
        let mut contacts = Contacts::new(1);
        let id = contacts.insert_seeded(fields(
            json!({"email": "a@ex.com", "hashtags": ["x"], "source": "web", "assigned_agent_id": 0}),
        ));
        let updated = contacts
            .update(id, fields(json!({"hashtags": ["y"], "source": "api", "assigned_agent_id": 7, "primary_city": "Naples", "id": 9})), NO_LAG)
            .unwrap();
        assert_eq!(
            updated.fields["hashtags"],
            json!(["x"]),
            "tags only on create"
        );
        assert_eq!(updated.fields["source"], "web", "source only on create");
        assert_eq!(
            updated.fields["assigned_agent_id"], 7,
            "unassigned (0): the agent lands"
        );
        assert_eq!(updated.fields["primary_city"], "Naples");
        assert_eq!(updated.id, 1);
        let again = contacts
            .update(id, fields(json!({"assigned_agent_id": 8})), NO_LAG)
            .unwrap();
        assert_eq!(
            again.fields["assigned_agent_id"], 7,
            "assigned: the agent stays"
        );
        assert!(matches!(
            contacts.update(id, fields(json!({"email": "nope"})), NO_LAG),
            Err(WriteError::Invalid(_))
        ));
        assert_eq!(
            contacts.update(99, Map::new(), NO_LAG),
            Err(WriteError::NotFound)
        );
    }

    #[test]
    fn tags_are_added_never_duplicated_never_removed() {
        let mut contacts = Contacts::new(1);
        let id =
            contacts.insert_seeded(fields(json!({"email": "a@ex.com", "hashtags": ["buyer"]})));
        let names = ["Buyer", " seller ", "", "vip"].map(String::from);
        contacts.add_tags(id, &names, NO_LAG).unwrap();
        assert_eq!(
            contacts.get(id).unwrap().fields["hashtags"],
            json!(["buyer", "seller", "vip"])
        );
        contacts.add_tags(id, &[], NO_LAG).unwrap();
        assert_eq!(
            contacts.get(id).unwrap().fields["hashtags"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        assert_eq!(
            contacts.add_tags(9, &names, NO_LAG),
            Err(WriteError::NotFound)
        );
    }

    #[test]
    fn archived_contacts_answer_deleted_ones_do_not() {
        let mut contacts = Contacts::new(1);
        let archived = contacts.insert_seeded(fields(json!({"email": "a@ex.com"})));
        let deleted = contacts.insert_seeded(fields(json!({"email": "b@ex.com"})));
        assert!(contacts.archive(archived, NO_LAG));
        assert!(contacts.delete(deleted, LAG));
        assert!(contacts.get(archived).is_some());
        assert_eq!(contacts.get(deleted), None);
        assert!(!contacts.delete(deleted, LAG), "already gone");
        assert!(!contacts.edit_as_person(deleted, Map::new(), LAG));
        assert_eq!(
            contacts.update(deleted, Map::new(), LAG),
            Err(WriteError::NotFound)
        );
        assert_eq!(ids(&contacts.all()), [archived]);
        assert_eq!(
            ids(&listed(&contacts, LAG)),
            [deleted],
            "archived hidden; the deletion not caught up yet"
        );
        assert_eq!(ids(&listed(&contacts, NO_LAG)), NONE);
    }

    const NONE: [u64; 0] = [];

    #[test]
    fn seeded_timestamps_read_both_documented_forms() {
        assert_eq!(timestamp(&json!(12)), Some(12));
        assert_eq!(timestamp(&json!("1970-01-01 00:01:00")), Some(60));
        assert_eq!(timestamp(&json!("yesterday")), None);
        assert_eq!(agent_id(Some(&json!("7"))), Some(7));
        assert_eq!(agent_id(Some(&json!(0))), None);
        assert_eq!(agent_id(Some(&json!(""))), None);
    }
}
