//! `kvsync workflow try <workflow_id> <event.json>` (SPEC section 12): what
//! a workflow makes of a sample event, without writing anything. The
//! library's `flows::try_event` parses, filters, maps and decides (kvCORE
//! read-only); this prints it so a person sees why.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use kvsync::domain::contact::{Person, mask_email};
use kvsync::domain::plan::Action;
use kvsync::domain::settings::Settings;
use kvsync::flows::try_event::{Trial, try_event};
use kvsync::flows::{Invocation, Services};
use serde_json::Value;

/// As long as one webhook invocation has.
const BUDGET: Duration = Duration::from_secs(25);

/// Reads the event file and prints each person's trial.
pub async fn run(services: &Services, workflow_id: &str, event: &Path) -> Result<ExitCode, String> {
    let settings = services
        .workflows
        .get(workflow_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no workflow '{workflow_id}'"))?;
    let body = std::fs::read(event).map_err(|e| format!("{}: {e}", event.display()))?;
    let trials = try_event(services, &settings, &body, Invocation::within(BUDGET))
        .await
        .map_err(|e| format!("{}: {e}", e.code()))?;
    println!(
        "workflow {workflow_id} ({:?} source), nothing written{}:",
        settings.source,
        if settings.dry_run { ", dry_run" } else { "" }
    );
    for (i, trial) in trials.iter().enumerate() {
        print!("{}", render(&settings, i, trial));
    }
    Ok(ExitCode::SUCCESS)
}

/// One person's trial, a few indented lines.
fn render(settings: &Settings, i: usize, trial: &Trial) -> String {
    let mut out = format!(
        "\nperson {} (source id {})\n",
        i + 1,
        trial.source_id.as_deref().unwrap_or("none")
    );
    if let Some(person) = &trial.person {
        out.push_str(&format!("  parsed: {}\n", describe(person)));
        for problem in &person.problems {
            out.push_str(&format!("  left out: {problem}\n"));
        }
    }
    for (j, (filter, holds)) in settings.filters.iter().zip(&trial.verdicts).enumerate() {
        let found = trial
            .person
            .as_ref()
            .map_or(Value::Null, |p| filter.field.resolve(p));
        out.push_str(&format!(
            "  filters[{j}] {} {} {}: {} (found {})\n",
            filter.field,
            filter.op.name(),
            filter.value,
            if *holds { "holds" } else { "FAILS" },
            shown(&found),
        ));
    }
    if trial.person.is_some() {
        out.push_str("  mapped:\n");
        for (field, value) in &trial.mapped.values {
            let synced = settings.sync_fields.contains(field);
            let rule = if settings.field_map.rules.contains_key(field) {
                "field_map"
            } else {
                "built-in"
            };
            let gated = if synced { "" } else { ", not in sync_fields" };
            out.push_str(&format!(
                "    {} = {}  ({rule}{gated})\n",
                field.name(),
                shown(value)
            ));
        }
        for note in &trial.mapped.notes {
            out.push_str(&format!("    {note}\n"));
        }
    }
    if let Some(found) = &trial.found {
        out.push_str(&format!(
            "  kvCORE match: contact {} by {:?}\n",
            found.contact.id, found.matched_by
        ));
    }
    out.push_str(&format!("  decision: {}\n", decision(&trial.action)));
    out
}

/// A value as printed: emails and phone numbers masked as in logs (SPEC
/// section 4), everything else as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) if text.contains('@') => format!("{:?}", mask_email(text)),
        Value::String(text)
            if text.starts_with('+') && text[1..].chars().all(|c| c.is_ascii_digit()) =>
        {
            let last: String = text
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("\"***{last}\"")
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn describe(person: &Person) -> String {
    let name = [person.first_name.as_deref(), person.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{}, {} email(s) {}, {} phone(s), {} tag(s)",
        if name.is_empty() { "no name" } else { &name },
        person.emails.len(),
        person
            .emails
            .iter()
            .map(|e| e.masked())
            .collect::<Vec<_>>()
            .join(" "),
        person.phones.len(),
        person.tags.len()
    )
}

fn decision(action: &Action) -> String {
    let names = |values: &kvsync::domain::fields::FieldValues| {
        values
            .keys()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match action {
        Action::Create {
            values,
            assigned_agent_id,
            source,
        } => format!(
            "create with {}{}{}",
            names(values),
            assigned_agent_id.map_or(String::new(), |a| format!(", agent {a}")),
            source
                .as_ref()
                .map_or(String::new(), |s| format!(", source {s:?}"))
        ),
        Action::Update {
            contact_id,
            values,
            add_tags,
        } => {
            let tags = if add_tags.is_empty() {
                String::new()
            } else {
                format!("; add tags {}", add_tags.join(", "))
            };
            format!("update contact {contact_id}: {}{tags}", names(values))
        }
        Action::Unchanged { contact_id } => {
            format!(
                "unchanged: contact {contact_id} already says it (or keeps an edit made in kvCORE)"
            )
        }
        Action::Skip { reason, contact_id } => format!(
            "skip ({}){}",
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            contact_id.map_or(String::new(), |id| format!(", contact {id}"))
        ),
    }
}
