//! Reading untrusted JSON with errors that name the offending field.

use serde_json::{Map, Value};

/// A payload that is not what its format promises; answered 400 naming
/// `field` (a path such as `contact.phones[1].number`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct PayloadError {
    pub field: String,
    pub message: String,
}

impl PayloadError {
    pub fn new(field: &str, message: &str) -> PayloadError {
        PayloadError {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

/// The UTF-8 byte-order mark some senders put before a JSON body.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses the body as a JSON object. A leading UTF-8 byte-order mark is
/// skipped: RFC 8259 section 8.1 lets a parser ignore one, and some senders
/// add it. Only the parse skips it; the signature is verified over the body
/// exactly as received (`crate::domain::auth`).
pub fn object(body: &[u8]) -> Result<Map<String, Value>, PayloadError> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PayloadError::new("body", "must be a JSON object")),
        Err(e) => Err(PayloadError::new("body", &format!("is not JSON ({e})"))),
    }
}

/// A JSON object with the path it was found at, for error messages.
pub struct Obj<'a> {
    pub path: String,
    pub map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    pub fn root(map: &'a Map<String, Value>) -> Obj<'a> {
        Obj {
            path: String::new(),
            map,
        }
    }

    pub fn field_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn error(&self, name: &str, message: &str) -> PayloadError {
        PayloadError::new(&self.field_path(name), message)
    }

    /// The value, with JSON null read as absent.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn string(&self, name: &str) -> Result<Option<&'a str>, PayloadError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.error(name, "must be a string")),
        }
    }

    /// A string, or a number written as one (ids often travel as either).
    pub fn id(&self, name: &str) -> Result<Option<String>, PayloadError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.error(name, "must be a string or a number")),
        }
    }

    /// A phone number as written: a string, or a whole number (SPEC
    /// section 7: phones come as strings or numbers). Blank reads as absent.
    pub fn phone(&self, name: &str) -> Result<Option<String>, PayloadError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => phone_text(value)
                .map(|text| Some(text).filter(|t| !t.trim().is_empty()))
                .ok_or_else(|| {
                    self.error(name, "must be a phone number (a string or a whole number)")
                }),
        }
    }

    pub fn object(&self, name: &str) -> Result<Option<Obj<'a>>, PayloadError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                path: self.field_path(name),
                map,
            })),
            Some(_) => Err(self.error(name, "must be an object")),
        }
    }

    /// The array's elements, each with its path (`phones[2]`).
    pub fn array(&self, name: &str) -> Result<Vec<(String, &'a Value)>, PayloadError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.field_path(name)), v))
                .collect()),
            Some(_) => Err(self.error(name, "must be a list")),
        }
    }
}

/// An array element that must be an object.
pub fn element_object<'a>(path: String, value: &'a Value) -> Result<Obj<'a>, PayloadError> {
    match value {
        Value::Object(map) => Ok(Obj { path, map }),
        _ => Err(PayloadError::new(&path, "must be an object")),
    }
}

/// An array element that must be a string.
pub fn element_string<'a>(path: &str, value: &'a Value) -> Result<&'a str, PayloadError> {
    value
        .as_str()
        .ok_or_else(|| PayloadError::new(path, "must be a string"))
}

/// A phone written as a string or as a whole JSON number (`2395550100`).
fn phone_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// A loosely typed flag (SPEC section 7; Follow Up Boss `isPrimary`, Google
/// `metadata.primary`): `true`/`false`, `1`/`0`, or those written as strings.
/// `None` for anything else.
pub fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_byte_order_mark_before_the_body_is_skipped() {
        let mut body = UTF8_BOM.to_vec();
        body.extend_from_slice(br#"{"a": 1}"#);
        assert_eq!(object(&body).unwrap()["a"], json!(1));
        // Only at the start, and only once.
        let mut twice = UTF8_BOM.to_vec();
        twice.extend_from_slice(&body);
        assert_eq!(object(&twice).unwrap_err().field, "body");
    }

    #[test]
    fn phones_come_as_strings_or_whole_numbers() {
        let map =
            json!({"s": " 239-555-0100 ", "n": 2395550100_u64, "blank": " ", "f": 1.5, "b": true})
                .as_object()
                .cloned()
                .unwrap();
        let root = Obj::root(&map);
        assert_eq!(root.phone("s").unwrap().as_deref(), Some(" 239-555-0100 "));
        assert_eq!(root.phone("n").unwrap().as_deref(), Some("2395550100"));
        assert_eq!(root.phone("blank").unwrap(), None);
        assert_eq!(root.phone("missing").unwrap(), None);
        assert_eq!(root.phone("f").unwrap_err().field, "f");
        assert_eq!(root.phone("b").unwrap_err().field, "b");
    }

    #[test]
    fn flags_are_loosely_typed() {
        for yes in [
            json!(true),
            json!(1),
            json!("true"),
            json!("1"),
            json!(" TRUE "),
        ] {
            assert_eq!(flag(&yes), Some(true), "{yes}");
        }
        for no in [json!(false), json!(0), json!("false"), json!("0")] {
            assert_eq!(flag(&no), Some(false), "{no}");
        }
        for neither in [json!(2), json!("yes"), json!(null), json!([]), json!(-1)] {
            assert_eq!(flag(&neither), None, "{neither}");
        }
    }
}
