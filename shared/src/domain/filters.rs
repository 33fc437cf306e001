//! A workflow's `filters` (SPEC section 12): conditions every synced person
//! must meet, read from the console's L of M and evaluated on a person with
//! no I/O. A person who fails one is skipped `filtered_out` before any
//! kvCORE request (`plan::precheck`).

use std::cmp::Ordering;

use serde_json::Value;

use crate::domain::contact::Person;
use crate::domain::paths::{Path, mistake, nearest, read_path};
use crate::domain::settings::{Attr, SettingsError, Source};
use crate::domain::sources::dates;

/// One condition: `{"field": <path>, "op": <op>, "value": <value>}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: Path,
    pub op: Op,
    /// A string, number or boolean; a list for `in`/`not_in`; `Null` for
    /// `exists`/`missing`.
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Contains,
    NotContains,
    Exists,
    Missing,
    GreaterThan,
    LessThan,
}

const OPS: [(&str, Op); 10] = [
    ("equals", Op::Equals),
    ("not_equals", Op::NotEquals),
    ("in", Op::In),
    ("not_in", Op::NotIn),
    ("contains", Op::Contains),
    ("not_contains", Op::NotContains),
    ("exists", Op::Exists),
    ("missing", Op::Missing),
    ("greater_than", Op::GreaterThan),
    ("less_than", Op::LessThan),
];

const KEYS: [&str; 3] = ["field", "op", "value"];

impl Op {
    pub fn name(self) -> &'static str {
        OPS.iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(name, _)| name)
    }
}

impl Filter {
    /// Whether the person meets the condition. Strings compare ignoring
    /// case and surrounding spaces; a number compares with a number or a
    /// numeric string; on a list (`tags`, `phone`, `source.labels`),
    /// `equals`, `in` and `contains` hold when one element does. A person
    /// without the value fails `equals`, `in`, `contains`, `exists` and the
    /// comparisons, and meets their negations and `missing`.
    pub fn holds(&self, person: &Person) -> bool {
        let found = self.field.resolve(person);
        let any = |test: &dyn Fn(&Value) -> bool| match &found {
            Value::Array(items) => items.iter().any(test),
            Value::Null => false,
            one => test(one),
        };
        match self.op {
            Op::Equals => any(&|v| same(v, &self.value)),
            Op::NotEquals => !any(&|v| same(v, &self.value)),
            Op::In => any(&|v| in_list(v, &self.value)),
            Op::NotIn => !any(&|v| in_list(v, &self.value)),
            Op::Contains => contains(&found, &self.value),
            Op::NotContains => !contains(&found, &self.value),
            Op::Exists => !is_blank(&found),
            Op::Missing => is_blank(&found),
            Op::GreaterThan => any(&|v| compare(v, &self.value) == Some(Ordering::Greater)),
            Op::LessThan => any(&|v| compare(v, &self.value) == Some(Ordering::Less)),
        }
    }
}

/// The index of the first condition the person fails, if any.
pub fn first_failed(filters: &[Filter], person: &Person) -> Option<usize> {
    filters.iter().position(|filter| !filter.holds(person))
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.iter().all(is_blank),
        _ => false,
    }
}

/// Text as compared: trimmed and lower-cased; numbers and booleans as written.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn same(found: &Value, wanted: &Value) -> bool {
    if let (Some(a), Some(b)) = (number(found), number(wanted))
        && (found.is_number() || wanted.is_number())
    {
        return a == b;
    }
    text(found).is_some() && text(found) == text(wanted)
}

fn in_list(found: &Value, list: &Value) -> bool {
    list.as_array()
        .is_some_and(|items| items.iter().any(|w| same(found, w)))
}

/// A list holds the value, or a string contains it.
fn contains(found: &Value, wanted: &Value) -> bool {
    match found {
        Value::Array(items) => items.iter().any(|v| same(v, wanted)),
        Value::String(s) => text(wanted).is_some_and(|w| s.to_lowercase().contains(&w)),
        _ => false,
    }
}

/// Numbers with numbers; ISO dates (`YYYY-MM-DD` or RFC 3339) with dates.
fn compare(found: &Value, wanted: &Value) -> Option<Ordering> {
    if wanted.is_number() {
        return number(found)?.partial_cmp(&number(wanted)?);
    }
    Some(instant_ms(found)?.cmp(&instant_ms(wanted)?))
}

/// An ISO date or time as unix ms (a date is its midnight, UTC).
fn instant_ms(value: &Value) -> Option<i64> {
    let text = value.as_str()?.trim();
    if let Some(date) = dates::calendar_date(text) {
        let with_time = Value::String(format!("{date}T00:00:00Z"));
        return dates::timestamp_ms(&with_time);
    }
    dates::timestamp_ms(&Value::String(text.to_string()))
}

/// Reads `filters` (L of M) for a workflow of `source`. Each mistake names
/// `filters[i].<key>`, what was expected, what was found and the nearest
/// valid choice.
pub fn parse(workflow_id: &str, source: Source, attr: &Attr) -> Result<Vec<Filter>, SettingsError> {
    let Attr::L(items) = attr else {
        return Err(mistake(
            workflow_id,
            "filters",
            "a list (L) of conditions, each a map (M) {\"field\", \"op\", \"value\"}",
            attr,
            None,
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| condition(workflow_id, source, &format!("filters[{i}]"), item))
        .collect()
}

fn condition(
    workflow_id: &str,
    source: Source,
    at: &str,
    item: &Attr,
) -> Result<Filter, SettingsError> {
    let fail = |key: &str, expected: &str, found: &Attr, near: Option<&str>| {
        mistake(workflow_id, &format!("{at}{key}"), expected, found, near)
    };
    let Attr::M(entries) = item else {
        return Err(fail(
            "",
            "a map (M) {\"field\", \"op\", \"value\"}",
            item,
            None,
        ));
    };
    if let Some(unknown) = entries.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(fail(
            &format!(".{unknown}"),
            "one of the keys field, op, value",
            &Attr::S(unknown.clone()),
            Some(nearest(unknown, &KEYS)),
        ));
    }
    let field_attr = entries.get("field").unwrap_or(&Attr::Null);
    let field = read_path(workflow_id, &format!("{at}.field"), field_attr, source)?;
    let op_attr = entries.get("op").unwrap_or(&Attr::Null);
    let names: Vec<&str> = OPS.iter().map(|(name, _)| *name).collect();
    let op_expected = format!("one of {} (S)", names.join(", "));
    let op = match op_attr {
        Attr::S(name) => OPS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, op)| *op)
            .ok_or_else(|| fail(".op", &op_expected, op_attr, Some(nearest(name, &names))))?,
        other => return Err(fail(".op", &op_expected, other, None)),
    };
    let value_attr = entries.get("value").unwrap_or(&Attr::Null);
    let value = operand(op, value_attr)
        .ok_or_else(|| fail(".value", expected_value(op), value_attr, None))?;
    Ok(Filter { field, op, value })
}

fn expected_value(op: Op) -> &'static str {
    match op {
        Op::In | Op::NotIn => "a list (L, SS or NS) of strings or numbers",
        Op::Exists | Op::Missing => "no value (exists and missing take none)",
        Op::GreaterThan | Op::LessThan => {
            "a number (N) or an ISO date (S, \"2026-01-31\" or \"2026-01-31T12:00:00Z\")"
        }
        _ => "a string (S), number (N) or boolean (BOOL)",
    }
}

/// The condition's value as `op` needs it; `None` when it has the wrong type.
fn operand(op: Op, attr: &Attr) -> Option<Value> {
    match op {
        Op::Exists | Op::Missing => matches!(attr, Attr::Null).then_some(Value::Null),
        Op::In | Op::NotIn => match attr {
            Attr::L(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Attr::Ss(items) => Some(items.iter().cloned().map(Value::String).collect()),
            Attr::Ns(items) => items
                .iter()
                .map(|n| scalar(&Attr::N(n.clone())))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            _ => None,
        },
        Op::GreaterThan | Op::LessThan => match attr {
            Attr::N(_) => scalar(attr),
            Attr::S(s) => {
                let value = Value::String(s.trim().to_string());
                instant_ms(&value).map(|_| value)
            }
            _ => None,
        },
        _ => scalar(attr),
    }
}

/// A console scalar (S, N, BOOL) as JSON.
pub(crate) fn scalar(attr: &Attr) -> Option<Value> {
    match attr {
        Attr::S(s) => Some(Value::String(s.trim().to_string())),
        Attr::N(n) => {
            let n = n.trim();
            n.parse::<i64>().map(Value::from).ok().or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            })
        }
        Attr::Bool(b) => Some(Value::Bool(*b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::domain::contact::SourceRecord;

    fn fub(stage: Value) -> Person {
        Person {
            tags: vec!["Buyer".into(), "VIP".into()],
            source_record: Some(Arc::new(SourceRecord::new(json!({
                "stage": stage, "price": "450000", "created": "2026-03-01T10:00:00Z",
                "customCloseDate": "2026-06-30", "background": "Met at the Open House"
            })))),
            ..Person::default()
        }
    }

    fn m(pairs: &[(&str, Attr)]) -> Attr {
        Attr::M(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn s(text: &str) -> Attr {
        Attr::S(text.into())
    }

    fn filter(field: &str, op: &str, value: Attr) -> Filter {
        let item = m(&[("field", s(field)), ("op", s(op)), ("value", value)]);
        parse("wf", Source::FollowUpBoss, &Attr::L(vec![item]))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn every_op_on_every_kind_of_value() {
        let lead = fub(json!("Lead"));
        let n = |v: &str| Attr::N(v.into());
        let list = |items: &[&str]| Attr::L(items.iter().map(|i| s(i)).collect());
        let cases: Vec<(&str, &str, Attr, bool)> = vec![
            ("source.stage", "equals", s(" lead "), true),
            ("source.stage", "equals", s("Trash"), false),
            ("source.stage", "not_equals", s("Trash"), true),
            ("source.stage", "not_equals", s("LEAD"), false),
            ("source.stage", "in", list(&["Lead", "Prospect"]), true),
            ("source.stage", "in", Attr::Ss(vec!["Trash".into()]), false),
            ("source.stage", "not_in", list(&["Trash", "Closed"]), true),
            ("source.stage", "not_in", list(&["lead"]), false),
            ("tags", "contains", s("vip"), true),
            ("tags", "contains", s("seller"), false),
            ("tags", "equals", s("buyer"), true),
            ("tags", "not_contains", s("seller"), true),
            ("source.background", "contains", s("open house"), true),
            ("source.background", "not_contains", s("open house"), false),
            ("source.stage", "exists", Attr::Null, true),
            ("source.dealStatus", "exists", Attr::Null, false),
            ("source.dealStatus", "missing", Attr::Null, true),
            ("source.stage", "missing", Attr::Null, false),
            ("source.price", "greater_than", n("400000"), true),
            ("source.price", "less_than", n("400000"), false),
            ("source.price", "equals", n("450000"), true),
            ("source.created", "greater_than", s("2026-01-01"), true),
            (
                "source.created",
                "less_than",
                s("2026-03-01T09:00:00Z"),
                false,
            ),
            ("source.customCloseDate", "less_than", s("2026-07-01"), true),
        ];
        for (field, op, value, expected) in cases {
            let f = filter(field, op, value.clone());
            assert_eq!(f.holds(&lead), expected, "{field} {op} {value:?}");
        }
    }

    #[test]
    fn a_person_without_the_value_fails_positive_ops_and_meets_negations() {
        let bare = Person::default();
        for (op, value, expected) in [
            ("equals", s("Trash"), false),
            ("not_equals", s("Trash"), true),
            ("in", Attr::L(vec![s("Trash")]), false),
            ("not_in", Attr::L(vec![s("Trash")]), true),
            ("contains", s("x"), false),
            ("not_contains", s("x"), true),
            ("greater_than", Attr::N("1".into()), false),
            ("less_than", Attr::N("1".into()), false),
        ] {
            let f = filter("source.stage", op, value);
            assert_eq!(f.holds(&bare), expected, "{op}");
        }
    }

    #[test]
    fn the_first_failed_condition_is_named() {
        let trash = fub(json!("Trash"));
        let filters = vec![
            filter("tags", "contains", s("buyer")),
            filter("source.stage", "not_equals", s("Trash")),
        ];
        assert_eq!(first_failed(&filters, &trash), Some(1));
        assert_eq!(first_failed(&filters, &fub(json!("Lead"))), None);
        assert_eq!(first_failed(&[], &trash), None);
    }

    fn error(source: Source, attr: Attr) -> SettingsError {
        parse("wf", source, &attr).unwrap_err()
    }

    #[test]
    fn every_mistake_names_its_place_and_the_nearest_choice() {
        let good = |op: &str, value: Attr| {
            m(&[
                ("field", s("source.stage")),
                ("op", s(op)),
                ("value", value),
            ])
        };
        let cases: Vec<(Attr, &str, &str)> = vec![
            (s("stage"), "filters", "a list (L)"),
            (Attr::L(vec![s("x")]), "filters[0]", "a map (M)"),
            (
                Attr::L(vec![good("equals", s("a")), good("not_equal", s("Trash"))]),
                "filters[1].op",
                "did you mean \"not_equals\"?",
            ),
            (
                Attr::L(vec![m(&[
                    ("field", s("source.stage")),
                    ("op", Attr::N("1".into())),
                ])]),
                "filters[0].op",
                "found N \"1\"",
            ),
            (
                Attr::L(vec![m(&[
                    ("feild", s("source.stage")),
                    ("op", s("exists")),
                ])]),
                "filters[0].feild",
                "did you mean \"field\"?",
            ),
            (
                Attr::L(vec![m(&[("field", s("source.stag")), ("op", s("exists"))])]),
                "filters[0].field",
                "did you mean \"source.stage\"?",
            ),
            (
                Attr::L(vec![m(&[("op", s("exists"))])]),
                "filters[0].field",
                "found NULL",
            ),
            (
                Attr::L(vec![good("in", s("Trash"))]),
                "filters[0].value",
                "a list (L, SS or NS)",
            ),
            (
                Attr::L(vec![good("greater_than", s("soon"))]),
                "filters[0].value",
                "an ISO date",
            ),
            (
                Attr::L(vec![good("exists", s("yes"))]),
                "filters[0].value",
                "no value",
            ),
            (
                Attr::L(vec![good("equals", Attr::L(vec![]))]),
                "filters[0].value",
                "a string (S), number (N) or boolean",
            ),
        ];
        for (attr, attribute, says) in cases {
            let err = error(Source::FollowUpBoss, attr);
            assert_eq!(err.attribute, attribute, "{err}");
            assert_eq!(err.workflow_id, "wf");
            assert!(err.to_string().contains(says), "{err} should say {says}");
        }
    }

    #[test]
    fn google_labels_and_generic_keys() {
        let label = m(&[
            ("field", s("source.labels")),
            ("op", s("contains")),
            ("value", s("clients")),
        ]);
        let filters = parse("wf", Source::Google, &Attr::L(vec![label])).unwrap();
        let mut person = Person::default();
        assert!(!filters[0].holds(&person), "no labels: outside");
        person.source_record = Some(Arc::new(SourceRecord {
            value: json!({}),
            labels: vec!["myContacts".into(), "Clients".into()],
        }));
        assert!(filters[0].holds(&person));
        let nested = m(&[
            ("field", s("source.lead.kind")),
            ("op", s("equals")),
            ("value", s("buyer")),
        ]);
        let filters = parse("wf", Source::Generic, &Attr::L(vec![nested])).unwrap();
        person.source_record = Some(Arc::new(SourceRecord::new(
            json!({"lead": {"kind": "Buyer"}}),
        )));
        assert!(filters[0].holds(&person));
    }
}
