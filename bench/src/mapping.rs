//! The CPU cost of a workflow's `filters` and `field_map` per event (SPEC
//! section 12; issue 18's target: under 0.1 ms for 10 filters and 20
//! mappings). In-process, no I/O: a Follow Up Boss person with custom
//! fields, every filter op, every rule shape, evaluated as the flow does
//! (`plan::precheck`'s filters, then `FieldMap::apply`).

use std::hint::black_box;
use std::time::Instant;

use kvsync::domain::contact::Person;
use kvsync::domain::filters::first_failed;
use kvsync::domain::settings::{Attr, Item, Settings, parse};
use kvsync::domain::sources::ParseContext;
use kvsync::domain::sources::followupboss::person;
use serde_json::{Value, json};

/// Events evaluated per batch, and batches (the median is reported).
const EVENTS: u32 = 20_000;
const BATCHES: usize = 7;
/// Issue 18: a tenth of a millisecond of CPU per event.
const TARGET_US: f64 = 100.0;

fn s(text: &str) -> Attr {
    Attr::S(text.into())
}

fn m(pairs: &[(&str, Attr)]) -> Attr {
    Attr::M(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn condition(field: &str, op: &str, value: Attr) -> Attr {
    m(&[("field", s(field)), ("op", s(op)), ("value", value)])
}

/// A Follow Up Boss workflow with 10 filters (all holding, so every one is
/// evaluated) and 13 `field_map` rules reading 20 paths.
fn workflow() -> Settings {
    let list = |items: &[&str]| Attr::L(items.iter().map(|i| s(i)).collect());
    let filters = Attr::L(vec![
        condition("source.stage", "not_equals", s("Trash")),
        condition(
            "source.stage",
            "in",
            list(&["Lead", "Hot Prospect", "Nurture"]),
        ),
        condition("source.type", "not_in", list(&["Agent", "Vendor"])),
        condition("tags", "contains", s("buyer")),
        condition("tags", "not_contains", s("do not call")),
        condition("source.background", "contains", s("open house")),
        condition("email", "exists", Attr::Null),
        condition("source.customDeadline", "missing", Attr::Null),
        condition("source.price", "greater_than", Attr::N("250000".into())),
        condition("source.created", "less_than", s("2027-01-01")),
    ]);
    let stages: Vec<(&str, Attr)> = [
        ("Lead", "0"),
        ("Hot Prospect", "4"),
        ("Nurture", "7"),
        ("Active Client", "1"),
        ("Pending", "5"),
        ("Closed", "2"),
        ("Past Client", "2"),
        ("Sphere", "3"),
        ("Unresponsive", "6"),
        ("Trash", "6"),
    ]
    .iter()
    .map(|(k, v)| (*k, Attr::N(v.to_string())))
    .collect();
    let field_map = m(&[
        (
            "status",
            m(&[
                ("from", s("source.stage")),
                ("map", m(&stages)),
                ("default", Attr::N("0".into())),
            ]),
        ),
        (
            "deal_type",
            m(&[
                ("from", list(&["source.customLeadType", "source.type"])),
                ("map", m(&[("buyer", s("buyer")), ("seller", s("seller"))])),
                ("default", s("buyer")),
            ]),
        ),
        (
            "cell_phone_1",
            list(&["phone.mobile", "phone.work", "phone"]),
        ),
        (
            "home_phone",
            list(&["phone.home", "source.customHomePhone"]),
        ),
        (
            "work_phone",
            list(&["phone.work", "source.customOfficePhone"]),
        ),
        ("first_name", list(&["first_name", "source.firstName"])),
        ("last_name", list(&["last_name", "source.lastName"])),
        (
            "primary_address",
            list(&["source.addresses.0.street", "street"]),
        ),
        ("primary_city", s("source.addresses.0.city")),
        ("primary_state", s("source.addresses.0.state")),
        ("primary_zip", s("source.addresses.0.code")),
        ("birthday", s("source.customBirthday")),
        ("hashtags", m(&[("value", list(&["kvsync", "fub"]))])),
    ]);
    let item = Item::from([
        ("kvcore_token_secret".to_string(), s("t")),
        ("webhook_secret".to_string(), s("w")),
        ("source".to_string(), s("followupboss")),
        ("source_api_secret".to_string(), s("k")),
        ("filters".to_string(), filters),
        ("field_map".to_string(), field_map),
    ]);
    match parse("bench", &item) {
        Ok((settings, _)) => settings,
        Err(error) => panic!("the bench's workflow is valid: {error}"),
    }
}

fn fub_person(settings: &Settings) -> Person {
    let value: Value = json!({
        "id": 101, "firstName": "Max", "lastName": "Moe", "stage": "Hot Prospect",
        "type": "Buyer", "price": 450000, "created": "2026-03-01T10:00:00Z",
        "background": "Met at the Open House on Elm St",
        "customLeadType": "Buyer", "customBirthday": "1980-04-01", "customOfficePhone": "239-555-0199",
        "emails": [{"value": "max@example.com", "type": "home", "isPrimary": true}],
        "phones": [{"value": "(239) 555-0170", "type": "mobile", "isPrimary": true},
                   {"value": "(239) 555-0171", "type": "work"}],
        "addresses": [{"street": "3 Pine St", "city": "Naples", "state": "FL", "code": "34103"}],
        "tags": ["Buyer", "Open House", "VIP"], "assignedUserId": 12,
        "updated": "2026-11-28T10:00:00Z"
    });
    match person(&value, ParseContext::of(settings)) {
        Ok(person) => person,
        Err(error) => panic!("the bench's person parses: {error}"),
    }
}

/// Median microseconds per event over `BATCHES` batches, as JSON.
pub fn run() -> Value {
    let settings = workflow();
    let person = fub_person(&settings);
    assert_eq!(
        first_failed(&settings.filters, &person),
        None,
        "every filter holds"
    );
    let paths: usize = settings.field_map.paths().count();
    let mut per_event_us: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..EVENTS {
                let failed = first_failed(black_box(&settings.filters), black_box(&person));
                let mapped = settings
                    .field_map
                    .apply(black_box(&person), settings.default_country);
                black_box((failed, mapped));
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(EVENTS)
        })
        .collect();
    per_event_us.sort_by(f64::total_cmp);
    let median = per_event_us[BATCHES / 2];
    json!({
        "filters": settings.filters.len(),
        "field_map_rules": settings.field_map.rules.len(),
        "field_map_paths": paths,
        "events_per_batch": EVENTS,
        "per_event_us_median": (median * 100.0).round() / 100.0,
        "per_event_us_batches": per_event_us.iter().map(|us| (us * 100.0).round() / 100.0).collect::<Vec<_>>(),
        "target_us": TARGET_US,
        "met": median < TARGET_US,
    })
}

pub fn print(report: &Value) {
    println!(
        "filters and field mapping ({} filters, {} rules reading {} paths), one thread: {} µs of CPU per event (median of {BATCHES} batches of {EVENTS})   target < {TARGET_US} µs: {}",
        report["filters"],
        report["field_map_rules"],
        report["field_map_paths"],
        report["per_event_us_median"],
        if report["met"] == true {
            "met"
        } else {
            "MISSED"
        }
    );
}
