//! The canonical contact every source payload is mapped to, and the
//! normalization of the two things people are matched on: email and phone.

use std::fmt;

use phonenumber::country;
use serde::Serialize;

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

/// What kind of number a phone is; decides the kvCORE field it is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneKind {
    Mobile,
    Home,
    Work,
    Other,
}

impl PhoneKind {
    /// Source apps name phone types loosely ("cell", "Mobile", "office").
    pub fn from_label(label: Option<&str>) -> PhoneKind {
        match label.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
            Some("mobile" | "cell" | "cellphone" | "cell_phone" | "iphone") => PhoneKind::Mobile,
            Some("home" | "homefax") => PhoneKind::Home,
            Some("work" | "office" | "business" | "workmobile" | "workfax") => PhoneKind::Work,
            _ => PhoneKind::Other,
        }
    }
}

/// A phone number in E.164 (`+12395550100`) with its kind.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone {
    pub e164: String,
    /// The national significant number's digits (`2395550100`): what
    /// kvCORE's free-text search matches phones on.
    pub national_digits: String,
    pub kind: PhoneKind,
}

impl Phone {
    /// Parses `raw` as written by a person; numbers without a country code are
    /// read in `region`. `None` when it is not a possible phone number.
    pub fn parse(raw: &str, region: Region, kind: PhoneKind) -> Option<Phone> {
        let number = phonenumber::parse(Some(region.0), raw.trim()).ok()?;
        let national = number.national();
        let national_digits = format!(
            "{}{}",
            "0".repeat(usize::from(national.zeros())),
            national.value()
        );
        // Possible (right length for the country), not "valid": a real, just
        // allocated number or a 555 test number must still match.
        if !(5..=15).contains(&national_digits.len()) {
            return None;
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        Some(Phone {
            e164,
            national_digits,
            kind,
        })
    }

    /// `***0100`, for logs.
    pub fn masked(&self) -> String {
        let tail: String = self
            .e164
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("***{tail}")
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({}, {:?})", self.masked(), self.kind)
    }
}

/// The region phone numbers without a country code are read in
/// (`default_country`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    /// `code` is an ISO 3166 alpha-2 code such as `US`.
    pub fn parse(code: &str) -> Option<Region> {
        code.trim().to_ascii_uppercase().parse().ok().map(Region)
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(country::Id::US)
    }
}

/// Normalizes a phone stored in kvCORE for comparison; `None` when empty or
/// unparseable (then it matches nothing).
pub fn e164_of(raw: &str, region: Region) -> Option<String> {
    if raw.trim().is_empty() {
        return None;
    }
    Phone::parse(raw, region, PhoneKind::Other).map(|p| p.e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        Region::parse("US").unwrap()
    }

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

    #[test]
    fn national_numbers_read_in_the_default_country() {
        let phone = Phone::parse("(239) 555-0100", us(), PhoneKind::Mobile).unwrap();
        assert_eq!(phone.e164, "+12395550100");
        assert_eq!(phone.national_digits, "2395550100");
    }

    #[test]
    fn international_numbers_keep_their_country() {
        let gb = Region::parse("GB").unwrap();
        let phone = Phone::parse("+1 239 555 0100", gb, PhoneKind::Mobile).unwrap();
        assert_eq!(phone.e164, "+12395550100");
        let london = Phone::parse("020 7946 0018", gb, PhoneKind::Work).unwrap();
        assert_eq!(london.e164, "+442079460018");
        assert_eq!(london.national_digits, "2079460018");
    }

    #[test]
    fn written_forms_of_one_number_agree() {
        let forms = [
            "2395550100",
            "239.555.0100",
            "+1 (239) 555-0100",
            "1-239-555-0100",
        ];
        for form in forms {
            assert_eq!(
                e164_of(form, us()).as_deref(),
                Some("+12395550100"),
                "{form}"
            );
        }
    }

    #[test]
    fn garbage_is_not_a_phone() {
        for raw in ["", "   ", "call me", "12", "n/a"] {
            assert!(e164_of(raw, us()).is_none(), "{raw:?}");
        }
    }

    #[test]
    fn masked_phone_shows_the_last_four_digits() {
        let phone = Phone::parse("(239) 555-0100", us(), PhoneKind::Mobile).unwrap();
        assert_eq!(phone.masked(), "***0100");
        assert!(!format!("{phone:?}").contains("2395550100"));
    }

    #[test]
    fn phone_kinds_from_loose_labels() {
        assert_eq!(PhoneKind::from_label(Some("Cell")), PhoneKind::Mobile);
        assert_eq!(PhoneKind::from_label(Some("office")), PhoneKind::Work);
        assert_eq!(PhoneKind::from_label(Some("home")), PhoneKind::Home);
        assert_eq!(PhoneKind::from_label(None), PhoneKind::Other);
    }

    #[test]
    fn unknown_regions_are_refused() {
        assert!(Region::parse("XX").is_none());
        assert_eq!(Region::parse("us"), Some(us()));
    }
}
