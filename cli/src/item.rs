//! A workflow item between the DynamoDB SDK and `settings::Item`, the
//! attribute types as the DynamoDB console names them (SPEC section 3).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use kvsync::domain::settings::{Attr, Item};

/// A workflow item as the SDK reads it, in the console's types (the same
/// reading the function does).
pub fn from_sdk(item: &HashMap<String, AttributeValue>) -> Item {
    kvsync::adapters::store::settings_item(item)
}

/// A `settings::Item` as the SDK writes it. `Binary` (never valid in a
/// workflow) is written as NULL.
pub fn to_sdk(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), sdk(v))).collect()
}

fn sdk(value: &Attr) -> AttributeValue {
    match value {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(n.clone()),
        Attr::Bool(b) => AttributeValue::Bool(*b),
        Attr::Null | Attr::Binary => AttributeValue::Null(true),
        Attr::Ss(v) => AttributeValue::Ss(v.clone()),
        Attr::Ns(v) => AttributeValue::Ns(v.clone()),
        Attr::L(v) => AttributeValue::L(v.iter().map(sdk).collect()),
        Attr::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), sdk(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_types_survive_the_round_trip() {
        let item = Item::from([
            ("workflow_id".to_string(), Attr::S("leads".into())),
            ("enabled".to_string(), Attr::Bool(true)),
            ("kvcore_max_rps".to_string(), Attr::N("5".into())),
            ("agent_ids".to_string(), Attr::Ns(vec!["7".into()])),
            ("sync_fields".to_string(), Attr::Ss(vec!["email".into()])),
            (
                "agent_map".to_string(),
                Attr::M([("12".to_string(), Attr::N("7".into()))].into()),
            ),
            (
                "l".to_string(),
                Attr::L(vec![Attr::N("1".into()), Attr::Null]),
            ),
        ]);
        let sdk = to_sdk(&item);
        assert_eq!(sdk["enabled"], AttributeValue::Bool(true));
        assert_eq!(sdk["kvcore_max_rps"], AttributeValue::N("5".into()));
        assert_eq!(from_sdk(&sdk), item);
    }
}
