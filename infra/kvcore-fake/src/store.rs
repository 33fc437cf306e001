//! The contacts kvCORE holds, the rules its writes follow, and its lagging
//! search index: every contact keeps the versions a search may still show.
//! Pure data; no HTTP here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::search::Criteria;

/// Every field a kvCORE contact answers with, besides `id` (null when empty).
pub const CONTACT_FIELDS: [&str; 18] = [
    "first_name",
    "last_name",
    "email",
    "cell_phone_1",
    "home_phone",
    "work_phone",
    "primary_address",
    "primary_city",
    "primary_state",
    "primary_zip",
    "birthday",
    "hashtags",
    "assigned_agent_id",
    "status",
    "second_email",
    "cell_phone_2",
    "created_at",
    "updated_at",
];

/// A create needs at least one of these.
const IDENTIFYING: [&str; 6] = [
    "first_name",
    "last_name",
    "email",
    "cell_phone_1",
    "home_phone",
    "work_phone",
];

/// Fields the fake owns: a write never sets them.
const SERVER_OWNED: [&str; 3] = ["id", "created_at", "updated_at"];

/// Why a write was refused, as kvCORE says it.
#[derive(Debug, PartialEq)]
pub enum WriteError {
    /// 422 with this body.
    Invalid(Value),
    /// 409: another contact has this email.
    Duplicate,
    /// 404.
    NotFound,
}

/// One state of a contact and when it was written through the API
/// (`None`: seeded, and so indexed from the start).
struct Version {
    written: Option<Instant>,
    contact: Map<String, Value>,
}

/// A contact's versions, oldest first, never empty. The last one is what
/// `GET /contact/{id}` answers; searches answer the newest one that is at
/// least `lag` old.
struct History(Vec<Version>);

impl History {
    fn current(&self) -> &Map<String, Value> {
        &self.0[self.0.len() - 1].contact
    }

    fn indexed(&self, lag: Duration, now: Instant) -> Option<&Map<String, Value>> {
        self.0
            .iter()
            .rev()
            .find(|v| v.written.is_none_or(|at| now.duration_since(at) >= lag))
            .map(|v| &v.contact)
    }

    /// Adds a version written now, and forgets those the index is already
    /// past, so the history stays small.
    fn push(&mut self, contact: Map<String, Value>, lag: Duration) {
        let now = Instant::now();
        self.0.push(Version {
            written: Some(now),
            contact,
        });
        let newest_indexed = self
            .0
            .iter()
            .rposition(|v| v.written.is_none_or(|at| now.duration_since(at) >= lag));
        if let Some(index) = newest_indexed {
            self.0.drain(..index);
        }
    }
}

/// All contacts, by id.
pub struct Contacts {
    by_id: BTreeMap<u64, History>,
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

    /// The current version (no lag).
    pub fn get(&self, id: u64) -> Option<Value> {
        self.by_id
            .get(&id)
            .map(|h| Value::Object(h.current().clone()))
    }

    /// Every current version, by id.
    pub fn all(&self) -> Vec<Value> {
        self.by_id
            .values()
            .map(|h| Value::Object(h.current().clone()))
            .collect()
    }

    /// Seeds a contact the search index already shows.
    pub fn insert_indexed(&mut self, fields: Map<String, Value>) -> u64 {
        self.insert(fields, None)
    }

    /// Adds a contact written just now, which the index shows only after
    /// the lag.
    pub fn insert_now(&mut self, fields: Map<String, Value>) -> u64 {
        self.insert(fields, Some(Instant::now()))
    }

    /// `POST /contact`.
    pub fn create(
        &mut self,
        fields: Map<String, Value>,
        reject_duplicate_emails: bool,
    ) -> Result<Value, WriteError> {
        validate_email(&fields)?;
        if !IDENTIFYING.iter().any(|f| given(fields.get(*f))) {
            return Err(WriteError::Invalid(json!({"errors": {"first_name": [
                "The first name field is required when none of last name / email / \
                 cell phone 1 / home phone / work phone are present."
            ]}})));
        }
        if reject_duplicate_emails && self.email_taken(fields.get("email")) {
            return Err(WriteError::Duplicate);
        }
        let id = self.insert_now(fields);
        self.get(id).ok_or(WriteError::NotFound)
    }

    /// `PUT /contact/{id}`: given fields overwrite, except that `hashtags`
    /// are ignored and `assigned_agent_id` only lands on an unassigned
    /// contact (both kvCORE quirks).
    pub fn update(
        &mut self,
        id: u64,
        fields: Map<String, Value>,
        lag: Duration,
    ) -> Result<Value, WriteError> {
        let history = self.by_id.get_mut(&id).ok_or(WriteError::NotFound)?;
        validate_email(&fields)?;
        let mut next = history.current().clone();
        let unassigned = match next.get("assigned_agent_id") {
            None | Some(Value::Null) => true,
            Some(agent) => agent.as_f64() == Some(0.0),
        };
        for (name, value) in fields {
            let ignored = SERVER_OWNED.contains(&name.as_str())
                || name == "hashtags"
                || (name == "assigned_agent_id" && !unassigned);
            if !ignored {
                next.insert(name, value);
            }
        }
        next.insert("updated_at".into(), json!(now_rfc3339()));
        history.push(next, lag);
        Ok(Value::Object(history.current().clone()))
    }

    /// The contacts a list query finds, by id, as the lagging index shows
    /// them.
    pub fn list(&self, criteria: &Criteria, lag: Duration) -> Vec<Value> {
        let now = Instant::now();
        self.by_id
            .values()
            .filter_map(|h| h.indexed(lag, now))
            .filter(|c| criteria.matches(c))
            .map(|c| Value::Object(c.clone()))
            .collect()
    }

    /// Whether another contact's main email is `email` (trimmed, any case).
    fn email_taken(&self, email: Option<&Value>) -> bool {
        let Some(email) = email.and_then(Value::as_str).map(normalized_email) else {
            return false;
        };
        !email.is_empty()
            && self.by_id.values().any(|h| {
                h.current()
                    .get("email")
                    .and_then(Value::as_str)
                    .map(normalized_email)
                    == Some(email.clone())
            })
    }

    fn insert(&mut self, fields: Map<String, Value>, written: Option<Instant>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut contact: Map<String, Value> = CONTACT_FIELDS
            .iter()
            .map(|f| (f.to_string(), Value::Null))
            .collect();
        contact.insert("hashtags".into(), json!([]));
        contact.insert("status".into(), json!(0));
        for (name, value) in fields {
            if !SERVER_OWNED.contains(&name.as_str()) {
                contact.insert(name, value);
            }
        }
        // kvCORE never answers a null tag list or status.
        for (name, empty) in [("hashtags", json!([])), ("status", json!(0))] {
            if contact.get(name).is_none_or(Value::is_null) {
                contact.insert(name.into(), empty);
            }
        }
        contact.insert("id".into(), json!(id));
        let now = now_rfc3339();
        contact.insert("created_at".into(), json!(now));
        contact.insert("updated_at".into(), json!(now));
        self.by_id
            .insert(id, History(vec![Version { written, contact }]));
        id
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

/// An email, when given, must at least have an `@`.
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

fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

    fn ids(found: &[Value]) -> Vec<u64> {
        found.iter().filter_map(|c| c["id"].as_u64()).collect()
    }

    #[test]
    fn a_contact_carries_every_field() {
        let mut contacts = Contacts::new(1001);
        let id =
            contacts.insert_indexed(fields(json!({"email": "a@ex.com", "id": 5, "source": "x"})));
        assert_eq!(id, 1001);
        let contact = contacts.get(id).unwrap();
        for field in CONTACT_FIELDS {
            assert!(contact.get(field).is_some(), "{field}");
        }
        assert_eq!(contact["id"], 1001, "a given id is ignored");
        assert_eq!(contact["hashtags"], json!([]));
        assert_eq!(contact["status"], 0);
        assert_eq!(contact["first_name"], Value::Null);
        assert_eq!(contact["source"], "x", "other fields are kept");
        assert_eq!(contacts.insert_indexed(Map::new()), 1002);
        contacts.clear();
        assert_eq!(contacts.insert_indexed(Map::new()), 1001, "ids start over");
    }

    #[test]
    fn the_index_hides_new_contacts_and_shows_old_versions() {
        let mut contacts = Contacts::new(1);
        let seeded = contacts.insert_indexed(fields(json!({"first_name": "Old"})));
        contacts
            .create(fields(json!({"first_name": "New"})), true)
            .unwrap();
        contacts
            .update(seeded, fields(json!({"first_name": "Renamed"})), LAG)
            .unwrap();
        contacts
            .update(seeded, fields(json!({"first_name": "Renamed again"})), LAG)
            .unwrap();

        let found = contacts.list(&everything(), LAG);
        assert_eq!(ids(&found), [1], "the created contact is not indexed yet");
        assert_eq!(
            found[0]["first_name"], "Old",
            "the index shows the old version"
        );
        assert_eq!(contacts.get(seeded).unwrap()["first_name"], "Renamed again");

        let found = contacts.list(&everything(), NO_LAG);
        assert_eq!(ids(&found), [1, 2]);
        assert_eq!(found[0]["first_name"], "Renamed again");
    }

    #[test]
    fn history_forgets_what_the_index_is_past() {
        let mut contacts = Contacts::new(1);
        let id = contacts.insert_indexed(fields(json!({"first_name": "A"})));
        for name in ["B", "C", "D"] {
            contacts
                .update(id, fields(json!({"first_name": name})), NO_LAG)
                .unwrap();
        }
        assert_eq!(contacts.by_id[&id].0.len(), 1);
        for name in ["E", "F"] {
            contacts
                .update(id, fields(json!({"first_name": name})), LAG)
                .unwrap();
        }
        let names: Vec<&Value> = contacts.by_id[&id]
            .0
            .iter()
            .map(|v| &v.contact["first_name"])
            .collect();
        assert_eq!(names, ["D", "E", "F"], "D is what the index shows");
    }

    #[test]
    fn create_validates_and_refuses_duplicate_emails() {
        let mut contacts = Contacts::new(1);
        let created = contacts
            .create(
                fields(json!({"email": "a@ex.com", "hashtags": ["x"]})),
                true,
            )
            .unwrap();
        assert_eq!(
            created["hashtags"],
            json!(["x"]),
            "tags can be set on create"
        );
        assert_eq!(
            contacts.create(fields(json!({"email": " A@EX.com "})), true),
            Err(WriteError::Duplicate)
        );
        assert!(
            contacts
                .create(fields(json!({"email": "a@ex.com.au"})), true)
                .is_ok()
        );
        assert!(
            contacts
                .create(fields(json!({"email": "A@EX.com"})), false)
                .is_ok()
        );
        for invalid in [
            json!({"email": "nope"}),
            json!({"email": 5}),
            json!({"status": 1}),
            json!({"first_name": " "}),
        ] {
            assert!(
                matches!(
                    contacts.create(fields(invalid.clone()), true),
                    Err(WriteError::Invalid(_))
                ),
                "{invalid}"
            );
        }
        assert!(
            contacts
                .create(
                    fields(json!({"email": "", "home_phone": "239 555 0100"})),
                    true
                )
                .is_ok()
        );
    }

    #[test]
    fn update_ignores_tags_and_assigns_only_unassigned_contacts() {
        let mut contacts = Contacts::new(1);
        let id = contacts.insert_indexed(fields(
            json!({"email": "a@ex.com", "hashtags": ["x"], "assigned_agent_id": 0}),
        ));
        let updated = contacts
            .update(id, fields(json!({"hashtags": ["y"], "assigned_agent_id": 7, "primary_city": "Naples", "id": 9})), NO_LAG)
            .unwrap();
        assert_eq!(updated["hashtags"], json!(["x"]), "tags only on create");
        assert_eq!(
            updated["assigned_agent_id"], 7,
            "unassigned (0): the agent lands"
        );
        assert_eq!(updated["primary_city"], "Naples");
        assert_eq!(updated["id"], 1);
        let again = contacts
            .update(id, fields(json!({"assigned_agent_id": 8})), NO_LAG)
            .unwrap();
        assert_eq!(again["assigned_agent_id"], 7, "assigned: the agent stays");
        assert!(matches!(
            contacts.update(id, fields(json!({"email": "nope"})), NO_LAG),
            Err(WriteError::Invalid(_))
        ));
        assert_eq!(
            contacts.update(99, Map::new(), NO_LAG),
            Err(WriteError::NotFound)
        );
    }
}
