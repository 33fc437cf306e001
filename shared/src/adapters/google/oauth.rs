//! Google's OAuth 2.0 token endpoint (developers.google.com/identity/
//! protocols/oauth2/native-app): a refresh token exchanged for an access
//! token (RFC 6749 section 6), and, for `kvsync google connect`, an
//! authorization code with its PKCE verifier (RFC 6749 section 4.1.3,
//! RFC 7636). Errors come as `{"error": "...", "error_description": "..."}`
//! (RFC 6749 section 5.2): `invalid_grant` is a refresh token Google no
//! longer honours.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{Google, GoogleError, time_left, transport};

/// An access token is renewed this long before Google says it expires, so
/// no request goes out with one that dies on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// What `google_oauth_secret` holds (SPEC section 10): the OAuth client
/// and the refresh token its consent gave. Debug never shows the secrets.
#[derive(Clone, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
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
                "the secret must be JSON {{\"client_id\", \"client_secret\", \"refresh_token\"}} ({})",
                e.to_string().split(" at line").next().unwrap_or("unreadable")
            )
        })?;
        for (name, value) in [
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
            ("refresh_token", &credentials.refresh_token),
        ] {
            if value.trim().is_empty() {
                return Err(format!("the secret's {name} is empty"));
            }
        }
        Ok(credentials)
    }

    /// A fingerprint of the refresh token (16 hex digits of its SHA-256):
    /// tells a new consent from the refused one without keeping the token.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.refresh_token.as_bytes());
        hex::encode(&digest[..8])
    }
}

/// A bearer token for the People API and when to stop using it. Debug
/// never shows the token.
#[derive(Clone)]
pub struct AccessToken {
    value: String,
    renew_at: Instant,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// A token Google said lives `expires_in` from now.
    pub fn new(value: String, expires_in: Duration) -> AccessToken {
        AccessToken {
            value,
            renew_at: Instant::now() + expires_in.saturating_sub(EXPIRY_MARGIN),
        }
    }

    pub fn secret(&self) -> &str {
        &self.value
    }

    /// Still good to send (with the margin).
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

/// What the token endpoint answers to an authorization code. Debug never
/// shows the tokens.
#[derive(Clone)]
pub struct TokenGrant {
    pub access_token: AccessToken,
    /// Google sends one on the first consent (and with `prompt=consent`).
    pub refresh_token: Option<String>,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

/// An authorization code as the loopback redirect brought it.
pub struct CodeGrant<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub code: &'a str,
    /// Exactly the `redirect_uri` of the consent URL.
    pub redirect_uri: &'a str,
    /// The PKCE verifier whose challenge the consent URL carried.
    pub code_verifier: &'a str,
}

/// The PKCE `code_challenge` of a verifier (RFC 7636 section 4.2, `S256`):
/// base64url without padding of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; Google sends 3599.
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
}

impl Google {
    /// Exchanges the refresh token for an access token
    /// (`grant_type=refresh_token`). `InvalidGrant` when Google no longer
    /// honours it.
    pub async fn refresh(
        &self,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<AccessToken, GoogleError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.as_str()),
            ("refresh_token", credentials.refresh_token.as_str()),
        ];
        Ok(self.token_request(&form, deadline).await?.access_token)
    }

    /// Exchanges an authorization code (`grant_type=authorization_code`).
    pub async fn exchange_code(
        &self,
        grant: &CodeGrant<'_>,
        deadline: Instant,
    ) -> Result<TokenGrant, GoogleError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", grant.client_id),
            ("client_secret", grant.client_secret),
            ("code", grant.code),
            ("redirect_uri", grant.redirect_uri),
            ("code_verifier", grant.code_verifier),
        ];
        self.token_request(&form, deadline).await
    }

    async fn token_request(
        &self,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<TokenGrant, GoogleError> {
        super::metered(self.token_request_once(form, deadline).await)
    }

    async fn token_request_once(
        &self,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<TokenGrant, GoogleError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(&self.token_url)
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
                let token: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
                    GoogleError::BadResponse(format!("a token response without access_token: {e}"))
                })?;
                let expires_in = Duration::from_secs(token.expires_in.unwrap_or(3600));
                Ok(TokenGrant {
                    access_token: AccessToken::new(token.access_token, expires_in),
                    refresh_token: token.refresh_token.filter(|t| !t.is_empty()),
                })
            }
            429 => Err(GoogleError::RateLimited),
            500..=599 => Err(GoogleError::Unavailable { status }),
            _ => {
                let error = serde_json::from_slice::<TokenErrorBody>(&bytes)
                    .map(|b| b.error)
                    .unwrap_or_else(|_| "unreadable error".to_string());
                match error.as_str() {
                    "invalid_grant" => Err(GoogleError::InvalidGrant),
                    _ => Err(GoogleError::OAuthRefused { status, error }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_name_what_is_missing_and_never_show_secrets() {
        let ok = Credentials::parse(
            r#"{"client_id": "id.apps.googleusercontent.com", "client_secret": "s3cr3t", "refresh_token": "1//rt"}"#,
        )
        .unwrap();
        let shown = format!("{ok:?}");
        assert!(shown.contains("id.apps.googleusercontent.com"));
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("1//rt"),
            "{shown}"
        );
        let missing =
            Credentials::parse(r#"{"client_id": "a", "client_secret": "b"}"#).unwrap_err();
        assert!(missing.contains("refresh_token"), "{missing}");
        let empty =
            Credentials::parse(r#"{"client_id": "a", "client_secret": "b", "refresh_token": " "}"#)
                .unwrap_err();
        assert_eq!(empty, "the secret's refresh_token is empty");
        assert!(Credentials::parse("1//bare-token").is_err());
    }

    #[test]
    fn the_fingerprint_follows_the_refresh_token_only() {
        let a = Credentials {
            client_id: "a".into(),
            client_secret: "b".into(),
            refresh_token: "one".into(),
        };
        let same = Credentials {
            client_secret: "rotated".into(),
            ..a.clone()
        };
        let other = Credentials {
            refresh_token: "two".into(),
            ..a.clone()
        };
        assert_eq!(a.fingerprint().len(), 16);
        assert_eq!(a.fingerprint(), same.fingerprint());
        assert_ne!(a.fingerprint(), other.fingerprint());
        assert!(!a.fingerprint().contains("one"));
    }

    #[test]
    fn pkce_challenge_is_base64url_sha256_as_python_computes_it() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mJ92K1qUVoUC2Bf5D46Opl3I4rrhIQ"),
            "ZFwjpUsDB76ix6M8EYNbFjQlhnR9kkqhu7qtyPYdwjM"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_access_token_is_renewed_a_minute_before_it_expires() {
        let token = AccessToken::new("ya29.x".into(), Duration::from_secs(3599));
        assert!(token.is_fresh());
        tokio::time::advance(Duration::from_secs(3538)).await;
        assert!(token.is_fresh());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!token.is_fresh());
        assert!(!format!("{token:?}").contains("ya29"));
    }
}
