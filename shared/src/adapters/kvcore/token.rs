//! When a kvCORE API token expires. kvCORE issues its API tokens as JWTs
//! valid for one year; nothing warns before one stops working, so the
//! operator's `kvsync doctor` and the scheduled `kvcore-indexer` (EMF metric
//! `KvcoreTokenDaysLeft`, alarmed under 14 days) read the expiry here.
//!
//! The token is decoded, not verified: the payload's `exp` claim (RFC 7519
//! section 4.1.4, NumericDate: unix seconds) is read from the base64url
//! middle segment (RFC 7515 section 3) without checking the signature. That
//! is enough for a reminder: kvCORE itself decides whether a token is
//! accepted, and `kvsync doctor` asks it (`GET /contacts?limit=1`). The
//! token is never logged or returned; only its expiry is.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

/// Warn when a token has fewer days left than this (`kvsync doctor`).
pub const EXPIRY_WARNING_DAYS: f64 = 30.0;

const SECONDS_PER_DAY: f64 = 86_400.0;

/// What a token says about its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A JWT whose `exp` claim is this instant (unix seconds).
    At(i64),
    /// A JWT without an `exp` claim: it does not expire by itself.
    Never,
    /// Not a JWT (three base64url segments with a JSON object in the
    /// middle), or an `exp` that is not a number: the expiry is unknown.
    Unknown,
}

impl Expiry {
    /// Reads the `exp` claim of `token` (the bare token, not the secret's
    /// JSON; see `secrets::kvcore_token`). A `Bearer ` prefix is ignored.
    pub fn of(token: &str) -> Expiry {
        let token = token.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        let mut segments = token.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Expiry::Unknown;
        };
        // base64url without padding is what RFC 7515 prescribes; some
        // issuers pad anyway.
        let Ok(bytes) = URL_SAFE_NO_PAD
            .decode(payload)
            .or_else(|_| URL_SAFE.decode(payload))
        else {
            return Expiry::Unknown;
        };
        let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(&bytes) else {
            return Expiry::Unknown;
        };
        match claims.get("exp") {
            None | Some(serde_json::Value::Null) => Expiry::Never,
            Some(exp) => match exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64)) {
                Some(seconds) => Expiry::At(seconds),
                None => Expiry::Unknown,
            },
        }
    }

    /// Days from `now_s` (unix seconds) until the expiry, fractional and
    /// negative once expired; `None` when the token never expires or its
    /// expiry is unknown.
    pub fn days_left(self, now_s: i64) -> Option<f64> {
        match self {
            Expiry::At(exp) => Some((exp - now_s) as f64 / SECONDS_PER_DAY),
            Expiry::Never | Expiry::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token shaped as kvCORE issues them, with these claims; the
    /// signature is junk (it is never checked).
    fn jwt(claims: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims);
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    #[test]
    fn the_exp_claim_is_the_expiry() {
        let token = jwt(r#"{"aud":"1","jti":"x","iat":1700000000,"exp":1731536000,"sub":"42"}"#);
        assert_eq!(Expiry::of(&token), Expiry::At(1_731_536_000));
        assert_eq!(
            Expiry::of(&format!("Bearer {token}\n")),
            Expiry::At(1_731_536_000)
        );
        // A fractional NumericDate (RFC 7519 allows it).
        assert_eq!(
            Expiry::of(&jwt(r#"{"exp":1731536000.75}"#)),
            Expiry::At(1_731_536_000)
        );
    }

    #[test]
    fn days_left_counts_from_now_and_goes_negative_when_expired() {
        let exp = Expiry::At(1_000_000 + 10 * 86_400);
        assert_eq!(exp.days_left(1_000_000), Some(10.0));
        assert_eq!(exp.days_left(1_000_000 + 10 * 86_400 + 43_200), Some(-0.5));
        assert_eq!(Expiry::Never.days_left(0), None);
        assert_eq!(Expiry::Unknown.days_left(0), None);
    }

    #[test]
    fn padded_payloads_are_read_too() {
        let payload = URL_SAFE.encode(r#"{"exp":50}"#); // 10 bytes → padded
        assert!(payload.ends_with('='));
        assert_eq!(Expiry::of(&format!("e30.{payload}.x")), Expiry::At(50));
    }

    #[test]
    fn no_exp_claim_never_expires() {
        assert_eq!(Expiry::of(&jwt(r#"{"sub":"42"}"#)), Expiry::Never);
        assert_eq!(Expiry::of(&jwt(r#"{"exp":null}"#)), Expiry::Never);
    }

    #[test]
    fn anything_but_a_jwt_is_unknown() {
        assert_eq!(Expiry::of("kvcore-test-token"), Expiry::Unknown);
        assert_eq!(Expiry::of(""), Expiry::Unknown);
        assert_eq!(Expiry::of("a.b"), Expiry::Unknown);
        assert_eq!(Expiry::of("a.b.c.d"), Expiry::Unknown);
        assert_eq!(Expiry::of("e30.!!!.x"), Expiry::Unknown);
        // Base64 of something that is not a JSON object.
        let not_object = URL_SAFE_NO_PAD.encode("[1]");
        assert_eq!(Expiry::of(&format!("e30.{not_object}.x")), Expiry::Unknown);
        assert_eq!(Expiry::of(&jwt(r#"{"exp":"soon"}"#)), Expiry::Unknown);
    }
}
