//! The phone index (SPEC section 9) against moto_server (its table from
//! template.yaml) and the strict kvCORE fake: entries per contact, phone
//! changes, the refresher's lease, the build's cursor, and what a lookup
//! costs. `make test` sets MOTO_URL.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

use kvcore_fake::{FakeConfig, FakeKvcore};
use kvsync::adapters::kvcore::Kvcore;
use kvsync::adapters::store::{IndexedContact, MetaUpdate, PhoneIndexStore};
use kvsync::clock::now_ms;
use kvsync::domain::contact::Region;
use kvsync::flows::phone_index::{self, IndexError, PhoneIndex, Scope};
use kvsync_devstack::stack;
use serde_json::json;
use tokio::time::Instant;

const TOKEN: &str = "kvcore-test-token";

struct Rig {
    store: PhoneIndexStore,
    fake: FakeKvcore,
    kvcore: Kvcore,
    scope: Scope,
}

async fn rig() -> Rig {
    let (config, tables, _) = stack::fresh_tables()
        .await
        .expect("tables from template.yaml on moto_server");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let fake = FakeKvcore::start(FakeConfig::default())
        .await
        .expect("fake");
    Rig {
        store: PhoneIndexStore::new(dynamodb, tables["PHONE_INDEX_TABLE"].clone()),
        kvcore: Kvcore::new(&fake.base_url()).expect("client"),
        fake,
        scope: Scope {
            id: "kvsync/test/kvcore#US".into(),
            region: Region::default(),
        },
    }
}

fn phones(numbers: &[&str]) -> BTreeSet<String> {
    numbers.iter().map(|n| n.to_string()).collect()
}

fn in_secs(secs: u64) -> (Instant, i64) {
    (
        Instant::now() + Duration::from_secs(secs),
        now_ms() + secs as i64 * 1000,
    )
}

#[tokio::test]
async fn a_contact_whose_phones_change_loses_its_old_entries() {
    let rig = rig().await;
    let scope = &rig.scope.id;
    let first = IndexedContact {
        contact_id: 7,
        phones: phones(&["+12395550100", "+12395550101"]),
    };
    rig.store
        .apply(scope, &[first], &HashMap::new(), 1, false)
        .await
        .unwrap();
    assert_eq!(
        rig.store.candidates(scope, "+12395550100").await.unwrap(),
        [7]
    );

    let previous = rig.store.indexed(scope, &[7, 8]).await.unwrap();
    assert_eq!(previous.len(), 1, "8 was never indexed");
    let changed = IndexedContact {
        contact_id: 7,
        phones: phones(&["+12395550101", "+12395550199"]),
    };
    rig.store
        .apply(scope, &[changed], &previous, 2, false)
        .await
        .unwrap();
    assert!(
        rig.store
            .candidates(scope, "+12395550100")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        rig.store.candidates(scope, "+12395550199").await.unwrap(),
        [7]
    );
    assert_eq!(
        rig.store.candidates(scope, "+12395550101").await.unwrap(),
        [7]
    );

    let previous = rig.store.indexed(scope, &[7]).await.unwrap();
    let gone = IndexedContact {
        contact_id: 7,
        phones: BTreeSet::new(),
    };
    rig.store
        .apply(scope, &[gone], &previous, 3, false)
        .await
        .unwrap();
    assert!(
        rig.store
            .candidates(scope, "+12395550101")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(rig.store.indexed(scope, &[7]).await.unwrap().is_empty());
}

#[tokio::test]
async fn scopes_do_not_see_each_other() {
    let rig = rig().await;
    let one = IndexedContact {
        contact_id: 7,
        phones: phones(&["+12395550100"]),
    };
    rig.store
        .apply("a#US", &[one], &HashMap::new(), 1, false)
        .await
        .unwrap();
    assert!(
        rig.store
            .candidates("a#GB", "+12395550100")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        rig.store
            .candidates("b#US", "+12395550100")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn one_refresher_per_scope_at_a_time() {
    let rig = rig().await;
    let scope = &rig.scope.id;
    let now = now_ms();
    assert!(
        rig.store
            .take_lease(scope, "a", now + 10_000, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        rig.store
            .take_lease(scope, "b", now + 10_000, now)
            .await
            .unwrap()
            .is_none(),
        "a holds it"
    );
    assert!(
        rig.store
            .take_lease(scope, "a", now + 20_000, now)
            .await
            .unwrap()
            .is_some(),
        "its holder may extend it"
    );
    assert!(
        rig.store
            .take_lease(scope, "b", now + 40_000, now + 30_000)
            .await
            .unwrap()
            .is_some(),
        "an expired lease is taken over"
    );
    let update = MetaUpdate {
        watermark_s: Some(5),
        ..MetaUpdate::default()
    };
    assert!(
        !rig.store.release(scope, "a", &update).await.unwrap(),
        "a lost it"
    );
    assert_eq!(rig.store.meta(scope).await.unwrap().watermark_s, None);
    assert!(rig.store.release(scope, "b", &update).await.unwrap());
    let meta = rig.store.meta(scope).await.unwrap();
    assert_eq!((meta.watermark_s, meta.lease_owner), (Some(5), None));
}

#[tokio::test]
async fn a_build_indexes_every_page_drops_what_it_did_not_see_and_resumes() {
    let rig = rig().await;
    let contacts = (0..1_200)
        .map(|i| json!({"email": format!("p{i}@example.com"), "cell_phone_1": format!("239555{:04}", i)}))
        .collect();
    let ids = rig.fake.insert_contacts(contacts);
    // A contact indexed earlier and since deleted in kvCORE.
    let stale = IndexedContact {
        contact_id: 99,
        phones: phones(&["+12395559999"]),
    };
    rig.store
        .apply(&rig.scope.id, &[stale], &HashMap::new(), 1, false)
        .await
        .unwrap();

    let session = rig
        .kvcore
        .session(TOKEN, Instant::now() + Duration::from_secs(60));
    // A deadline that leaves time for no page: the build saves its cursor.
    let (deadline, deadline_ms) = in_secs(2);
    let index = PhoneIndex {
        store: &rig.store,
        session: &session,
        scope: &rig.scope,
        owner: "run-1",
        deadline,
        deadline_ms,
    };
    let report = index.build(now_ms(), &mut |_| {}).await.unwrap();
    assert!(!report.finished);
    assert!(rig.store.meta(&rig.scope.id).await.unwrap().build.is_some());
    assert!(matches!(
        index.ready(now_ms()).await,
        Err(IndexError::Building)
    ));

    let (deadline, deadline_ms) = in_secs(60);
    let index = PhoneIndex {
        owner: "run-2",
        deadline,
        deadline_ms,
        ..index
    };
    let mut pages = Vec::new();
    let report = index
        .build(now_ms(), &mut |progress| pages.push(progress.contacts_read))
        .await
        .unwrap();
    assert!(report.finished);
    assert_eq!(pages, [500, 1_000, 1_200]);
    assert_eq!(report.contacts_indexed, Some(1_200));
    assert_eq!(
        rig.fake.count_requests(|r| r.is_list()),
        3,
        "ceil(1200/500)"
    );
    assert_eq!(
        rig.store
            .candidates(&rig.scope.id, "+12395550042")
            .await
            .unwrap(),
        [ids[42]]
    );
    assert!(
        rig.store
            .candidates(&rig.scope.id, "+12395559999")
            .await
            .unwrap()
            .is_empty(),
        "not seen by the build: dropped"
    );
    let meta = rig.store.meta(&rig.scope.id).await.unwrap();
    assert!(meta.built_at_ms.is_some() && meta.build.is_none() && meta.lease_owner.is_none());
    assert_eq!(meta.contacts, 1_200);
}

#[tokio::test]
async fn a_stale_index_is_refreshed_once_however_many_lookups_ask() {
    let rig = rig().await;
    let session = rig
        .kvcore
        .session(TOKEN, Instant::now() + Duration::from_secs(30));
    let (deadline, deadline_ms) = in_secs(30);
    let index = |owner: &'static str| PhoneIndex {
        store: &rig.store,
        session: &session,
        scope: &rig.scope,
        owner,
        deadline,
        deadline_ms,
    };
    index("build").build(now_ms(), &mut |_| {}).await.unwrap();
    // A person adds a contact in kvCORE after the build.
    let added = rig
        .fake
        .insert_contact(json!({"email": "", "work_phone": "(239) 555-0177"}));
    rig.fake.clear_requests();

    // Fresh: no refresh, and the new contact is not known yet.
    index("lookup-0").ready(now_ms()).await.unwrap();
    assert_eq!(rig.fake.count_requests(|r| r.is_list()), 0);

    // A minute later, five lookups at once: one refresh between them.
    let later = now_ms() + 61_000;
    let lookups = ["l1", "l2", "l3", "l4", "l5"].map(|owner| {
        // Their clock runs a minute ahead: so do their leases.
        let index = PhoneIndex {
            deadline_ms: later + 30_000,
            ..index(owner)
        };
        async move { index.ready(later).await }
    });
    for ready in futures_join(lookups).await {
        ready.unwrap();
    }
    assert_eq!(rig.fake.count_requests(|r| r.is_list()), 1, "one refresher");
    let request = &rig.fake.requests()[0];
    assert!(
        request.query_param("filter[updated_at]").is_some(),
        "{request:?}"
    );
    assert_eq!(
        rig.store
            .candidates(&rig.scope.id, "+12395550177")
            .await
            .unwrap(),
        [added]
    );
}

/// Counts the requests a DynamoDB client sends (each attempt, as it goes
/// out): an SDK interceptor (aws-sdk-rust developer guide, "Interceptors").
#[derive(Debug, Clone, Default)]
struct CountRequests(Arc<AtomicUsize>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::test]
async fn a_write_through_of_unchanged_phones_sends_nothing() {
    let rig = rig().await;
    let (config, tables, _) = stack::fresh_tables().await.expect("tables");
    let sent = CountRequests::default();
    let counted = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(sent.clone())
        .build();
    let store = PhoneIndexStore::new(
        aws_sdk_dynamodb::Client::from_conf(counted),
        tables["PHONE_INDEX_TABLE"].clone(),
    );
    let requests = || sent.0.load(Ordering::Relaxed);
    // An address-only update of a contact without phones (issue 22: no
    // phone-index request at all), then of one whose phones stay.
    phone_index::write_through(&store, &rig.scope, 6, BTreeSet::new(), BTreeSet::new(), 1)
        .await
        .unwrap();
    assert_eq!(requests(), 0, "no phones before or after: nothing sent");
    let same = phones(&["+12395550100"]);
    phone_index::write_through(&store, &rig.scope, 5, same.clone(), same.clone(), 1)
        .await
        .unwrap();
    assert_eq!(requests(), 0, "the same phones: nothing sent");
    assert!(
        store
            .candidates(&rig.scope.id, "+12395550100")
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
    phone_index::write_through(&store, &rig.scope, 5, BTreeSet::new(), same, 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .candidates(&rig.scope.id, "+12395550100")
            .await
            .unwrap(),
        [5]
    );
}

/// Runs the futures together on this task.
async fn futures_join<F: std::future::Future>(futures: [F; 5]) -> Vec<F::Output> {
    let [a, b, c, d, e] = futures;
    let (a, b, c, d, e) = tokio::join!(a, b, c, d, e);
    vec![a, b, c, d, e]
}
