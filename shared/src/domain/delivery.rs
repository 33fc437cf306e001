//! One webhook delivery as the handler hands it to `flows::delivery`: the workflow
//! it is for, its headers, query and raw body, and its event identity.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The largest body accepted (SPEC section 4).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub workflow_id: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    /// The raw body, exactly as signed.
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn new(workflow_id: &str, body: Vec<u8>) -> Delivery {
        Delivery {
            workflow_id: workflow_id.to_string(),
            body,
            ..Delivery::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Delivery {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_string());
        self
    }

    pub fn with_query(mut self, name: &str, value: &str) -> Delivery {
        self.query.insert(name.to_string(), value.to_string());
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// The idempotency key (SPEC section 4), first that exists: the
    /// `webhook-id` header, the payload's own event id, a hash of workflow id
    /// and body (so a byte-identical resend is still recognised).
    pub fn event_id(&self, payload_event_id: Option<&str>) -> String {
        let non_empty = |s: &&str| !s.trim().is_empty();
        if let Some(id) = self.header("webhook-id").filter(non_empty) {
            return id.trim().to_string();
        }
        if let Some(id) = payload_event_id.filter(non_empty) {
            return id.trim().to_string();
        }
        let mut hash = Sha256::new();
        hash.update(self.workflow_id.as_bytes());
        hash.update([0]);
        hash.update(&self.body);
        format!("sha256:{}", hex::encode(hash.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_id_header_wins() {
        let delivery = Delivery::new("wf", b"{}".to_vec()).with_header("Webhook-Id", "msg_1");
        assert_eq!(delivery.event_id(Some("evt_9")), "msg_1");
    }

    #[test]
    fn then_the_payloads_event_id() {
        let delivery = Delivery::new("wf", b"{}".to_vec());
        assert_eq!(delivery.event_id(Some("evt_9")), "evt_9");
        assert_ne!(delivery.event_id(Some(" ")), " ");
    }

    #[test]
    fn then_a_hash_of_workflow_and_body() {
        let a = Delivery::new("wf", b"{\"a\":1}".to_vec());
        let same = Delivery::new("wf", b"{\"a\":1}".to_vec());
        let other_body = Delivery::new("wf", b"{\"a\":2}".to_vec());
        let other_workflow = Delivery::new("wf2", b"{\"a\":1}".to_vec());
        assert!(a.event_id(None).starts_with("sha256:"));
        assert_eq!(a.event_id(None), same.event_id(None));
        assert_ne!(a.event_id(None), other_body.event_id(None));
        assert_ne!(a.event_id(None), other_workflow.event_id(None));
    }
}
