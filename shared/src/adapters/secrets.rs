//! Secrets Manager behind a small in-memory cache: a warm container reads
//! each secret once per `SECRET_TTL`, so rotation takes effect within it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use sha2::Digest;
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
    /// `expected_version` still is; answers the new version's id, or
    /// `None` when another writer got there first (the value stays theirs). Secrets Manager has no conditional
    /// PutSecretValue, so the new version is put under the `AWSPENDING`
    /// label (its `ClientRequestToken`, the value's SHA-256, makes a retry
    /// idempotent) and `AWSCURRENT` is moved to it with
    /// `UpdateSecretVersionStage`, whose `RemoveFromVersionId` must name
    /// the version holding the label or the call fails (AWS Secrets
    /// Manager API reference, UpdateSecretVersionStage; "Secrets Manager
    /// concepts: versions and staging labels").
    pub async fn replace(
        &self,
        id: &str,
        expected_version: &str,
        value: &str,
    ) -> Result<Option<String>, SecretError> {
        let request_token = hex::encode(sha2::Sha256::digest(value.as_bytes()));
        let put = self
            .client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .client_request_token(&request_token)
            .version_stages("AWSPENDING")
            .send()
            .await
            .map_err(|e| write_error(id, &e))?;
        let new_version = put.version_id().unwrap_or(&request_token).to_string();
        let moved = self
            .client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(&new_version)
            .remove_from_version_id(expected_version)
            .send()
            .await;
        match moved {
            Ok(_) => {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(id.to_string(), (Instant::now(), value.trim().into()));
                }
                Ok(Some(new_version))
            }
            Err(error) => match error.as_service_error() {
                Some(e)
                    if e.is_invalid_parameter_exception() || e.is_invalid_request_exception() =>
                {
                    if let Ok(mut cache) = self.cache.lock() {
                        cache.remove(id);
                    }
                    Ok(None)
                }
                _ => Err(write_error(id, &error)),
            },
        }
    }

    fn cached(&self, id: &str) -> Option<Arc<str>> {
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(id)?;
        (at.elapsed() < SECRET_TTL).then(|| value.clone())
    }
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
    fn kvcore_token_bare_or_json() {
        assert_eq!(kvcore_token(" abc \n").as_deref(), Some("abc"));
        assert_eq!(kvcore_token(r#"{"token": "abc"}"#).as_deref(), Some("abc"));
        assert_eq!(kvcore_token(r#"{"key": "abc"}"#), None);
        assert_eq!(kvcore_token(r#"{"token": "#), None);
    }
}
