//! A one-time import, previewed, then applied (SPEC section 13), top to
//! bottom:
//!
//! 1. read the rows (a CSV export, `adapters::import_file`; or a Google
//!    workflow's people) and decide what needs no kvCORE at all
//!    (`domain::import::precheck`: filters, agent filter, no usable email
//!    or phone, the same person as an earlier row);
//! 2. list the token's contacts once (`GET /contacts?limit=500`, every
//!    page: ceil(N/500) requests, as a phone index build) into an in-memory
//!    `Listing` that answers every row's email and phone lookup;
//! 3. for each row with a match to update, read its full record (`GET
//!    /contact/{id}`) and decide by the same rules as an event (`decide`);
//!    kvCORE is asked at the token's pace (`kvcore_max_rps`, the shared
//!    pacing table), and nothing is written;
//! 4. report (`adapters::import_report`);
//! 5. `apply`: queue exactly the rows that write, one message per row, as
//!    one event named by the file's SHA-256 (its persons keyed by row
//!    number) through section 11's queue (`queued::claim_and_queue`), so
//!    applying twice queues nothing twice and a run cut short resumes.

pub mod google;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::adapters::import_file::{ImportFile, ImportFileError};
use crate::adapters::kvcore::{KvcoreError, MAX_PAGE_SIZE, Pacer, Session};
use crate::adapters::queue::{MessageSubject, PersonMessage};
use crate::domain::contact::Person;
use crate::domain::import::{
    self, ColumnError, Decision, ImportedPerson, Listing, Report, ReportRow, RowPerson, RowSkip,
    Seen, Target, Totals,
};
use crate::domain::matching::Match;
use crate::domain::outcome::Answer;
use crate::domain::settings::{Settings, kvcore_rates};
use crate::domain::sources::ParseContext;
use crate::flows::event_run::kvcore_token;
use crate::flows::queued::claim_and_queue;
use crate::flows::{Invocation, Services, SyncError};

/// A preview has no Lambda deadline; its kvCORE session gets this long.
const PREVIEW_BUDGET: Duration = Duration::from_secs(12 * 3600);
/// Queueing an import's rows gets this long (its claim's lease): a run
/// cut short can be applied again once it passed.
pub const APPLY_BUDGET: Duration = Duration::from_secs(300);

/// Why an import could not be previewed or applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] ImportFileError),
    #[error(transparent)]
    Columns(#[from] ColumnError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Google refused or failed (a Google preview).
    #[error("{0}")]
    Google(String),
}

impl From<KvcoreError> for ImportError {
    fn from(error: KvcoreError) -> ImportError {
        ImportError::Sync(error.into())
    }
}

/// How far a preview got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Rows read so far.
    Rows(usize),
    /// kvCORE contacts listed so far, of kvCORE's `total` when it says.
    Listed { contacts: usize, total: Option<u64> },
    /// Rows looked up and decided so far, of those to look up.
    Decided { done: usize, of: usize },
}

/// One person to decide: a row of a file, or a Google person.
pub struct Candidate {
    /// 1 = the first row after the header (a Google person's place).
    pub row: usize,
    pub person: RowPerson,
    /// The row's own record (`source.<column>` of the workflow's filters).
    pub record: Map<String, Value>,
    /// What the report shows when the row has no usable email or phone.
    pub raw_email: String,
    pub raw_phone: String,
}

/// What is said about the source in the report.
pub struct Source {
    pub title: String,
    /// The file's path, or `Google Contacts`.
    pub name: String,
    pub export_kind: String,
    pub sha256: Option<String>,
}

/// A preview: the report, and the rows applying it would queue.
pub struct Preview {
    pub report: Report,
    /// `(row, person)` of every row that writes, in file order.
    pub writes: Vec<ImportedPerson>,
}

/// Previews a CSV export: its columns recognised (with `overrides` from
/// `--map`), each row read into a person and decided against kvCORE.
pub async fn preview_file(
    services: &Services,
    settings: &Settings,
    mut file: ImportFile,
    overrides: &[(String, Target)],
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Preview, ImportError> {
    let columns = import::recognise(&file.headers, overrides)?;
    let context = ParseContext::of(settings);
    let first_of = |kind: fn(&Target) -> bool, fields: &[&str]| -> String {
        columns
            .columns
            .iter()
            .filter(|(_, t)| kind(t))
            .find_map(|(i, _)| fields.get(*i).map(|s| s.trim()).filter(|s| !s.is_empty()))
            .unwrap_or_default()
            .to_string()
    };
    let mut candidates = Vec::new();
    while let Some(next) = file.next_row() {
        let (row, record) = next?;
        let fields: Vec<&str> = record.iter().collect();
        candidates.push(Candidate {
            row,
            person: import::person_of(&file.headers, &fields, &columns, context),
            record: import::record_of(&file.headers, &fields),
            raw_email: first_of(|t| matches!(t, Target::Email { .. }), &fields),
            raw_phone: first_of(|t| matches!(t, Target::Phone { .. }), &fields),
        });
        if row % 500 == 0 {
            progress(Progress::Rows(row));
        }
    }
    progress(Progress::Rows(candidates.len()));
    let source = Source {
        title: format!("Import preview: {}", file.path),
        name: file.path.clone(),
        export_kind: columns.kind.to_string(),
        sha256: Some(file.sha256.clone()),
    };
    preview(services, settings, source, candidates, progress).await
}

/// A row waiting for its lookup.
struct Pending {
    index: usize,
    person: Person,
    record: Map<String, Value>,
}

/// Decides every candidate against kvCORE, writing nothing: prechecks,
/// then one listing of the token's contacts, then one full-record read per
/// row whose update must be planned.
pub async fn preview(
    services: &Services,
    settings: &Settings,
    source: Source,
    candidates: Vec<Candidate>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Preview, ImportError> {
    let mut seen = Seen::default();
    let mut rows: Vec<ReportRow> = Vec::with_capacity(candidates.len());
    let mut pending: Vec<Pending> = Vec::new();
    for candidate in candidates {
        let Candidate {
            row,
            person,
            record,
            raw_email,
            raw_phone,
        } = candidate;
        let shown = shown(row, &person.person, raw_email, raw_phone);
        match import::precheck(settings, person, &record, &seen) {
            Err(decision) => rows.push(ReportRow { decision, ..shown }),
            Ok(person) => {
                seen.remember(&person, row);
                pending.push(Pending {
                    index: rows.len(),
                    person,
                    record,
                });
                rows.push(shown);
            }
        }
    }

    let mut list_requests = 0;
    let mut record_reads = 0;
    let mut listing = Listing::default();
    let mut writes = Vec::new();
    if !pending.is_empty() {
        let token = kvcore_token(services, settings).await?;
        let pacer = pacer(services, settings).await?;
        let invocation = Invocation::within(PREVIEW_BUDGET);
        let session = services
            .kvcore
            .paced_session(&token, invocation.deadline, &pacer);
        list_requests = list_all(&session, settings, &mut listing, progress).await?;
        let of = pending.len();
        for (done, row) in pending.into_iter().enumerate() {
            let number = rows[row.index].row;
            let (decision, reads) =
                look_up(&session, settings, &listing, &mut seen, number, &row.person).await?;
            record_reads += reads;
            if decision.writes() {
                writes.push(ImportedPerson::of(number, &row.person, row.record));
            }
            rows[row.index].decision = decision;
            if (done + 1) % 100 == 0 || done + 1 == of {
                progress(Progress::Decided { done: done + 1, of });
            }
        }
    }

    let totals = Totals::of(rows.iter().map(|r| &r.decision));
    let report = Report {
        title: source.title,
        workflow_id: settings.workflow_id.clone(),
        source: source.name,
        export_kind: source.export_kind,
        sha256: source.sha256,
        generated_at: now_rfc3339(),
        contacts_listed: listing.len(),
        list_requests,
        record_reads,
        totals,
        rows,
    };
    Ok(Preview { report, writes })
}

/// A report row before its decision (a placeholder skip the lookup
/// replaces): name, email and phone as the report shows them.
fn shown(row: usize, person: &Person, raw_email: String, raw_phone: String) -> ReportRow {
    let name = [person.first_name.as_deref(), person.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    ReportRow {
        row,
        name,
        email: person
            .primary_email()
            .map_or(raw_email, |e| e.as_str().to_string()),
        phone: person.phones.first().map_or(raw_phone, |p| p.e164.clone()),
        decision: Decision::Skip {
            reason: RowSkip::NoEmailOrPhone,
            contact_id: None,
        },
        problems: person.problems.clone(),
    }
}

/// Every page of `GET /contacts?limit=500` into `listing` (the phone index
/// build's listing, SPEC section 9): the list requests made.
async fn list_all(
    session: &Session<'_>,
    settings: &Settings,
    listing: &mut Listing,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<u32, ImportError> {
    let mut pages = 0;
    for page in 1.. {
        let listed = session.list_page(&[], page, MAX_PAGE_SIZE).await?;
        pages += 1;
        let more = listed.has_more();
        let total = listed.total;
        listing.add_page(listed.data, settings.default_country);
        progress(Progress::Listed {
            contacts: listing.len(),
            total,
        });
        if !more {
            break;
        }
    }
    Ok(pages)
}

/// One row's lookup and decision: the listing's match, the same person as
/// an earlier row's match, its full record when an update must be
/// planned. Answers the decision and the full records read.
async fn look_up(
    session: &Session<'_>,
    settings: &Settings,
    listing: &Listing,
    seen: &mut Seen,
    row: usize,
    person: &Person,
) -> Result<(Decision, u32), ImportError> {
    let listed = listing.find(person, settings);
    if let Some(listed) = &listed
        && let Some(earlier) = seen.claim_contact(listed.contact.id, row)
    {
        let decision = Decision::Skip {
            reason: RowSkip::DuplicateRow { row: earlier },
            contact_id: Some(listed.contact.id),
        };
        return Ok((decision, 0));
    }
    if !import::needs_full_record(settings, listed.as_ref()) {
        return Ok((import::decide(settings, person, listed.as_ref()), 0));
    }
    let Some(listed) = listed else {
        return Ok((import::decide(settings, person, None), 0));
    };
    // The list lags and its rows are partial: decide on the record of the
    // lowest verified candidate that still is the person (SPEC section 6).
    let (found, reads) = read_match(session, settings, person, &listed).await?;
    Ok((import::decide(settings, person, found.as_ref()), reads))
}

async fn read_match(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
    listed: &Match,
) -> Result<(Option<Match>, u32), ImportError> {
    let mut reads = 0;
    for id in listed.ids() {
        reads += 1;
        let full = match session.get(id).await {
            Ok(full) => full,
            Err(KvcoreError::NotFound) => continue,
            Err(error) => return Err(error.into()),
        };
        if let Some(found) = import::verify_full(person, listed, full, settings) {
            return Ok((Some(found), reads));
        }
    }
    Ok((None, reads))
}

/// The token's pace: the lowest `kvcore_max_rps` of the enabled workflows
/// on its secret and this one (SPEC section 3), through the shared pacing
/// table when the stack has one (SPEC section 11), so an import never adds
/// to what the workers and scheduled functions already send.
async fn pacer(services: &Services, settings: &Settings) -> Result<Pacer, SyncError> {
    let all = services
        .workflows
        .all()
        .await
        .map_err(|e| SyncError::AwsUnavailable(e.to_string()))?;
    let same_token = all
        .valid
        .iter()
        .filter(|s| s.enabled && s.kvcore_token_secret == settings.kvcore_token_secret);
    let rate = kvcore_rates(same_token.chain(std::iter::once(settings)))
        .get(&settings.kvcore_token_secret)
        .copied()
        .unwrap_or(settings.kvcore_max_rps);
    Ok(Pacer::for_token(
        services.pacing.as_ref(),
        &settings.kvcore_token_secret,
        rate,
    ))
}

/// The event an import of the file with this SHA-256 is recorded as.
pub fn event_id(sha256: &str) -> String {
    format!("import-{sha256}")
}

/// What applying an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Rows queued now (fewer than the writes when a run cut short is
    /// resumed: the rows already synced are not queued again).
    Queued { event_id: String, queued: usize },
    /// The same file was applied before: nothing queued.
    AlreadyApplied { event_id: String, total: usize },
}

/// Queues the rows `writes` (a preview's), one message per row, as one
/// event named by the file's SHA-256 (SPEC section 13). `SyncError::
/// InProgress` while another run of the same file is queueing it.
pub async fn apply(
    services: &Services,
    settings: &Settings,
    sha256: &str,
    writes: &[ImportedPerson],
) -> Result<Applied, SyncError> {
    let workflow_id = settings.workflow_id.as_str();
    let event_id = event_id(sha256);
    let total = writes.len();
    let payload = serde_json::json!({
        "import": {"sha256": sha256, "rows_to_write": total}
    })
    .to_string();
    let to_send = |done: &BTreeSet<usize>| -> Vec<PersonMessage> {
        writes
            .iter()
            .filter(|w| !done.contains(&w.row))
            .filter_map(|w| {
                Some(PersonMessage {
                    workflow_id: workflow_id.to_string(),
                    event_id: event_id.clone(),
                    index: w.row,
                    total,
                    subject: MessageSubject::Imported {
                        person: serde_json::to_value(w).ok()?,
                    },
                })
            })
            .collect()
    };
    let invocation = Invocation::within(APPLY_BUDGET);
    let answer = claim_and_queue(
        services, settings, &event_id, &payload, total, to_send, invocation,
    )
    .await?;
    Ok(match answer {
        Answer::Queued(queued) if !queued.duplicate => Applied::Queued {
            event_id,
            queued: queued.queued,
        },
        Answer::Queued(queued) => Applied::AlreadyApplied {
            event_id,
            total: queued.queued,
        },
        Answer::Synced(answer) => Applied::AlreadyApplied {
            event_id,
            total: answer.results.len(),
        },
    })
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
