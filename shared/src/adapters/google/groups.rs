//! `GET contactGroups` (developers.google.com/people/api/rest/v1/
//! contactGroups/list): the user's contact groups ("labels"), so that a
//! person's `memberships` (group resource names) read as the names people
//! gave them, for `source.labels` in filters and mappings (SPEC section 12).
//! `pageSize` up to 1000, `groupFields=name`, pages by `nextPageToken`.

use std::collections::BTreeMap;

use serde::Deserialize;
use tokio::time::Instant;

use super::{AccessToken, Google, GoogleError, time_left, transport};

/// Resource name (`contactGroups/1a2b`) → the group's `name` ("Clients";
/// for system groups Google's own names: `myContacts`, `starred`).
pub type GroupNames = BTreeMap<String, String>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupsPage {
    #[serde(default)]
    contact_groups: Vec<Group>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    resource_name: String,
    name: Option<String>,
}

/// Pages read at most: 1000 groups a page is more labels than anyone has.
const MAX_PAGES: usize = 10;

impl Google {
    /// Every contact group of the user and its name.
    pub async fn contact_group_names(
        &self,
        access_token: &AccessToken,
        deadline: Instant,
    ) -> Result<GroupNames, GoogleError> {
        let mut names = GroupNames::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("pageSize", "1000".to_string()),
                ("groupFields", "name".to_string()),
            ];
            if let Some(token) = &page_token {
                query.push(("pageToken", token.clone()));
            }
            let response = self
                .http
                .get(format!("{}/contactGroups", self.people_base))
                .bearer_auth(access_token.secret())
                .header("accept", "application/json")
                .query(&query)
                .timeout(time_left(deadline))
                .send()
                .await
                .map_err(transport)?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(transport)?;
            let page: GroupsPage = match status {
                200..=299 => serde_json::from_slice(&bytes)
                    .map_err(|e| GoogleError::BadResponse(format!("a contact groups page: {e}")))?,
                401 => return Err(GoogleError::Unauthenticated),
                403 => return Err(GoogleError::Forbidden("contact groups".into())),
                429 => return Err(GoogleError::RateLimited),
                500..=599 => return Err(GoogleError::Unavailable { status }),
                other => {
                    return Err(GoogleError::BadResponse(format!(
                        "contact groups: status {other}"
                    )));
                }
            };
            for group in page.contact_groups {
                if let Some(name) = group.name.filter(|n| !n.trim().is_empty()) {
                    names.insert(group.resource_name, name);
                }
            }
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        Ok(names)
    }
}
