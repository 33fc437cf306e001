//! kvCORE API tokens as the vendor issues them (SPEC section 7: "a JWT the
//! user makes under Lead Engine → Lead Dropbox; valid one year"): three
//! base64url segments (RFC 7515 section 3) whose payload carries `exp`
//! (RFC 7519 section 4.1.4, unix seconds). The fake mints such tokens for
//! tests and refuses an accepted token once its `exp` has passed, as
//! kvCORE does (401); a token that is not a JWT (the plain test token) is
//! judged by the accepted list alone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A token shaped as kvCORE issues them, for `subject`, expiring at
/// `exp` (unix seconds). The signature is not a real one: nothing checks it.
pub fn jwt(subject: &str, exp: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    let iat = exp - 365 * 86_400;
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::json!({"sub": subject, "iat": iat, "exp": exp}).to_string());
    let signature = URL_SAFE_NO_PAD.encode(format!("kvcore-fake:{subject}:{exp}"));
    format!("{header}.{payload}.{signature}")
}

/// Whether `token` is a JWT whose `exp` is before `now_s`.
pub fn expired(token: &str, now_s: i64) -> bool {
    let mut segments = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|claims| claims["exp"].as_f64())
        .is_some_and(|exp| (exp as i64) < now_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_expires_at_its_exp() {
        let token = jwt("42", 1_000);
        assert_eq!(token.split('.').count(), 3);
        assert!(!expired(&token, 999));
        assert!(expired(&token, 1_001));
        assert!(!expired("kvcore-test-token", i64::MAX));
    }
}
