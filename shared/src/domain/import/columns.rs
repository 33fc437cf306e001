//! Which contact field each column of a CSV export holds (SPEC section 13):
//! the header names of the exports people have, recognised whatever their
//! case, spacing and punctuation, plus the operator's `--map "Column=field"`.
//!
//! The names come from each export as its vendor or its users publish it:
//! - Google Contacts ("Google CSV"): `First Name`, `Middle Name`, `Last Name`,
//!   `Birthday`, `Labels`, `E-mail 1 - Label`/`E-mail 1 - Value`,
//!   `Phone 1 - Label`/`Phone 1 - Value`, `Address 1 - Street`, `- City`,
//!   `- Region`, `- Postal Code`; its older export says `Name`,
//!   `Given Name`, `Family Name`, `Group Membership` and `- Type` for
//!   `- Label`. Several values in one cell are separated by ` ::: `.
//! - Outlook (Microsoft's "Comma Separated Values" export, field list as
//!   published at spstechnical.com/outlook_contacts_schema.htm): `First Name`,
//!   `Last Name`, `E-mail Address`, `E-mail 2 Address`, `Mobile Phone`,
//!   `Home Phone`, `Business Phone`, `Other Phone`, `Home Street`,
//!   `Home City`, `Home State`, `Home Postal Code` (and `Business …`,
//!   `Other …`), `Birthday`, `Categories`.
//! - Follow Up Boss people export: the person's fields as Follow Up Boss
//!   names them in its app and API (`First Name`, `Last Name`, `Email`,
//!   `Email 2`…, `Phone`, `Phone 2`…, `Address`, `City`, `State`, `Zip`,
//!   `Tags`, `Stage`, `Source`, `Assigned To`, `ID`).
//! - kvCORE contacts export: kvCORE's own field names (SPEC section 7:
//!   `first_name`, `last_name`, `email`, `cell_phone_1`, `home_phone`,
//!   `work_phone`, `primary_address`, `primary_city`, `primary_state`,
//!   `primary_zip`, `birthday`, `hashtags`, `assigned_agent_id`), written
//!   with underscores or as titles (`Cell Phone 1`).
//!
//! Columns nobody recognises stay in the row's own record (for the
//! workflow's `source.<column>` filters and mapping), never in a field.

use std::fmt;

/// The contact field a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    FirstName,
    MiddleName,
    LastName,
    /// A display name, split as people write names (SPEC section 5).
    FullName,
    /// An email; `slot` pairs it with its label column (Google's `E-mail 1`).
    Email {
        slot: u32,
    },
    /// A phone of a known kind, or `Labelled` by a label column in its slot.
    Phone {
        kind: PhoneSlot,
        slot: u32,
    },
    /// The label ("Mobile", "Work") of the phone in `slot`.
    PhoneLabel {
        slot: u32,
    },
    Street {
        group: AddressGroup,
    },
    City {
        group: AddressGroup,
    },
    State {
        group: AddressGroup,
    },
    Zip {
        group: AddressGroup,
    },
    Birthday,
    Tags,
    /// The owner: a source user id (through `agent_map`) or a kvCORE agent id.
    Owner,
    /// The source app's id for the person.
    SourceId,
    /// `--map "Column=-"`: read nothing from this column.
    Ignored,
}

/// What kind a phone column's numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneSlot {
    Mobile,
    Home,
    Work,
    Other,
    /// Its kind is in the slot's label column (Google's `Phone 1 - Label`).
    Labelled,
}

/// Which of a row's addresses a column belongs to: the first group with a
/// value is the person's address (Google's `Address 1`, then `Address 2`;
/// Outlook's home, then business, then other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressGroup(pub u32);

/// Whose export a header row looks like (said in the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    GoogleContacts,
    Outlook,
    FollowUpBoss,
    Kvcore,
    Other,
}

impl fmt::Display for ExportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExportKind::GoogleContacts => "Google Contacts",
            ExportKind::Outlook => "Outlook",
            ExportKind::FollowUpBoss => "Follow Up Boss",
            ExportKind::Kvcore => "kvCORE",
            ExportKind::Other => "other",
        })
    }
}

/// The columns of one file: what each recognised column holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMap {
    pub kind: ExportKind,
    /// `(column index, target)`, in the header's order.
    pub columns: Vec<(usize, Target)>,
    /// Header names no field was found for (kept in the row's record).
    pub unrecognised: Vec<String>,
}

/// A header or `--map` that cannot be used, said so the operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnError {
    #[error(
        "--map {given:?}: expected \"Column=field\" with field one of {FIELD_NAMES}, found {found:?}{hint}"
    )]
    BadMap {
        given: String,
        found: String,
        hint: String,
    },
    #[error("--map {given:?}: the file has no column {column:?} (its columns: {columns})")]
    NoSuchColumn {
        given: String,
        column: String,
        columns: String,
    },
    #[error(
        "no column holds an email or a phone (columns: {columns}); name them with --map \"Column=email\" or \"Column=phone\""
    )]
    NoEmailOrPhoneColumn { columns: String },
}

/// The field names `--map` takes.
pub const FIELD_NAMES: &str = "first_name, last_name, name, email, phone, mobile, home_phone, \
     work_phone, street, city, state, zip, birthday, tags, owner, source_id, - (ignore)";

/// A `--map` field name (kvCORE's names work too: `cell_phone_1`,
/// `primary_city`, `hashtags`, `assigned_agent_id`).
pub fn parse_field(name: &str) -> Option<Target> {
    let group = AddressGroup(0);
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "first_name" | "first" => Target::FirstName,
        "middle_name" => Target::MiddleName,
        "last_name" | "last" => Target::LastName,
        "name" | "full_name" => Target::FullName,
        "email" => Target::Email { slot: 0 },
        "phone" => Target::Phone {
            kind: PhoneSlot::Other,
            slot: 0,
        },
        "mobile" | "cell" | "cell_phone_1" => Target::Phone {
            kind: PhoneSlot::Mobile,
            slot: 0,
        },
        "home_phone" => Target::Phone {
            kind: PhoneSlot::Home,
            slot: 0,
        },
        "work_phone" => Target::Phone {
            kind: PhoneSlot::Work,
            slot: 0,
        },
        "street" | "address" | "primary_address" => Target::Street { group },
        "city" | "primary_city" => Target::City { group },
        "state" | "primary_state" => Target::State { group },
        "zip" | "primary_zip" => Target::Zip { group },
        "birthday" => Target::Birthday,
        "tags" | "hashtags" => Target::Tags,
        "owner" | "assigned_agent_id" | "owner_agent_id" => Target::Owner,
        "source_id" | "id" => Target::SourceId,
        "-" | "ignore" => Target::Ignored,
        _ => return None,
    })
}

/// Parses one `--map "Column=field"`.
pub fn parse_map(given: &str) -> Result<(String, Target), ColumnError> {
    let bad = |found: &str| {
        let hint = nearest_field(found)
            .map(|f| format!("; did you mean {f}?"))
            .unwrap_or_default();
        ColumnError::BadMap {
            given: given.to_string(),
            found: found.to_string(),
            hint,
        }
    };
    let Some((column, field)) = given.rsplit_once('=') else {
        return Err(bad(given));
    };
    let column = column.trim();
    if column.is_empty() {
        return Err(bad(given));
    }
    let target = parse_field(field).ok_or_else(|| bad(field.trim()))?;
    Ok((column.to_string(), target))
}

fn nearest_field(found: &str) -> Option<&'static str> {
    FIELD_NAMES
        .split(", ")
        .map(|f| (strsim::levenshtein(f, &found.to_ascii_lowercase()), f))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f)
}

/// A header as compared: lower case, letters only, and the first number in
/// it apart (`E-mail 2 - Value` → `("emailvalue", 2)`).
fn key(header: &str) -> (String, u32) {
    let mut letters = String::new();
    let mut number = String::new();
    let mut number_done = false;
    for c in header.trim().trim_start_matches('\u{feff}').chars() {
        if c.is_ascii_alphabetic() {
            letters.push(c.to_ascii_lowercase());
            if !number.is_empty() {
                number_done = true;
            }
        } else if c.is_ascii_digit() && !number_done {
            number.push(c);
        }
    }
    (letters, number.parse().unwrap_or(0))
}

/// What one header names, by its key; `None`: not a field.
fn target_of(letters: &str, n: u32) -> Option<Target> {
    use PhoneSlot::*;
    let phone = |kind| Target::Phone { kind, slot: n };
    let home = AddressGroup(100);
    let business = AddressGroup(200);
    let other = AddressGroup(300);
    let numbered = AddressGroup(n);
    Some(match letters {
        // Names: every export, kvCORE's with underscores.
        "firstname" | "givenname" | "first" => Target::FirstName,
        "middlename" | "additionalname" => Target::MiddleName,
        "lastname" | "familyname" | "surname" | "last" => Target::LastName,
        "name" | "fullname" | "displayname" | "contactname" => Target::FullName,
        // Emails: Google (`E-mail 1 - Value`), Outlook (`E-mail Address`,
        // `E-mail 2 Address`), Follow Up Boss (`Email`, `Email 2`), kvCORE.
        "emailvalue" | "emailaddress" | "email" | "emails" | "primaryemail" => {
            Target::Email { slot: n }
        }
        // Phones with their kind in the header.
        "mobilephone" | "cellphone" | "mobile" | "cell" => phone(Mobile),
        "homephone" => phone(Home),
        "businessphone" | "workphone" | "companymainphone" => phone(Work),
        "otherphone" | "primaryphone" => phone(Other),
        // Phones whose kind is in a label column (Google) or unknown (FUB).
        "phonevalue" => phone(Labelled),
        "phone" | "phones" | "phonenumber" => phone(Labelled),
        "phonelabel" | "phonetype" => Target::PhoneLabel { slot: n },
        // Addresses: Google's numbered groups, Outlook's home/business/other,
        // Follow Up Boss and kvCORE one each.
        "addressstreet" => Target::Street { group: numbered },
        "addresscity" => Target::City { group: numbered },
        "addressregion" | "addressstate" => Target::State { group: numbered },
        "addresspostalcode" | "addresszip" => Target::Zip { group: numbered },
        "homestreet" | "homeaddress" => Target::Street { group: home },
        "homecity" => Target::City { group: home },
        "homestate" => Target::State { group: home },
        "homepostalcode" | "homezip" => Target::Zip { group: home },
        "businessstreet" | "businessaddress" => Target::Street { group: business },
        "businesscity" => Target::City { group: business },
        "businessstate" => Target::State { group: business },
        "businesspostalcode" | "businesszip" => Target::Zip { group: business },
        "otherstreet" => Target::Street { group: other },
        "othercity" => Target::City { group: other },
        "otherstate" => Target::State { group: other },
        "otherpostalcode" => Target::Zip { group: other },
        "primaryaddress" | "address" | "street" | "streetaddress" => {
            Target::Street { group: numbered }
        }
        "primarycity" | "city" => Target::City { group: numbered },
        "primarystate" | "state" | "region" => Target::State { group: numbered },
        "primaryzip" | "zip" | "zipcode" | "postalcode" => Target::Zip { group: numbered },
        "birthday" | "birthdate" | "dateofbirth" => Target::Birthday,
        "tags" | "hashtags" | "categories" => Target::Tags,
        "assignedagentid" | "agentid" | "ownerid" | "assignedto" | "assigneduserid" => {
            Target::Owner
        }
        "id" | "personid" | "contactid" => Target::SourceId,
        _ => return None,
    })
}

/// Which export a header row is, by the names only it uses.
fn kind_of(keys: &[(String, u32)]) -> ExportKind {
    let has = |name: &str| keys.iter().any(|(k, _)| k == name);
    if has("emailvalue") || has("phonevalue") || has("givenname") || has("labels") {
        ExportKind::GoogleContacts
    } else if has("emailaddress") && (has("mobilephone") || has("businessphone"))
        || has("homestreet")
        || has("categories")
    {
        ExportKind::Outlook
    } else if has("cellphone") || has("primarycity") || has("assignedagentid") || has("hashtags") {
        ExportKind::Kvcore
    } else if has("stage") || has("assignedto") || (has("email") && has("phone") && has("tags")) {
        ExportKind::FollowUpBoss
    } else {
        ExportKind::Other
    }
}

/// Recognises every column of `headers`; `overrides` (`--map`) win over
/// the built-in names. A file without any email or phone column cannot
/// match anyone: `NoEmailOrPhoneColumn`.
pub fn recognise(
    headers: &[String],
    overrides: &[(String, Target)],
) -> Result<ColumnMap, ColumnError> {
    let keys: Vec<(String, u32)> = headers.iter().map(|h| key(h)).collect();
    let mut columns = Vec::new();
    let mut unrecognised = Vec::new();
    for (given, _) in overrides {
        if !headers.iter().any(|h| same_header(h, given)) {
            return Err(ColumnError::NoSuchColumn {
                given: given.clone(),
                column: given.clone(),
                columns: headers.join(", "),
            });
        }
    }
    for (i, header) in headers.iter().enumerate() {
        let overridden = overrides
            .iter()
            .rev()
            .find(|(name, _)| same_header(header, name))
            .map(|(_, t)| *t);
        let (letters, n) = &keys[i];
        match overridden.or_else(|| target_of(letters, *n)) {
            Some(Target::Ignored) => {}
            Some(target) => columns.push((i, target)),
            None => unrecognised.push(header.trim().to_string()),
        }
    }
    let reachable = columns
        .iter()
        .any(|(_, t)| matches!(t, Target::Email { .. } | Target::Phone { .. }));
    if !reachable {
        return Err(ColumnError::NoEmailOrPhoneColumn {
            columns: headers.join(", "),
        });
    }
    Ok(ColumnMap {
        kind: kind_of(&keys),
        columns,
        unrecognised,
    })
}

fn same_header(header: &str, name: &str) -> bool {
    header
        .trim()
        .trim_start_matches('\u{feff}')
        .eq_ignore_ascii_case(name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(line: &str) -> Vec<String> {
        line.split(',').map(String::from).collect()
    }

    fn target(map: &ColumnMap, header: &[String], name: &str) -> Option<Target> {
        let i = header.iter().position(|h| h == name)?;
        map.columns.iter().find(|(c, _)| *c == i).map(|(_, t)| *t)
    }

    #[test]
    fn a_google_contacts_export() {
        let h = headers(
            "First Name,Middle Name,Last Name,Phonetic First Name,Nickname,File As,Birthday,Notes,Labels,\
             E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,\
             Phone 1 - Value,Phone 2 - Label,Phone 2 - Value,Address 1 - Label,Address 1 - Formatted,\
             Address 1 - Street,Address 1 - City,Address 1 - PO Box,Address 1 - Region,\
             Address 1 - Postal Code,Address 1 - Country",
        );
        let map = recognise(&h, &[]).unwrap();
        assert_eq!(map.kind, ExportKind::GoogleContacts);
        assert_eq!(target(&map, &h, "First Name"), Some(Target::FirstName));
        assert_eq!(
            target(&map, &h, "E-mail 2 - Value"),
            Some(Target::Email { slot: 2 })
        );
        assert_eq!(
            target(&map, &h, "Phone 1 - Value"),
            Some(Target::Phone {
                kind: PhoneSlot::Labelled,
                slot: 1
            })
        );
        assert_eq!(
            target(&map, &h, "Phone 2 - Label"),
            Some(Target::PhoneLabel { slot: 2 })
        );
        assert_eq!(
            target(&map, &h, "Address 1 - Region"),
            Some(Target::State {
                group: AddressGroup(1)
            })
        );
        assert_eq!(target(&map, &h, "E-mail 1 - Label"), None);
        assert!(map.unrecognised.contains(&"Labels".to_string()));
        assert!(
            map.unrecognised
                .contains(&"Address 1 - Formatted".to_string())
        );
    }

    #[test]
    fn the_older_google_export() {
        let h = headers(
            "Name,Given Name,Additional Name,Family Name,Birthday,Group Membership,E-mail 1 - Type,\
             E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value",
        );
        let map = recognise(&h, &[]).unwrap();
        assert_eq!(map.kind, ExportKind::GoogleContacts);
        assert_eq!(target(&map, &h, "Name"), Some(Target::FullName));
        assert_eq!(target(&map, &h, "Family Name"), Some(Target::LastName));
        assert_eq!(
            target(&map, &h, "Phone 1 - Type"),
            Some(Target::PhoneLabel { slot: 1 })
        );
    }

    #[test]
    fn an_outlook_export() {
        let h = headers(
            "Title,First Name,Middle Name,Last Name,Suffix,Company,Business Street,Business City,\
             Business State,Business Postal Code,Home Street,Home City,Home State,Home Postal Code,\
             Business Phone,Home Phone,Mobile Phone,Other Phone,Birthday,Categories,E-mail Address,\
             E-mail Display Name,E-mail 2 Address,Notes",
        );
        let map = recognise(&h, &[]).unwrap();
        assert_eq!(map.kind, ExportKind::Outlook);
        assert_eq!(
            target(&map, &h, "Mobile Phone"),
            Some(Target::Phone {
                kind: PhoneSlot::Mobile,
                slot: 0
            })
        );
        assert_eq!(
            target(&map, &h, "Business Phone"),
            Some(Target::Phone {
                kind: PhoneSlot::Work,
                slot: 0
            })
        );
        assert_eq!(
            target(&map, &h, "E-mail 2 Address"),
            Some(Target::Email { slot: 2 })
        );
        assert_eq!(
            target(&map, &h, "Home Postal Code"),
            Some(Target::Zip {
                group: AddressGroup(100)
            })
        );
        assert_eq!(target(&map, &h, "Categories"), Some(Target::Tags));
        assert_eq!(target(&map, &h, "E-mail Display Name"), None);
    }

    #[test]
    fn a_follow_up_boss_export() {
        let h = headers(
            "ID,First Name,Last Name,Stage,Source,Assigned To,Email,Email 2,Phone,Phone 2,Address,City,State,Zip,Tags",
        );
        let map = recognise(&h, &[]).unwrap();
        assert_eq!(map.kind, ExportKind::FollowUpBoss);
        assert_eq!(target(&map, &h, "ID"), Some(Target::SourceId));
        assert_eq!(target(&map, &h, "Assigned To"), Some(Target::Owner));
        assert_eq!(
            target(&map, &h, "Phone 2"),
            Some(Target::Phone {
                kind: PhoneSlot::Labelled,
                slot: 2
            })
        );
        assert_eq!(map.unrecognised, ["Stage", "Source"]);
    }

    #[test]
    fn a_kvcore_export_with_underscores_or_titles() {
        for line in [
            "id,first_name,last_name,email,cell_phone_1,home_phone,work_phone,primary_address,primary_city,primary_state,primary_zip,birthday,hashtags,assigned_agent_id,status",
            "ID,First Name,Last Name,Email,Cell Phone 1,Home Phone,Work Phone,Primary Address,Primary City,Primary State,Primary Zip,Birthday,Hashtags,Assigned Agent ID,Status",
        ] {
            let h = headers(line);
            let map = recognise(&h, &[]).unwrap();
            assert_eq!(map.kind, ExportKind::Kvcore, "{line}");
            assert_eq!(map.columns.len(), 14, "{line}");
            assert_eq!(
                map.columns[4].1,
                Target::Phone {
                    kind: PhoneSlot::Mobile,
                    slot: 1
                }
            );
            assert_eq!(map.columns[13].1, Target::Owner);
            assert_eq!(map.unrecognised.len(), 1, "{line}: only the status");
        }
    }

    #[test]
    fn map_overrides_win_and_name_real_columns() {
        let h = headers("Client,Digits,Town");
        assert!(matches!(
            recognise(&h, &[]),
            Err(ColumnError::NoEmailOrPhoneColumn { .. })
        ));
        let overrides = vec![
            parse_map("Digits=mobile").unwrap(),
            parse_map("Town=city").unwrap(),
            parse_map("Client=name").unwrap(),
        ];
        let map = recognise(&h, &overrides).unwrap();
        assert_eq!(map.kind, ExportKind::Other);
        assert_eq!(map.columns[0].1, Target::FullName);
        assert_eq!(
            map.columns[1].1,
            Target::Phone {
                kind: PhoneSlot::Mobile,
                slot: 0
            }
        );
        let missing = recognise(&h, &[parse_map("Mobile=mobile").unwrap()]);
        assert!(
            matches!(missing, Err(ColumnError::NoSuchColumn { ref column, .. }) if column == "Mobile")
        );
        let ignored = recognise(&headers("Email,Phone"), &[parse_map("Phone=-").unwrap()]).unwrap();
        assert_eq!(ignored.columns, [(0, Target::Email { slot: 0 })]);
    }

    #[test]
    fn bad_maps_say_what_is_expected() {
        let err = parse_map("Cell=mobil").unwrap_err().to_string();
        assert!(err.contains("did you mean mobile?"), "{err}");
        assert!(err.contains("first_name"), "{err}");
        assert!(parse_map("no equals sign").is_err());
        assert!(parse_map("=email").is_err());
        assert_eq!(
            parse_map("a=b=email").unwrap(),
            ("a=b".to_string(), Target::Email { slot: 0 })
        );
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_the_first_header() {
        let h = headers("\u{feff}Email,Name");
        let map = recognise(&h, &[]).unwrap();
        assert_eq!(map.columns[0], (0, Target::Email { slot: 0 }));
    }
}
