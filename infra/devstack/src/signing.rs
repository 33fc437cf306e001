//! Signs webhooks the way sources do: Standard Webhooks and Follow Up Boss's FUB-Signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A fixed secret for demos; tests use [`generate_whsec`].
pub const DEMO_WHSEC: &str = "whsec_ZGV2c3RhY2stZGVtby1zZWNyZXQtMzItYnl0ZXMhISE=";

/// `webhook-id`, `webhook-timestamp`, `webhook-signature` for one delivery.
///
/// The key is the base64 after `whsec_`; a secret that is not `whsec_<base64>` is used as raw
/// bytes, so a test can sign with a deliberately odd secret without a panic.
pub fn standard_webhook_headers(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    vec![
        ("webhook-id".to_string(), msg_id.to_string()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        (
            "webhook-signature".to_string(),
            standard_webhook_signature(secret, msg_id, timestamp, body),
        ),
    ]
}

/// `v1,<base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))>`.
pub fn standard_webhook_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut mac =
        HmacSha256::new_from_slice(&whsec_key(secret)).expect("HMAC takes any key length");
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

fn whsec_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|k| B64.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// Follow Up Boss: hex HMAC-SHA256 of base64(raw body), keyed by the system key.
pub fn fub_signature(system_key: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(system_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(B64.encode(body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A fresh `whsec_` secret with a random 32-byte key.
pub fn generate_whsec() -> String {
    let key: [u8; 32] = rand::rng().random();
    format!("whsec_{}", B64.encode(key))
}

/// A fresh message id, `msg_<random>`.
pub fn new_msg_id() -> String {
    let n: u128 = rand::rng().random();
    format!("msg_{n:032x}")
}

/// Unix seconds now.
pub fn now_timestamp() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        let headers = standard_webhook_headers(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            headers,
            [
                (
                    "webhook-id".to_string(),
                    "msg_p5jXN8AQM9LWM0D4loKWxJek".to_string()
                ),
                ("webhook-timestamp".to_string(), "1614265330".to_string()),
                (
                    "webhook-signature".to_string(),
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string()
                ),
            ]
        );
    }

    #[test]
    fn generated_secrets_are_whsec_with_a_32_byte_key() {
        let s = generate_whsec();
        assert_eq!(whsec_key(&s).len(), 32);
        assert_ne!(s, generate_whsec());
        assert_eq!(whsec_key(DEMO_WHSEC).len(), 32);
        assert!(new_msg_id().starts_with("msg_"));
    }

    #[test]
    fn fub_signature_is_hex_hmac_of_base64_body() {
        let sig = fub_signature("key", b"{}");
        let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
        mac.update(b"e30=");
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig.len(), 64);
    }
}
