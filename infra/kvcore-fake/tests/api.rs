//! The fake over HTTP, as kvsync's client meets it: kvCORE as SPEC
//! section 7 documents it (no search, partial list rows, the lag, loose
//! types, duplicates), the faults, and the admin routes.

use std::time::{Duration, Instant};

use kvcore_fake::{DuplicatePolicy, FakeConfig, FakeKvcore, Fault, RecordedRequest};
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
    /// Plain types, so these tests can compare values exactly; loose
    /// typing (the default) has its own test.
    async fn start() -> Api {
        Api::start_with(plain()).await
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

    async fn tags(&self, id: u64, body: Value) -> Reply {
        self.send(
            Method::PUT,
            &format!("/contact/{id}/tags"),
            &[],
            Some(body),
            Some(TOKEN),
        )
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

/// A list row's fields, sorted.
const LIST_FIELDS: [&str; 15] = [
    "assigned_agent_id",
    "cell_phone_1",
    "cell_phone_2",
    "created_at",
    "deal_type",
    "email",
    "external_vendor_id",
    "home_phone",
    "id",
    "is_private",
    "name",
    "source",
    "status",
    "updated_at",
    "work_phone",
];

fn plain() -> FakeConfig {
    FakeConfig {
        loose_types: false,
        ..FakeConfig::default()
    }
}

fn lagging(lag: Duration) -> FakeConfig {
    FakeConfig {
        search_lag: lag,
        ..plain()
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .try_into()
        .expect("fits")
}

/// Whether `text` is a `"YYYY-MM-DD HH:MM:SS"` timestamp.
fn is_kvcore_datetime(text: &Value) -> bool {
    text.as_str().is_some_and(|t| {
        t.len() == 19
            && t.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => b == b' ',
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            })
    })
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

/// The keys of a JSON object, sorted.
fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn search_phone_and_unknown_parameters_are_ignored_so_everyone_is_listed() {
    let api = Api::start().await;
    let everyone = [
        api.fake
            .insert_contact(json!({"first_name": "Ann", "cell_phone_1": "2395550100"})),
        api.fake
            .insert_contact(json!({"first_name": "Bo", "home_phone": "2395550199"})),
        api.fake.insert_contact(json!({"email": "cy@ex.com"})),
    ];
    for query in [
        ("search", "2395550100"),
        ("search", "Ann"),
        ("filter[cell_phone_1]", "2395550100"),
        ("filter[phone]", "2395550100"),
        ("filter[id]", "1001"),
        ("filter[second_email]", "x@ex.com"),
        ("q", "ann"),
    ] {
        let found = api.list(&[query]).await;
        assert_eq!(found.status, 200, "{query:?}");
        assert_eq!(ids(&found.body), everyone, "{query:?} lists everyone");
        assert_eq!(found.body["total"], 3);
    }
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
async fn name_agent_and_hashtag_filters_select() {
    let api = Api::start().await;
    let ann = api.fake.insert_contact(json!({
        "first_name": "Ann", "last_name": "Leeds", "assigned_agent_id": 7, "hashtags": ["buyer"]
    }));
    let anna = api.fake.insert_contact(json!({
        "first_name": "anna", "last_name": "Lee", "assigned_agent_id": "77", "hashtags": ["seller"]
    }));
    let bo = api.fake.insert_contact(json!({
        "first_name": "Bo", "last_name": "Lee", "hashtags": ["Buyer", "vip"]
    }));

    let by_first = api.list(&[("filter[first_name]", "AN")]).await;
    assert_eq!(ids(&by_first.body), [ann, anna]);
    let by_last = api.list(&[("filter[last_name]", "lee")]).await;
    assert_eq!(ids(&by_last.body), [ann, anna, bo]);
    let both = api
        .list(&[("filter[first_name]", "ann"), ("filter[last_name]", "lee")])
        .await;
    assert_eq!(ids(&both.body), [ann, anna]);
    let agent = api.list(&[("filter[assigned_agent_id]", "7")]).await;
    assert_eq!(ids(&agent.body), [ann], "exact, not a prefix");
    let agent = api.list(&[("filter[assigned_agent_id]", "77")]).await;
    assert_eq!(ids(&agent.body), [anna]);
    let tagged = api.list(&[("filter[hashtags][]", "buyer")]).await;
    assert_eq!(ids(&tagged.body), [ann, bo]);
    let either = api
        .list(&[
            ("filter[hashtags][]", "seller"),
            ("filter[hashtags][]", "vip"),
        ])
        .await;
    assert_eq!(ids(&either.body), [anna, bo]);
}

#[tokio::test]
async fn list_rows_are_partial_and_get_answers_the_full_record() {
    let api = Api::start().await;
    let id = api.fake.insert_contact(json!({
        "first_name": "Ann", "last_name": "Lee", "email": "ann@ex.com",
        "second_email": "ann2@ex.com", "cell_phone_1": "2395550100",
        "cell_phone_2": "2395550101", "primary_address": "1 Main St",
        "primary_city": "Naples", "primary_state": "FL", "primary_zip": "34102",
        "birthday": "1980-02-03", "hashtags": ["buyer"], "source": "web",
        "assigned_agent_id": 7, "favourite_colour": "red"
    }));

    let listed = api.list(&[]).await;
    let row = &listed.body["data"][0];
    assert_eq!(
        keys(row),
        LIST_FIELDS,
        "a list row has the list fields only"
    );
    for absent in [
        "first_name",
        "last_name",
        "second_email",
        "primary_address",
        "primary_city",
        "birthday",
        "hashtags",
        "favourite_colour",
    ] {
        assert!(row.get(absent).is_none(), "a list row lacks {absent}");
    }
    assert_eq!(row["name"], "Ann Lee", "first and last together");
    assert_eq!(row["cell_phone_2"], "2395550101");
    assert_eq!(row["is_private"], 0);
    assert_eq!(row["deal_type"], Value::Null);
    assert!(
        is_kvcore_datetime(&row["updated_at"]),
        "{}",
        row["updated_at"]
    );

    let full = api.get(id).await;
    assert_eq!(full.status, 200);
    for (field, value) in [
        ("first_name", json!("Ann")),
        ("last_name", json!("Lee")),
        ("second_email", json!("ann2@ex.com")),
        ("primary_address", json!("1 Main St")),
        ("primary_city", json!("Naples")),
        ("primary_state", json!("FL")),
        ("primary_zip", json!("34102")),
        ("birthday", json!("1980-02-03")),
        ("hashtags", json!(["buyer"])),
        ("favourite_colour", json!("red")),
        ("name", json!("Ann Lee")),
        ("email", json!("ann@ex.com")),
    ] {
        assert_eq!(full.body[field], value, "{field}");
    }
    for field in LIST_FIELDS {
        assert_eq!(full.body[field], row[field], "{field} is the same in both");
    }
}

#[tokio::test]
async fn pages_are_laravel_pages_by_id_100_by_default_and_at_most_500() {
    let api = Api::start().await;
    let all = api.fake.insert_contacts(
        (0..620)
            .map(|n| json!({"email": format!("p{n}@ex.com")}))
            .collect(),
    );
    assert_eq!(all.len(), 620);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    // A change does not move a contact: the order is by id.
    api.update(all[0], json!({"first_name": "Changed"})).await;

    let first = api.list(&[]).await.body;
    assert_eq!(
        keys(&first),
        [
            "current_page",
            "data",
            "last_page",
            "next_page_url",
            "per_page",
            "total"
        ]
    );
    assert_eq!(first["per_page"], 100, "100 a page by default");
    assert_eq!(ids(&first), all[..100]);
    assert_eq!(
        (&first["current_page"], &first["last_page"], &first["total"]),
        (&json!(1), &json!(7), &json!(620))
    );
    let next = first["next_page_url"].as_str().expect("a next page");
    assert!(next.ends_with("/v2/public/contacts?page=2"), "{next}");

    let last = api.list(&[("page", "7")]).await.body;
    assert_eq!(ids(&last), all[600..]);
    assert_eq!(last["next_page_url"], Value::Null);
    assert_eq!(ids(&api.list(&[("page", "8")]).await.body), NONE);
    let zero = api.list(&[("page", "0"), ("limit", "0")]).await.body;
    assert_eq!(
        (&zero["current_page"], &zero["per_page"]),
        (&json!(1), &json!(100))
    );

    let most = api.list(&[("limit", "500")]).await.body;
    assert_eq!(ids(&most), all[..500]);
    for over in ["501", "1000"] {
        let clamped = api.list(&[("limit", over)]).await;
        assert_eq!(clamped.status, 200);
        assert_eq!(clamped.body["per_page"], 500, "limit {over} is clamped");
        assert_eq!(ids(&clamped.body), all[..500]);
        assert_eq!(clamped.body["last_page"], 2);
    }
    let second = api.list(&[("limit", "500"), ("page", "2")]).await.body;
    assert_eq!(ids(&second), all[500..]);
}

#[tokio::test]
async fn the_lag_hides_new_contacts_and_shows_old_versions_but_get_does_not_lag() {
    let api = Api::start_with(lagging(Duration::from_secs(60))).await;
    let seeded = api
        .fake
        .insert_contact(json!({"first_name": "Old", "last_name": "Lee", "email": "old@ex.com"}));
    let created = api
        .create(json!({"first_name": "Fresh", "email": "fresh@ex.com"}))
        .await;
    assert_eq!(created.status, 201);
    let created_id = created.body["id"].as_u64().expect("an id");
    let unindexed = api
        .fake
        .insert_unindexed_contact(json!({"email": "quiet@ex.com"}));
    assert_eq!(
        api.update(
            seeded,
            json!({"first_name": "Renamed", "email": "new@ex.com"})
        )
        .await
        .status,
        200
    );

    let everyone = api.list(&[]).await;
    assert_eq!(
        ids(&everyone.body),
        [seeded],
        "the new contacts are not listed yet"
    );
    assert_eq!(
        everyone.body["data"][0]["name"], "Old Lee",
        "the old version"
    );
    assert_eq!(
        ids(&api.list(&[("filter[email]", "old@ex.com")]).await.body),
        [seeded],
        "filtered on the old version"
    );
    assert_eq!(
        ids(&api.list(&[("filter[email]", "new@ex.com")]).await.body),
        NONE
    );
    assert_eq!(
        ids(&api.list(&[("filter[email]", "fresh@ex.com")]).await.body),
        NONE
    );

    assert_eq!(api.get(seeded).await.body["first_name"], "Renamed");
    assert_eq!(api.get(created_id).await.status, 200);
    assert_eq!(api.get(unindexed).await.status, 200);

    api.fake.set_list_lag(Duration::ZERO);
    let everyone = api.list(&[]).await;
    assert_eq!(ids(&everyone.body), [seeded, created_id, unindexed]);
    assert_eq!(everyone.body["data"][0]["name"], "Renamed Lee");
}

#[tokio::test]
async fn the_lag_passes() {
    let api = Api::start_with(lagging(Duration::from_millis(300))).await;
    let created = api.create(json!({"email": "soon@ex.com"})).await;
    let id = created.body["id"].as_u64().expect("an id");
    let query = [("filter[email]", "soon@ex.com")];
    assert_eq!(ids(&api.list(&query).await.body), NONE);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ids(&api.list(&query).await.body), [id]);
}

#[tokio::test]
async fn updated_at_filter_uses_the_lagging_version() {
    let api = Api::start_with(lagging(Duration::from_secs(60))).await;
    let now = now_unix();
    let old = api
        .fake
        .insert_contact(json!({"email": "old@ex.com", "updated_at": now - 1000}));
    let recent = api.fake.insert_contact(json!({
        "email": "recent@ex.com",
        "created_at": "2020-01-01 00:00:00",
        "updated_at": now - 10
    }));
    let since = (now - 100).to_string();
    let query = [("filter[updated_at]", since.as_str())];

    assert_eq!(ids(&api.list(&query).await.body), [recent]);
    let recent_row = &api.list(&query).await.body["data"][0];
    assert_eq!(recent_row["created_at"], "2020-01-01 00:00:00");

    // A person edits the old one in kvCORE: GET sees it at once, with a new
    // updated_at; the list, filtered or not, sees the old version.
    assert!(api.fake.update_contact_as_person(
        old,
        json!({"cell_phone_1": "2395550100", "hashtags": ["vip"]})
    ));
    let fresh = api.get(old).await.body;
    assert_eq!(fresh["cell_phone_1"], "2395550100");
    assert_eq!(
        fresh["hashtags"],
        json!(["vip"]),
        "a person may change tags"
    );
    assert_ne!(
        fresh["updated_at"],
        api.fake.contact(recent).expect("kept")["updated_at"]
    );
    assert_eq!(ids(&api.list(&query).await.body), [recent], "lagging");
    assert_eq!(
        api.list(&[]).await.body["data"][0]["cell_phone_1"],
        Value::Null
    );

    api.fake.set_list_lag(Duration::ZERO);
    assert_eq!(ids(&api.list(&query).await.body), [old, recent]);
    let future = (now + 3600).to_string();
    assert_eq!(
        ids(&api
            .list(&[("filter[updated_at]", future.as_str())])
            .await
            .body),
        NONE
    );
    let not_unix = api
        .list(&[("filter[updated_at]", "2020-01-01 00:00:00")])
        .await;
    assert_eq!(
        ids(&not_unix.body),
        [old, recent],
        "not unix seconds: ignored"
    );
}

#[tokio::test]
async fn api_writes_set_a_real_updated_at() {
    let api = Api::start().await;
    let before = now_unix();
    let id = api
        .fake
        .insert_contact(json!({"email": "a@ex.com", "updated_at": 1000}));
    let since = (before - 1).to_string();
    let query = [("filter[updated_at]", since.as_str())];
    assert_eq!(ids(&api.list(&query).await.body), NONE);
    api.update(id, json!({"first_name": "A"})).await;
    assert_eq!(ids(&api.list(&query).await.body), [id]);
    let created = api
        .create(json!({"email": "b@ex.com", "updated_at": 5}))
        .await;
    let created_id = created.body["id"].as_u64().expect("an id");
    assert!(is_kvcore_datetime(&created.body["updated_at"]));
    assert_eq!(ids(&api.list(&query).await.body), [id, created_id]);
}

#[tokio::test]
async fn archived_contacts_are_listed_only_with_include_archived() {
    let api = Api::start().await;
    let kept = api.fake.insert_contact(json!({"email": "a@ex.com"}));
    let archived = api.fake.insert_contact(json!({"email": "a@ex.com.au"}));
    assert!(api.fake.archive_contact(archived));
    assert!(!api.fake.archive_contact(4242));

    assert_eq!(ids(&api.list(&[]).await.body), [kept]);
    assert_eq!(
        ids(&api.list(&[("filter[email]", "a@ex.com")]).await.body),
        [kept]
    );
    for on in ["1", "true"] {
        let all = api.list(&[("includeArchived", on)]).await;
        assert_eq!(ids(&all.body), [kept, archived], "includeArchived={on}");
    }
    assert_eq!(
        ids(&api.list(&[("includeArchived", "0")]).await.body),
        [kept]
    );
    let still = api.get(archived).await;
    assert_eq!(still.status, 200, "GET still answers an archived contact");
    assert_eq!(still.body["email"], "a@ex.com.au");
}

#[tokio::test]
async fn a_deleted_contact_is_404_and_leaves_the_list_after_the_lag() {
    let api = Api::start_with(lagging(Duration::from_millis(300))).await;
    let kept = api.fake.insert_contact(json!({"email": "a@ex.com"}));
    let deleted = api.fake.insert_contact(json!({"email": "b@ex.com"}));
    assert!(api.fake.delete_contact(deleted));
    assert!(!api.fake.delete_contact(deleted), "already gone");

    let gone = api.get(deleted).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body, json!({"errors": ["Contact not found."]}));
    assert_eq!(
        api.update(deleted, json!({"first_name": "X"})).await.status,
        404
    );
    assert_eq!(api.fake.contact(deleted), None);
    assert_eq!(api.fake.contacts().len(), 1);
    assert_eq!(
        ids(&api.list(&[]).await.body),
        [kept, deleted],
        "the list has not caught up"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ids(&api.list(&[]).await.body), [kept]);
    assert_eq!(
        ids(&api.list(&[("includeArchived", "1")]).await.body),
        [kept]
    );
}

#[tokio::test]
async fn duplicates_are_accepted_by_default() {
    let api = Api::start().await;
    let first = api.create(json!({"email": "dup@ex.com"})).await;
    let again = api.create(json!({"email": "  DUP@ex.com "})).await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_ne!(first.body["id"], again.body["id"]);
    assert_eq!(api.fake.contacts().len(), 2);
}

#[tokio::test]
async fn a_refused_duplicate_is_409_or_422_by_knob_for_the_same_email_and_owner() {
    let api = Api::start_with(FakeConfig {
        duplicates: DuplicatePolicy::Conflict409,
        ..plain()
    })
    .await;
    api.create(json!({"email": "dup@ex.com", "assigned_agent_id": 7}))
        .await;
    let again = api
        .create(json!({"email": " DUP@ex.com ", "assigned_agent_id": 7}))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.body,
        json!({"errors": ["A contact with this email already exists."]})
    );
    assert_eq!(
        api.create(json!({"email": "dup@ex.com", "assigned_agent_id": 8}))
            .await
            .status,
        201,
        "another owner: uniqueness is email plus owner"
    );
    assert_eq!(
        api.create(json!({"email": "dup@ex.com.au", "assigned_agent_id": 7}))
            .await
            .status,
        201,
        "a prefix is not a duplicate"
    );

    api.fake.set_duplicates(DuplicatePolicy::Unprocessable422);
    let refused = api
        .create(json!({"email": "dup@ex.com", "assigned_agent_id": 7}))
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.body,
        json!({"errors": {"email": ["The email has already been taken."]}})
    );
    assert_eq!(api.fake.contacts().len(), 3);

    api.fake.set_duplicates(DuplicatePolicy::Accept);
    assert_eq!(
        api.create(json!({"email": "dup@ex.com", "assigned_agent_id": 7}))
            .await
            .status,
        201
    );
    api.fake.set_reject_duplicate_emails(true);
    assert_eq!(
        api.create(json!({"email": "dup@ex.com", "assigned_agent_id": 7}))
            .await
            .status,
        409,
        "the older switch still works"
    );
}

#[tokio::test]
async fn create_answers_the_whole_contact_and_validates() {
    let api = Api::start().await;
    let created = api
        .create(json!({"first_name": "Ann", "hashtags": ["buyer"], "id": 5, "source": "web"}))
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["id"], 1001, "ids start at first_id");
    assert_eq!(created.body["hashtags"], json!(["buyer"]), "tags on create");
    assert_eq!(created.body["source"], "web", "source on create");
    assert_eq!(created.body["status"], 0);
    assert_eq!(created.body["assigned_agent_id"], Value::Null);
    assert_eq!(created.body["name"], "Ann");
    assert!(is_kvcore_datetime(&created.body["created_at"]));
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
async fn update_ignores_hashtags_and_source_and_assigns_only_an_unassigned_contact() {
    let api = Api::start().await;
    let created = api
        .create(json!({"email": "u@ex.com", "hashtags": ["buyer"], "source": "web"}))
        .await;
    let id = created.body["id"].as_u64().expect("an id");

    let updated = api
        .update(
            id,
            json!({"hashtags": ["seller"], "source": "zillow", "assigned_agent_id": 7, "primary_city": "Naples"}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["hashtags"], json!(["buyer"]));
    assert_eq!(updated.body["source"], "web");
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
async fn the_tags_route_adds_tags_without_duplicates_and_never_removes() {
    let api = Api::start().await;
    let id = api
        .fake
        .insert_contact(json!({"email": "t@ex.com", "hashtags": ["buyer"]}));
    let added = api
        .tags(
            id,
            json!({"tags": [{"name": "seller", "locked": 0}, {"name": "Buyer", "locked": 0}, {"name": "seller", "locked": 1}]}),
        )
        .await;
    assert_eq!(added.status, 200);
    assert!(
        added.body.get("id").is_none(),
        "the answer is not a contact"
    );
    assert_eq!(
        api.get(id).await.body["hashtags"],
        json!(["buyer", "seller"])
    );

    let none = api.tags(id, json!({"tags": []})).await;
    assert_eq!(none.status, 200);
    assert_eq!(
        api.get(id).await.body["hashtags"],
        json!(["buyer", "seller"]),
        "nothing removed"
    );
    assert_eq!(
        ids(&api.list(&[("filter[hashtags][]", "seller")]).await.body),
        [id]
    );

    let no_tags = api.tags(id, json!({"hashtags": ["vip"]})).await;
    assert_eq!(no_tags.status, 422);
    assert_eq!(
        no_tags.body,
        json!({"errors": {"tags": ["The tags field is required."]}})
    );
    assert_eq!(api.tags(id, json!({"tags": ["vip"]})).await.status, 422);
    assert_eq!(
        api.tags(4242, json!({"tags": [{"name": "vip"}]}))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(id).await.body["hashtags"],
        json!(["buyer", "seller"])
    );
}

#[tokio::test]
async fn loose_types_mix_numbers_strings_empties_and_timestamps() {
    let api = Api::start_with(FakeConfig {
        loose_types: true,
        ..plain()
    })
    .await;
    let contact = json!({
        "first_name": "Ann", "email": "ann@ex.com", "cell_phone_1": "2395550100",
        "assigned_agent_id": 7, "primary_city": "", "updated_at": 1_700_000_000
    });
    let ids = api.fake.insert_contacts(vec![contact; 4]);
    assert_eq!(ids, [1001, 1002, 1003, 1004]);

    let rows = api.list(&[]).await.body["data"].clone();
    let row = |i: usize| rows[i].clone();
    // 1001: numbers, "" and datetime strings.
    assert_eq!(row(0)["id"], json!(1001));
    assert_eq!(row(0)["assigned_agent_id"], json!(7));
    assert_eq!(row(0)["cell_phone_1"], json!(2_395_550_100_u64));
    assert_eq!(row(0)["is_private"], json!(0));
    assert_eq!(row(0)["deal_type"], "");
    assert_eq!(row(0)["updated_at"], "2023-11-14 22:13:20");
    // 1002: strings, null and unix seconds.
    assert_eq!(row(1)["id"], "1002");
    assert_eq!(row(1)["assigned_agent_id"], "7");
    assert_eq!(row(1)["cell_phone_1"], "2395550100");
    assert_eq!(row(1)["is_private"], "0");
    assert_eq!(row(1)["deal_type"], Value::Null);
    assert_eq!(row(1)["updated_at"], json!(1_700_000_000));
    // 1003: numbers, null and unix seconds.
    assert_eq!(row(2)["id"], json!(1003));
    assert_eq!(row(2)["deal_type"], Value::Null);
    assert_eq!(row(2)["created_at"], json!(1_700_000_000));
    // 1004: strings, "" and datetime strings.
    assert_eq!(row(3)["id"], "1004");
    assert_eq!(row(3)["source"], "");
    assert_eq!(row(3)["created_at"], "2023-11-14 22:13:20");

    let full = api.get(1003).await.body;
    assert_eq!(
        full["primary_city"],
        Value::Null,
        "\"\" stored, null answered"
    );
    assert_eq!(full["birthday"], Value::Null);
    assert_eq!(api.get(1001).await.body["primary_city"], "");
    let created = api
        .create(json!({"email": "b@ex.com", "assigned_agent_id": 9}))
        .await;
    assert_eq!(created.body["id"], json!(1005));
    let updated = api.update(1002, json!({"first_name": "Bo"})).await;
    assert_eq!(updated.body["id"], "1002");
    assert!(updated.body["updated_at"].as_i64() >= Some(now_unix() - 5));
    assert!(is_kvcore_datetime(
        &api.update(1004, json!({})).await.body["updated_at"]
    ));

    assert_eq!(
        api.fake.contact(1004).expect("seeded")["id"],
        json!(1004),
        "the handle answers plain types"
    );
    api.fake.set_loose_types(false);
    assert_eq!(api.get(1002).await.body["id"], json!(1002));
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

/// kvCORE tokens are JWTs valid one year (SPEC section 7): an accepted
/// one is refused once its `exp` has passed.
#[tokio::test]
async fn an_accepted_jwt_is_401_once_expired() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let live = kvcore_fake::token::jwt("live", now + 86_400);
    let expired = kvcore_fake::token::jwt("old", now - 60);
    let api = Api::start_with(FakeConfig {
        tokens: vec![live.clone(), expired.clone()],
        ..plain()
    })
    .await;
    let ok = api
        .send(Method::GET, "/contacts", &[], None, Some(&live))
        .await;
    assert_eq!(ok.status, 200);
    let refused = api
        .send(Method::GET, "/contacts", &[], None, Some(&expired))
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body, json!({"errors": ["Unauthenticated."]}));
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
async fn a_429_comes_with_or_without_retry_after_then_requests_succeed() {
    let api = Api::start().await;
    api.fake.push_fault(Fault::RateLimited {
        retry_after_secs: 3,
    });
    api.fake.push_fault(Fault::RateLimitedWithoutRetryAfter);
    let limited = api.list(&[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after.as_deref(), Some("3"));
    let bare = api.list(&[]).await;
    assert_eq!(bare.status, 429);
    assert_eq!(bare.retry_after, None, "Retry-After may be missing");
    assert_eq!(bare.body, json!({"errors": ["Too Many Attempts."]}));
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
async fn latency_slows_every_api_request_but_not_admin_ones() {
    let api = Api::start_with(FakeConfig {
        latency: Duration::from_millis(150),
        ..plain()
    })
    .await;
    let id = api.fake.insert_contact(json!({"email": "a@ex.com"}));
    for request in 0..3 {
        let started = Instant::now();
        let answered = match request {
            0 => api.list(&[]).await,
            1 => api.get(id).await,
            _ => api.update(id, json!({"first_name": "A"})).await,
        };
        assert_eq!(answered.status, 200);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "request {request}"
        );
    }
    let started = Instant::now();
    api.admin(Method::GET, "/_admin/contacts", None).await;
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "admin is not slowed"
    );

    api.fake.set_latency(Duration::ZERO);
    let started = Instant::now();
    api.list(&[]).await;
    assert!(started.elapsed() < Duration::from_millis(150));
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
    api.tags(id, json!({"tags": [{"name": "buyer", "locked": 0}]}))
        .await;

    let requests = api.fake.requests();
    assert_eq!(requests.len(), 6);
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
    assert_eq!(requests[4].contact_id(), Some(id));
    assert_eq!(api.fake.count_requests(RecordedRequest::is_list), 2);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_search), 2);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_get), 1);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_create), 1);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_update), 1);
    assert_eq!(api.fake.count_requests(RecordedRequest::is_tags), 1);
    assert!(!requests[5].is_update(), "tags are not an update");

    api.fake.clear_requests();
    assert!(api.fake.requests().is_empty());
}

#[tokio::test]
async fn reset_forgets_everything_and_ids_start_over() {
    let api = Api::start_with(FakeConfig {
        first_id: 7,
        ..plain()
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
    let many = api
        .admin(
            Method::POST,
            "/_admin/contacts",
            Some(json!([{"email": "m1@ex.com"}, {"email": "m2@ex.com"}])),
        )
        .await;
    assert_eq!(many.body, json!({"ids": [1002, 1003]}));
    let listed = api.admin(Method::GET, "/_admin/contacts", None).await;
    assert_eq!(listed.body[0]["email"], "seed@ex.com");
    assert_eq!(listed.body.as_array().map(Vec::len), Some(3));

    let edited = api
        .admin(
            Method::PUT,
            "/_admin/contacts/1002",
            Some(json!({"first_name": "Hand"})),
        )
        .await;
    assert_eq!(
        (edited.status, &edited.body["first_name"]),
        (200, &json!("Hand"))
    );
    let archived = api
        .admin(Method::POST, "/_admin/contacts/1003/archive", None)
        .await;
    assert_eq!(archived.status, 200);
    assert_eq!(ids(&api.list(&[]).await.body), [1001, 1002]);
    let deleted = api
        .admin(Method::DELETE, "/_admin/contacts/1002", None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(api.get(1002).await.status, 404);
    assert_eq!(
        api.admin(Method::DELETE, "/_admin/contacts/1002", None)
            .await
            .status,
        404
    );

    let fault = json!({"status": 429, "retry_after_secs": 2});
    assert_eq!(
        api.admin(Method::POST, "/_admin/faults", Some(fault))
            .await
            .status,
        204
    );
    assert_eq!(api.list(&[]).await.retry_after.as_deref(), Some("2"));
    api.admin(Method::POST, "/_admin/faults", Some(json!({"status": 429})))
        .await;
    let bare = api.list(&[]).await;
    assert_eq!((bare.status, bare.retry_after), (429, None));
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

    let config = json!({
        "list_lag_ms": 60000, "duplicates": "unprocessable_422",
        "loose_types": true, "latency_ms": 5
    });
    let configured = api.admin(Method::PUT, "/_admin/config", Some(config)).await;
    assert_eq!(
        configured.body,
        json!({"list_lag_ms": 60000, "duplicates": "unprocessable_422", "loose_types": true, "latency_ms": 5})
    );
    assert_eq!(
        api.create(json!({"email": "seed@ex.com"})).await.status,
        422
    );
    let unindexed = api
        .admin(
            Method::POST,
            "/_admin/contacts/unindexed",
            Some(json!({"email": "quiet@ex.com"})),
        )
        .await;
    assert_eq!(unindexed.body, json!({"id": 1004}));
    let rows = api.list(&[]).await.body;
    assert_eq!(rows["data"].as_array().map(Vec::len), Some(1), "lagging");
    assert_eq!(
        rows["data"][0]["id"],
        json!(1001),
        "loose: odd ids as numbers"
    );
    assert_eq!(
        api.get(1004).await.body["id"],
        "1004",
        "loose: even as strings"
    );
    let older = json!({"search_lag_ms": 0, "reject_duplicate_emails": false});
    let configured = api.admin(Method::PUT, "/_admin/config", Some(older)).await;
    assert_eq!(configured.body["list_lag_ms"], 0);
    assert_eq!(configured.body["duplicates"], "accept");
    let unknown = json!({"duplicates": "sometimes"});
    assert_eq!(
        api.admin(Method::PUT, "/_admin/config", Some(unknown))
            .await
            .status,
        400
    );

    let recorded = api.admin(Method::GET, "/_admin/requests", None).await;
    assert_eq!(
        recorded.body.as_array().map(Vec::len),
        Some(9),
        "only API requests"
    );
    assert_eq!(recorded.body[0]["path"], "/v2/public/contacts");
    assert_eq!(recorded.body[1]["path"], "/v2/public/contact/1002");
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
