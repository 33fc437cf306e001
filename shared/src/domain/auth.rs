//! Webhook authentication (SPEC section 4): Standard Webhooks, Follow Up
//! Boss's `FUB-Signature`, and a plain token. Secrets are compared in
//! constant time (`Mac::verify_slice`, `subtle`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::delivery::Delivery;
use crate::domain::settings::AuthScheme;

type HmacSha256 = Hmac<Sha256>;

/// How far a Standard Webhooks timestamp may be from now (replay window).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery was refused. Callers answer every variant with the same
/// 401 body; the variant is for logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("signature or token missing")]
    Missing,
    #[error("signature or token does not match")]
    Mismatch,
    #[error("timestamp outside the {TOLERANCE_SECS} s window")]
    Stale,
}

/// The workflow's webhook secret cannot be used as a key of its scheme: an
/// operator's mistake, not the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is not a Standard Webhooks key (whsec_ followed by base64)")]
pub struct UnusableSecret;

/// Checks a delivery against the workflow's scheme and secret.
pub fn verify(
    scheme: AuthScheme,
    secret: &str,
    delivery: &Delivery,
    now_unix: i64,
) -> Result<Result<(), AuthError>, UnusableSecret> {
    match scheme {
        AuthScheme::Standard => {
            let key = standard_key(secret)?;
            Ok(verify_standard(&key, delivery, now_unix))
        }
        AuthScheme::FollowUpBoss => Ok(verify_followupboss(secret, delivery)),
        AuthScheme::Token => Ok(verify_token(secret, delivery)),
    }
}

/// The HMAC key of a `whsec_<base64>` secret.
pub fn standard_key(secret: &str) -> Result<Vec<u8>, UnusableSecret> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    match BASE64.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(UnusableSecret),
    }
}

fn verify_standard(key: &[u8], delivery: &Delivery, now_unix: i64) -> Result<(), AuthError> {
    let (Some(id), Some(timestamp), Some(signatures)) = (
        delivery.header("webhook-id"),
        delivery.header("webhook-timestamp"),
        delivery.header("webhook-signature"),
    ) else {
        return Err(AuthError::Missing);
    };
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| AuthError::Mismatch)?;
    if (now_unix - sent_at).abs() > TOLERANCE_SECS {
        return Err(AuthError::Stale);
    }
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| AuthError::Mismatch)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&delivery.body);
    // Several entries are sent while a secret is being rotated; any may match.
    let matched = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| BASE64.decode(sig).ok())
        .any(|sig| mac.clone().verify_slice(&sig).is_ok());
    if matched {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// Follow Up Boss signs the base64 of the body with the system key, in hex.
fn verify_followupboss(secret: &str, delivery: &Delivery) -> Result<(), AuthError> {
    let signature = delivery.header("fub-signature").ok_or(AuthError::Missing)?;
    let signature = hex::decode(signature.trim()).map_err(|_| AuthError::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| AuthError::Mismatch)?;
    mac.update(BASE64.encode(&delivery.body).as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| AuthError::Mismatch)
}

fn verify_token(secret: &str, delivery: &Delivery) -> Result<(), AuthError> {
    let given = delivery
        .header("x-kvsync-token")
        .or_else(|| delivery.query("token"))
        .ok_or(AuthError::Missing)?;
    if bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published Standard Webhooks test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn standard(signature: &str, timestamp: i64) -> Delivery {
        Delivery::new("wf", BODY.as_bytes().to_vec())
            .with_header("webhook-id", MSG_ID)
            .with_header("webhook-timestamp", &timestamp.to_string())
            .with_header("webhook-signature", signature)
    }

    fn check(delivery: &Delivery, now: i64) -> Result<(), AuthError> {
        verify(AuthScheme::Standard, SECRET, delivery, now).unwrap()
    }

    #[test]
    fn the_published_vector_verifies() {
        assert_eq!(check(&standard(SIGNATURE, TIMESTAMP), TIMESTAMP), Ok(()));
    }

    #[test]
    fn any_entry_may_match_during_rotation() {
        let rotated = format!("v1,Zm9vYmFy {SIGNATURE} v2,abc");
        assert_eq!(
            check(&standard(&rotated, TIMESTAMP), TIMESTAMP + 10),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_or_signature_is_refused() {
        let mut tampered = standard(SIGNATURE, TIMESTAMP);
        tampered.body = br#"{"test": 2432232315}"#.to_vec();
        assert_eq!(check(&tampered, TIMESTAMP), Err(AuthError::Mismatch));
        let garbled = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=";
        assert_eq!(
            check(&standard(garbled, TIMESTAMP), TIMESTAMP),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            check(&standard("v1,not base64!", TIMESTAMP), TIMESTAMP),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let delivery = standard(SIGNATURE, TIMESTAMP);
        assert_eq!(check(&delivery, TIMESTAMP + 301), Err(AuthError::Stale));
        assert_eq!(check(&delivery, TIMESTAMP - 301), Err(AuthError::Stale));
        assert_eq!(check(&delivery, TIMESTAMP + 300), Ok(()));
    }

    #[test]
    fn missing_headers_are_refused() {
        let delivery = Delivery::new("wf", BODY.as_bytes().to_vec());
        assert_eq!(check(&delivery, TIMESTAMP), Err(AuthError::Missing));
    }

    #[test]
    fn a_secret_that_is_not_base64_is_the_operators_mistake() {
        let delivery = standard(SIGNATURE, TIMESTAMP);
        assert_eq!(
            verify(AuthScheme::Standard, "whsec_***", &delivery, TIMESTAMP),
            Err(UnusableSecret)
        );
    }

    #[test]
    fn follow_up_boss_signs_the_base64_body_in_hex() {
        let body = br#"{"eventId":"e1","event":"peopleUpdated","resourceIds":[1]}"#.to_vec();
        // Computed outside Rust: Python's hmac.new(b"system-key",
        // base64.b64encode(body), hashlib.sha256).hexdigest().
        let signature = "5f8efb00eee90d53d264528ed227b3af63ff658a6d9ed4cbecdecfe168dae211";
        let delivery = Delivery::new("wf", body.clone()).with_header("fub-signature", signature);
        assert_eq!(
            verify(AuthScheme::FollowUpBoss, "system-key", &delivery, 0),
            Ok(Ok(()))
        );
        assert_eq!(
            verify(AuthScheme::FollowUpBoss, "other-key", &delivery, 0),
            Ok(Err(AuthError::Mismatch))
        );
    }

    #[test]
    fn token_in_header_or_query() {
        let header = Delivery::new("wf", vec![]).with_header("x-kvsync-token", "s3cret");
        assert_eq!(verify(AuthScheme::Token, "s3cret", &header, 0), Ok(Ok(())));
        let query = Delivery::new("wf", vec![]).with_query("token", "s3cret");
        assert_eq!(verify(AuthScheme::Token, "s3cret", &query, 0), Ok(Ok(())));
        let wrong = Delivery::new("wf", vec![]).with_header("x-kvsync-token", "s3cre");
        assert_eq!(
            verify(AuthScheme::Token, "s3cret", &wrong, 0),
            Ok(Err(AuthError::Mismatch))
        );
        let none = Delivery::new("wf", vec![]);
        assert_eq!(
            verify(AuthScheme::Token, "s3cret", &none, 0),
            Ok(Err(AuthError::Missing))
        );
    }
}
