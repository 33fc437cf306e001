//! A contact as kvCORE holds it: its id and its fields, as kvCORE sent them,
//! with the loose typing of SPEC section 7 smoothed over where kvsync reads
//! a value (ids, agent ids and phones as numbers or strings, timestamps as
//! `YYYY-MM-DD HH:MM:SS` or unix seconds).

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// A list row (partial) or a full record (`GET /contact/{id}`); which one
/// it is depends on where it came from (SPEC section 7).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KvContact {
    #[serde(deserialize_with = "number_or_string")]
    pub id: u64,
    #[serde(flatten, deserialize_with = "loose_fields")]
    pub fields: Map<String, Value>,
}

/// Fields kvCORE may send as numbers that kvsync reads as text (SPEC
/// section 7: "phones as strings or numbers").
const TEXT_FIELDS: [&str; 5] = [
    "cell_phone_1",
    "cell_phone_2",
    "home_phone",
    "work_phone",
    "primary_zip",
];

impl KvContact {
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// A string field, trimmed; `None` when absent or empty.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The agent the contact is assigned to; kvCORE uses 0 or null for none.
    pub fn assigned_agent_id(&self) -> Option<u64> {
        match self.get("assigned_agent_id")? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|id| *id > 0)
    }

    /// `updated_at` as unix seconds: kvCORE sends `"YYYY-MM-DD HH:MM:SS"`
    /// (UTC) or unix seconds; `0000-00-00 00:00:00` (never) and anything
    /// unreadable are `None`.
    pub fn updated_at_s(&self) -> Option<i64> {
        timestamp_s(self.get("updated_at")?)
    }
}

/// A kvCORE timestamp (SPEC section 7) as unix seconds.
pub fn timestamp_s(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().filter(|s| *s > 0),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<i64>() {
                return Some(secs).filter(|s| *s > 0);
            }
            let format =
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
            time::PrimitiveDateTime::parse(s, format)
                .ok()
                .map(|t| t.assume_utc().unix_timestamp())
                .or_else(|| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                        .map(|t| t.unix_timestamp())
                })
        }
        _ => None,
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("id is not a whole number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("id is not a whole number")),
        _ => Err(serde::de::Error::custom("id is not a number")),
    }
}

/// Numbers in text fields become their decimal text, so phones and zips
/// compare the same whichever way kvCORE typed them.
fn loose_fields<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Map<String, Value>, D::Error> {
    let mut fields = Map::<String, Value>::deserialize(deserializer)?;
    for name in TEXT_FIELDS {
        if let Some(value) = fields.get_mut(name)
            && let Value::Number(n) = value
        {
            *value = Value::String(n.to_string());
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_agents_come_as_numbers_or_strings() {
        let a: KvContact =
            serde_json::from_value(json!({"id": "12", "assigned_agent_id": "7"})).unwrap();
        assert_eq!((a.id, a.assigned_agent_id()), (12, Some(7)));
        let b: KvContact =
            serde_json::from_value(json!({"id": 13, "assigned_agent_id": 0})).unwrap();
        assert_eq!((b.id, b.assigned_agent_id()), (13, None));
        assert!(serde_json::from_value::<KvContact>(json!({"first_name": "x"})).is_err());
    }

    #[test]
    fn empty_text_is_none() {
        let c: KvContact =
            serde_json::from_value(json!({"id": 1, "email": "  ", "first_name": " Jo "})).unwrap();
        assert_eq!(c.text("email"), None);
        assert_eq!(c.text("first_name"), Some("Jo"));
    }

    #[test]
    fn phones_sent_as_numbers_read_as_text() {
        let c: KvContact = serde_json::from_value(
            json!({"id": 1, "work_phone": 2395550100_u64, "primary_zip": 34102}),
        )
        .unwrap();
        assert_eq!(c.text("work_phone"), Some("2395550100"));
        assert_eq!(c.text("primary_zip"), Some("34102"));
    }

    #[test]
    fn timestamps_in_both_forms() {
        let at = |v: Value| {
            serde_json::from_value::<KvContact>(json!({"id": 1, "updated_at": v}))
                .unwrap()
                .updated_at_s()
        };
        assert_eq!(at(json!("2026-11-30 12:00:00")), Some(1_796_040_000));
        assert_eq!(at(json!(1_796_040_000)), Some(1_796_040_000));
        assert_eq!(at(json!("1796040000")), Some(1_796_040_000));
        assert_eq!(at(json!("0000-00-00 00:00:00")), None);
        assert_eq!(at(json!(null)), None);
    }
}
