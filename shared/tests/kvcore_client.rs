//! The kvCORE client against the project's kvCORE fake: paging, kvCORE's
//! error answers, and retries within the deadline.

use std::time::Duration;

use kvcore_fake::{DuplicatePolicy, FakeConfig, FakeKvcore, Fault};
use kvsync::adapters::kvcore::{ContactsPage, Kvcore, KvcoreError, Session};
use kvsync::adapters::retry::Transient;
use kvsync::domain::contact::Email;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

const TOKEN: &str = "kvcore-test-token";

async fn fake() -> (FakeKvcore, Kvcore) {
    let fake = FakeKvcore::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let client = Kvcore::new(&fake.base_url()).expect("client builds");
    (fake, client)
}

fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// Any one list request (the first page of everyone).
async fn list_any(session: &Session<'_>) -> Result<ContactsPage, KvcoreError> {
    session.list_page(&[], 1, 100).await
}

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

#[tokio::test]
async fn email_lookup_returns_kvcores_prefix_candidates_for_verification() {
    let (fake, client) = fake().await;
    fake.insert_contact(json!({"first_name": "A", "email": "john@example.com.au"}));
    let exact = fake.insert_contact(json!({"first_name": "B", "email": "john@example.com"}));
    fake.insert_contact(json!({"first_name": "C", "email": "jane@example.com"}));

    let session = client.session(TOKEN, in_secs(10));
    let email = Email::parse("john@example.com").unwrap();
    let found = session.find_by_email(&email).await.unwrap();
    let ids: Vec<u64> = found.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 2, "kvCORE's filter is exact-or-prefix: {ids:?}");
    assert!(ids.contains(&exact));
    let request = &fake.requests()[0];
    assert!(
        request
            .query
            .contains(&("filter[email]".to_string(), "john@example.com".to_string()))
    );
}

#[tokio::test]
async fn email_lookups_read_every_page() {
    let (fake, client) = fake().await;
    let contacts = (0..650)
        .map(|i| json!({"first_name": "Pat", "email": format!("pat@example.com{i}")}))
        .collect();
    fake.insert_contacts(contacts);
    fake.insert_contact(json!({"email": "other@example.com"}));
    let session = client.session(TOKEN, in_secs(10));
    let email = Email::parse("pat@example.com").unwrap();
    let found = session.find_by_email(&email).await.unwrap();
    assert_eq!(found.len(), 650);
    assert_eq!(session.requests(), 2, "500 a page");
}

#[tokio::test]
async fn list_pages_say_what_follows() {
    let (fake, client) = fake().await;
    fake.insert_contacts(
        (0..120)
            .map(|i| json!({"email": format!("p{i}@example.com")}))
            .collect(),
    );
    let session = client.session(TOKEN, in_secs(10));
    let first = list_any(&session).await.unwrap();
    assert_eq!(first.data.len(), 100, "kvCORE's default and our limit");
    assert!(first.has_more());
    assert_eq!(first.total, Some(120));
    let second = session.list_page(&[], 2, 100).await.unwrap();
    assert_eq!(second.data.len(), 20);
    assert!(!second.has_more());
    assert!(
        first.data[0].get("first_name").is_none(),
        "list rows are partial records (SPEC section 7)"
    );
}

#[tokio::test]
async fn create_get_update() {
    let (fake, client) = fake().await;
    let session = client.session(TOKEN, in_secs(10));
    let created = session
        .create(&fields(
            json!({"first_name": "John", "email": "john@example.com", "hashtags": ["buyer"]}),
        ))
        .await
        .unwrap();
    assert_eq!(created.text("email"), Some("john@example.com"));
    let updated = session
        .update(created.id, &fields(json!({"primary_city": "Naples"})))
        .await
        .unwrap();
    assert_eq!(updated.text("primary_city"), Some("Naples"));
    assert_eq!(
        session.get(created.id).await.unwrap().text("first_name"),
        Some("John")
    );
    assert_eq!(fake.contacts().len(), 1);
}

#[tokio::test]
async fn kvcore_error_answers_become_errors_to_act_on() {
    let (fake, client) = fake().await;
    let session = client.session(TOKEN, in_secs(10));
    fake.insert_contact(json!({"email": "john@example.com"}));

    fake.set_duplicates(DuplicatePolicy::Conflict409);
    let duplicate = session
        .create(&fields(json!({"email": "John@example.com"})))
        .await;
    assert_eq!(duplicate.unwrap_err(), KvcoreError::Conflict);
    fake.set_duplicates(DuplicatePolicy::Unprocessable422);
    let taken = session
        .create(&fields(json!({"email": "John@example.com"})))
        .await;
    assert_eq!(
        taken.unwrap_err(),
        KvcoreError::Conflict,
        "422 'taken' is a refused duplicate"
    );
    fake.set_duplicates(DuplicatePolicy::Accept);

    let invalid = session
        .create(&fields(json!({"email": "not-an-email"})))
        .await
        .unwrap_err();
    assert!(
        matches!(&invalid, KvcoreError::Rejected { status: 422, message } if message.starts_with("email:")),
        "{invalid:?}"
    );

    assert_eq!(
        session.get(999_999).await.unwrap_err(),
        KvcoreError::NotFound
    );

    let wrong_token = client.session("not-the-token", in_secs(10));
    assert_eq!(
        list_any(&wrong_token).await.unwrap_err(),
        KvcoreError::Unauthorized
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let (fake, client) = fake().await;
    fake.push_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let session = client.session(TOKEN, in_secs(10));
    let started = Instant::now();
    list_any(&session).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(session.requests(), 2);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_then_succeeds() {
    let (fake, client) = fake().await;
    fake.push_fault(Fault::RateLimitedWithoutRetryAfter);
    let session = client.session(TOKEN, in_secs(10));
    list_any(&session).await.unwrap();
    assert_eq!(session.requests(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_transient() {
    let (fake, client) = fake().await;
    fake.push_fault(Fault::Status(502));
    let session = client.session(TOKEN, in_secs(10));
    list_any(&session).await.expect("one 502 is retried away");
    assert_eq!(session.requests(), 2);

    fake.set_persistent_fault(Some(Fault::Status(500)));
    let session = client.session(TOKEN, in_secs(20));
    let error = list_any(&session).await.unwrap_err();
    assert_eq!(error, KvcoreError::Unavailable { status: 500 });
    assert!(error.is_transient());
    assert_eq!(session.requests(), 5, "first try and four retries");
}

#[tokio::test]
async fn retries_stop_at_the_deadline() {
    let (fake, client) = fake().await;
    fake.push_fault(Fault::RateLimited {
        retry_after_secs: 30,
    });
    let session = client.session(TOKEN, in_secs(5));
    let started = Instant::now();
    let error = list_any(&session).await.unwrap_err();
    assert!(
        matches!(error, KvcoreError::RateLimited { .. }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting past the deadline"
    );
    assert_eq!(session.requests(), 1);
}

#[tokio::test]
async fn a_slow_kvcore_times_out_within_the_deadline() {
    let (fake, client) = fake().await;
    fake.set_persistent_fault(Some(Fault::Delay(Duration::from_secs(5))));
    let session = client.session(TOKEN, Instant::now() + Duration::from_millis(1500));
    let started = Instant::now();
    let error = list_any(&session).await.unwrap_err();
    assert_eq!(error, KvcoreError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}
