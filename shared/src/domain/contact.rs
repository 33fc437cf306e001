//! The canonical contact every source payload is mapped to, and the
//! normalization of the two things people are matched on: email and phone.

use std::fmt;
use std::sync::Arc;

pub use crate::domain::phone::{Phone, PhoneKind, PhoneProblem, Region, e164_of};
pub use crate::domain::record::SourceRecord;

/// One person from a source app, in the product's words, before any kvCORE
/// lookup. Emails and phones are already normalized; entries that could not
/// be normalized are in `problems`, never used for matching or writing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    /// The source app's id for the person (for results and logs).
    pub source_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Primary first.
    pub emails: Vec<Email>,
    /// Primary first.
    pub phones: Vec<Phone>,
    pub address: Address,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    /// The kvCORE agent the source says owns the person (after `agent_map`).
    pub owner_agent_id: Option<u64>,
    pub tags: Vec<String>,
    /// When the source last changed the person (unix ms), for ordering.
    pub changed_at_ms: Option<i64>,
    /// Input that was left out, said back to the caller in the result.
    pub problems: Vec<String>,
    /// The source's own record, for `source.<path>` in `filters` and
    /// `field_map` (SPEC section 12); `None` where none was kept.
    pub source_record: Option<Arc<SourceRecord>>,
}

impl Person {
    pub fn primary_email(&self) -> Option<&Email> {
        self.emails.first()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
}

/// A trimmed, lower-cased email address that has the shape `local@domain.tld`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Normalizes `raw`; `None` when it is not an email address. Deliberately
    /// simple (one `@`, a dotted domain, no spaces): kvCORE's own check is no
    /// stricter, and anything odder is better reported than guessed at.
    pub fn parse(raw: &str) -> Option<Email> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@')?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        let chars_ok =
            !email.chars().any(|c| c.is_whitespace() || c.is_control()) && !domain.contains('@');
        (!local.is_empty() && domain_ok && chars_ok && email.len() <= 254).then_some(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `j***@example.com`: enough to recognise in a log, not enough to leak.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

/// Masks any string that may be an email, for logs.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  John.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "john.smith@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "john",
            "john@",
            "@example.com",
            "john@example",
            "john smith@example.com",
            "john@@example.com",
            "john@example..com",
            "john@.example.com",
        ] {
            assert!(Email::parse(raw).is_none(), "{raw:?} should be refused");
        }
    }

    #[test]
    fn masked_email_keeps_only_the_first_letter_and_domain() {
        let email = Email::parse("john.smith@example.com").unwrap();
        assert_eq!(email.masked(), "j***@example.com");
        assert!(!format!("{email:?}").contains("john.smith"));
    }
}
