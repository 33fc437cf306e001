//! A workflow's `field_map` (SPEC section 12): where each kvCORE field's
//! value comes from, over the built-in mapping of section 5
//! (`fields::field_values`). Read from the console's M of S/L/M and applied
//! to a person with no I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::contact::{Person, Phone, PhoneKind, Region};
use crate::domain::fields::{Field, FieldValues, field_values};
use crate::domain::filters::scalar;
use crate::domain::paths::{Path, mistake, nearest, read_path};
use crate::domain::settings::{Attr, SettingsError, Source};
use crate::domain::sources::dates;

/// kvCORE field → rule; a field without a rule keeps the built-in mapping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldMap {
    pub rules: BTreeMap<Field, Rule>,
}

/// Where one kvCORE field's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `"path"` or `["path", ...]`: the first path with a non-empty value.
    Paths(Vec<Path>),
    /// `{"from": <path or list>, "map": {<source value>: <kvCORE value>},
    /// "default": <value>}`. Keys are compared trimmed and lower-cased.
    Map {
        from: Vec<Path>,
        map: BTreeMap<String, Value>,
        default: Option<Value>,
    },
    /// `{"value": <value>}`.
    Static(Value),
}

/// A person's kvCORE values under a workflow's mapping, and what the
/// mapping left out and why (said back in the person's result).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    pub values: FieldValues,
    pub notes: Vec<String>,
}

impl FieldMap {
    /// Every path the rules read.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.rules.values().flat_map(|rule| match rule {
            Rule::Paths(paths) | Rule::Map { from: paths, .. } => paths.as_slice(),
            Rule::Static(_) => &[],
        })
    }

    /// The built-in values with each rule's field replaced by what the rule
    /// finds: nothing found leaves the field out (never blanked in kvCORE,
    /// SPEC section 6). Phones are written E.164 (read in `region` when
    /// they have no country code), birthdays `YYYY-MM-DD`, `status` as the
    /// map or static value gives it (a number stays a number).
    pub fn apply(&self, person: &Person, region: Region) -> Mapped {
        let mut mapped = Mapped {
            values: field_values(person),
            notes: Vec::new(),
        };
        for (field, rule) in &self.rules {
            mapped.values.remove(field);
            let raw = match rule {
                Rule::Static(value) => Some(value.clone()),
                Rule::Paths(paths) => first_found(paths, person),
                Rule::Map { from, map, default } => match first_found(from, person) {
                    None => None,
                    Some(found) => {
                        let key = key_of(&found);
                        match map.get(&key).or(default.as_ref()) {
                            Some(value) => Some(value.clone()),
                            None => {
                                mapped.notes.push(format!(
                                    "field_map.{}: {found} is not in the map and there is no default; {} was left out",
                                    field.name(),
                                    field.name()
                                ));
                                None
                            }
                        }
                    }
                },
            };
            let Some(raw) = raw else { continue };
            match fit(*field, raw, region) {
                Ok(value) => {
                    mapped.values.insert(*field, value);
                }
                Err(problem) => mapped.notes.push(format!(
                    "field_map.{}: {problem}; it was left out",
                    field.name()
                )),
            }
        }
        mapped
    }
}

/// The first path's non-empty value; a list gives its first non-empty
/// element (every element for `hashtags`, see `fit`).
fn first_found(paths: &[Path], person: &Person) -> Option<Value> {
    paths.iter().find_map(|path| match path.resolve(person) {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::Array(items) if items.is_empty() => None,
        other => Some(other),
    })
}

fn key_of(found: &Value) -> String {
    match found {
        Value::String(s) => s.trim().to_lowercase(),
        Value::Array(items) => items.first().map(key_of).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items.iter().find_map(text_of),
        _ => None,
    }
}

/// A found value in the shape kvCORE's field takes.
fn fit(field: Field, raw: Value, region: Region) -> Result<Value, String> {
    if field == Field::Hashtags {
        let tags: Vec<Value> = match raw {
            Value::Array(items) => items
                .iter()
                .filter_map(text_of)
                .map(Value::String)
                .collect(),
            one => text_of(&one).map(Value::String).into_iter().collect(),
        };
        return Ok(Value::Array(tags));
    }
    if field == Field::Status
        && let Value::Number(_) = raw
    {
        return Ok(raw);
    }
    let text =
        text_of(&raw).ok_or_else(|| "the value found is not text or a number".to_string())?;
    if field.is_phone() {
        return Phone::parse(&text, region, PhoneKind::Other)
            .map(|phone| Value::String(phone.e164))
            .map_err(|problem| format!("the value found {problem}"));
    }
    if field == Field::Birthday {
        return dates::calendar_date(text.get(..10).unwrap_or(&text))
            .map(Value::String)
            .ok_or_else(|| "the value found is not a YYYY-MM-DD date".to_string());
    }
    Ok(Value::String(text))
}

const RULE_KEYS: [&str; 4] = ["from", "map", "default", "value"];

/// Reads `field_map` (M) for a workflow of `source`. Each mistake names
/// `field_map.<kvCORE field>` (with `[i]` or `.map.<key>` below it), what
/// was expected, what was found, and the nearest valid choice.
pub fn parse(workflow_id: &str, source: Source, attr: &Attr) -> Result<FieldMap, SettingsError> {
    let Attr::M(entries) = attr else {
        return Err(mistake(
            workflow_id,
            "field_map",
            "a map (M) from kvCORE field to a path (S), a list of paths (L) or a rule (M)",
            attr,
            None,
        ));
    };
    let names: Vec<&str> = Field::ALL
        .iter()
        .map(|f| f.name())
        .filter(|n| *n != "email")
        .collect();
    let mut rules = BTreeMap::new();
    for (name, rule) in entries {
        let at = format!("field_map.{name}");
        let field = Field::from_name(name.trim()).filter(|f| *f != Field::Email);
        let Some(field) = field else {
            let expected = if name.trim() == "email" {
                "a kvCORE field other than email (the email is what kvCORE is matched on: it comes from the person's emails)".to_string()
            } else {
                format!("a kvCORE field kvsync writes: {}", names.join(", "))
            };
            return Err(mistake(
                workflow_id,
                &at,
                &expected,
                &Attr::S(name.clone()),
                Some(nearest(name, &names)),
            ));
        };
        rules.insert(field, read_rule(workflow_id, source, &at, field, rule)?);
    }
    Ok(FieldMap { rules })
}

fn read_rule(
    workflow_id: &str,
    source: Source,
    at: &str,
    field: Field,
    attr: &Attr,
) -> Result<Rule, SettingsError> {
    match attr {
        Attr::S(_) | Attr::L(_) => Ok(Rule::Paths(read_paths(workflow_id, source, at, attr)?)),
        Attr::M(entries) => {
            if let Some(unknown) = entries.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
                return Err(mistake(
                    workflow_id,
                    &format!("{at}.{unknown}"),
                    "one of the keys from, map, default (a value map) or value (a static value)",
                    &Attr::S(unknown.clone()),
                    Some(nearest(unknown, &RULE_KEYS)),
                ));
            }
            if let Some(value) = entries.get("value") {
                if let Some(other) = ["from", "map", "default"]
                    .iter()
                    .find(|k| entries.contains_key(**k))
                {
                    return Err(mistake(
                        workflow_id,
                        &format!("{at}.{other}"),
                        "absent beside \"value\" (a static value takes no from, map or default)",
                        &entries[*other],
                        None,
                    ));
                }
                return Ok(Rule::Static(static_value(
                    workflow_id,
                    &format!("{at}.value"),
                    field,
                    value,
                )?));
            }
            let from = entries.get("from").unwrap_or(&Attr::Null);
            let from = read_paths(workflow_id, source, &format!("{at}.from"), from)?;
            let map = match entries.get("map") {
                None | Some(Attr::Null) => BTreeMap::new(),
                Some(Attr::M(pairs)) => pairs
                    .iter()
                    .map(|(key, value)| {
                        let value =
                            static_value(workflow_id, &format!("{at}.map.{key}"), field, value)?;
                        Ok((key.trim().to_lowercase(), value))
                    })
                    .collect::<Result<_, SettingsError>>()?,
                Some(other) => {
                    return Err(mistake(
                        workflow_id,
                        &format!("{at}.map"),
                        "a map (M) from source value to kvCORE value",
                        other,
                        None,
                    ));
                }
            };
            let default = match entries.get("default") {
                None | Some(Attr::Null) => None,
                Some(value) => Some(static_value(
                    workflow_id,
                    &format!("{at}.default"),
                    field,
                    value,
                )?),
            };
            if map.is_empty() && default.is_none() {
                return Err(mistake(
                    workflow_id,
                    &format!("{at}.map"),
                    "a map (M) from source value to kvCORE value (a rule with from needs a map or a default)",
                    entries.get("map").unwrap_or(&Attr::Null),
                    None,
                ));
            }
            Ok(Rule::Map { from, map, default })
        }
        other => Err(mistake(
            workflow_id,
            at,
            "a path (S), a list of paths (L), or a rule (M) with from/map/default or value",
            other,
            None,
        )),
    }
}

/// One path (S) or a priority list of paths (L of S, not empty).
fn read_paths(
    workflow_id: &str,
    source: Source,
    at: &str,
    attr: &Attr,
) -> Result<Vec<Path>, SettingsError> {
    match attr {
        Attr::L(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| read_path(workflow_id, &format!("{at}[{i}]"), item, source))
            .collect(),
        Attr::L(_) => Err(mistake(
            workflow_id,
            at,
            "a non-empty list (L) of paths",
            attr,
            None,
        )),
        _ => Ok(vec![read_path(workflow_id, at, attr, source)?]),
    }
}

/// A value written as is: text, or a number for `status`; a list of tag
/// names for `hashtags`.
fn static_value(
    workflow_id: &str,
    at: &str,
    field: Field,
    attr: &Attr,
) -> Result<Value, SettingsError> {
    let value = match (field, attr) {
        (Field::Hashtags, Attr::L(items)) => items
            .iter()
            .map(|item| match item {
                Attr::S(s) => Some(Value::String(s.trim().to_string())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        (Field::Hashtags, Attr::Ss(items)) => {
            Some(items.iter().cloned().map(Value::String).collect())
        }
        (Field::Status, Attr::N(_)) => scalar(attr),
        (_, Attr::S(s)) if !s.trim().is_empty() => scalar(attr),
        (_, Attr::N(n)) => Some(Value::String(n.trim().to_string())),
        _ => None,
    };
    value.ok_or_else(|| {
        let expected = match field {
            Field::Hashtags => "a tag name (S) or a list of them (L or SS)",
            Field::Status => "a kvCORE status code (N) or text (S)",
            _ => "a non-empty string (S) or a number (N)",
        };
        mistake(workflow_id, at, expected, attr, None)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::domain::contact::{Email, SourceRecord};

    fn s(text: &str) -> Attr {
        Attr::S(text.into())
    }

    fn m(pairs: &[(&str, Attr)]) -> Attr {
        Attr::M(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn person() -> Person {
        let us = Region::default();
        Person {
            first_name: Some("Ann".into()),
            emails: vec![Email::parse("ann@example.com").unwrap()],
            phones: vec![
                Phone::parse("239-555-0101", us, PhoneKind::Work).unwrap(),
                Phone::parse("239-555-0100", us, PhoneKind::Home).unwrap(),
            ],
            source_record: Some(Arc::new(SourceRecord::new(json!({
                "stage": "Hot Prospect", "customLeadType": "Buyer",
                "customMobile": "(239) 555-0199", "customBirthday": "1980-04-01T00:00:00Z",
                "customTags": ["a", " b "]
            })))),
            ..Person::default()
        }
    }

    fn apply(map: Attr) -> Mapped {
        parse("wf", Source::FollowUpBoss, &map)
            .unwrap()
            .apply(&person(), Region::default())
    }

    #[test]
    fn without_rules_the_built_in_mapping_stands() {
        let mapped = apply(m(&[]));
        assert_eq!(mapped.values, field_values(&person()));
        assert!(mapped.notes.is_empty());
    }

    #[test]
    fn every_rule_shape() {
        let stage_map = m(&[
            ("from", s("source.stage")),
            (
                "map",
                m(&[
                    ("hot prospect", Attr::N("4".into())),
                    ("Trash", Attr::N("6".into())),
                ]),
            ),
            ("default", Attr::N("0".into())),
        ]);
        let mapped = apply(m(&[
            ("deal_type", s("source.customLeadType")),
            (
                "cell_phone_1",
                Attr::L(vec![s("phone.mobile"), s("phone.work")]),
            ),
            ("work_phone", s("source.customMobile")),
            ("status", stage_map),
            ("primary_city", m(&[("value", s("Naples"))])),
            ("birthday", s("source.customBirthday")),
            ("hashtags", s("source.customTags")),
            ("last_name", s("source.customNothing")),
        ]));
        let v = &mapped.values;
        assert_eq!(v[&Field::DealType], json!("Buyer"));
        assert_eq!(
            v[&Field::CellPhone1],
            json!("+12395550101"),
            "mobile, else work"
        );
        assert_eq!(v[&Field::WorkPhone], json!("+12395550199"), "written E.164");
        assert_eq!(
            v[&Field::Status],
            json!(4),
            "keys ignore case; numbers stay numbers"
        );
        assert_eq!(v[&Field::PrimaryCity], json!("Naples"));
        assert_eq!(v[&Field::Birthday], json!("1980-04-01"));
        assert_eq!(v[&Field::Hashtags], json!(["a", "b"]));
        assert_eq!(
            v[&Field::HomePhone],
            json!("+12395550100"),
            "unmapped: built-in"
        );
        assert_eq!(v[&Field::FirstName], json!("Ann"));
        assert!(!v.contains_key(&Field::LastName), "nothing found: left out");
        assert!(mapped.notes.is_empty(), "{:?}", mapped.notes);
    }

    #[test]
    fn a_value_outside_the_map_uses_the_default_or_is_left_out_and_said() {
        let rule = |default: Option<Attr>| {
            let mut pairs = vec![
                ("from", s("source.stage")),
                ("map", m(&[("Lead", Attr::N("0".into()))])),
            ];
            if let Some(d) = default {
                pairs.push(("default", d));
            }
            m(&[("status", m(&pairs))])
        };
        assert_eq!(
            apply(rule(Some(Attr::N("3".into())))).values[&Field::Status],
            json!(3)
        );
        let mapped = apply(rule(None));
        assert!(!mapped.values.contains_key(&Field::Status));
        assert_eq!(
            mapped.notes,
            [
                "field_map.status: \"Hot Prospect\" is not in the map and there is no default; status was left out"
            ]
        );
    }

    #[test]
    fn a_value_that_does_not_fit_is_left_out_and_said() {
        let mapped = apply(m(&[
            ("home_phone", s("source.stage")),
            ("birthday", s("source.stage")),
        ]));
        assert!(!mapped.values.contains_key(&Field::HomePhone));
        assert!(!mapped.values.contains_key(&Field::Birthday));
        assert_eq!(mapped.notes.len(), 2, "{:?}", mapped.notes);
        assert!(mapped.notes[0].starts_with("field_map.home_phone: the value found"));
    }

    #[test]
    fn every_mistake_names_its_place_and_the_nearest_choice() {
        let cases: Vec<(Attr, &str, &str)> = vec![
            (Attr::L(vec![]), "field_map", "a map (M)"),
            (
                m(&[("stauts", s("source.stage"))]),
                "field_map.stauts",
                "did you mean \"status\"?",
            ),
            (
                m(&[("email", s("source.emails"))]),
                "field_map.email",
                "other than email",
            ),
            (
                m(&[("status", Attr::Bool(true))]),
                "field_map.status",
                "a path (S), a list of paths (L)",
            ),
            (
                m(&[(
                    "cell_phone_1",
                    Attr::L(vec![s("phone.mobile"), s("phone.wrok")]),
                )]),
                "field_map.cell_phone_1[1]",
                "did you mean \"phone.work\"?",
            ),
            (
                m(&[("cell_phone_1", Attr::L(vec![]))]),
                "field_map.cell_phone_1",
                "non-empty list",
            ),
            (
                m(&[("status", m(&[("form", s("source.stage"))]))]),
                "field_map.status.form",
                "did you mean \"from\"?",
            ),
            (
                m(&[("status", m(&[("map", m(&[("Lead", Attr::N("1".into()))]))]))]),
                "field_map.status.from",
                "a path (S)",
            ),
            (
                m(&[("status", m(&[("from", s("source.stage"))]))]),
                "field_map.status.map",
                "needs a map or a default",
            ),
            (
                m(&[(
                    "status",
                    m(&[
                        ("from", s("source.stage")),
                        ("map", m(&[("Lead", Attr::Bool(true))])),
                    ]),
                )]),
                "field_map.status.map.Lead",
                "a kvCORE status code (N)",
            ),
            (
                m(&[("status", m(&[("from", s("source.stage")), ("map", s("x"))]))]),
                "field_map.status.map",
                "a map (M)",
            ),
            (
                m(&[(
                    "deal_type",
                    m(&[("value", s("Buyer")), ("from", s("source.type"))]),
                )]),
                "field_map.deal_type.from",
                "absent beside",
            ),
            (
                m(&[("deal_type", m(&[("value", s(" "))]))]),
                "field_map.deal_type.value",
                "a non-empty string",
            ),
            (
                m(&[(
                    "hashtags",
                    m(&[("value", Attr::L(vec![Attr::N("1".into())]))]),
                )]),
                "field_map.hashtags.value",
                "a tag name",
            ),
            (
                m(&[("deal_type", s("source.stag"))]),
                "field_map.deal_type",
                "did you mean \"source.stage\"?",
            ),
        ];
        for (attr, attribute, says) in cases {
            let err = parse("wf", Source::FollowUpBoss, &attr).unwrap_err();
            assert_eq!(err.attribute, attribute, "{err}");
            assert!(err.to_string().contains(says), "{err} should say {says}");
        }
    }
}
