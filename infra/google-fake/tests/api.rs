//! The fake as Google documents it, over HTTP: each test names the rule.

use google_fake::{FakeConfig, FakeGoogle, Fault};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    fake: FakeGoogle,
}

impl Client {
    async fn start() -> Client {
        let fake = FakeGoogle::start(FakeConfig::default()).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client { http, fake }
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(self.fake.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn access_token(&self) -> String {
        let config = self.fake.config();
        let refresh = self.fake.issue_refresh_token();
        let (status, body) = self
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", &config.client_id),
                ("client_secret", &config.client_secret),
                ("refresh_token", &refresh),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn list(&self, access: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .get(format!(
                "{}/people/me/connections",
                self.fake.people_base_url()
            ))
            .bearer_auth(access)
            .query(query)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

const FIELDS: (&str, &str) = ("personFields", "names,emailAddresses,metadata");

fn ann() -> Value {
    json!({"names": [{"givenName": "Ann"}], "emailAddresses": [{"value": "ann@example.com"}], "phoneNumbers": [{"value": "+12395550100"}]})
}

#[tokio::test]
async fn refresh_tokens_give_access_tokens_until_revoked_then_invalid_grant() {
    let client = Client::start().await;
    let config = client.fake.config();
    let refresh = client.fake.issue_refresh_token();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.as_str()),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = client.token(&form).await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body.get("refresh_token").is_none(),
        "a refresh grant gives no new refresh token"
    );

    client.fake.revoke_refresh_token(&refresh);
    let (status, body) = client.token(&form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (status, body) = client
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", config.client_id.as_str()),
            ("client_secret", "wrong"),
            ("refresh_token", refresh.as_str()),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let recorded = client.fake.requests();
    assert!(
        recorded
            .iter()
            .all(|r| r.param("refresh_token") == Some("<redacted>"))
    );
}

#[tokio::test]
async fn the_consent_page_redirects_with_a_code_the_token_endpoint_takes_once_with_pkce() {
    let client = Client::start().await;
    let config = client.fake.config();
    let verifier = "dBjftJeZ4CVP-mJ92K1qUVoUC2Bf5D46Opl3I4rrhIQ";
    let response = client
        .http
        .get(client.fake.auth_url())
        .query(&[
            ("client_id", config.client_id.as_str()),
            ("redirect_uri", "http://127.0.0.1:9999/"),
            ("response_type", "code"),
            ("scope", "https://www.googleapis.com/auth/contacts.readonly"),
            (
                "code_challenge",
                "ZFwjpUsDB76ix6M8EYNbFjQlhnR9kkqhu7qtyPYdwjM",
            ),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("http://127.0.0.1:9999/?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=xyz"), "{location}");
    let code: String = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let exchange = |verifier: &'static str| {
        let code = code.clone();
        let config = config.clone();
        let client = &client;
        async move {
            client
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", &config.client_id),
                    ("client_secret", &config.client_secret),
                    ("code", &code),
                    ("redirect_uri", "http://127.0.0.1:9999/"),
                    ("code_verifier", verifier),
                ])
                .await
        }
    };
    let (status, body) = exchange(verifier).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("1//"));
    let (status, body) = exchange(verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is used once"
    );
}

#[tokio::test]
async fn listing_needs_a_bearer_token_and_person_fields() {
    let client = Client::start().await;
    let (status, body) = client.list("nope", &[FIELDS]).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let access = client.access_token().await;
    let (status, _) = client.list(&access, &[]).await;
    assert_eq!(status, 400, "personFields is required");
    let (status, _) = client.list(&access, &[FIELDS, ("pageSize", "1001")]).await;
    assert_eq!(status, 400, "pageSize is 1 to 1000");
    client.fake.expire_access_tokens();
    let (status, _) = client.list(&access, &[FIELDS]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn pages_then_a_sync_token_on_the_last_page_then_only_changes_with_deletions() {
    let client = Client::start().await;
    let names = client.fake.add_persons(
        (0..5)
            .map(|i| json!({"names": [{"givenName": format!("P{i}")}]}))
            .collect(),
    );
    let access = client.access_token().await;
    let first = [FIELDS, ("pageSize", "2"), ("requestSyncToken", "true")];
    let (status, page) = client.list(&access, &first).await;
    assert_eq!(status, 200);
    assert_eq!(page["connections"].as_array().unwrap().len(), 2);
    assert_eq!(page["totalItems"], 5);
    assert!(
        page.get("nextSyncToken").is_none(),
        "the sync token comes on the last page only"
    );
    let person = &page["connections"][0];
    assert!(person["etag"].is_string());
    assert!(person["metadata"]["sources"][0]["updateTime"].is_string());
    assert!(person.get("phoneNumbers").is_none(), "the mask applies");

    // Every other parameter must match the first call.
    let token = page["nextPageToken"].as_str().unwrap().to_string();
    let (status, _) = client
        .list(
            &access,
            &[
                FIELDS,
                ("pageSize", "3"),
                ("requestSyncToken", "true"),
                ("pageToken", &token),
            ],
        )
        .await;
    assert_eq!(status, 400);

    let mut seen = 2;
    let mut page_token = token;
    let sync_token = loop {
        let mut query = first.to_vec();
        query.push(("pageToken", &page_token));
        let (status, page) = client.list(&access, &query).await;
        assert_eq!(status, 200, "{page}");
        seen += page["connections"].as_array().map_or(0, Vec::len);
        match page["nextPageToken"].as_str() {
            Some(next) => page_token = next.to_string(),
            None => break page["nextSyncToken"].as_str().unwrap().to_string(),
        }
    };
    assert_eq!(seen, 5);

    let before = client.fake.person(&names[1]).unwrap();
    client.fake.update_person(&names[1], ann());
    client.fake.delete_person(&names[3]);
    let after = client.fake.person(&names[1]).unwrap();
    assert_ne!(before["etag"], after["etag"], "a change is a new etag");
    let incremental = [
        FIELDS,
        ("pageSize", "2"),
        ("requestSyncToken", "true"),
        ("syncToken", sync_token.as_str()),
    ];
    let (status, page) = client.list(&access, &incremental).await;
    assert_eq!(status, 200);
    let listed = page["connections"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{page}");
    assert_eq!(listed[0]["resourceName"], names[1].as_str());
    assert_eq!(listed[0]["names"][0]["givenName"], "Ann");
    assert_eq!(listed[1]["resourceName"], names[3].as_str());
    assert_eq!(listed[1]["metadata"]["deleted"], true);
    assert!(page["nextSyncToken"].is_string());
}

/// people.connections.list: "When the page_token or sync_token is
/// specified, all other request parameters must match the first call."
#[tokio::test]
async fn a_sync_token_under_other_person_fields_is_invalid_argument_without_a_reason() {
    let client = Client::start().await;
    client.fake.add_person(ann());
    let access = client.access_token().await;
    let (_, page) = client
        .list(
            &access,
            &[("personFields", "names"), ("requestSyncToken", "true")],
        )
        .await;
    let token = page["nextSyncToken"].as_str().unwrap().to_string();
    let (status, body) = client
        .list(
            &access,
            &[FIELDS, ("requestSyncToken", "true"), ("syncToken", &token)],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        body["error"]["message"],
        "Request contains an invalid argument."
    );
    assert!(body["error"]["details"].is_null(), "{body}");
    // The same fields as the token's first call: taken.
    let (status, _) = client
        .list(
            &access,
            &[
                ("personFields", "names"),
                ("requestSyncToken", "true"),
                ("syncToken", &token),
            ],
        )
        .await;
    assert_eq!(status, 200);
    // A token issued for other fields by the admin handle: likewise.
    let old = client
        .fake
        .issue_sync_token(&[("personFields", "names"), ("requestSyncToken", "true")]);
    let (status, _) = client
        .list(
            &access,
            &[FIELDS, ("requestSyncToken", "true"), ("syncToken", &old)],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_expired_sync_token_is_a_400_with_reason_expired_sync_token() {
    let client = Client::start().await;
    client.fake.add_person(ann());
    let access = client.access_token().await;
    let (_, page) = client
        .list(&access, &[FIELDS, ("requestSyncToken", "true")])
        .await;
    let token = page["nextSyncToken"].as_str().unwrap().to_string();
    client.fake.expire_sync_tokens();
    let (status, body) = client
        .list(
            &access,
            &[FIELDS, ("requestSyncToken", "true"), ("syncToken", &token)],
        )
        .await;
    assert_eq!(status, 400, "not 410");
    assert_eq!(body["error"]["details"][0]["reason"], "EXPIRED_SYNC_TOKEN");
    assert_eq!(
        body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
}

#[tokio::test]
async fn faults_answer_429_and_5xx_once_each() {
    let client = Client::start().await;
    let access = client.access_token().await;
    client.fake.push_fault(Fault::RateLimited);
    client.fake.push_fault(Fault::Status(503));
    let (status, body) = client.list(&access, &[FIELDS]).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (429, Some("RESOURCE_EXHAUSTED"))
    );
    assert_eq!(client.list(&access, &[FIELDS]).await.0, 503);
    assert_eq!(client.list(&access, &[FIELDS]).await.0, 200);
}

#[tokio::test]
async fn admin_routes_add_edit_and_delete_persons() {
    let client = Client::start().await;
    let admin = client.fake.admin_url();
    let added: Value = client
        .http
        .post(format!("{admin}/persons"))
        .json(&ann())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = added["resourceName"].as_str().unwrap().to_string();
    let id = name.trim_start_matches("people/");
    let edited = client
        .http
        .put(format!("{admin}/persons/{id}"))
        .json(&json!({"names": [{"givenName": "Anne"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status().as_u16(), 200);
    assert_eq!(
        client.fake.person(&name).unwrap()["names"][0]["givenName"],
        "Anne"
    );
    let deleted = client
        .http
        .delete(format!("{admin}/persons/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    assert!(client.fake.persons().is_empty());
}
