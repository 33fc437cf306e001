//! Microsoft Graph: the user's contact folders (`GET /me/contactFolders`,
//! learn.microsoft.com/graph/api/user-list-contactfolders) and the
//! contact delta query of one folder (`GET /me/contactFolders/{id}/
//! contacts/delta`, learn.microsoft.com/graph/api/contact-delta; "Use
//! delta query to track changes in Microsoft Graph data",
//! learn.microsoft.com/graph/delta-query-overview). A listing's pages
//! follow `@odata.nextLink`; its last page carries `@odata.deltaLink`, the
//! next listing's first request. Both links are opaque URLs, used as
//! given. Throttling answers 429 (or 503) with `Retry-After` seconds
//! (learn.microsoft.com/graph/throttling).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::{Microsoft, MicrosoftError, time_left, transport};
use crate::adapters::google::AccessToken;

/// The default Contacts folder's well-known name (contact-delta: "the
/// user's default contact folder" is `contacts`).
pub const WELL_KNOWN_CONTACTS: &str = "contacts";
/// Contacts per page asked for with `Prefer: odata.maxpagesize`: Graph
/// pages contacts at most 200 at a time.
pub const PAGE_SIZE: u32 = 200;

/// One request of a folder's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaRequest<'a> {
    /// A listing's first page, with no delta state: everything in the
    /// folder.
    Start { folder_id: &'a str },
    /// A `@odata.nextLink` or `@odata.deltaLink`, as Graph gave it.
    Link(&'a str),
}

/// One page of a delta listing.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaPage {
    /// Contacts as Graph sent them; a deleted one is `{"id",
    /// "@removed": {"reason"}}`.
    #[serde(default)]
    pub value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// Only on the last page.
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// A contact folder, as `GET /me/contactFolders` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactFolder {
    pub id: String,
    pub display_name: String,
}

#[derive(Deserialize)]
struct FolderPage {
    #[serde(default)]
    value: Vec<ContactFolder>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// The first delta request of a folder under `graph_base`.
pub fn delta_url(graph_base: &str, folder_id: &str) -> String {
    let folder: String = form_urlencoded::byte_serialize(folder_id.as_bytes()).collect();
    format!("{graph_base}/me/contactFolders/{folder}/contacts/delta")
}

impl Microsoft {
    /// One page of a folder's delta listing, asking for `PAGE_SIZE`
    /// contacts a page. No retry here: the poller decides how to meet a
    /// throttle.
    pub async fn delta(
        &self,
        access_token: &AccessToken,
        request: DeltaRequest<'_>,
        deadline: Instant,
    ) -> Result<DeltaPage, MicrosoftError> {
        let url = match request {
            DeltaRequest::Start { folder_id } => delta_url(&self.graph_base, folder_id),
            DeltaRequest::Link(link) => link.to_string(),
        };
        let bytes = self.get(access_token, &url, deadline).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| MicrosoftError::BadResponse(format!("a delta page: {e}")))
    }

    /// Every folder `GET /me/contactFolders` lists (the folders under the
    /// default Contacts folder), following `@odata.nextLink`.
    pub async fn contact_folders(
        &self,
        access_token: &AccessToken,
        deadline: Instant,
    ) -> Result<Vec<ContactFolder>, MicrosoftError> {
        let mut folders = Vec::new();
        let mut url = format!(
            "{}/me/contactFolders?$select=id,displayName",
            self.graph_base
        );
        loop {
            let bytes = self.get(access_token, &url, deadline).await?;
            let page: FolderPage = serde_json::from_slice(&bytes)
                .map_err(|e| MicrosoftError::BadResponse(format!("contact folders: {e}")))?;
            folders.extend(page.value);
            match page.next_link {
                Some(next) => url = next,
                None => return Ok(folders),
            }
        }
    }

    async fn get(
        &self,
        access_token: &AccessToken,
        url: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, MicrosoftError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token.secret())
            .header("accept", "application/json")
            .header("prefer", format!("odata.maxpagesize={PAGE_SIZE}"))
            .timeout(time_left(deadline))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        match status {
            200..=299 => Ok(bytes.to_vec()),
            410 => Err(MicrosoftError::DeltaGone),
            400 | 404 => Err(MicrosoftError::BadRequest {
                status,
                message: error_message(&bytes),
            }),
            401 => Err(MicrosoftError::Unauthenticated),
            403 => Err(MicrosoftError::Forbidden(error_message(&bytes))),
            429 | 503 | 504 => Err(MicrosoftError::Throttled {
                status,
                retry_after,
            }),
            500..=599 => Err(MicrosoftError::Unavailable { status }),
            other => Err(MicrosoftError::BadResponse(format!("status {other}"))),
        }
    }
}

/// A Graph error body's `error.code: error.message`, short.
fn error_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return "unreadable error".to_string();
    };
    let error = &value["error"];
    let mut message = format!(
        "{}: {}",
        error["code"].as_str().unwrap_or("error"),
        error["message"].as_str().unwrap_or("")
    );
    message.truncate(200);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_graph_s_annotations() {
        let page: DeltaPage = serde_json::from_str(
            r#"{"@odata.context": "x", "value": [{"id": "c1"}, {"id": "c2", "@removed": {"reason": "deleted"}}],
                "@odata.nextLink": "https://graph.microsoft.com/v1.0/me/contactFolders/contacts/contacts/delta?$skiptoken=a"}"#,
        )
        .unwrap();
        assert_eq!(page.value.len(), 2);
        assert!(page.next_link.unwrap().contains("$skiptoken=a"));
        assert_eq!(page.delta_link, None);
        let last: DeltaPage =
            serde_json::from_str(r#"{"value": [], "@odata.deltaLink": "d"}"#).unwrap();
        assert_eq!(last.delta_link.as_deref(), Some("d"));
    }

    #[test]
    fn a_folder_id_is_escaped_in_the_path() {
        assert_eq!(
            delta_url("https://g/v1.0", "contacts"),
            "https://g/v1.0/me/contactFolders/contacts/contacts/delta"
        );
        assert_eq!(
            delta_url("https://g/v1.0", "AAMk/AD+="),
            "https://g/v1.0/me/contactFolders/AAMk%2FAD%2B%3D/contacts/delta"
        );
    }

    #[test]
    fn an_error_body_is_shortened_to_its_code_and_message() {
        assert_eq!(
            error_message(br#"{"error": {"code": "ErrorItemNotFound", "message": "gone"}}"#),
            "ErrorItemNotFound: gone"
        );
        assert_eq!(error_message(b"<html>"), "unreadable error");
    }
}
