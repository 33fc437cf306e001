//! One person of an event, once its lock is held: look it up in kvCORE
//! (SPEC section 6: the recorded contact, every page of the email filter,
//! the phone index), decide (`plan`), write, and say what the phone index
//! must learn. `event_run.rs` orders the event's people around it.

use std::collections::BTreeSet;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::adapters::kvcore::{KvcoreError, Session};
use crate::clock::now_ms;
use crate::domain::contact::Person;
use crate::domain::edits::{self, Written};
use crate::domain::fields::{Field, FieldValues};
use crate::domain::kv_contact::KvContact;
use crate::domain::matching::{self, Match};
use crate::domain::outcome::{Outcome, PersonResult, SkipReason};
use crate::domain::plan::{self, Action};
use crate::domain::settings::Settings;
use crate::flows::phone_index::{self, PhoneIndex, Scope, phones_after, phones_of};
use crate::flows::{Services, SyncError};

/// What this workflow last wrote for a person: the contact an earlier
/// event recorded, and the fingerprints of the values written to it (SPEC
/// section 6, "Edits made in kvCORE").
#[derive(Clone, Copy)]
pub(crate) struct Recorded<'a> {
    pub contact_id: Option<u64>,
    pub written: Option<&'a Written>,
}

impl<'a> Recorded<'a> {
    /// The fingerprints, when `found` is the recorded contact: they say
    /// nothing of another one.
    fn written_for(&self, found: Option<&Match>) -> Option<&'a Written> {
        let id = found.map(|m| m.contact.id)?;
        self.written.filter(|_| self.contact_id == Some(id))
    }
}

/// What one person's sync leaves: its result, what the phone index must
/// learn (SPEC section 9), and the fingerprints to keep with its contact.
pub(crate) struct Synced {
    pub result: PersonResult,
    pub index_write: Option<IndexWrite>,
    pub written: Option<Written>,
}

/// Looks the person up, decides, and writes (unless a dry run). Answers
/// the result and, when kvCORE was written, the contact's phones before
/// and after for the index's write-through (SPEC section 9).
pub(crate) async fn sync_person(
    index: &PhoneIndex<'_>,
    settings: &Settings,
    person: &Person,
    recorded: Recorded<'_>,
) -> Result<Synced, SyncError> {
    let session = index.session;
    let mapped = settings.field_map.apply(person, settings.default_country);
    let wanted = &mapped.values;
    let found = lookup(index, settings, person, recorded.contact_id).await?;
    let executed = execute(
        session,
        settings,
        person,
        wanted,
        found.as_ref(),
        recorded.written_for(found.as_ref()),
    )
    .await;
    let (mut result, found) = match executed {
        // kvCORE refused the create as a duplicate (409, or 422 naming the
        // email as taken): it holds the person already, so look again and
        // treat what it finds as the match.
        Err(KvcoreError::Conflict) => match after_refusal(index, settings, person).await? {
            Refused::Found(found) => {
                let written = recorded.written_for(Some(&found));
                let result =
                    execute(session, settings, person, wanted, Some(&found), written).await?;
                (result, Some(found))
            }
            Refused::AnotherAgents => {
                let result = skipped(settings, person, SkipReason::AgentFiltered, None);
                return Ok(Synced {
                    result,
                    index_write: None,
                    written: None,
                });
            }
            // Its list still does not show the contact: transient, so the
            // source retries once it does.
            Refused::NotShown => return Err(KvcoreError::Unavailable { status: 409 }.into()),
        },
        result => (result?, found),
    };
    let index_write = index_write(settings, wanted, found.as_ref(), &result);
    let written = written_after(settings, wanted, found.as_ref(), &result, recorded);
    result.problems.extend(mapped.notes);
    Ok(Synced {
        result,
        index_write,
        written,
    })
}

/// The fingerprints to keep with the person's contact after this result:
/// none for a skip or a dry run (nothing was written, nothing is known).
fn written_after(
    settings: &Settings,
    wanted: &FieldValues,
    found: Option<&Match>,
    result: &PersonResult,
    recorded: Recorded<'_>,
) -> Option<Written> {
    let kept = matches!(
        result.outcome,
        Outcome::Created | Outcome::Updated | Outcome::Unchanged
    );
    result.contact_id.filter(|_| kept && !settings.dry_run)?;
    let sent = result
        .fields
        .iter()
        .filter_map(|name| Field::from_name(name))
        .collect();
    Some(edits::written_after(
        recorded.written_for(found),
        wanted,
        &sent,
        found.map(|m| &m.contact),
        settings.default_country,
    ))
}

/// What the phone index must learn from a person's result: the written
/// contact's main-card phones before (its full record; none for a create)
/// and after the fields this write sent.
fn index_write(
    settings: &Settings,
    wanted: &FieldValues,
    found: Option<&Match>,
    result: &PersonResult,
) -> Option<IndexWrite> {
    let written = matches!(result.outcome, Outcome::Created | Outcome::Updated);
    let contact_id = result.contact_id.filter(|_| written && !settings.dry_run)?;
    let before = found.map(|m| &m.contact);
    let sent = result
        .fields
        .iter()
        .filter_map(|name| Field::from_name(name))
        .filter_map(|field| Some((field.name(), wanted.get(&field)?)));
    let region = settings.default_country;
    Some(IndexWrite {
        contact_id,
        before: before.map(|c| phones_of(c, region)).unwrap_or_default(),
        after: phones_after(before, sent, region),
    })
}

/// A contact kvsync wrote, for the phone index.
pub(crate) struct IndexWrite {
    contact_id: u64,
    before: BTreeSet<String>,
    after: BTreeSet<String>,
}

/// Plans the action for a person, its mapped values and its match, and
/// carries it out.
async fn execute(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
    wanted: &FieldValues,
    found: Option<&Match>,
    written: Option<&Written>,
) -> Result<PersonResult, KvcoreError> {
    let action = plan::decide(settings, person, wanted.clone(), found, written);
    let (outcome, contact_id, fields) = match action {
        Action::Skip { reason, contact_id } => {
            return Ok(skipped(settings, person, reason, contact_id));
        }
        Action::Unchanged { contact_id } => (Outcome::Unchanged, Some(contact_id), Vec::new()),
        Action::Update {
            contact_id,
            values,
            add_tags,
        } => {
            // Fields first, then tags: kvCORE takes tags only on their own
            // endpoint. A retry after a failed tags request finds the fields
            // already equal and sends only the tags.
            if !settings.dry_run && !values.is_empty() {
                session.update(contact_id, &body(&values, None)).await?;
            }
            if !settings.dry_run && !add_tags.is_empty() {
                session.add_tags(contact_id, &add_tags).await?;
            }
            let mut fields = field_names(&values, None);
            if !add_tags.is_empty() {
                fields.push(crate::domain::fields::Field::Hashtags.name().to_string());
            }
            (Outcome::Updated, Some(contact_id), fields)
        }
        Action::Create {
            values,
            assigned_agent_id,
            source,
        } => {
            let mut body = body(&values, assigned_agent_id);
            if let Some(source) = source {
                body.insert("source".to_string(), Value::String(source));
            }
            let contact_id = match settings.dry_run {
                true => None,
                false => Some(session.create(&body).await?.id),
            };
            (Outcome::Created, contact_id, body.keys().cloned().collect())
        }
    };
    Ok(PersonResult {
        source_id: person.source_id.clone(),
        outcome,
        contact_id,
        matched_by: found.map(|m| m.matched_by),
        reason: None,
        fields,
        dry_run: settings.dry_run,
        problems: person.problems.clone(),
    })
}

/// The first pause between two lookups after a refused create, and the
/// longest: kvCORE's list may lag a write by up to ~30 s (SPEC section 7),
/// and the contact usually shows within a second or two.
const REFUSAL_FIRST_PAUSE: Duration = Duration::from_millis(250);
const REFUSAL_LONGEST_PAUSE: Duration = Duration::from_secs(2);
/// A lookup is not started with less time than this before the deadline:
/// one lookup's requests and the answer's record.
const REFUSAL_ROOM: Duration = Duration::from_secs(2);

/// What looking again after a refused create found.
enum Refused {
    /// The contact kvCORE refused for: the match.
    Found(Match),
    /// A contact outside the workflow's agents holds the person.
    AnotherAgents,
    /// Not shown by the list before the invocation had to answer.
    NotShown,
}

/// Looks the person up again after kvCORE refused its create (SPEC
/// section 6): the contact it refused for may be one its list does not
/// show yet (up to ~30 s, section 7), so the lookup is repeated after a
/// short, growing pause (250 ms doubling to 2 s, each plus up to as much
/// again of jitter) until the contact shows or no lookup fits before the
/// invocation's deadline.
async fn after_refusal(
    index: &PhoneIndex<'_>,
    settings: &Settings,
    person: &Person,
) -> Result<Refused, SyncError> {
    let mut pauses = ExponentialBuilder::default()
        .with_min_delay(REFUSAL_FIRST_PAUSE)
        .with_max_delay(REFUSAL_LONGEST_PAUSE)
        .without_max_times()
        .with_jitter()
        .build();
    let mut lookups = 0u32;
    loop {
        lookups += 1;
        if let Some(found) = lookup(index, settings, person, None).await? {
            tracing::info!(lookups, "kvCORE's refused duplicate found");
            return Ok(Refused::Found(found));
        }
        if held_by_another_agent(index, settings, person).await? {
            return Ok(Refused::AnotherAgents);
        }
        let pause = pauses.next().unwrap_or(REFUSAL_LONGEST_PAUSE);
        if Instant::now() + pause + REFUSAL_ROOM >= index.deadline {
            tracing::warn!(
                lookups,
                "kvCORE refused a duplicate its list does not show yet; the event is kept"
            );
            return Ok(Refused::NotShown);
        }
        tokio::time::sleep(pause).await;
    }
}

/// Whether kvCORE's duplicate is a contact outside the workflow's agents:
/// then it is another agent's person, neither ours to create nor to update.
async fn held_by_another_agent(
    index: &PhoneIndex<'_>,
    settings: &Settings,
    person: &Person,
) -> Result<bool, SyncError> {
    if settings.agent_ids.is_empty() {
        return Ok(false);
    }
    let unfiltered = Settings {
        agent_ids: Default::default(),
        ..settings.clone()
    };
    Ok(lookup(index, &unfiltered, person, None).await?.is_some())
}

/// The contact an earlier event recorded for this person, when it is still
/// the person; else email first (each of the person's emails), then each
/// phone through the phone index (SPEC section 6). Every candidate is
/// verified by `matching`; a match is answered as its full record (`GET
/// /contact/{id}`), except in create-only mode, where a match is skipped
/// without comparing fields and so needs no read.
pub(crate) async fn lookup(
    index: &PhoneIndex<'_>,
    settings: &Settings,
    person: &Person,
    recorded: Option<u64>,
) -> Result<Option<Match>, SyncError> {
    let session = index.session;
    // Deleted in kvCORE since, or no longer this person: look up as if
    // never seen.
    if let Some(id) = recorded
        && let Some(contact) = read(session, id).await?
        && let Some(found) = matching::recorded(contact, person, settings)
    {
        return Ok(Some(found));
    }
    for email in &person.emails {
        let rows = session.find_by_email(email).await?;
        let Some(listed) = matching::by_email(email, &rows, settings) else {
            continue;
        };
        log_ambiguity(&listed);
        if !settings.update_contacts {
            return Ok(Some(listed));
        }
        // The list lags and its rows are partial: decide on the record.
        for id in listed.ids() {
            let Some(full) = read(session, id).await? else {
                continue;
            };
            if let Some(found) = matching::by_email(email, &[full], settings) {
                return Ok(Some(found.with_others(listed.ids())));
            }
        }
    }
    if person.phones.is_empty() {
        return Ok(None);
    }
    for (i, phone) in person.phones.iter().enumerate() {
        // The first number's entries are read with the index's state.
        let ids = match i {
            0 => index.ready_with_candidates(&phone.e164, now_ms()).await?,
            _ => index.candidates(&phone.e164).await?,
        };
        for &id in &ids {
            let Some(full) = read(session, id).await? else {
                index.forget(&phone.e164, id).await?;
                continue;
            };
            let has_phone = phones_of(&full, settings.default_country).contains(&phone.e164);
            // Candidates are tried lowest id first, so the first verified
            // one is the one SPEC section 6 rule 4 picks.
            if let Some(found) = matching::by_phone(phone, &[full], settings) {
                return Ok(Some(found));
            }
            if !has_phone {
                // Changed in kvCORE since it was indexed.
                index.forget(&phone.e164, id).await?;
            }
        }
    }
    Ok(None)
}

/// A contact's full record; `None` when it was deleted.
async fn read(session: &Session<'_>, id: u64) -> Result<Option<KvContact>, KvcoreError> {
    match session.get(id).await {
        Ok(contact) => Ok(Some(contact)),
        Err(KvcoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the contacts this event wrote to kvCORE into the phone index,
/// beside the event's closing transaction (no extra round trip on the
/// critical path). A failure is logged: the next refresh of the index
/// lists the contact again (its `updated_at` is after the watermark).
pub(crate) async fn write_through(services: &Services, writes: &[(Scope, IndexWrite)]) {
    let now = now_ms();
    for (scope, write) in writes {
        let (before, after) = (write.before.clone(), write.after.clone());
        let written = phone_index::write_through(
            &services.phone_index,
            scope,
            write.contact_id,
            before,
            after,
            now,
        );
        if let Err(error) = written.await {
            tracing::warn!(%error, contact_id = write.contact_id, "phone index write-through failed; the next refresh repairs it");
        }
    }
}

fn log_ambiguity(found: &Match) {
    if !found.also_matched.is_empty() {
        tracing::warn!(
            chosen = found.contact.id,
            also_matched = ?found.also_matched,
            matched_by = ?found.matched_by,
            "several kvCORE contacts match; the lowest id wins"
        );
    }
}

/// The JSON body kvCORE is sent.
fn body(values: &FieldValues, assigned_agent_id: Option<u64>) -> Map<String, Value> {
    let mut body: Map<String, Value> = values
        .iter()
        .map(|(field, value)| (field.name().to_string(), value.clone()))
        .collect();
    if let Some(agent) = assigned_agent_id {
        body.insert("assigned_agent_id".to_string(), Value::from(agent));
    }
    body
}

fn field_names(values: &FieldValues, assigned_agent_id: Option<u64>) -> Vec<String> {
    body(values, assigned_agent_id).keys().cloned().collect()
}
/// A skip for a person the event carries.
pub(crate) fn skipped(
    settings: &Settings,
    person: &Person,
    reason: SkipReason,
    contact_id: Option<u64>,
) -> PersonResult {
    PersonResult {
        source_id: person.source_id.clone(),
        outcome: Outcome::Skipped,
        contact_id,
        matched_by: None,
        reason: Some(reason),
        fields: Vec::new(),
        dry_run: settings.dry_run,
        problems: person.problems.clone(),
    }
}

/// A skip for a person the event names but does not carry.
pub(crate) fn skipped_source_id(
    settings: &Settings,
    source_id: Option<String>,
    reason: SkipReason,
) -> PersonResult {
    PersonResult {
        source_id,
        outcome: Outcome::Skipped,
        contact_id: None,
        matched_by: None,
        reason: Some(reason),
        fields: Vec::new(),
        dry_run: settings.dry_run,
        problems: Vec::new(),
    }
}
