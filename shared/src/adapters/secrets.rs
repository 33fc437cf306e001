//! Secrets Manager behind a small in-memory cache: a warm container reads
//! each secret once per `SECRET_TTL`, so rotation takes effect within it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use sha2::Digest as _;
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
        Ok(self.get_current(id).await?.value)
    }

    /// The secret's current value (`AWSCURRENT`) and its `VersionId`,
    /// read past the cache: what a compare-and-swap [`Self::replace`]
    /// starts from.
    pub async fn get_current(&self, id: &str) -> Result<Versioned, SecretError> {
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
        let version_id = output.version_id().unwrap_or_default().to_string();
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id.to_string(), (Instant::now(), value.clone()));
        }
        Ok(Versioned { value, version_id })
    }

    /// Writes `value` as the secret's current version only while
    /// `expected_version` still is the one it replaces; answers the new
    /// version's id, or `None` when another writer replaced
    /// `expected_version` first (the value stays theirs).
    ///
    /// Secrets Manager has no conditional PutSecretValue, but a version's
    /// id is its `ClientRequestToken`, and "if a version with this value
    /// already exists and that version's SecretString ... [is] different
    /// from those in the request, then the request fails because you
    /// cannot modify an existing version" (AWS Secrets Manager API
    /// reference, PutSecretValue, ClientRequestToken). The token here is
    /// derived from `expected_version`: every writer that replaces a
    /// version names its successor the same, so only the first succeeds
    /// (`ResourceExistsException` for the others); a retry of the same
    /// write is answered as done.
    pub async fn replace(
        &self,
        id: &str,
        expected_version: &str,
        value: &str,
    ) -> Result<Option<String>, SecretError> {
        let successor = successor_version(expected_version);
        let put = self
            .client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .client_request_token(&successor)
            .send()
            .await;
        match put {
            Ok(output) => {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(id.to_string(), (Instant::now(), value.trim().into()));
                }
                Ok(Some(output.version_id().unwrap_or(&successor).to_string()))
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.remove(id);
                }
                Ok(None)
            }
            Err(error) => Err(write_error(id, &error)),
        }
    }

    fn cached(&self, id: &str) -> Option<Arc<str>> {
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(id)?;
        (at.elapsed() < SECRET_TTL).then(|| value.clone())
    }
}

/// The `ClientRequestToken` (the version id) of the version that replaces
/// `version`: 64 hex digits (Secrets Manager takes 32 to 64 characters).
pub fn successor_version(version: &str) -> String {
    hex::encode(sha2::Sha256::digest(
        format!("kvsync-successor-of:{version}").as_bytes(),
    ))
}

/// A secret's value and the version holding `AWSCURRENT`.
#[derive(Clone)]
pub struct Versioned {
    pub value: Arc<str>,
    pub version_id: String,
}

/// A write refused for good (no such secret, no permission) or not
/// answered.
fn write_error<E>(id: &str, error: &SdkError<E>) -> SecretError
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("error");
            match code {
                "ResourceNotFoundException"
                | "AccessDeniedException"
                | "InvalidRequestException" => SecretError::Unusable {
                    id: id.to_string(),
                    reason: format!("it cannot be written ({code})"),
                },
                other => SecretError::Unavailable(other.to_string()),
            }
        }
        _ => SecretError::Unavailable(transport_text(error)),
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
    fn a_version_s_successor_has_one_id_every_writer_agrees_on() {
        let next = successor_version("a1b2");
        assert_eq!(next.len(), 64, "Secrets Manager takes 32 to 64 characters");
        assert_eq!(next, successor_version("a1b2"));
        assert_ne!(next, successor_version("a1b3"));
    }

    #[test]
    fn kvcore_token_bare_or_json() {
        assert_eq!(kvcore_token(" abc \n").as_deref(), Some("abc"));
        assert_eq!(kvcore_token(r#"{"token": "abc"}"#).as_deref(), Some("abc"));
        assert_eq!(kvcore_token(r#"{"key": "abc"}"#), None);
        assert_eq!(kvcore_token(r#"{"token": "#), None);
    }
}
