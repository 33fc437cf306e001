//! Email values as people and apps write them (SPEC section 5): a display
//! name with the address in angle brackets (`Jane Doe <jane@example.com>`),
//! a bare bracketed address, a `mailto:` link, or several addresses in one
//! value separated by `,` or `;`. Each address inside is read, in order,
//! and normalized as an `Email`; a part with no usable address in it is
//! said back, never sent to kvCORE nor searched for.
//!
//! The RFC 5322 address-list grammar (quoted display names that hold
//! commas, comments, angle brackets, groups) is `mailparse::addrparse`'s:
//! mailparse is a small, long-maintained parser (used by Delta Chat and
//! others) with no heavy dependencies, and it already reads `;` between
//! addresses the way real-world mail does. `email_address` validates one
//! bare address only (no display names, no lists), and `mail-parser`
//! parses whole messages, far more than a field value needs. What
//! RFC 5322 does not cover is kept to two steps here: a `mailto:` scheme
//! (RFC 6068: the address is the part before `?`) is removed before
//! parsing, and a value the grammar refuses as a whole is read part by
//! part (split at `,` or `;` outside quotes and angle brackets), so one
//! bad part never costs the good ones.

use mailparse::{MailAddr, addrparse};

use crate::domain::contact::Email;

/// What one email value holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// Every address found, normalized, in the order written (repeats
    /// kept: the caller drops duplicates).
    pub emails: Vec<Email>,
    /// Parts with no usable address in them: how many, and each one's
    /// place in the value (1-based), for the problem said back. Never the
    /// text itself (it may be an address: SPEC section 4).
    pub unusable: Vec<usize>,
    /// How many parts the value had (1 for a single address).
    pub parts: usize,
}

/// Reads every address in `raw`. A value with no address at all (`n/a`,
/// a bare name, an empty string) answers no email and one unusable part.
pub fn addresses(raw: &str) -> Addresses {
    let value = without_mailto(raw.trim());
    if let Some(emails) = whole(&value) {
        return Addresses {
            parts: emails.len(),
            emails,
            unusable: Vec::new(),
        };
    }
    let parts = split_parts(&value);
    let mut read = Addresses {
        parts: parts.len().max(1),
        ..Addresses::default()
    };
    for (i, part) in parts.iter().enumerate() {
        match whole(part) {
            Some(emails) => read.emails.extend(emails),
            None => read.unusable.push(i + 1),
        }
    }
    if parts.is_empty() {
        read.unusable.push(1);
    }
    read
}

/// Every address of `value` when the grammar reads all of it and each
/// address is a usable email; `None` otherwise (and for no address).
fn whole(value: &str) -> Option<Vec<Email>> {
    let list = addrparse(value).ok()?;
    let mut emails = Vec::new();
    for entry in list.iter() {
        match entry {
            MailAddr::Single(single) => emails.push(bare(&single.addr)?),
            MailAddr::Group(group) => {
                for single in &group.addrs {
                    emails.push(bare(&single.addr)?);
                }
            }
        }
    }
    (!emails.is_empty()).then_some(emails)
}

/// An address the grammar found, as an `Email`, unless it still holds a
/// character RFC 5322 allows only quoted or between addresses (the
/// lenient parser leaves `,bob@x.com` of `a@x.com,,bob@x.com` so).
fn bare(addr: &str) -> Option<Email> {
    const SPECIALS: &[char] = &['<', '>', '(', ')', '[', ']', ',', ';', ':', '"', '\\'];
    if addr.contains(SPECIALS) {
        return None;
    }
    Email::parse(addr)
}

/// `value` with each `mailto:` scheme and its `?query` removed (RFC 6068:
/// `mailto:jane@example.com?subject=Hi` names jane@example.com). Only at
/// the start of an address: after the value's start, `<`, `,`, `;` or
/// white space.
fn without_mailto(value: &str) -> String {
    const SCHEME: &str = "mailto:";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut at_start = true;
    while let Some(c) = rest.chars().next() {
        if at_start
            && rest
                .get(..SCHEME.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(SCHEME))
        {
            rest = &rest[SCHEME.len()..];
            at_start = false;
            // The address follows; a `?` in it starts the link's query.
            let end = rest
                .find(|c: char| matches!(c, '>' | ',' | ';') || c.is_whitespace())
                .unwrap_or(rest.len());
            if let Some(query) = rest[..end].find('?') {
                out.push_str(&rest[..query]);
                rest = &rest[end..];
            }
            continue;
        }
        out.push(c);
        at_start = matches!(c, '<' | ',' | ';') || c.is_whitespace();
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The parts of a list, split at `,` and `;` outside double quotes and
/// angle brackets; empty parts (`a@x.com,,b@x.com`) are not parts.
fn split_parts(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut bracketed) = (false, false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            ',' | ';' if !quoted && !bracketed => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|part| part.trim().to_string())
        .filter(|part| !part.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(raw: &str) -> (Vec<String>, Vec<usize>) {
        let read = addresses(raw);
        (
            read.emails.iter().map(|e| e.as_str().to_string()).collect(),
            read.unusable,
        )
    }

    #[test]
    fn every_written_form_yields_its_bare_addresses_in_order() {
        let none: Vec<usize> = Vec::new();
        let table: &[(&str, &[&str], &[usize])] = &[
            ("jane@example.com", &["jane@example.com"], &[]),
            ("  Jane@Example.COM ", &["jane@example.com"], &[]),
            (
                "Jane Doe <jane.doe@example.com>",
                &["jane.doe@example.com"],
                &[],
            ),
            ("<jane@example.com>", &["jane@example.com"], &[]),
            (
                "\"Doe, Jane\" <jane@example.com>",
                &["jane@example.com"],
                &[],
            ),
            ("jane@example.com (work)", &["jane@example.com"], &[]),
            ("mailto:jane@example.com", &["jane@example.com"], &[]),
            ("MAILTO:Jane@Example.com", &["jane@example.com"], &[]),
            (
                "mailto:jane@example.com?subject=Hi%20there",
                &["jane@example.com"],
                &[],
            ),
            ("Jane <mailto:jane@example.com>", &["jane@example.com"], &[]),
            (
                "jane@example.com, bob@example.com",
                &["jane@example.com", "bob@example.com"],
                &[],
            ),
            (
                "jane@example.com; bob@example.com",
                &["jane@example.com", "bob@example.com"],
                &[],
            ),
            (
                "Jane Doe <jane@example.com>; mailto:bob@example.com, \"Ng, Cy\" <cy@example.com>",
                &["jane@example.com", "bob@example.com", "cy@example.com"],
                &[],
            ),
            (
                "jane@example.com,,bob@example.com",
                &["jane@example.com", "bob@example.com"],
                &[],
            ),
            // A name with an unquoted comma: the name's first half holds
            // no address; the address is still found.
            ("Doe, Jane <jane@example.com>", &["jane@example.com"], &[1]),
            (
                "jane@example.com, not an email",
                &["jane@example.com"],
                &[2],
            ),
            ("call me; jane@example.com", &["jane@example.com"], &[1]),
        ];
        for (raw, want, unusable) in table {
            let (got, bad) = emails(raw);
            assert_eq!(got, *want, "{raw:?}");
            assert_eq!(bad, *unusable, "{raw:?}");
        }
        assert_eq!(emails("bob@example.com").1, none);
    }

    #[test]
    fn a_value_without_an_address_is_left_out_and_said() {
        for raw in [
            "",
            "   ",
            "n/a",
            "Jane Doe",
            "mailto:",
            "jane@example",
            "jane smith@example.com",
            "Jane <jane@example.com",
            "<>",
            "\"unterminated",
            "jane@@example.com",
        ] {
            let read = addresses(raw);
            assert!(read.emails.is_empty(), "{raw:?}: {read:?}");
            assert_eq!(read.unusable, [1], "{raw:?}");
        }
    }

    #[test]
    fn parts_are_counted_for_the_problem() {
        assert_eq!(addresses("a@example.com").parts, 1);
        assert_eq!(addresses("a@example.com, b@example.com").parts, 2);
        assert_eq!(addresses("x, b@example.com, y").parts, 3);
        assert_eq!(addresses("x, b@example.com, y").unusable, [1, 3]);
    }
}
