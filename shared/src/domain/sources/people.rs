//! Building a `Person` from a source's entries: emails and phones are
//! normalized and deduplicated, and an entry that cannot be used is left out
//! and said back in `problems` (never matched on, never sent to kvCORE).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::domain::addresses::addresses;
use crate::domain::contact::{Person, Phone, PhoneKind, Region, SourceRecord};

use super::json::{Obj, PayloadError, element_object};

/// Keeps the source's own record of the person (its JSON object as the
/// source sent it, and for Google its contact group resource names), for
/// `source.<path>` in `filters` and `field_map` (SPEC section 12).
pub fn keep_record(person: &mut Person, record: &Map<String, Value>, labels: Vec<String>) {
    person.source_record = Some(Arc::new(SourceRecord {
        value: Value::Object(record.clone()),
        labels,
    }));
}

/// Adds every email address the value written at `path` holds (SPEC
/// section 5: `Jane Doe <jane@example.com>`, `mailto:`, several separated
/// by `,` or `;`, each in order); a part with no address in it is left
/// out and said in `problems`, without repeating it.
pub fn add_email(person: &mut Person, raw: &str, path: &str) {
    let read = addresses(raw);
    for email in read.emails {
        if !person.emails.contains(&email) {
            person.emails.push(email);
        }
    }
    for part in read.unusable {
        person.problems.push(match read.parts {
            1 => format!("{path} is not an email address; it was left out"),
            n => format!("{path} part {part} of {n} is not an email address; it was left out"),
        });
    }
}

/// Adds the phone written at `path`, read in `region` (`default_country`)
/// when it has no country code of its own; one that is not a valid number
/// is left out and said in `problems` (SPEC section 6, "Phone numbers").
pub fn add_phone(person: &mut Person, raw: &str, kind: PhoneKind, region: Region, path: &str) {
    match Phone::parse(raw, region, kind) {
        Ok(phone) if !person.phones.iter().any(|p| p.e164 == phone.e164) => {
            person.phones.push(phone)
        }
        Ok(_) => {}
        // The problem never repeats the number (SPEC section 4).
        Err(problem) => person
            .problems
            .push(format!("{path} {problem}; it was left out")),
    }
}

/// The object entries of a list field, those `is_primary` says first (in
/// their order), then the rest.
pub fn primary_first<'a>(
    root: &Obj<'a>,
    name: &str,
    is_primary: impl Fn(&Obj<'a>) -> bool,
) -> Result<Vec<Obj<'a>>, PayloadError> {
    let mut entries = root
        .array(name)?
        .into_iter()
        .map(|(path, value)| element_object(path, value))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|entry| !is_primary(entry));
    Ok(entries)
}
