//! The Microsoft identity platform's OAuth 2.0 endpoints
//! (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow,
//! "Refresh the access token"; .../v2-oauth2-device-code): a refresh token
//! exchanged for an access token and a NEW refresh token ("Refresh tokens
//! replace themselves with a fresh token upon every use"), and, for
//! `kvsync microsoft connect`, the device authorization grant (RFC 8628).
//! Errors come as `{"error", "error_description", "error_codes"}` (RFC 6749
//! section 5.2).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{Microsoft, MicrosoftError, time_left, transport};
use crate::adapters::google::AccessToken;

/// What kvsync asks for (SPEC section 15): read contacts, and a refresh
/// token (`offline_access`).
pub const SCOPES: &str = "Contacts.Read offline_access";

/// What `microsoft_oauth_secret` holds (SPEC section 15). Debug never shows
/// the secrets.
#[derive(Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Credentials {
    /// `common`, `organizations`, `consumers`, a tenant id or a domain.
    pub tenant: String,
    pub client_id: String,
    pub refresh_token: String,
    /// Only for a confidential client (a web app registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads the secret's JSON; the error names what is missing (never a
    /// value).
    pub fn parse(secret: &str) -> Result<Credentials, String> {
        let credentials: Credentials = serde_json::from_str(secret).map_err(|e| {
            format!(
                "the secret must be JSON {{\"tenant\", \"client_id\", \"refresh_token\"}} ({})",
                e.to_string()
                    .split(" at line")
                    .next()
                    .unwrap_or("unreadable")
            )
        })?;
        for (name, value) in [
            ("tenant", &credentials.tenant),
            ("client_id", &credentials.client_id),
            ("refresh_token", &credentials.refresh_token),
        ] {
            if value.trim().is_empty() {
                return Err(format!("the secret's {name} is empty"));
            }
        }
        Ok(credentials)
    }

    /// A fingerprint of the refresh token (16 hex digits of its SHA-256):
    /// tells a new sign-in from the refused one without keeping the token.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.refresh_token.as_bytes());
        hex::encode(&digest[..8])
    }

    /// The secret's JSON text.
    pub fn to_secret(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the token endpoint answers: an access token for Graph and the
/// refresh token that replaces the one used. Debug never shows them.
#[derive(Clone)]
pub struct MicrosoftToken {
    pub access_token: AccessToken,
    pub refresh_token: Option<String>,
}

impl fmt::Debug for MicrosoftToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MicrosoftToken")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

/// The device authorization response (RFC 8628 section 3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    /// Secret: only sent back to the token endpoint.
    pub device_code: String,
    /// What the person types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds the codes live.
    pub expires_in: u64,
    /// Seconds between polls (RFC 8628: 5 when absent).
    #[serde(default = "default_interval")]
    pub interval: u64,
    #[serde(default)]
    pub message: Option<String>,
}

fn default_interval() -> u64 {
    5
}

/// One poll of the device code grant (RFC 8628 section 3.5).
#[derive(Debug, Clone)]
pub enum DevicePoll {
    /// `authorization_pending`: the person has not signed in yet.
    Pending,
    /// `slow_down`: poll 5 s less often from now on.
    SlowDown,
    /// `expired_token`: the code is no longer good; start again.
    Expired,
    /// `authorization_declined` (or `access_denied`): the person said no.
    Declined,
    Granted(MicrosoftToken),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; Microsoft sends 3599 to 5399.
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

enum Answer {
    Token(MicrosoftToken),
    Error { status: u16, error: String },
}

impl Microsoft {
    /// The token endpoint of `tenant`.
    fn token_endpoint(&self, tenant: &str) -> String {
        self.token_url.replace("{tenant}", tenant)
    }

    /// The device authorization endpoint beside the token endpoint
    /// (`.../oauth2/v2.0/devicecode`).
    fn device_endpoint(&self, tenant: &str) -> String {
        let token = self.token_endpoint(tenant);
        match token.strip_suffix("/token") {
            Some(base) => format!("{base}/devicecode"),
            None => format!("{token}/devicecode"),
        }
    }

    /// Exchanges the refresh token (`grant_type=refresh_token`, scopes
    /// `Contacts.Read offline_access`); the answer carries the refresh
    /// token that replaces it. `InvalidGrant` when Microsoft no longer
    /// honours it.
    pub async fn refresh(
        &self,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<MicrosoftToken, MicrosoftError> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", credentials.client_id.as_str()),
            ("refresh_token", credentials.refresh_token.as_str()),
            ("scope", SCOPES),
        ];
        if let Some(secret) = &credentials.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        match self
            .post_form(&self.token_endpoint(&credentials.tenant), &form, deadline)
            .await?
        {
            Answer::Token(token) => Ok(token),
            Answer::Error { error, .. } if error == "invalid_grant" => {
                Err(MicrosoftError::InvalidGrant)
            }
            Answer::Error { status, error } => Err(MicrosoftError::OAuthRefused { status, error }),
        }
    }

    /// Starts the device code flow (RFC 8628 section 3.1) for the app
    /// registration `client_id` in `tenant`.
    pub async fn device_authorization(
        &self,
        tenant: &str,
        client_id: &str,
        deadline: Instant,
    ) -> Result<DeviceAuthorization, MicrosoftError> {
        let form = [("client_id", client_id), ("scope", SCOPES)];
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(self.device_endpoint(tenant))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .timeout(time_left(deadline))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        match status {
            200..=299 => serde_json::from_slice(&bytes)
                .map_err(|e| MicrosoftError::BadResponse(format!("a device authorization: {e}"))),
            _ => Err(MicrosoftError::OAuthRefused {
                status,
                error: error_code(&bytes),
            }),
        }
    }

    /// One poll of the token endpoint for a device code (RFC 8628
    /// section 3.4).
    pub async fn poll_device(
        &self,
        tenant: &str,
        client_id: &str,
        device_code: &str,
        deadline: Instant,
    ) -> Result<DevicePoll, MicrosoftError> {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ];
        match self
            .post_form(&self.token_endpoint(tenant), &form, deadline)
            .await?
        {
            Answer::Token(token) => Ok(DevicePoll::Granted(token)),
            Answer::Error { status, error } => match error.as_str() {
                "authorization_pending" => Ok(DevicePoll::Pending),
                "slow_down" => Ok(DevicePoll::SlowDown),
                "expired_token" | "code_expired" => Ok(DevicePoll::Expired),
                "authorization_declined" | "access_denied" => Ok(DevicePoll::Declined),
                _ => Err(MicrosoftError::OAuthRefused { status, error }),
            },
        }
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Answer, MicrosoftError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .timeout(time_left(deadline))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        match status {
            200..=299 => {
                let token: TokenResponse = serde_json::from_slice(&bytes)
                    .map_err(|e| MicrosoftError::BadResponse(format!("a token answer: {e}")))?;
                Ok(Answer::Token(MicrosoftToken {
                    access_token: AccessToken::new(
                        token.access_token,
                        Duration::from_secs(token.expires_in.unwrap_or(3599)),
                    ),
                    refresh_token: token.refresh_token.filter(|t| !t.is_empty()),
                }))
            }
            400 | 401 => Ok(Answer::Error {
                status,
                error: error_code(&bytes),
            }),
            429 => Err(MicrosoftError::Throttled {
                status,
                retry_after: None,
            }),
            500..=599 => Err(MicrosoftError::Unavailable { status }),
            other => Err(MicrosoftError::BadResponse(format!(
                "token endpoint status {other}"
            ))),
        }
    }
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| "unreadable error".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_reads_with_or_without_a_client_secret() {
        let public = Credentials::parse(
            r#"{"tenant": "common", "client_id": "app", "refresh_token": "rt"}"#,
        )
        .unwrap();
        assert_eq!(public.client_secret, None);
        assert_eq!(
            Credentials::parse(&public.to_secret()).unwrap(),
            public,
            "written back as read"
        );
        let error = Credentials::parse(r#"{"tenant": "common", "client_id": "app"}"#).unwrap_err();
        assert!(error.contains("refresh_token"), "{error}");
        let error =
            Credentials::parse(r#"{"tenant": " ", "client_id": "app", "refresh_token": "rt"}"#)
                .unwrap_err();
        assert_eq!(error, "the secret's tenant is empty");
        assert!(!format!("{public:?}").contains("rt\""), "never the token");
    }

    #[test]
    fn the_endpoints_take_the_tenant() {
        let microsoft = Microsoft::new(
            "https://graph.microsoft.com/v1.0/",
            super::super::DEFAULT_TOKEN_URL,
        )
        .unwrap();
        assert_eq!(
            microsoft.token_endpoint("contoso.com"),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(
            microsoft.device_endpoint("common"),
            "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"
        );
        assert_eq!(microsoft.graph_base(), "https://graph.microsoft.com/v1.0");
    }
}
