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

/// Parses the body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, PayloadError> {
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
