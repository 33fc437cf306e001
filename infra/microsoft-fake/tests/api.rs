//! The fake as Microsoft documents Graph and the identity platform, over
//! HTTP: each test names the rule.

use std::time::Duration;

use microsoft_fake::{FakeConfig, FakeMicrosoft, Fault};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    fake: FakeMicrosoft,
}

impl Client {
    async fn start(config: FakeConfig) -> Client {
        let fake = FakeMicrosoft::start(config).await.unwrap();
        Client {
            http: reqwest::Client::new(),
            fake,
        }
    }

    fn endpoint(&self, name: &str) -> String {
        self.fake
            .token_url()
            .replace("{tenant}", &self.fake.config().tenant)
            .replace("/token", &format!("/{name}"))
    }

    async fn post(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn refresh(&self, refresh_token: &str, scope: &str) -> (u16, Value) {
        let client_id = self.fake.config().client_id;
        self.post(
            &self.endpoint("token"),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", refresh_token),
                ("scope", scope),
            ],
        )
        .await
    }

    async fn access_token(&self) -> String {
        let refresh = self.fake.issue_refresh_token();
        let (status, body) = self.refresh(&refresh, "Contacts.Read offline_access").await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A delta request: the folder's first, or a link as given.
    async fn delta(
        &self,
        access: &str,
        url: &str,
        page_size: Option<u32>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.get(url).bearer_auth(access);
        if let Some(size) = page_size {
            request = request.header("prefer", format!("odata.maxpagesize={size}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    async fn poll_device(&self, client_id: &str, device_code: &str) -> (u16, Value) {
        self.post(
            &self.endpoint("token"),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client_id),
                ("device_code", device_code),
            ],
        )
        .await
    }

    fn first(&self, folder: &str) -> String {
        format!(
            "{}/me/contactFolders/{folder}/contacts/delta",
            self.fake.graph_base_url()
        )
    }
}

fn contact(given: &str) -> Value {
    json!({"givenName": given, "emailAddresses": [{"address": format!("{given}@example.com")}]})
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_round_pages_with_next_links_and_only_its_last_page_has_the_delta_link() {
    let c = Client::start(FakeConfig::default()).await;
    let added: Vec<String> = (0..25)
        .map(|i| c.fake.add_contact(contact(&format!("p{i}"))))
        .collect();
    let access = c.access_token().await;

    // Without Prefer: Outlook's default of 10 a page.
    let (status, page, headers) = c.delta(&access, &c.first("contacts"), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page).len(), 10);
    assert!(headers.get("preference-applied").is_none());
    let next = page["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.contains("$skiptoken="), "{next}");
    assert!(page.get("@odata.deltaLink").is_none());

    // Prefer odata.maxpagesize: honoured, and said so.
    let (_, second, headers) = c.delta(&access, &next, Some(200)).await;
    assert_eq!(ids(&second).len(), 15);
    assert_eq!(
        headers["preference-applied"].to_str().unwrap(),
        "odata.maxpagesize=200"
    );
    assert!(second.get("@odata.nextLink").is_none());
    let delta_link = second["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta_link.contains("$deltatoken="), "{delta_link}");
    let mut all = ids(&page);
    all.extend(ids(&second));
    all.sort();
    let mut expected = added.clone();
    expected.sort();
    assert_eq!(all, expected, "every contact once");
    let first = &second["value"][0];
    for field in ["id", "changeKey", "lastModifiedDateTime", "givenName"] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }

    // Over Graph's maximum: capped at 200.
    c.fake
        .add_contacts((0..300).map(|i| contact(&format!("q{i}"))).collect());
    let (_, big, _) = c.delta(&access, &c.first("contacts"), Some(999)).await;
    assert_eq!(ids(&big).len(), 200);
}

#[tokio::test]
async fn a_delta_link_lists_changes_and_removals_then_a_lost_state_answers_410() {
    let c = Client::start(FakeConfig::default()).await;
    let ann = c.fake.add_contact(contact("ann"));
    let bob = c.fake.add_contact(contact("bob"));
    let access = c.access_token().await;
    let (_, page, _) = c.delta(&access, &c.first("contacts"), Some(200)).await;
    let link = page["@odata.deltaLink"].as_str().unwrap().to_string();
    let before = page["value"][0]["changeKey"].clone();

    c.fake.update_contact(&ann, contact("ann2"));
    c.fake.delete_contact(&bob);
    let (status, changes, _) = c.delta(&access, &link, Some(200)).await;
    assert_eq!(status, 200);
    let value = changes["value"].as_array().unwrap();
    assert_eq!(value.len(), 2, "{changes}");
    let edited = value.iter().find(|c| c["id"] == ann.as_str()).unwrap();
    assert_ne!(edited["changeKey"], before, "a new changeKey");
    let removed = value.iter().find(|c| c["id"] == bob.as_str()).unwrap();
    assert_eq!(removed["@removed"]["reason"], "deleted");

    c.fake.lose_delta_state();
    let next_link = changes["@odata.deltaLink"].as_str().unwrap();
    let (status, gone, headers) = c.delta(&access, next_link, Some(200)).await;
    assert_eq!(status, 410, "{gone}");
    assert_eq!(gone["error"]["code"], "syncStateNotFound");
    assert!(headers.get("location").is_some());
}

#[tokio::test]
async fn graph_wants_a_live_bearer_token_and_throttles_with_retry_after() {
    let c = Client::start(FakeConfig::default()).await;
    let (status, body, headers) = c.delta("nope", &c.first("contacts"), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(headers.get("www-authenticate").is_some());

    let access = c.access_token().await;
    c.fake.push_fault(Fault::Throttled {
        status: 429,
        retry_after_s: 7,
    });
    let (status, _, headers) = c.delta(&access, &c.first("contacts"), None).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"].to_str().unwrap(), "7");
    let (status, _, _) = c.delta(&access, &c.first("contacts"), None).await;
    assert_eq!(status, 200, "one request only");

    let (status, _, _) = c.delta(&access, &c.first("AAMkNoSuchFolder"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_used_one_is_refused() {
    let c = Client::start(FakeConfig::default()).await;
    let first = c.fake.issue_refresh_token();
    let (status, body) = c.refresh(&first, "Contacts.Read offline_access").await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let (status, body) = c.refresh(&first, "Contacts.Read offline_access").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(c.fake.refresh_token_is_live(&second));

    // Without offline_access: an access token, no refresh token.
    let (status, body) = c.refresh(&second, "Contacts.Read").await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());

    c.fake.revoke_grants();
    let (status, body) = c.refresh(&second, "Contacts.Read offline_access").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_device_code_flow_is_pending_until_the_person_signs_in() {
    let c = Client::start(FakeConfig {
        device_interval: Duration::from_secs(1),
        ..FakeConfig::default()
    })
    .await;
    let client_id = c.fake.config().client_id;
    let (status, device) = c
        .post(
            &c.endpoint("devicecode"),
            &[
                ("client_id", &client_id),
                ("scope", "Contacts.Read offline_access"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{device}");
    assert_eq!(device["interval"], 1);
    assert_eq!(device["expires_in"], 900);
    let device_code = device["device_code"].as_str().unwrap();
    let (status, body) = c.poll_device(&client_id, device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (_, body) = c.poll_device(&client_id, device_code).await;
    assert_eq!(body["error"], "slow_down", "polled within the interval");

    assert!(c.fake.sign_in(device["user_code"].as_str().unwrap()));
    tokio::time::sleep(Duration::from_millis(6100)).await;
    let (status, body) = c.poll_device(&client_id, device_code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    let (_, body) = c.poll_device(&client_id, device_code).await;
    assert_eq!(body["error"], "invalid_grant", "a code is redeemed once");

    let (_, body) = c
        .post(
            &c.endpoint("token"),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &client_id),
                ("device_code", "made-up"),
            ],
        )
        .await;
    assert_eq!(body["error"], "bad_verification_code");
}
