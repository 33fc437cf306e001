//! Arbitrary bytes and arbitrary JSON against every payload parser and
//! against the whole delivery path (over moto_server and the kvCORE fake):
//! nothing panics, and every refusal is a documented answer.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use kvcore_fake::{FakeConfig, FakeKvcore};
use kvsync::adapters::followupboss::FollowUpBoss;
use kvsync::adapters::kvcore::Kvcore;
use kvsync::adapters::secrets::Secrets;
use kvsync::adapters::store::{Ledger, PhoneIndexStore, Workflows};
use kvsync::domain::contact::Region;
use kvsync::domain::delivery::Delivery;
use kvsync::domain::settings::Source;
use kvsync::domain::sources::{self, ParseContext, followupboss};
use kvsync::flows::{self, Invocation, Services, SyncError};
use kvsync_devstack::{aws, stack};
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        // Strings that look like what parsers look for.
        prop_oneof![
            Just("john@example.com"),
            Just("(239) 555-0100"),
            Just("peopleUpdated"),
            Just("1980-02-30"),
            Just("2026-11-28T12:00:00Z"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    let keys = prop_oneof![
        Just("contact"),
        Just("email"),
        Just("phones"),
        Just("number"),
        Just("type"),
        Just("address"),
        Just("zip"),
        Just("birthday"),
        Just("owner_agent_id"),
        Just("tags"),
        Just("event_id"),
        Just("occurred_at"),
        Just("event"),
        Just("resourceIds"),
        Just("eventId"),
        Just("emails"),
        Just("value"),
        Just("isPrimary"),
        Just("assignedUserId"),
        Just("updated"),
        Just("resourceName"),
        Just("etag"),
        Just("names"),
        Just("emailAddresses"),
        Just("phoneNumbers"),
        Just("metadata"),
        Just("primary"),
        Just("birthdays"),
        Just("date"),
        Just("addresses"),
        Just("sources"),
        Just("updateTime"),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn context(agent_map: &BTreeMap<String, u64>) -> ParseContext<'_> {
    ParseContext {
        region: Region::default(),
        agent_map,
    }
}

const SOURCES: [Source; 4] = [
    Source::Generic,
    Source::Google,
    Source::FollowUpBoss,
    Source::Microsoft,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn parsers_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let map = BTreeMap::new();
        for source in SOURCES {
            let _ = sources::parse(source, &bytes, context(&map));
        }
    }

    #[test]
    fn parsers_take_any_json(value in json_value()) {
        let map = BTreeMap::from([("1".to_string(), 7)]);
        let bytes = value.to_string().into_bytes();
        for source in SOURCES {
            if let Err(error) = sources::parse(source, &bytes, context(&map)) {
                prop_assert!(!error.field.is_empty(), "every refusal names a field");
            }
        }
        let _ = followupboss::person(&value, context(&map));
    }
}

/// One local stack for the whole file: moto tables, secrets, the kvCORE
/// fake, and the services the webhook builds, all on one runtime.
struct Stack {
    runtime: tokio::runtime::Runtime,
    services: Services,
    _kvcore: FakeKvcore,
}

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (services, kvcore) = runtime.block_on(async {
            let (config, tables, prefix) = stack::fresh_tables()
                .await
                .expect("tables from template.yaml on moto_server");
            let dynamodb = aws_sdk_dynamodb::Client::new(&config);
            let secrets = aws_sdk_secretsmanager::Client::new(&config);
            let kvcore = FakeKvcore::start(FakeConfig::default())
                .await
                .expect("fake");
            aws::put_secret(&secrets, &format!("{prefix}token"), "hostile-token")
                .await
                .expect("secret");
            aws::put_secret(&secrets, &format!("{prefix}kvcore"), "kvcore-test-token")
                .await
                .expect("secret");
            for (id, source) in [
                ("generic", "generic"),
                ("fub", "followupboss"),
                ("google", "google"),
            ] {
                let item = json!({
                    "workflow_id": {"S": id}, "source": {"S": source}, "auth": {"S": "token"},
                    "kvcore_token_secret": {"S": format!("{prefix}kvcore")},
                    "webhook_secret": {"S": format!("{prefix}token")},
                    "source_api_secret": {"S": format!("{prefix}token")},
                    // Synced here, so the whole path meets the input.
                    "delivery": {"S": "sync"},
                });
                aws::put_item_json(&dynamodb, &tables["WORKFLOWS_TABLE"], &item)
                    .await
                    .expect("workflow");
            }
            let services = Services {
                workflows: Workflows::new(dynamodb.clone(), tables["WORKFLOWS_TABLE"].clone()),
                secrets: Secrets::new(secrets),
                kvcore: Kvcore::new(&kvcore.base_url()).expect("client"),
                followupboss: FollowUpBoss::new("http://127.0.0.1:9/v1").expect("client"),
                phone_index: PhoneIndexStore::new(
                    dynamodb.clone(),
                    tables["PHONE_INDEX_TABLE"].clone(),
                ),
                ledger: Ledger::new(
                    dynamodb,
                    tables["EVENTS_TABLE"].clone(),
                    tables["PERSONS_TABLE"].clone(),
                    1,
                ),
                queue: None,
                dead_letters: None,
                pacing: None,
            };
            (services, kvcore)
        });
        Stack {
            runtime,
            services,
            _kvcore: kvcore,
        }
    })
}

/// A delivery of `body` to each workflow: it is processed, or refused as
/// the SPEC documents for a body (400); nothing else, no panic.
fn deliver_everywhere(body: Vec<u8>) -> Result<(), TestCaseError> {
    let stack = stack();
    for workflow in ["generic", "fub", "google"] {
        let delivery =
            Delivery::new(workflow, body.clone()).with_header("x-kvsync-token", "hostile-token");
        let answer = stack.runtime.block_on(flows::delivery::handle(
            &stack.services,
            &delivery,
            Invocation::within(Duration::from_secs(10)),
        ));
        match answer {
            Ok(_) | Err(SyncError::InvalidPayload(_)) => {}
            // Follow Up Boss people are fetched from an address nobody serves.
            Err(SyncError::Source(_)) if workflow == "fub" => {}
            Err(other) => prop_assert!(
                false,
                "{workflow}: undocumented answer {other:?} ({})",
                other.code()
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_delivery_path_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        deliver_everywhere(bytes)?;
    }

    #[test]
    fn the_delivery_path_takes_any_json(value in json_value()) {
        deliver_everywhere(value.to_string().into_bytes())?;
    }
}
