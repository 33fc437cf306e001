//! `GET people/me/connections` (developers.google.com/people/api/rest/v1/
//! people.connections/list): one page of the user's contacts, with the
//! sync token on the last page of a listing that asked for one. Errors
//! come as `google.rpc.Status` JSON: `{"error": {"code", "message",
//! "status", "details": [{"@type": ".../google.rpc.ErrorInfo", "reason"}]}}`.

use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::{AccessToken, Google, GoogleError, time_left, transport};

/// The fields kvsync maps (SPEC sections 5 and 10); `metadata` brings
/// `deleted` and `sources[].updateTime`, `memberships` the contact groups
/// `source.labels` reads (section 12).
pub const PERSON_FIELDS: &str =
    "names,emailAddresses,phoneNumbers,addresses,birthdays,metadata,memberships";
/// The most Google pages (1 to 1000): the fewest requests per listing.
pub const PAGE_SIZE: u32 = 1000;

/// One request of a listing. Google requires every page of a listing to
/// repeat the first request's parameters, so only the page token changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest<'a> {
    /// An incremental listing's token; `None` lists everyone.
    pub sync_token: Option<&'a str>,
    /// `None` for a listing's first page.
    pub page_token: Option<&'a str>,
}

/// One page of `connections.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionsPage {
    /// `Person` resources as Google sent them (absent on an empty page).
    #[serde(default)]
    pub connections: Vec<Value>,
    pub next_page_token: Option<String>,
    /// Only on the last page.
    pub next_sync_token: Option<String>,
    pub total_items: Option<u64>,
}

impl Google {
    /// One page: `personFields`, `pageSize=1000`, `requestSyncToken=true`,
    /// and the request's `syncToken` and `pageToken`. No retry here: the
    /// poller backs off to its next run (SPEC section 10).
    pub async fn connections(
        &self,
        access_token: &AccessToken,
        request: ListRequest<'_>,
        deadline: Instant,
    ) -> Result<ConnectionsPage, GoogleError> {
        super::metered(self.connections_once(access_token, request, deadline).await)
    }

    async fn connections_once(
        &self,
        access_token: &AccessToken,
        request: ListRequest<'_>,
        deadline: Instant,
    ) -> Result<ConnectionsPage, GoogleError> {
        let page_size = PAGE_SIZE.to_string();
        let mut query = vec![
            ("personFields", PERSON_FIELDS),
            ("pageSize", page_size.as_str()),
            ("requestSyncToken", "true"),
        ];
        if let Some(token) = request.sync_token {
            query.push(("syncToken", token));
        }
        if let Some(token) = request.page_token {
            query.push(("pageToken", token));
        }
        let response = self
            .http
            .get(format!("{}/people/me/connections", self.people_base))
            .bearer_auth(access_token.secret())
            .header("accept", "application/json")
            .query(&query)
            .timeout(time_left(deadline))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        match status {
            200..=299 => serde_json::from_slice(&bytes)
                .map_err(|e| GoogleError::BadResponse(format!("a connections page: {e}"))),
            400 => match rpc_error(&bytes) {
                (_, reasons) if reasons.iter().any(|r| r == "EXPIRED_SYNC_TOKEN") => {
                    Err(GoogleError::ExpiredSyncToken)
                }
                (message, _) => Err(GoogleError::BadRequest(message)),
            },
            401 => Err(GoogleError::Unauthenticated),
            403 => Err(GoogleError::Forbidden(rpc_error(&bytes).0)),
            429 => Err(GoogleError::RateLimited),
            500..=599 => Err(GoogleError::Unavailable { status }),
            other => Err(GoogleError::BadResponse(format!("status {other}"))),
        }
    }
}

/// A `google.rpc.Status` body's message and its `ErrorInfo` reasons.
fn rpc_error(body: &[u8]) -> (String, Vec<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return ("unreadable error".to_string(), Vec::new());
    };
    let error = &value["error"];
    let mut message = error["message"].as_str().unwrap_or("").to_string();
    message.truncate(200);
    let reasons = error["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .filter_map(|d| d["reason"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (message, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expired_reason_is_read_from_error_info() {
        let body = br#"{"error": {"code": 400, "message": "Sync token is expired.",
            "status": "FAILED_PRECONDITION", "details": [{"@type":
            "type.googleapis.com/google.rpc.ErrorInfo", "reason": "EXPIRED_SYNC_TOKEN",
            "domain": "people.googleapis.com"}]}}"#;
        let (message, reasons) = rpc_error(body);
        assert_eq!(message, "Sync token is expired.");
        assert_eq!(reasons, ["EXPIRED_SYNC_TOKEN"]);
        assert_eq!(rpc_error(b"<html>").1, Vec::<String>::new());
    }

    #[test]
    fn a_page_reads_google_s_field_names() {
        let page: ConnectionsPage = serde_json::from_str(
            r#"{"connections": [{"resourceName": "people/c1"}], "nextPageToken": "p2", "totalItems": 3}"#,
        )
        .unwrap();
        assert_eq!(page.connections.len(), 1);
        assert_eq!(page.next_page_token.as_deref(), Some("p2"));
        assert_eq!(page.next_sync_token, None);
        let empty: ConnectionsPage = serde_json::from_str(r#"{"nextSyncToken": "s"}"#).unwrap();
        assert!(empty.connections.is_empty());
        assert_eq!(empty.next_sync_token.as_deref(), Some("s"));
    }
}
