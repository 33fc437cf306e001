//! Secrets Manager behind a small in-memory cache: a warm container reads
//! each secret once per `SECRET_TTL`, so rotation takes effect within it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use tokio::time::Instant;

use crate::adapters::aws::transport_text;

pub const SECRET_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No such secret, or the function may not read it: the workflow names
    /// the wrong secret.
    #[error("secret '{id}' cannot be read: {reason}")]
    Unusable { id: String, reason: String },
    /// Secrets Manager did not answer (throttling, outage): try again.
    #[error("Secrets Manager is unavailable: {0}")]
    Unavailable(String),
}

pub struct Secrets {
    client: Client,
    cache: Mutex<HashMap<String, (Instant, Arc<str>)>>,
}

impl Secrets {
    pub fn new(client: Client) -> Secrets {
        Secrets {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The secret's string value.
    pub async fn get(&self, id: &str) -> Result<Arc<str>, SecretError> {
        if let Some(value) = self.cached(id) {
            return Ok(value);
        }
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| classify(id, e))?;
        let value: Arc<str> = output
            .secret_string()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SecretError::Unusable {
                id: id.to_string(),
                reason: "it has no SecretString value".to_string(),
            })?
            .into();
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id.to_string(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    fn cached(&self, id: &str) -> Option<Arc<str>> {
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(id)?;
        (at.elapsed() < SECRET_TTL).then(|| value.clone())
    }
}

fn classify(id: &str, error: SdkError<GetSecretValueError>) -> SecretError {
    let unusable = |reason: &str| SecretError::Unusable {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    match &error {
        SdkError::ServiceError(service) => match service.err() {
            GetSecretValueError::ResourceNotFoundException(_) => unusable("it does not exist"),
            GetSecretValueError::InvalidRequestException(_) => {
                unusable("it is marked for deletion or not yet usable")
            }
            GetSecretValueError::InvalidParameterException(_) => unusable("the id is not valid"),
            GetSecretValueError::DecryptionFailure(_) => unusable("it cannot be decrypted"),
            other if other.meta().code() == Some("AccessDeniedException") => {
                unusable("access denied (the function may only read secrets under its prefix)")
            }
            other => SecretError::Unavailable(other.meta().code().unwrap_or("error").to_string()),
        },
        _ => SecretError::Unavailable(transport_text(&error)),
    }
}

/// The kvCORE token held by a secret: the bare token, or JSON `{"token": ...}`.
pub fn kvcore_token(secret: &str) -> Option<String> {
    let secret = secret.trim();
    if secret.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(secret).ok()?;
        return value
            .get("token")
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from);
    }
    (!secret.is_empty()).then(|| secret.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvcore_token_bare_or_json() {
        assert_eq!(kvcore_token(" abc \n").as_deref(), Some("abc"));
        assert_eq!(kvcore_token(r#"{"token": "abc"}"#).as_deref(), Some("abc"));
        assert_eq!(kvcore_token(r#"{"key": "abc"}"#), None);
        assert_eq!(kvcore_token(r#"{"token": "#), None);
    }
}
