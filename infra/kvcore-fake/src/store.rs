//! The fake's contacts and the way kvCORE finds them: exact-or-prefix
//! filters, a loose free-text search that also reaches Profile Details, and
//! a search index that lags behind writes. Pure data; no HTTP here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

/// Every field a kvCORE contact answers with (null when empty).
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

const PHONE_FIELDS: [&str; 4] = ["cell_phone_1", "home_phone", "work_phone", "cell_phone_2"];

/// One contact's versions, oldest first, each with when it was written; the
/// search index sees the newest version older than the lag.
struct Versions(Vec<(Instant, Map<String, Value>)>);

pub struct Contacts {
    by_id: BTreeMap<u64, Versions>,
    next_id: u64,
    first_id: u64,
}

/// Why a write was refused, as kvCORE says it.
#[derive(Debug, PartialEq)]
pub enum WriteError {
    Invalid(Value),
    Duplicate,
    NotFound,
}

impl Contacts {
    pub fn new(first_id: u64) -> Contacts {
        Contacts {
            by_id: BTreeMap::new(),
            next_id: first_id,
            first_id,
        }
    }

    pub fn clear(&mut self) {
        self.by_id.clear();
        self.next_id = self.first_id;
    }

    pub fn get(&self, id: u64) -> Option<Value> {
        self.by_id
            .get(&id)
            .map(|v| Value::Object(current(v).clone()))
    }

    pub fn all(&self) -> Vec<Value> {
        self.by_id
            .values()
            .map(|v| Value::Object(current(v).clone()))
            .collect()
    }

    /// Seeds a contact that the search index already shows.
    pub fn insert_indexed(&mut self, fields: Map<String, Value>) -> u64 {
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(86_400))
            .unwrap_or_else(Instant::now);
        self.insert_at(fields, long_ago)
    }

    /// Adds a contact written just now (the search index lags behind it).
    pub fn insert_now(&mut self, fields: Map<String, Value>) -> u64 {
        self.insert_at(fields, Instant::now())
    }

    /// `POST /contact`.
    pub fn create(
        &mut self,
        fields: Map<String, Value>,
        reject_duplicates: bool,
    ) -> Result<Value, WriteError> {
        validate(&fields, true)?;
        if reject_duplicates {
            if let Some(email) = fields.get("email").and_then(Value::as_str).map(normalized) {
                let taken = self.by_id.values().any(|v| {
                    current(v)
                        .get("email")
                        .and_then(Value::as_str)
                        .map(normalized)
                        == Some(email.clone())
                });
                if taken {
                    return Err(WriteError::Duplicate);
                }
            }
        }
        let id = self.insert_at(fields, Instant::now());
        Ok(self.get(id).unwrap_or(Value::Null))
    }

    /// `PUT /contact/{id}`: given fields overwrite; `hashtags` are ignored
    /// and `assigned_agent_id` only lands on an unassigned contact.
    pub fn update(&mut self, id: u64, fields: Map<String, Value>) -> Result<Value, WriteError> {
        validate(&fields, false)?;
        let versions = self.by_id.get_mut(&id).ok_or(WriteError::NotFound)?;
        let mut next = current(versions).clone();
        let unassigned = matches!(next.get("assigned_agent_id"), None | Some(Value::Null))
            || next.get("assigned_agent_id").and_then(Value::as_u64) == Some(0);
        for (name, value) in fields {
            match name.as_str() {
                "id" | "hashtags" | "created_at" | "updated_at" => {}
                "assigned_agent_id" if !unassigned => {}
                _ => {
                    next.insert(name, value);
                }
            }
        }
        next.insert("updated_at".into(), json!(now_rfc3339()));
        versions.0.push((Instant::now(), next));
        Ok(self.get(id).unwrap_or(Value::Null))
    }

    /// The contacts a list query finds, by id, as the lagging index shows them.
    pub fn list(&self, query: &[(String, String)], lag: Duration) -> Vec<Value> {
        let horizon = Instant::now().checked_sub(lag);
        let search = query
            .iter()
            .find(|(k, _)| k == "search")
            .map(|(_, v)| v.as_str());
        let filters: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| {
                let field = k.strip_prefix("filter[")?.strip_suffix(']')?;
                CONTACT_FIELDS
                    .contains(&field)
                    .then_some((field, v.as_str()))
            })
            .collect();
        self.by_id
            .values()
            .filter_map(|versions| indexed(versions, horizon))
            .filter(|c| {
                filters
                    .iter()
                    .all(|(field, wanted)| filter_matches(c, field, wanted))
            })
            .filter(|c| search.is_none_or(|q| search_matches(c, q)))
            .map(|c| Value::Object(c.clone()))
            .collect()
    }

    fn insert_at(&mut self, fields: Map<String, Value>, at: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut contact: Map<String, Value> = CONTACT_FIELDS
            .iter()
            .map(|f| (f.to_string(), Value::Null))
            .collect();
        contact.insert("hashtags".into(), json!([]));
        contact.insert("status".into(), json!(0));
        for (name, value) in fields {
            if name != "id" {
                contact.insert(name, value);
            }
        }
        contact.insert("id".into(), json!(id));
        let now = now_rfc3339();
        contact.insert("created_at".into(), json!(now));
        contact.insert("updated_at".into(), json!(now));
        self.by_id.insert(id, Versions(vec![(at, contact)]));
        id
    }
}

fn current(versions: &Versions) -> &Map<String, Value> {
    &versions.0[versions.0.len() - 1].1
}

/// The version the search index shows: the newest written before `horizon`
/// (`None`: no lag, the newest).
fn indexed(versions: &Versions, horizon: Option<Instant>) -> Option<&Map<String, Value>> {
    match horizon {
        None => Some(current(versions)),
        Some(horizon) => versions
            .0
            .iter()
            .rev()
            .find(|(at, _)| *at <= horizon)
            .map(|(_, c)| c),
    }
}

fn normalized(s: &str) -> String {
    s.trim().to_lowercase()
}

/// kvCORE string filters match exactly or by prefix, ignoring case.
fn filter_matches(contact: &Map<String, Value>, field: &str, wanted: &str) -> bool {
    match contact.get(field) {
        Some(Value::String(s)) => normalized(s).starts_with(&normalized(wanted)),
        Some(Value::Number(n)) => n.to_string() == wanted.trim(),
        _ => false,
    }
}

/// Substring of names, emails (Profile Details too) or phone digits.
fn search_matches(contact: &Map<String, Value>, query: &str) -> bool {
    let text = |field: &str| {
        contact
            .get(field)
            .and_then(Value::as_str)
            .map(normalized)
            .unwrap_or_default()
    };
    let q = normalized(query);
    if q.is_empty() {
        return true;
    }
    let full_name = format!("{} {}", text("first_name"), text("last_name"));
    let in_text = [
        text("first_name"),
        text("last_name"),
        full_name,
        text("email"),
        text("second_email"),
    ]
    .iter()
    .any(|t| t.contains(&q));
    let q_digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let in_phones = q_digits.len() >= 3
        && PHONE_FIELDS.iter().any(|f| {
            let digits: String = text(f).chars().filter(char::is_ascii_digit).collect();
            digits.contains(&q_digits)
        });
    in_text || in_phones
}

fn validate(fields: &Map<String, Value>, creating: bool) -> Result<(), WriteError> {
    if let Some(email) = fields.get("email").and_then(Value::as_str) {
        if !email.contains('@') {
            return Err(WriteError::Invalid(
                json!({"errors": {"email": ["The email must be a valid email address."]}}),
            ));
        }
    }
    let identifying = [
        "first_name",
        "last_name",
        "email",
        "cell_phone_1",
        "home_phone",
        "work_phone",
    ];
    let has_any = identifying.iter().any(|f| {
        fields
            .get(*f)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    });
    if creating && !has_any {
        return Err(WriteError::Invalid(
            json!({"errors": {"email": ["A name, email or phone is required."]}}),
        ));
    }
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ids(found: &[Value]) -> Vec<u64> {
        found.iter().map(|c| c["id"].as_u64().unwrap()).collect()
    }

    #[test]
    fn email_filter_is_exact_or_prefix() {
        let mut contacts = Contacts::new(1);
        contacts.insert_indexed(fields(json!({"email": "john@ex.com"})));
        contacts.insert_indexed(fields(json!({"email": "John@Ex.com.au"})));
        contacts.insert_indexed(fields(json!({"email": "jane@ex.com"})));
        let found = contacts.list(&q(&[("filter[email]", "john@ex.com")]), Duration::ZERO);
        assert_eq!(ids(&found), [1, 2]);
        let unknown = contacts.list(&q(&[("filter[shoe_size]", "9")]), Duration::ZERO);
        assert_eq!(unknown.len(), 3, "unknown filters are ignored");
    }

    #[test]
    fn search_reaches_phone_digits_and_profile_details() {
        let mut contacts = Contacts::new(1);
        contacts.insert_indexed(fields(json!({"cell_phone_1": "(239) 555-0100"})));
        contacts.insert_indexed(fields(json!({"cell_phone_2": "239.555.0100"})));
        contacts.insert_indexed(fields(json!({"second_email": "ann@ex.com"})));
        contacts.insert_indexed(fields(json!({"first_name": "Ann", "last_name": "Lee"})));
        assert_eq!(
            ids(&contacts.list(&q(&[("search", "2395550100")]), Duration::ZERO)),
            [1, 2]
        );
        assert_eq!(
            ids(&contacts.list(&q(&[("search", "ann")]), Duration::ZERO)),
            [3, 4]
        );
        assert_eq!(
            ids(&contacts.list(&q(&[("search", "ann lee")]), Duration::ZERO)),
            [4]
        );
    }

    #[test]
    fn the_index_lags_behind_writes() {
        let mut contacts = Contacts::new(1);
        let id = contacts.insert_indexed(fields(json!({"first_name": "Old"})));
        contacts
            .create(fields(json!({"first_name": "New"})), true)
            .unwrap();
        contacts
            .update(id, fields(json!({"first_name": "Renamed"})))
            .unwrap();
        let lag = Duration::from_secs(60);
        let found = contacts.list(&[], lag);
        assert_eq!(ids(&found), [1], "the new contact is not indexed yet");
        assert_eq!(
            found[0]["first_name"], "Old",
            "the index shows the previous version"
        );
        assert_eq!(contacts.get(id).unwrap()["first_name"], "Renamed");
        assert_eq!(contacts.list(&[], Duration::ZERO).len(), 2);
    }

    #[test]
    fn writes_follow_kvcore_rules() {
        let mut contacts = Contacts::new(1);
        let created = contacts
            .create(
                fields(json!({"email": "a@ex.com", "hashtags": ["x"], "assigned_agent_id": null})),
                true,
            )
            .unwrap();
        assert_eq!(created["hashtags"], json!(["x"]));
        assert_eq!(
            contacts.create(fields(json!({"email": " A@EX.com"})), true),
            Err(WriteError::Duplicate)
        );
        assert!(
            contacts
                .create(fields(json!({"email": "A@EX.com"})), false)
                .is_ok()
        );
        assert!(matches!(
            contacts.create(fields(json!({"email": "nope"})), true),
            Err(WriteError::Invalid(_))
        ));
        assert!(matches!(
            contacts.create(fields(json!({"status": 1})), true),
            Err(WriteError::Invalid(_))
        ));

        let updated = contacts
            .update(
                1,
                fields(
                    json!({"hashtags": ["y"], "assigned_agent_id": 7, "primary_city": "Naples"}),
                ),
            )
            .unwrap();
        assert_eq!(updated["hashtags"], json!(["x"]), "hashtags only on create");
        assert_eq!(
            updated["assigned_agent_id"], 7,
            "unassigned: the agent lands"
        );
        let again = contacts
            .update(1, fields(json!({"assigned_agent_id": 8})))
            .unwrap();
        assert_eq!(again["assigned_agent_id"], 7, "assigned: the agent stays");
        assert_eq!(contacts.update(99, Map::new()), Err(WriteError::NotFound));
    }
}
