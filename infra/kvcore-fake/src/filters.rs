//! How kvCORE's `GET /contacts` picks contacts: only the documented
//! filters (SPEC section 7), nothing else. There is no free-text search and
//! no phone filter: `search`, `filter[phone]`, `filter[cell_phone_1]` and
//! every other unknown parameter are ignored, so such a request lists every
//! contact. Pure; the lagging list is in `store`.

use serde_json::{Map, Value};

use crate::store::agent_id;

/// The text filters, each "exact or a prefix, case-insensitive" (SPEC
/// section 7). The fake takes the harsher reading: always a prefix, so
/// `john@ex.com` also finds `john@ex.com.au`.
const TEXT_FILTERS: [&str; 3] = ["email", "first_name", "last_name"];

/// The selection part of a list query (paging is the caller's).
#[derive(Debug, Default)]
pub struct Criteria {
    /// `(field, lower-cased trimmed prefix)` for each text filter given.
    text: Vec<(&'static str, String)>,
    /// `filter[updated_at]`: unix seconds; contacts updated at or after it.
    updated_since: Option<i64>,
    /// `filter[assigned_agent_id]`; 0 means unassigned.
    agent: Option<u64>,
    /// `filter[hashtags][]`, lower-cased: a contact with any of them.
    hashtags: Vec<String>,
    /// `includeArchived=1` (or `true`).
    include_archived: bool,
}

impl Criteria {
    /// Reads the documented parameters from decoded query pairs. As PHP
    /// reads a query, a repeated plain key keeps its last value, and only
    /// `filter[hashtags][]` collects several. Empty values, and values of
    /// the wrong type (a non-numeric `filter[updated_at]` or
    /// `filter[assigned_agent_id]`), are ignored: the filter is absent.
    pub fn from_query(query: &[(String, String)]) -> Criteria {
        let mut criteria = Criteria::default();
        for (key, value) in query {
            let value = value.trim();
            if key == "includeArchived" {
                criteria.include_archived = value == "1" || value.eq_ignore_ascii_case("true");
                continue;
            }
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "filter[updated_at]" => {
                    if let Ok(since) = value.parse() {
                        criteria.updated_since = Some(since);
                    }
                }
                "filter[assigned_agent_id]" => {
                    if let Ok(agent) = value.parse() {
                        criteria.agent = Some(agent);
                    }
                }
                "filter[hashtags][]" => criteria.hashtags.push(value.to_lowercase()),
                _ => {
                    let field = key
                        .strip_prefix("filter[")
                        .and_then(|k| k.strip_suffix(']'))
                        .and_then(|k| TEXT_FILTERS.iter().find(|f| **f == k));
                    if let Some(field) = field {
                        criteria.text.retain(|(f, _)| f != field);
                        criteria.text.push((field, value.to_lowercase()));
                    }
                }
            }
        }
        criteria
    }

    /// Whether the list shows this version of a contact.
    pub fn matches(&self, fields: &Map<String, Value>, updated_at: i64, archived: bool) -> bool {
        (self.include_archived || !archived)
            && self.updated_since.is_none_or(|since| updated_at >= since)
            && self
                .agent
                .is_none_or(|agent| agent_id(fields.get("assigned_agent_id")).unwrap_or(0) == agent)
            && self.text.iter().all(|(field, prefix)| {
                fields
                    .get(*field)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.trim().to_lowercase().starts_with(prefix.as_str()))
            })
            && (self.hashtags.is_empty() || has_any_tag(fields.get("hashtags"), &self.hashtags))
    }
}

/// Whether a stored `hashtags` (array, or comma list) has one of `wanted`
/// (lower-cased), compared ignoring case.
fn has_any_tag(hashtags: Option<&Value>, wanted: &[String]) -> bool {
    let has = |tag: &str| wanted.contains(&tag.trim().to_lowercase());
    match hashtags {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(has),
        Some(Value::String(list)) => list.split(',').any(has),
        _ => false,
    }
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

    fn finds(criteria: &Criteria, fields: Value) -> bool {
        criteria.matches(&contact(fields), 100, false)
    }

    #[test]
    fn text_filters_match_exactly_or_by_prefix_ignoring_case() {
        let by_email = criteria(&[("filter[email]", "John@Ex.com")]);
        assert!(finds(&by_email, json!({"email": "john@ex.com"})));
        assert!(finds(&by_email, json!({"email": "JOHN@ex.com.au"})));
        assert!(finds(&by_email, json!({"email": "john@ex.community"})));
        assert!(!finds(&by_email, json!({"email": "xjohn@ex.com"})));
        assert!(!finds(&by_email, json!({"email": null})));
        assert!(!finds(&by_email, json!({"second_email": "john@ex.com"})));
        let names = criteria(&[("filter[first_name]", "an"), ("filter[last_name]", "LEE")]);
        assert!(finds(
            &names,
            json!({"first_name": "Ann", "last_name": "Leeds"})
        ));
        assert!(!finds(
            &names,
            json!({"first_name": "Joanne", "last_name": "Lee"})
        ));
        let last_wins = criteria(&[("filter[email]", "a@"), ("filter[email]", "b@")]);
        assert!(finds(&last_wins, json!({"email": "b@ex.com"})));
        assert!(!finds(&last_wins, json!({"email": "a@ex.com"})));
    }

    #[test]
    fn agent_filter_matches_the_number_exactly() {
        let seven = criteria(&[("filter[assigned_agent_id]", "7")]);
        assert!(finds(&seven, json!({"assigned_agent_id": 7})));
        assert!(finds(&seven, json!({"assigned_agent_id": "7"})));
        assert!(!finds(&seven, json!({"assigned_agent_id": 77})));
        assert!(!finds(&seven, json!({"assigned_agent_id": null})));
    }

    #[test]
    fn updated_at_filter_keeps_contacts_updated_at_or_after_it() {
        let since = criteria(&[("filter[updated_at]", "100")]);
        assert!(since.matches(&Map::new(), 100, false));
        assert!(since.matches(&Map::new(), 101, false));
        assert!(!since.matches(&Map::new(), 99, false));
        let not_a_number = criteria(&[("filter[updated_at]", "2024-01-01")]);
        assert!(not_a_number.matches(&Map::new(), 0, false), "ignored");
    }

    #[test]
    fn hashtag_filter_finds_any_of_its_tags() {
        let tags = criteria(&[
            ("filter[hashtags][]", "Buyer"),
            ("filter[hashtags][]", "vip"),
        ]);
        assert!(finds(&tags, json!({"hashtags": ["seller", "buyer"]})));
        assert!(finds(&tags, json!({"hashtags": "x, VIP"})));
        assert!(!finds(&tags, json!({"hashtags": ["buyers"]})));
        assert!(!finds(&tags, json!({"hashtags": []})));
    }

    #[test]
    fn archived_contacts_only_with_include_archived() {
        for (value, included) in [("1", true), ("true", true), ("0", false), ("yes", false)] {
            let archived = criteria(&[("includeArchived", value)]);
            assert_eq!(archived.matches(&Map::new(), 0, true), included, "{value}");
            assert!(archived.matches(&Map::new(), 0, false));
        }
        assert!(!criteria(&[]).matches(&Map::new(), 0, true));
    }

    #[test]
    fn search_phone_and_unknown_filters_are_ignored() {
        for ignored in [
            criteria(&[("search", "2395550100")]),
            criteria(&[("filter[cell_phone_1]", "2395550100")]),
            criteria(&[("filter[phone]", "2395550100")]),
            criteria(&[
                ("filter[id]", "5"),
                ("filter[shoe_size]", "9"),
                ("filter", "x"),
            ]),
            criteria(&[("filter[email]", " ")]),
        ] {
            assert!(finds(
                &ignored,
                json!({"email": "a@ex.com", "cell_phone_1": "1"})
            ));
            assert!(finds(&ignored, json!({})));
        }
    }
}
