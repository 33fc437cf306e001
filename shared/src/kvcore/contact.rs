//! A contact as kvCORE holds it: its id and its fields, as kvCORE sent them.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KvContact {
    #[serde(deserialize_with = "number_or_string")]
    pub id: u64,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

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
}
