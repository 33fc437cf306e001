//! The fake over HTTP, as kvsync's client meets it: the kvCORE quirks,
//! the faults, and the admin routes.

use std::time::Duration;

use kvcore_fake::{FakeConfig, FakeKvcore, Fault, RecordedRequest};
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "kvcore-test-token";

/// No contact ids.
const NONE: [u64; 0] = [];

/// What the fake answered.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

struct Api {
    http: reqwest::Client,
    fake: FakeKvcore,
}

impl Api {
    async fn start() -> Api {
        Api::start_with(FakeConfig::default()).await
    }

    async fn start_with(config: FakeConfig) -> Api {
        Api {
            http: reqwest::Client::new(),
            fake: FakeKvcore::start(config).await.expect("the fake starts"),
        }
    }

    /// `path` is under the API base, e.g. `/contacts`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.fake.base_url()))
            .query(query);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("the fake answers")).await
    }

    async fn list(&self, query: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, "/contacts", query, None, Some(TOKEN))
            .await
    }

    async fn get(&self, id: u64) -> Reply {
        self.send(
            Method::GET,
            &format!("/contact/{id}"),
            &[],
            None,
            Some(TOKEN),
        )
        .await
    }

    async fn create(&self, body: Value) -> Reply {
        self.send(Method::POST, "/contact", &[], Some(body), Some(TOKEN))
            .await
    }

    async fn update(&self, id: u64, body: Value) -> Reply {
        self.send(
            Method::PUT,
            &format!("/contact/{id}"),
            &[],
            Some(body),
            Some(TOKEN),
        )
        .await
    }

    /// An admin route, e.g. `/_admin/contacts`.
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.fake.addr()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("the fake answers")).await
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        retry_after,
        body,
    }
}

/// The ids in a page's `data`, in order.
fn ids(page: &Value) -> Vec<u64> {
    page["data"]
        .as_array()
        .expect("a page has data")
        .iter()
        .map(|c| c["id"].as_u64().expect("a contact has an id"))
        .collect()
}

#[tokio::test]
async fn email_filter_matches_by_prefix_so_longer_emails_come_back_too() {
    let api = Api::start().await;
    let exact = api.fake.insert_contact(json!({"email": "john@ex.com"}));
    let au = api.fake.insert_contact(json!({"email": "John@Ex.com.au"}));
    let community = api
        .fake
        .insert_contact(json!({"email": "john@ex.community"}));
    api.fake.insert_contact(json!({"email": "jane@ex.com"}));
    api.fake
        .insert_contact(json!({"email": "x@ex.com", "second_email": "john@ex.com"}));

    let found = api.list(&[("filter[email]", "john@ex.com")]).await;
    assert_eq!(found.status, 200);
    assert_eq!(ids(&found.body), [exact, au, community]);

    let with_unknown = api
        .list(&[("filter[email]", "john@ex.com"), ("filter[shoe_size]", "9")])
        .await;
    assert_eq!(
        ids(&with_unknown.body),
        [exact, au, community],
        "unknown filters are ignored"
    );
}

#[tokio::test]
async fn agent_filter_matches_the_number_exactly() {
    let api = Api::start().await;
    let seven = api
        .fake
        .insert_contact(json!({"email": "a@ex.com", "assigned_agent_id": 7}));
    api.fake
        .insert_contact(json!({"email": "a@ex.com.au", "assigned_agent_id": 77}));
    api.fake.insert_contact(json!({"email": "a@ex.co"}));
    let found = api
        .list(&[
            ("filter[email]", "a@ex.co"),
            ("filter[assigned_agent_id]", "7"),
        ])
        .await;
    assert_eq!(ids(&found.body), [seven]);
}

#[tokio::test]
async fn search_hits_phone_digits_and_profile_details() {
    let api = Api::start().await;
    let cell = api
        .fake
        .insert_contact(json!({"first_name": "Ann", "cell_phone_1": "(239) 555-0100"}));
    let profile_phone = api
        .fake
        .insert_contact(json!({"first_name": "Bo", "cell_phone_2": "+12395550100"}));
    api.fake
        .insert_contact(json!({"first_name": "Cy", "work_phone": "239.555.0199"}));
    let profile_email = api
        .fake
        .insert_contact(json!({"first_name": "Di", "second_email": "pat@ex.com"}));
    let main_email = api
        .fake
        .insert_contact(json!({"first_name": "Ed", "email": "PAT@ex.com"}));

    let by_phone = api.list(&[("search", "2395550100")]).await;
    assert_eq!(by_phone.status, 200);
    assert_eq!(ids(&by_phone.body), [cell, profile_phone]);

    let by_email = api.list(&[("search", "pat@ex.com")]).await;
    assert_eq!(ids(&by_email.body), [profile_email, main_email]);

    let by_name = api.list(&[("search", "ann")]).await;
    assert_eq!(ids(&by_name.body), [cell]);

    let contact = &by_phone.body["data"][1];
    for field in [
        "id",
        "first_name",
        "last_name",
        "email",
        "cell_phone_1",
        "home_phone",
        "work_phone",
        "primary_address",
        "primary_city",
        "primary_state",
        "primary_zip",
        "birthday",
        "hashtags",
        "assigned_agent_id",
        "status",
        "second_email",
        "cell_phone_2",
        "created_at",
        "updated_at",
    ] {
        assert!(
            contact.get(field).is_some(),
            "a listed contact carries {field}"
        );
    }
    assert_eq!(contact["hashtags"], json!([]));
    assert_eq!(contact["cell_phone_1"], Value::Null);
}

#[tokio::test]
async fn search_lag_hides_new_contacts_and_shows_old_versions() {
    let api = Api::start_with(FakeConfig {
        search_lag: Duration::from_secs(60),
        ..FakeConfig::default()
    })
    .await;
    let seeded = api
        .fake
        .insert_contact(json!({"first_name": "Old", "email": "old@ex.com"}));
    let created = api
        .create(json!({"first_name": "Fresh", "email": "fresh@ex.com"}))
        .await;
    assert_eq!(created.status, 201);
    let created_id = created.body["id"].as_u64().expect("an id");
    assert_eq!(
        api.update(seeded, json!({"first_name": "Renamed"}))
            .await
            .status,
        200
    );

    let everyone = api.list(&[]).await;
    assert_eq!(
        ids(&everyone.body),
        [seeded],
        "the created contact is not searchable yet"
    );
    assert_eq!(
        everyone.body["data"][0]["first_name"], "Old",
        "search shows the version before the update"
    );
    assert_eq!(ids(&api.list(&[("search", "renamed")]).await.body), NONE);
    assert_eq!(
        ids(&api.list(&[("filter[email]", "fresh@ex.com")]).await.body),
        NONE
    );

    assert_eq!(api.get(seeded).await.body["first_name"], "Renamed");
    assert_eq!(api.get(created_id).await.status, 200);

    api.fake.set_search_lag(Duration::ZERO);
    let everyone = api.list(&[]).await;
    assert_eq!(ids(&everyone.body), [seeded, created_id]);
    assert_eq!(everyone.body["data"][0]["first_name"], "Renamed");
}

#[tokio::test]
async fn search_lag_passes() {
    let api = Api::start_with(FakeConfig {
        search_lag: Duration::from_millis(300),
        ..FakeConfig::default()
    })
    .await;
    let created = api.create(json!({"email": "soon@ex.com"})).await;
    let id = created.body["id"].as_u64().expect("an id");
    let query = [("filter[email]", "soon@ex.com")];
    assert_eq!(ids(&api.list(&query).await.body), NONE);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ids(&api.list(&query).await.body), [id]);
}

#[tokio::test]
async fn pages_are_laravel_pages_and_limit_stops_at_500() {
    let api = Api::start().await;
    let all: Vec<u64> = (0..45)
        .map(|n| {
            api.fake
                .insert_contact(json!({"email": format!("p{n}@ex.com")}))
        })
        .collect();

    let first = api.list(&[]).await.body;
    assert_eq!(first["per_page"], 20, "20 a page by default");
    assert_eq!(ids(&first), all[..20]);
    assert_eq!(
        (&first["current_page"], &first["last_page"], &first["total"]),
        (&json!(1), &json!(3), &json!(45))
    );
    assert!(first["next_page_url"].is_string());
    assert_eq!(first["prev_page_url"], Value::Null);

    let last = api.list(&[("page", "3"), ("limit", "20")]).await.body;
    assert_eq!(ids(&last), all[40..]);
    assert_eq!(last["next_page_url"], Value::Null);
    assert_eq!((&last["from"], &last["to"]), (&json!(41), &json!(45)));

    let big = api.list(&[("limit", "500")]).await;
    assert_eq!((big.status, ids(&big.body).len()), (200, 45));

    let too_big = api.list(&[("limit", "501")]).await;
    assert_eq!(too_big.status, 422);
    assert_eq!(
        too_big.body,
        json!({"errors": {"limit": ["The limit may not be greater than 500."]}})
    );
}

#[tokio::test]
async fn a_duplicate_email_is_refused_with_409() {
    let api = Api::start().await;
    let first = api.create(json!({"email": "dup@ex.com"})).await;
    assert_eq!(first.status, 201);

    let again = api.create(json!({"email": "  DUP@ex.com "})).await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.body,
        json!({"errors": ["A contact with this email already exists."]})
    );
    assert_eq!(
        api.create(json!({"email": "dup@ex.com.au"})).await.status,
        201,
        "a prefix is not a duplicate"
    );
    assert_eq!(api.fake.contacts().len(), 2);

    api.fake.set_reject_duplicate_emails(false);
    assert_eq!(api.create(json!({"email": "dup@ex.com"})).await.status, 201);
}

#[tokio::test]
async fn create_answers_the_whole_contact_and_validates() {
    let api = Api::start().await;
    let created = api
        .create(json!({"first_name": "Ann", "hashtags": ["buyer"], "id": 5, "source": "web"}))
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["id"], 1001, "ids start at first_id");
    assert_eq!(created.body["hashtags"], json!(["buyer"]));
    assert_eq!(created.body["status"], 0);
    assert_eq!(created.body["assigned_agent_id"], Value::Null);
    assert_eq!(created.body["source"], "web");
    assert!(
        created.body["created_at"]
            .as_str()
            .is_some_and(|t| t.contains('T'))
    );
    assert_eq!(api.fake.contact(1001), Some(created.body));

    let bad_email = api.create(json!({"email": "ann.example.com"})).await;
    assert_eq!(bad_email.status, 422);
    assert_eq!(
        bad_email.body,
        json!({"errors": {"email": ["The email must be a valid email address."]}})
    );
    assert_eq!(
        api.create(json!({"primary_city": "Naples"})).await.status,
        422
    );

    let not_json = api
        .http
        .post(format!("{}/contact", api.fake.base_url()))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("the fake answers");
    let not_json = reply(not_json).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body, json!({"errors": ["Invalid JSON."]}));
    assert_eq!(api.fake.contacts().len(), 1);
}

#[tokio::test]
async fn update_ignores_hashtags_and_assigns_only_an_unassigned_contact() {
    let api = Api::start().await;
    let created = api
        .create(json!({"email": "u@ex.com", "hashtags": ["buyer"]}))
        .await;
    let id = created.body["id"].as_u64().expect("an id");

    let updated = api
        .update(
            id,
            json!({"hashtags": ["seller"], "assigned_agent_id": 7, "primary_city": "Naples"}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["hashtags"], json!(["buyer"]));
    assert_eq!(updated.body["assigned_agent_id"], 7);
    assert_eq!(updated.body["primary_city"], "Naples");
    assert_eq!(
        updated.body["email"], "u@ex.com",
        "fields not given are kept"
    );

    let reassigned = api.update(id, json!({"assigned_agent_id": 8})).await;
    assert_eq!(reassigned.body["assigned_agent_id"], 7);
    assert_eq!(api.fake.contact(id).expect("kept")["assigned_agent_id"], 7);

    assert_eq!(api.update(id, json!({"email": "nope"})).await.status, 422);
    let missing = api.update(999, json!({"first_name": "X"})).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"errors": ["Contact not found."]}));
}

#[tokio::test]
async fn unknown_contacts_and_routes_are_404() {
    let api = Api::start().await;
    let missing = api.get(4242).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"errors": ["Contact not found."]}));
    let unknown = api
        .send(Method::DELETE, "/contact/1", &[], None, Some(TOKEN))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, json!({"errors": ["Not found."]}));
}

#[tokio::test]
async fn a_bad_token_is_401() {
    let api = Api::start().await;
    for token in [Some("wrong"), None] {
        let refused = api.send(Method::GET, "/contacts", &[], None, token).await;
        assert_eq!(refused.status, 401, "{token:?}");
        assert_eq!(refused.body, json!({"errors": ["Unauthenticated."]}));
    }
    let created = api
        .send(
            Method::POST,
            "/contact",
            &[],
            Some(json!({"email": "a@ex.com"})),
            Some("wrong"),
        )
        .await;
    assert_eq!(created.status, 401);
    assert!(api.fake.contacts().is_empty());
    assert_eq!(
        api.fake.requests().len(),
        3,
        "refused requests are recorded"
    );
}

#[tokio::test]
async fn a_one_shot_429_carries_retry_after_then_requests_succeed() {
    let api = Api::start().await;
    api.fake.push_fault(Fault::RateLimited {
        retry_after_secs: 3,
    });
    let limited = api.list(&[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after.as_deref(), Some("3"));
    let next = api.list(&[]).await;
    assert_eq!(next.status, 200);
    assert_eq!(next.retry_after, None);
}

#[tokio::test]
async fn a_persistent_500_lasts_until_cleared_and_comes_before_auth() {
    let api = Api::start().await;
    api.fake.set_persistent_fault(Some(Fault::Status(500)));
    api.fake.push_fault(Fault::Status(503));
    assert_eq!(api.list(&[]).await.status, 503, "one-shot faults first");
    for _ in 0..3 {
        let failed = api.create(json!({"email": "a@ex.com"})).await;
        assert_eq!(failed.status, 500);
        assert_eq!(failed.body, json!({"errors": ["Server Error"]}));
    }
    let unauthenticated = api.send(Method::GET, "/contacts", &[], None, None).await;
    assert_eq!(unauthenticated.status, 500, "faults come before auth");
    assert!(api.fake.contacts().is_empty());

    api.fake.set_persistent_fault(None);
    assert_eq!(api.create(json!({"email": "a@ex.com"})).await.status, 201);
}

#[tokio::test]
async fn a_delay_fault_answers_late_once() {
    let api = Api::start().await;
    api.fake
        .push_fault(Fault::Delay(Duration::from_millis(500)));
    let impatient = api
        .http
        .get(format!("{}/contacts", api.fake.base_url()))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(impatient.is_err_and(|e| e.is_timeout()));
    assert_eq!(api.list(&[]).await.status, 200);
}

#[tokio::test]
async fn requests_are_recorded_decoded_and_by_kind() {
    let api = Api::start().await;
    let id = api.fake.insert_contact(json!({"email": "a+b@ex.com"}));
    api.list(&[("filter[email]", "a+b@ex.com"), ("limit", "100")])
        .await;
    api.list(&[("search", "2395550100")]).await;
    api.get(id).await;
    api.create(json!({"email": "c@ex.com"})).await;
    api.update(id, json!({"first_name": "A"})).await;

    let requests = api.fake.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/v2/public/contacts");
    assert_eq!(
        requests[0].query,
        [
            ("filter[email]".to_string(), "a+b@ex.com".to_string()),
            ("limit".to_string(), "100".to_string())
        ]
    );
    assert_eq!(requests[0].query_param("filter[email]"), Some("a+b@ex.com"));
    assert_eq!(requests[3].body, Some(json!({"email": "c@ex.com"})));
    assert_eq!(api.fake.count_requests(RecordedRequest::is_search), 2);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_get), 1);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_create), 1);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_update), 1);

    api.fake.clear_requests();
    assert!(api.fake.requests().is_empty());
}

#[tokio::test]
async fn reset_forgets_everything_and_ids_start_over() {
    let api = Api::start_with(FakeConfig {
        first_id: 7,
        ..FakeConfig::default()
    })
    .await;
    assert_eq!(api.fake.insert_contact(json!({"email": "a@ex.com"})), 7);
    api.list(&[]).await;
    api.fake.set_persistent_fault(Some(Fault::Status(502)));
    api.fake.reset();
    assert!(api.fake.contacts().is_empty());
    assert!(api.fake.requests().is_empty());
    assert_eq!(api.list(&[]).await.status, 200, "faults are cleared");
    assert_eq!(api.fake.insert_contact(json!({"email": "b@ex.com"})), 7);
}

#[tokio::test]
async fn admin_routes_drive_the_fake_without_being_recorded() {
    let api = Api::start().await;
    let seeded = api
        .admin(
            Method::POST,
            "/_admin/contacts",
            Some(json!({"email": "seed@ex.com"})),
        )
        .await;
    assert_eq!(seeded.body, json!({"id": 1001}));
    let listed = api.admin(Method::GET, "/_admin/contacts", None).await;
    assert_eq!(listed.body[0]["email"], "seed@ex.com");

    let fault = json!({"status": 429, "retry_after_secs": 2});
    assert_eq!(
        api.admin(Method::POST, "/_admin/faults", Some(fault))
            .await
            .status,
        204
    );
    assert_eq!(api.list(&[]).await.retry_after.as_deref(), Some("2"));
    let persistent = json!({"status": 502, "persistent": true});
    api.admin(Method::POST, "/_admin/faults", Some(persistent))
        .await;
    assert_eq!(api.list(&[]).await.status, 502);
    api.admin(Method::DELETE, "/_admin/faults", None).await;
    assert_eq!(api.list(&[]).await.status, 200);
    let bad_fault = api
        .admin(Method::POST, "/_admin/faults", Some(json!({"colour": 1})))
        .await;
    assert_eq!(bad_fault.status, 400);

    let config = json!({"search_lag_ms": 60000, "reject_duplicate_emails": false});
    api.admin(Method::PUT, "/_admin/config", Some(config)).await;
    api.create(json!({"email": "seed@ex.com"})).await;
    assert_eq!(
        ids(&api.list(&[]).await.body),
        [1001],
        "lagging, duplicates allowed"
    );
    assert_eq!(api.fake.contacts().len(), 2);

    let recorded = api.admin(Method::GET, "/_admin/requests", None).await;
    assert_eq!(
        recorded.body.as_array().map(Vec::len),
        Some(5),
        "only API requests"
    );
    assert_eq!(recorded.body[0]["path"], "/v2/public/contacts");
    api.admin(Method::DELETE, "/_admin/requests", None).await;
    assert!(api.fake.requests().is_empty());

    api.admin(Method::POST, "/_admin/reset", None).await;
    assert!(api.fake.contacts().is_empty());
    assert_eq!(
        api.admin(Method::GET, "/_admin/nothing", None).await.status,
        404
    );
    assert!(api.fake.requests().is_empty());
}
