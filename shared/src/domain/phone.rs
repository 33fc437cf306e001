//! Phone numbers as Google's libphonenumber reads them (SPEC section 6,
//! "Phone numbers"): the one place every source, the matcher, the phone
//! index and the writer get a phone's E.164 form from.
//!
//! The reading is `rlibphonenumber`'s port of libphonenumber, chosen by
//! evidence: `shared/tests/phone_differential.rs` holds it to what Python's
//! `phonenumbers` (a faithful port of libphonenumber, pinned in
//! `infra/requirements.txt`) says of every region's example numbers written
//! several ways (`infra/scripts/phone_fixture.py`). The `phonenumber` crate
//! used before failed about one entry in nine: it read a number written with
//! a country code as national when a default region was given
//! (whisperfish/rust-phonenumber#30), so `+33 1 99 00 12 34` became
//! `+3399001234`.

use std::fmt;

use rlibphonenumber::{CountryCodeSource, PHONE_NUMBER_UTIL, ParseError, PhoneNumberFormat};
use serde::{Deserialize, Serialize};

/// What kind of number a phone is; decides the kvCORE field it is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// The region phone numbers without a country code are read in (the
/// workflow's `default_country`): one libphonenumber knows the numbering
/// plan of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(rlibphonenumber::Region);

impl Region {
    /// `code` is an ISO 3166 alpha-2 code such as `US` (any case, trimmed).
    /// `None` for a code libphonenumber has no numbering plan for (`XX`).
    pub fn parse(code: &str) -> Option<Region> {
        let region = rlibphonenumber::Region::from_code(&code.trim().to_ascii_uppercase()).ok()?;
        PHONE_NUMBER_UTIL
            .get_country_code_for_region(region)
            .map(|_| Region(region))
    }

    /// The ISO 3166 alpha-2 code (`US`).
    pub fn code(&self) -> String {
        self.0.as_region_str().to_string()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(rlibphonenumber::Region::US)
    }
}

/// Why a written phone number was left out. The messages never repeat the
/// number (SPEC section 4: no full phone in logs or results); they read after
/// the field's path: "contact.phones[0].number is not a phone number".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneProblem {
    /// Blank, or no digits where a number should be (`n/a`, `call me`).
    #[error("is not a phone number")]
    NotANumber,
    /// `+` or an international prefix followed by no known country code.
    #[error("has no known country code")]
    UnknownCountryCode,
    /// Too few digits for any number of its country (`12`).
    #[error("is too short to be a phone number")]
    TooShort,
    /// More digits than any number of its country has.
    #[error("is too long to be a phone number")]
    TooLong,
    /// Read as a number of `country_code`, but not one libphonenumber
    /// considers valid there (`555-0102` has no area code; `+44 02…`).
    /// `in_default_country` says it had no country code of its own and was
    /// read in `default_country`.
    #[error(
        "is not a valid +{country_code} number{}",
        if *in_default_country { " (written without a country code, it was read in default_country)" } else { "" }
    )]
    NotValid {
        country_code: i32,
        in_default_country: bool,
    },
}

impl From<ParseError> for PhoneProblem {
    fn from(error: ParseError) -> PhoneProblem {
        match error {
            ParseError::InvalidCountryCode => PhoneProblem::UnknownCountryCode,
            ParseError::NotANumber(_) => PhoneProblem::NotANumber,
            ParseError::TooShortAfterIdd | ParseError::TooShortNsn => PhoneProblem::TooShort,
            ParseError::TooLongNsn => PhoneProblem::TooLong,
        }
    }
}

/// A valid phone number: its E.164 form (`+12395550100`), the extension
/// written with it, and its kind.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+` country code national number, no extension: what is matched,
    /// indexed and written.
    pub e164: String,
    pub kind: PhoneKind,
    /// The extension's digits (`123` from `x123`, `ext. 123`, `;ext=123`,
    /// `#123`): not part of the number, never matched on.
    pub extension: Option<String>,
}

impl Phone {
    /// Reads `raw` as libphonenumber does: a number with a country code
    /// (`+33 1 99 00 12 34`, `+44 (0) 20 7946 0018`, or an international
    /// prefix the region dials such as `011 44 …` from the US) is that
    /// country's; one without is read in `region` (`default_country`); an
    /// extension is split off. Errors when the text is not a number, or is
    /// one libphonenumber does not consider valid for its country (SPEC
    /// section 6: such a number is reported, never matched, indexed or
    /// written).
    pub fn parse(raw: &str, region: Region, kind: PhoneKind) -> Result<Phone, PhoneProblem> {
        let number = PHONE_NUMBER_UTIL.parse_and_keep_raw_input(raw.trim(), Some(region.0))?;
        if !PHONE_NUMBER_UTIL.is_valid_number(&number) {
            return Err(PhoneProblem::NotValid {
                country_code: number.country_code,
                in_default_country: number.country_code_source()
                    == CountryCodeSource::FromDefaultCountry,
            });
        }
        Ok(Phone {
            e164: PHONE_NUMBER_UTIL
                .format(&number, PhoneNumberFormat::E164)
                .into_owned(),
            kind,
            extension: number.extension.clone().filter(|e| !e.is_empty()),
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
        write!(f, "Phone({}, {:?})", self.masked(), self.kind)?;
        if self.extension.is_some() {
            write!(f, " ext")?;
        }
        Ok(())
    }
}

/// The E.164 form of a phone stored elsewhere (a kvCORE contact's
/// `cell_phone_1`, `home_phone`, `work_phone`), read exactly as event phones
/// are so the two compare; `None` when empty or not a valid number (then it
/// matches nothing).
pub fn e164_of(raw: &str, region: Region) -> Option<String> {
    Phone::parse(raw, region, PhoneKind::Other)
        .ok()
        .map(|p| p.e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        Region::parse("US").unwrap()
    }

    fn gb() -> Region {
        Region::parse("GB").unwrap()
    }

    fn e164(raw: &str, region: Region) -> Result<String, PhoneProblem> {
        Phone::parse(raw, region, PhoneKind::Other).map(|p| p.e164)
    }

    #[test]
    fn national_numbers_read_in_the_default_country() {
        let phone = Phone::parse("(239) 555-0100", us(), PhoneKind::Mobile).unwrap();
        assert_eq!(phone.e164, "+12395550100");
        assert_eq!(phone.extension, None);
        let london = Phone::parse("020 7946 0018", gb(), PhoneKind::Work).unwrap();
        assert_eq!(london.e164, "+442079460018");
    }

    /// Issue #10: `phonenumber` 0.3 dropped the `1` of a French number
    /// written with its country code when a default region was given.
    #[test]
    fn a_country_code_wins_over_the_default_country() {
        assert_eq!(e164("+33 1 99 00 12 34", us()).unwrap(), "+33199001234");
        assert_eq!(e164("+33199001235", us()).unwrap(), "+33199001235");
        assert_eq!(e164("+1 239 555 0100", gb()).unwrap(), "+12395550100");
    }

    /// Issue #10: `+44 (0) 20…` was written `+4402079460018`.
    #[test]
    fn the_trunk_prefix_in_parentheses_is_dropped() {
        for region in [us(), gb()] {
            assert_eq!(
                e164("+44 (0) 20 7946 0018", region).unwrap(),
                "+442079460018"
            );
        }
    }

    /// Issue #10: `0044 …` was written `+100442079460019`. `00` is the
    /// international prefix in the UK, not in the US (which dials `011`).
    #[test]
    fn an_international_prefix_counts_only_where_it_is_dialled() {
        assert_eq!(e164("0044 20 7946 0019", gb()).unwrap(), "+442079460019");
        assert_eq!(e164("011 44 20 7946 0019", us()).unwrap(), "+442079460019");
        assert!(matches!(
            e164("0044 20 7946 0019", us()),
            Err(PhoneProblem::NotValid { .. })
        ));
    }

    /// Issue #10: a seven-digit `555-0102` became `+15550102` and merged
    /// two people.
    #[test]
    fn a_number_without_its_area_code_is_not_valid() {
        let problem = e164("555-0102", us()).unwrap_err();
        assert_eq!(
            problem,
            PhoneProblem::NotValid {
                country_code: 1,
                in_default_country: true
            }
        );
        let message = problem.to_string();
        assert!(message.contains("default_country"), "{message}");
        assert!(!message.contains("0102"), "{message}");
    }

    /// Issue #10: `;ext=` was "not a phone".
    #[test]
    fn extensions_are_split_off() {
        for (raw, extension) in [
            ("+1 239 555 0100;ext=123", "123"),
            ("(239) 555-0100 x123", "123"),
            ("239-555-0100 ext. 9", "9"),
            ("+1 239 555 0100 #42", "42"),
        ] {
            let phone = Phone::parse(raw, us(), PhoneKind::Work).unwrap();
            assert_eq!(phone.e164, "+12395550100", "{raw}");
            assert_eq!(phone.extension.as_deref(), Some(extension), "{raw}");
        }
    }

    #[test]
    fn written_forms_of_one_number_agree() {
        let forms = [
            "2395550100",
            "239.555.0100",
            "+1 (239) 555-0100",
            "1-239-555-0100",
            "+12395550100",
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
    fn stored_numbers_are_read_the_same_way() {
        assert_eq!(
            e164_of("+44 (0) 20 7946 0018", us()).as_deref(),
            Some("+442079460018")
        );
        assert_eq!(e164_of("555-0102", us()), None);
        assert_eq!(e164_of("", us()), None);
    }

    #[test]
    fn garbage_is_not_a_phone() {
        for raw in ["", "   ", "call me", "n/a"] {
            assert_eq!(e164(raw, us()), Err(PhoneProblem::NotANumber), "{raw:?}");
        }
        assert!(matches!(
            e164("12", us()),
            Err(PhoneProblem::NotValid { .. })
        ));
        assert_eq!(
            e164("+999 1234 5678", us()),
            Err(PhoneProblem::UnknownCountryCode)
        );
    }

    #[test]
    fn masked_phone_shows_the_last_four_digits() {
        let phone = Phone::parse("(239) 555-0100 x77", us(), PhoneKind::Mobile).unwrap();
        assert_eq!(phone.masked(), "***0100");
        let debug = format!("{phone:?}");
        assert!(!debug.contains("2395550100"), "{debug}");
        assert!(!debug.contains("77"), "{debug}");
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
        assert!(Region::parse("USA").is_none());
        assert_eq!(Region::parse(" us "), Some(us()));
        assert_eq!(Region::default(), us());
        assert_eq!(gb().code(), "GB");
    }
}
