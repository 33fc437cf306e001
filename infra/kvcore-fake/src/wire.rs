//! How a contact goes on the wire: list rows are partial records, `GET
//! /contact/{id}` answers the full one, and with `loose_types` values are
//! typed as loosely as SPEC section 7 says kvCORE's are.

use serde_json::{Map, Value, json};

use crate::store::Snapshot;

/// A list row's fields, and only them (SPEC section 7: "A list row is a
/// partial record").
pub const LIST_FIELDS: [&str; 15] = [
    "id",
    "name",
    "email",
    "cell_phone_1",
    "cell_phone_2",
    "home_phone",
    "work_phone",
    "status",
    "source",
    "deal_type",
    "assigned_agent_id",
    "is_private",
    "external_vendor_id",
    "created_at",
    "updated_at",
];

/// What the full record has besides the list fields (SPEC section 7: "the
/// list fields plus ... and more"; the "more" is whatever else was stored).
pub const FULL_ONLY_FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "second_email",
    "primary_address",
    "primary_city",
    "primary_state",
    "primary_zip",
    "birthday",
    "hashtags",
];

/// Ids and flags, which may come as numbers or strings.
const NUMERIC_FIELDS: [&str; 4] = ["id", "assigned_agent_id", "status", "is_private"];

/// Phones, which may come as strings or numbers.
const PHONE_FIELDS: [&str; 4] = ["cell_phone_1", "cell_phone_2", "home_phone", "work_phone"];

const TIMESTAMP_FIELDS: [&str; 2] = ["created_at", "updated_at"];

/// Which answer a contact is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A `GET /contacts` row.
    List,
    /// `GET /contact/{id}`, `POST /contact`, `PUT /contact/{id}`.
    Full,
}

/// The contact as kvCORE answers it. Without `loose`: `id` a number,
/// timestamps `"YYYY-MM-DD HH:MM:SS"` (UTC), other values as stored, empty
/// fields null. With `loose`, see [`loosen`].
pub fn render(contact: &Snapshot, view: View, loose: bool) -> Value {
    let mut full = contact.fields.clone();
    for field in LIST_FIELDS.iter().chain(&FULL_ONLY_FIELDS) {
        full.entry(*field).or_insert(Value::Null);
    }
    full.insert("id".into(), json!(contact.id));
    full.insert("name".into(), name(&contact.fields));
    full.insert("created_at".into(), json!(datetime(contact.created_at)));
    full.insert("updated_at".into(), json!(datetime(contact.updated_at)));
    let mut shown = match view {
        View::Full => full,
        View::List => LIST_FIELDS
            .iter()
            .map(|f| (f.to_string(), full.remove(*f).unwrap_or(Value::Null)))
            .collect(),
    };
    if loose {
        loosen(contact, &mut shown);
    }
    Value::Object(shown)
}

/// First and last name together (SPEC section 7's list `name`); null when
/// both are empty.
fn name(fields: &Map<String, Value>) -> Value {
    let part = |f: &str| {
        fields
            .get(f)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("")
    };
    let name = format!("{} {}", part("first_name"), part("last_name"));
    let name = name.trim();
    if name.is_empty() {
        Value::Null
    } else {
        json!(name)
    }
}

/// `"YYYY-MM-DD HH:MM:SS"` (UTC) of unix seconds, kvCORE's string form.
pub fn datetime(unix: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "0000-00-00 00:00:00".into();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// SPEC section 7: "ids and agent ids may come as numbers or strings,
/// flags as 0/1, phones as strings or numbers, empty values as `""` or
/// `null`; timestamps as `"YYYY-MM-DD HH:MM:SS"` (UTC) or unix seconds".
/// Deterministic, so tests repeat, and mixed within one record, so no
/// field's type predicts another's:
/// - odd ids: ids, agent ids, status and flags as numbers, all-digit
///   phones as numbers; even ids: all of them as strings (`"1002"`, `"0"`);
/// - `id / 2` odd: empty values `null`, timestamps unix seconds; even:
///   empty values `""`, timestamps `"YYYY-MM-DD HH:MM:SS"`.
///
/// Ids 1001, 1002, 1003, 1004 thus show all four combinations.
fn loosen(contact: &Snapshot, shown: &mut Map<String, Value>) {
    let numbers = contact.id % 2 == 1;
    let nulls_and_seconds = (contact.id / 2) % 2 == 1;
    for (field, value) in shown.iter_mut() {
        let field = field.as_str();
        let empty = match value {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            _ => false,
        };
        if empty {
            *value = if nulls_and_seconds {
                Value::Null
            } else {
                json!("")
            };
        } else if NUMERIC_FIELDS.contains(&field) {
            if let Some(n) = whole_number(value) {
                *value = if numbers {
                    json!(n)
                } else {
                    json!(n.to_string())
                };
            }
        } else if PHONE_FIELDS.contains(&field) {
            match value {
                Value::String(s) if numbers && all_digits(s) => {
                    if let Ok(n) = s.parse::<u64>() {
                        *value = json!(n);
                    }
                }
                Value::Number(n) if !numbers => *value = json!(n.to_string()),
                _ => {}
            }
        } else if TIMESTAMP_FIELDS.contains(&field) && nulls_and_seconds {
            let unix = if field == "created_at" {
                contact.created_at
            } else {
                contact.updated_at
            };
            *value = json!(unix);
        }
    }
}

fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Digits only, and no leading 0 a number would lose.
fn all_digits(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: u64, fields: Value) -> Snapshot {
        Snapshot {
            id,
            created_at: 60,
            updated_at: 1_700_000_000,
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn ann(id: u64) -> Snapshot {
        snapshot(
            id,
            json!({
                "first_name": "Ann", "last_name": "Lee", "email": "ann@ex.com",
                "cell_phone_1": "2395550100", "home_phone": "+1 239 555 0101",
                "assigned_agent_id": 7, "status": 0, "is_private": 0,
                "primary_city": "", "hashtags": ["buyer"], "favourite_colour": "red"
            }),
        )
    }

    #[test]
    fn a_list_row_has_the_list_fields_only() {
        let row = render(&ann(1001), View::List, false);
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = LIST_FIELDS.to_vec();
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(row["name"], "Ann Lee");
        assert_eq!(row["updated_at"], "2023-11-14 22:13:20");
        assert_eq!(row["created_at"], "1970-01-01 00:01:00");
        assert_eq!(row["deal_type"], Value::Null);
    }

    #[test]
    fn a_full_record_has_everything_stored() {
        let full = render(&ann(1001), View::Full, false);
        for field in LIST_FIELDS.iter().chain(&FULL_ONLY_FIELDS) {
            assert!(full.get(*field).is_some(), "{field}");
        }
        assert_eq!(full["favourite_colour"], "red");
        assert_eq!(full["first_name"], "Ann");
        assert_eq!(full["id"], 1001);
        assert_eq!(
            full["primary_city"], "",
            "stored values unchanged without loose"
        );
        assert_eq!(full["birthday"], Value::Null);
        let nameless = render(
            &snapshot(1, json!({"email": "a@ex.com"})),
            View::Full,
            false,
        );
        assert_eq!(nameless["name"], Value::Null);
        let first_only = render(
            &snapshot(1, json!({"first_name": " Bo "})),
            View::Full,
            false,
        );
        assert_eq!(first_only["name"], "Bo");
    }

    #[test]
    fn loose_types_alternate_by_id() {
        // 1001: numbers, "" and strings of time.
        let odd = render(&ann(1001), View::Full, true);
        assert_eq!(odd["id"], json!(1001));
        assert_eq!(odd["assigned_agent_id"], json!(7));
        assert_eq!(odd["is_private"], json!(0));
        assert_eq!(odd["cell_phone_1"], json!(2_395_550_100_u64));
        assert_eq!(odd["home_phone"], "+1 239 555 0101", "not all digits");
        assert_eq!(odd["primary_city"], "");
        assert_eq!(odd["birthday"], "");
        assert_eq!(odd["updated_at"], "2023-11-14 22:13:20");
        // 1002: strings, null and unix seconds.
        let even = render(&ann(1002), View::Full, true);
        assert_eq!(even["id"], "1002");
        assert_eq!(even["assigned_agent_id"], "7");
        assert_eq!(even["status"], "0");
        assert_eq!(even["cell_phone_1"], "2395550100");
        assert_eq!(even["hashtags"], json!(["buyer"]));
        assert_eq!(even["primary_city"], Value::Null);
        assert_eq!(even["updated_at"], json!(1_700_000_000));
        // 1003: numbers, null and unix seconds.
        let third = render(&ann(1003), View::List, true);
        assert_eq!(third["id"], json!(1003));
        assert_eq!(third["deal_type"], Value::Null);
        assert_eq!(third["updated_at"], json!(1_700_000_000));
        assert_eq!(third["created_at"], json!(60));
        // 1006: strings, null and unix seconds; a numeric phone as a string.
        let mut numeric_phone = ann(1006);
        numeric_phone
            .fields
            .insert("cell_phone_1".into(), json!(2_395_550_100_u64));
        let sixth = render(&numeric_phone, View::List, true);
        assert_eq!(sixth["cell_phone_1"], "2395550100");
        assert_eq!(sixth["id"], "1006");
        assert_eq!(sixth["source"], Value::Null);
    }

    #[test]
    fn times_are_kvcores_strings() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(i64::MAX), "0000-00-00 00:00:00");
    }
}
