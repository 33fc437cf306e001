//! The kvCORE client against the project's kvCORE fake: paging, kvCORE's
//! error answers, and retries within the deadline.

use std::time::Duration;

use kvcore_fake::{FakeConfig, FakeKvcore, Fault};
use kvsync::contact::Email;
use kvsync::kvcore::{Kvcore, KvcoreError};
use kvsync::retry::Transient;
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
async fn lookups_read_every_page() {
    let (fake, client) = fake().await;
    for i in 0..150 {
        fake.insert_contact(json!({"first_name": "Pat", "email": format!("pat{i}@example.com")}));
    }
    let session = client.session(TOKEN, in_secs(10));
    let found = session.search("Pat").await.unwrap();
    assert_eq!(found.len(), 150);
    assert_eq!(session.requests(), 2, "100 a page");
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

    let duplicate = session
        .create(&fields(json!({"email": "John@example.com"})))
        .await;
    assert_eq!(duplicate.unwrap_err(), KvcoreError::Conflict);

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
        wrong_token.search("x").await.unwrap_err(),
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
    session.search("anyone").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(session.requests(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_transient() {
    let (fake, client) = fake().await;
    fake.push_fault(Fault::Status(502));
    let session = client.session(TOKEN, in_secs(10));
    session
        .search("anyone")
        .await
        .expect("one 502 is retried away");
    assert_eq!(session.requests(), 2);

    fake.set_persistent_fault(Some(Fault::Status(500)));
    let session = client.session(TOKEN, in_secs(20));
    let error = session.search("anyone").await.unwrap_err();
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
    let error = session.search("anyone").await.unwrap_err();
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
    let error = session.search("anyone").await.unwrap_err();
    assert_eq!(error, KvcoreError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}
