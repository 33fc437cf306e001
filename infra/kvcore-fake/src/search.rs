//! How kvCORE's `GET /contacts` picks contacts: string filters that match
//! exactly or by prefix, numeric filters that match exactly, unknown
//! filters ignored, and a loose free-text `search` that also reaches
//! Profile Details. Pure; the lagging index is in `store`.

use serde_json::{Map, Value};

use crate::store::CONTACT_FIELDS;

/// Phones `search` looks at, Profile Details (`cell_phone_2`) included.
const SEARCHED_PHONES: [&str; 4] = ["cell_phone_1", "home_phone", "work_phone", "cell_phone_2"];

/// Text fields `search` looks at, besides "first last".
const SEARCHED_TEXT: [&str; 4] = ["first_name", "last_name", "email", "second_email"];

/// The selection part of a list query (paging is the caller's).
#[derive(Debug, Default)]
pub struct Criteria {
    /// `(field, wanted)` for each known `filter[field]` with a value.
    filters: Vec<(String, String)>,
    /// Lower-cased, trimmed `search`, when not empty.
    search: Option<String>,
}

impl Criteria {
    /// Reads `filter[field]=v` and `search=q` from decoded query pairs.
    /// Filters on fields kvCORE does not have, and empty ones, are ignored,
    /// as kvCORE does.
    pub fn from_query(query: &[(String, String)]) -> Criteria {
        let filters = query
            .iter()
            .filter_map(|(key, value)| {
                let field = key.strip_prefix("filter[")?.strip_suffix(']')?;
                let known = field == "id" || CONTACT_FIELDS.contains(&field);
                (known && !value.trim().is_empty()).then(|| (field.to_string(), value.clone()))
            })
            .collect();
        let search = query
            .iter()
            .find(|(key, _)| key == "search")
            .map(|(_, q)| normalized(q))
            .filter(|q| !q.is_empty());
        Criteria { filters, search }
    }

    pub fn matches(&self, contact: &Map<String, Value>) -> bool {
        self.filters
            .iter()
            .all(|(field, wanted)| filter_matches(contact.get(field), wanted))
            && self
                .search
                .as_deref()
                .is_none_or(|q| search_matches(contact, q))
    }
}

fn normalized(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Strings (and tags) match exactly or by prefix, ignoring case; numbers
/// exactly; nothing matches an empty field.
fn filter_matches(field: Option<&Value>, wanted: &str) -> bool {
    match field {
        Some(Value::String(s)) => normalized(s).starts_with(&normalized(wanted)),
        Some(Value::Number(n)) => n.to_string() == wanted.trim(),
        Some(Value::Array(items)) => items.iter().any(|item| filter_matches(Some(item), wanted)),
        _ => false,
    }
}

/// A substring of a name, "first last", either email, or (when the query
/// has digits) of any phone's digits. `query` is already normalized.
fn search_matches(contact: &Map<String, Value>, query: &str) -> bool {
    let text = |field: &str| {
        contact
            .get(field)
            .and_then(Value::as_str)
            .map(normalized)
            .unwrap_or_default()
    };
    let full_name = format!("{} {}", text("first_name"), text("last_name"));
    let in_text =
        full_name.contains(query) || SEARCHED_TEXT.iter().any(|f| text(f).contains(query));

    let query_digits = digits(query);
    let in_phones = !query_digits.is_empty()
        && SEARCHED_PHONES
            .iter()
            .any(|f| digits(&text(f)).contains(&query_digits));
    in_text || in_phones
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn criteria(pairs: &[(&str, &str)]) -> Criteria {
        let query: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Criteria::from_query(&query)
    }

    fn contact(fields: Value) -> Map<String, Value> {
        fields.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn string_filters_match_exactly_or_by_prefix_ignoring_case() {
        let by_email = criteria(&[("filter[email]", "John@Ex.com")]);
        assert!(by_email.matches(&contact(json!({"email": "john@ex.com"}))));
        assert!(by_email.matches(&contact(json!({"email": "JOHN@ex.com.au"}))));
        assert!(by_email.matches(&contact(json!({"email": "john@ex.community"}))));
        assert!(!by_email.matches(&contact(json!({"email": "xjohn@ex.com"}))));
        assert!(!by_email.matches(&contact(json!({"email": null}))));
        assert!(!by_email.matches(&contact(json!({"second_email": "john@ex.com"}))));
    }

    #[test]
    fn numeric_filters_match_exactly_and_filters_combine() {
        let both = criteria(&[
            ("filter[assigned_agent_id]", "7"),
            ("filter[last_name]", "lee"),
        ]);
        assert!(both.matches(&contact(
            json!({"assigned_agent_id": 7, "last_name": "Leeds"})
        )));
        assert!(!both.matches(&contact(
            json!({"assigned_agent_id": 77, "last_name": "Lee"})
        )));
        assert!(!both.matches(&contact(
            json!({"assigned_agent_id": null, "last_name": "Lee"})
        )));
        assert!(!both.matches(&contact(json!({"assigned_agent_id": 7, "last_name": "Ng"}))));
    }

    #[test]
    fn unknown_and_empty_filters_are_ignored() {
        let ignored = criteria(&[
            ("filter[shoe_size]", "9"),
            ("filter[email]", ""),
            ("filter", "x"),
        ]);
        assert!(ignored.matches(&contact(json!({"email": "a@ex.com"}))));
        assert!(ignored.matches(&contact(json!({}))));
    }

    #[test]
    fn search_reaches_names_and_both_emails() {
        let ann = criteria(&[("search", " ANN ")]);
        assert!(ann.matches(&contact(json!({"first_name": "Joanne"}))));
        assert!(ann.matches(&contact(json!({"second_email": "ann@ex.com"}))));
        assert!(ann.matches(&contact(json!({"email": "hannah@ex.com"}))));
        assert!(!ann.matches(&contact(
            json!({"first_name": "Bob", "primary_city": "Annapolis"})
        )));
        let full = criteria(&[("search", "ann lee")]);
        assert!(full.matches(&contact(json!({"first_name": "Ann", "last_name": "Lee"}))));
        assert!(!full.matches(&contact(json!({"first_name": "Ann", "last_name": "Ng"}))));
    }

    #[test]
    fn search_compares_phone_digits_in_every_phone() {
        let number = criteria(&[("search", "2395550100")]);
        for field in SEARCHED_PHONES {
            assert!(
                number.matches(&contact(json!({ field: "+1 (239) 555-0100" }))),
                "{field}"
            );
        }
        assert!(!number.matches(&contact(json!({"cell_phone_1": "(239) 555-0101"}))));
        let formatted = criteria(&[("search", "(239) 555")]);
        assert!(formatted.matches(&contact(json!({"home_phone": "+12395550100"}))));
        let letters = criteria(&[("search", "ann")]);
        assert!(
            !letters.matches(&contact(json!({"cell_phone_1": "2395550100"}))),
            "a query without digits never matches a phone"
        );
    }
}
