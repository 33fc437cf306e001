//! The kvCORE contact fields kvsync writes, and how a `Person` maps onto them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::contact::{Person, PhoneKind, Region, e164_of};

/// A kvCORE main-card field kvsync can write (`sync_fields` names these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    FirstName,
    LastName,
    Email,
    CellPhone1,
    HomePhone,
    WorkPhone,
    PrimaryAddress,
    PrimaryCity,
    PrimaryState,
    PrimaryZip,
    Birthday,
    Hashtags,
    /// kvCORE's contact status, an integer code (SPEC section 7 lists it;
    /// written only through `field_map`, section 12).
    Status,
    /// kvCORE's `deal_type` (written only through `field_map`).
    DealType,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::CellPhone1,
        Field::HomePhone,
        Field::WorkPhone,
        Field::PrimaryAddress,
        Field::PrimaryCity,
        Field::PrimaryState,
        Field::PrimaryZip,
        Field::Birthday,
        Field::Hashtags,
        Field::Status,
        Field::DealType,
    ];

    /// The kvCORE API name of the field.
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::CellPhone1 => "cell_phone_1",
            Field::HomePhone => "home_phone",
            Field::WorkPhone => "work_phone",
            Field::PrimaryAddress => "primary_address",
            Field::PrimaryCity => "primary_city",
            Field::PrimaryState => "primary_state",
            Field::PrimaryZip => "primary_zip",
            Field::Birthday => "birthday",
            Field::Hashtags => "hashtags",
            Field::Status => "status",
            Field::DealType => "deal_type",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn is_phone(self) -> bool {
        matches!(
            self,
            Field::CellPhone1 | Field::HomePhone | Field::WorkPhone
        )
    }
}

/// The values a person gives the kvCORE fields: only non-empty ones.
pub type FieldValues = BTreeMap<Field, Value>;

/// Maps a person onto kvCORE fields. Each phone goes to the field of its
/// kind (the first of a kind wins); phones of other kinds fill what is left
/// of cell, home, work in that order, so a lone "other" number still lands.
pub fn field_values(person: &Person) -> FieldValues {
    let mut values = FieldValues::new();
    let mut put = |field: Field, value: &Option<String>| {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            values.insert(field, Value::String(v.to_string()));
        }
    };
    put(Field::FirstName, &person.first_name);
    put(Field::LastName, &person.last_name);
    put(
        Field::Email,
        &person.primary_email().map(|e| e.as_str().to_string()),
    );
    put(Field::PrimaryAddress, &person.address.street);
    put(Field::PrimaryCity, &person.address.city);
    put(Field::PrimaryState, &person.address.state);
    put(Field::PrimaryZip, &person.address.zip);
    put(Field::Birthday, &person.birthday);

    let slot = |kind: PhoneKind| match kind {
        PhoneKind::Mobile => Some(Field::CellPhone1),
        PhoneKind::Home => Some(Field::HomePhone),
        PhoneKind::Work => Some(Field::WorkPhone),
        PhoneKind::Other => None,
    };
    let mut leftovers = Vec::new();
    for phone in &person.phones {
        match slot(phone.kind) {
            Some(field) if !values.contains_key(&field) => {
                values.insert(field, Value::String(phone.e164.clone()));
            }
            _ => leftovers.push(phone),
        }
    }
    for phone in leftovers {
        let free = [Field::CellPhone1, Field::HomePhone, Field::WorkPhone]
            .into_iter()
            .find(|f| !values.contains_key(f));
        match free {
            Some(field) => {
                values.insert(field, Value::String(phone.e164.clone()));
            }
            None => break,
        }
    }

    if !person.tags.is_empty() {
        values.insert(
            Field::Hashtags,
            Value::Array(person.tags.iter().cloned().map(Value::String).collect()),
        );
    }
    values
}

/// Whether kvCORE's current value of `field` is empty.
pub fn is_empty(current: Option<&Value>) -> bool {
    match current {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// Whether kvCORE's current value already says what the event says, in the
/// field's own sense of equal: phones by E.164, emails and names without
/// regard to case or surrounding space, dates by their first ten characters
/// (kvCORE may answer `1980-04-01 00:00:00`).
pub fn same_value(field: Field, current: Option<&Value>, wanted: &Value, region: Region) -> bool {
    // kvCORE types loosely (SPEC section 7): a status may come back as `1`
    // or `"1"` whichever way it was sent.
    if let (Some(current @ (Value::String(_) | Value::Number(_))), Value::Number(_))
    | (Some(current @ Value::Number(_)), Value::String(_)) = (current, wanted)
    {
        let text = |v: &Value| match v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        return text(current) == text(wanted);
    }
    let (Some(Value::String(current)), Value::String(wanted)) = (current, wanted) else {
        return current == Some(wanted);
    };
    let (current, wanted) = (current.trim(), wanted.trim());
    if field.is_phone() {
        return e164_of(current, region).as_deref() == Some(wanted);
    }
    match field {
        Field::Birthday => current.get(..10).unwrap_or(current) == wanted,
        Field::Email => current.eq_ignore_ascii_case(wanted),
        _ => current == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Address, Email, Phone};
    use serde_json::json;

    fn us() -> Region {
        Region::default()
    }

    fn phone(raw: &str, kind: PhoneKind) -> Phone {
        Phone::parse(raw, us(), kind).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
        assert_eq!(Field::from_name("second_email"), None);
    }

    #[test]
    fn a_person_maps_onto_main_card_fields() {
        let person = Person {
            first_name: Some(" John ".into()),
            last_name: Some("Smith".into()),
            emails: vec![Email::parse("john@example.com").unwrap()],
            phones: vec![
                phone("239-555-0100", PhoneKind::Mobile),
                phone("239-555-0101", PhoneKind::Work),
            ],
            address: Address {
                street: Some("1 Main St".into()),
                city: Some("Naples".into()),
                state: Some("FL".into()),
                zip: Some("34102".into()),
            },
            birthday: Some("1980-04-01".into()),
            tags: vec!["buyer".into()],
            ..Person::default()
        };
        let values = field_values(&person);
        assert_eq!(values[&Field::FirstName], json!("John"));
        assert_eq!(values[&Field::Email], json!("john@example.com"));
        assert_eq!(values[&Field::CellPhone1], json!("+12395550100"));
        assert_eq!(values[&Field::WorkPhone], json!("+12395550101"));
        assert!(!values.contains_key(&Field::HomePhone));
        assert_eq!(values[&Field::PrimaryZip], json!("34102"));
        assert_eq!(values[&Field::Hashtags], json!(["buyer"]));
    }

    #[test]
    fn empty_values_are_left_out() {
        let person = Person {
            first_name: Some("  ".into()),
            ..Person::default()
        };
        assert!(field_values(&person).is_empty());
    }

    #[test]
    fn phones_of_other_kinds_fill_free_slots_in_order() {
        let person = Person {
            phones: vec![
                phone("239-555-0100", PhoneKind::Other),
                phone("239-555-0101", PhoneKind::Mobile),
                phone("239-555-0102", PhoneKind::Mobile),
            ],
            ..Person::default()
        };
        let values = field_values(&person);
        assert_eq!(values[&Field::CellPhone1], json!("+12395550101"));
        assert_eq!(values[&Field::HomePhone], json!("+12395550100"));
        assert_eq!(values[&Field::WorkPhone], json!("+12395550102"));
    }

    #[test]
    fn equality_follows_the_field() {
        let region = us();
        assert!(same_value(
            Field::CellPhone1,
            Some(&json!("(239) 555-0100")),
            &json!("+12395550100"),
            region
        ));
        assert!(!same_value(
            Field::CellPhone1,
            Some(&json!("(239) 555-0199")),
            &json!("+12395550100"),
            region
        ));
        assert!(same_value(
            Field::Email,
            Some(&json!("John@Example.com")),
            &json!("john@example.com"),
            region
        ));
        assert!(same_value(
            Field::Birthday,
            Some(&json!("1980-04-01 00:00:00")),
            &json!("1980-04-01"),
            region
        ));
        assert!(!same_value(
            Field::FirstName,
            Some(&json!("john")),
            &json!("John"),
            region
        ));
        assert!(!same_value(Field::FirstName, None, &json!("John"), region));
    }

    #[test]
    fn emptiness() {
        assert!(is_empty(None));
        assert!(is_empty(Some(&Value::Null)));
        assert!(is_empty(Some(&json!(" "))));
        assert!(is_empty(Some(&json!([]))));
        assert!(!is_empty(Some(&json!("x"))));
    }
}
