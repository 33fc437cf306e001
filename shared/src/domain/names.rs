//! A person's name from a display name alone (SPEC section 5, "Names"):
//! what a source gives when it has no first and last name of its own (a
//! Google person with `displayName` but no `givenName`/`familyName`).
//! Split as people write names: `Doe, John` is first name John, last name
//! Doe; otherwise the last word is the last name. A display name that is
//! an email address or a phone number is not a name.

use crate::domain::addresses::addresses;

/// A first and a last name, either possibly absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    pub first: Option<String>,
    pub last: Option<String>,
}

/// Generational and professional suffixes written after a comma (`John
/// Doe, Jr.`): a comma before one of these is not the `Last, First` form.
/// Compared without dots and case.
const SUFFIXES: [&str; 11] = [
    "jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "dds", "esq", "cpa",
];

/// The name a display name says; `Name::default()` when it says none
/// (empty, an email address, a phone number).
///
/// - `Doe, John` (one comma, the part after it not a suffix): first name
///   `John`, last name `Doe`; more commas split at the first.
/// - `John Doe, Jr.`: the last-word rule on `John Doe`, the suffix kept
///   with the last name (`Doe Jr.`).
/// - Otherwise the last word is the last name and the words before it the
///   first name; a single word is a first name.
pub fn from_display_name(display: &str) -> Name {
    let display = display.split_whitespace().collect::<Vec<_>>().join(" ");
    if display.is_empty() || is_email(&display) || is_phone(&display) {
        return Name::default();
    }
    if let Some((before, after)) = display.split_once(',') {
        let (before, after) = (before.trim(), after.trim());
        if is_suffix(after) {
            let mut name = by_last_word(before);
            name.last = match name.last {
                Some(last) => Some(format!("{last} {after}")),
                None => Some(after.to_string()),
            };
            return name;
        }
        return match (non_empty(after), non_empty(before)) {
            (None, None) => Name::default(),
            // `Doe,` or `, John`: what is there is a name, by the last-word rule.
            (None, Some(only)) | (Some(only), None) => by_last_word(&only),
            (first, last) => Name { first, last },
        };
    }
    by_last_word(&display)
}

fn by_last_word(text: &str) -> Name {
    match text.trim().rsplit_once(' ') {
        Some((first, last)) => Name {
            first: non_empty(first),
            last: non_empty(last),
        },
        None => Name {
            first: non_empty(text),
            last: None,
        },
    }
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn is_suffix(text: &str) -> bool {
    let bare: String = text
        .chars()
        .filter(|c| *c != '.')
        .collect::<String>()
        .to_lowercase();
    SUFFIXES.contains(&bare.as_str())
}

/// An email address (bare, bracketed, `mailto:`), however written.
fn is_email(text: &str) -> bool {
    text.contains('@') && !addresses(text).emails.is_empty()
}

/// Written like a phone number: no letters but an extension's (`x`,
/// `ext`), and at least five digits, with only the punctuation numbers
/// are written with (`+`, `-`, `.`, `(`, `)`, `/`, `#`, spaces).
fn is_phone(text: &str) -> bool {
    let lower = text.to_lowercase();
    let without_extension = lower.replace("ext", "").replace('x', "");
    let digits = without_extension
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    digits >= 5
        && without_extension
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()/#:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_split_as_people_write_them() {
        let table: &[(&str, Option<&str>, Option<&str>)] = &[
            ("Doe, John", Some("John"), Some("Doe")),
            ("  Doe ,   John  ", Some("John"), Some("Doe")),
            ("Doe, John A.", Some("John A."), Some("Doe")),
            ("van der Berg, Anna", Some("Anna"), Some("van der Berg")),
            ("Doe, John, Jr.", Some("John, Jr."), Some("Doe")),
            ("John Doe", Some("John"), Some("Doe")),
            ("Mary Ann Smith", Some("Mary Ann"), Some("Smith")),
            ("John  \t Doe", Some("John"), Some("Doe")),
            ("John Doe, Jr.", Some("John"), Some("Doe Jr.")),
            ("John Doe, PhD", Some("John"), Some("Doe PhD")),
            ("Cher", Some("Cher"), None),
            ("Doe,", Some("Doe"), None),
            (", John", Some("John"), None),
            ("José Núñez", Some("José"), Some("Núñez")),
            ("Agent 007", Some("Agent"), Some("007")),
        ];
        for (display, first, last) in table {
            let name = from_display_name(display);
            assert_eq!(name.first.as_deref(), *first, "{display:?}");
            assert_eq!(name.last.as_deref(), *last, "{display:?}");
        }
    }

    #[test]
    fn an_email_or_a_phone_is_not_a_name() {
        for display in [
            "",
            "   ",
            ",",
            "john.doe@example.com",
            "John <john.doe@example.com>",
            "mailto:john@example.com",
            "+1 239 555 0100",
            "(239) 555-0100",
            "239.555.0100",
            "239-555-0100 ext. 12",
            "+33 1 99 00 12 34",
        ] {
            assert_eq!(from_display_name(display), Name::default(), "{display:?}");
        }
        // An @ that is not an address is written by a person: a name.
        assert_eq!(
            from_display_name("Jo @ Acme").first.as_deref(),
            Some("Jo @")
        );
    }
}
