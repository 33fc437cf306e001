//! `kvsync index build|status <workflow_id>`: the phone index of a
//! workflow's scope (SPEC section 9) from the operator's machine. A build
//! here runs the same resumable flow as the scheduled `kvcore-indexer`,
//! paced the same way, with a progress bar instead of a time limit.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use kvsync::adapters::kvcore::Pacer;
use kvsync::adapters::secrets;
use kvsync::adapters::store::IndexMeta;
use kvsync::clock::now_ms;
use kvsync::domain::settings::Settings;
use kvsync::flows::phone_index::{BuildReport, PhoneIndex, Scope};
use kvsync::flows::{Invocation, Services};

use crate::when;

/// One pass of a build gets this long, as one scheduled run does; the
/// build goes on in pass after pass until done. The flow saves its place
/// and frees the scope's lease at the end of each pass only, so short
/// passes bound what an interrupted command (Ctrl-C) leaves behind: at
/// most a pass of pages to read again, and a lease that frees by itself
/// minutes later.
const BUILD_PASS: Duration = Duration::from_secs(300);
/// How often to look again while another invocation holds the scope.
const WAIT_FOR_HOLDER: Duration = Duration::from_secs(5);

/// Builds (or resumes building) the phone index of the workflow's scope
/// until it is done, showing contacts read of kvCORE's total, pages and
/// rate on stderr.
pub async fn build(services: &Services, workflow_id: &str) -> Result<ExitCode, String> {
    let settings = workflow(services, workflow_id).await?;
    let scope = Scope::of(&settings);
    let token = token(services, &settings).await?;
    let rate = token_rate(services, &settings).await?;
    let pacer = Pacer::per_second(rate);
    let owner = format!("kvsync-cli/{}-{}", std::process::id(), now_ms());

    let meta = services
        .phone_index
        .meta(&scope.id)
        .await
        .map_err(|e| e.to_string())?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {pos}/{len} contacts read  {msg}  {per_sec}  [{elapsed_precise}, about {eta} left]",
        )
        .map_err(|e| e.to_string())?,
    );
    bar.set_position(meta.build.map_or(0, |cursor| cursor.contacts_read));
    bar.reset_eta();
    eprintln!(
        "building the phone index of scope {} at {rate} kvCORE requests/s{}",
        scope.id,
        if meta.build.is_some() {
            " (resuming)"
        } else {
            ""
        }
    );

    let started = std::time::Instant::now();
    let mut pages = 0;
    let report = loop {
        wait_while_held(services, &scope, &owner, &bar).await?;
        let invocation = Invocation::within(BUILD_PASS);
        let session = services
            .kvcore
            .paced_session(&token, invocation.deadline, &pacer);
        let index = PhoneIndex {
            store: &services.phone_index,
            session: &session,
            scope: &scope,
            owner: &owner,
            deadline: invocation.deadline,
            deadline_ms: invocation.deadline_ms,
        };
        let pages_before = pages;
        let mut progress = |report: &BuildReport| {
            if let Some(total) = report.total {
                bar.set_length(total.max(report.contacts_read));
            }
            bar.set_position(report.contacts_read);
            bar.set_message(format!("page {}", pages_before + report.pages));
        };
        let result = index.build(now_ms(), &mut progress).await;
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                bar.abandon();
                return Err(format!(
                    "building the phone index of scope {}: {error} (what was read is kept; run it again to resume)",
                    scope.id
                ));
            }
        };
        pages += report.pages;
        if report.finished {
            break report;
        }
    };
    bar.finish_and_clear();
    println!(
        "phone index of scope {} built: {} contacts indexed, {} contacts read in {pages} pages, in {}",
        scope.id,
        report.contacts_indexed.unwrap_or_default(),
        report.contacts_read,
        HumanDuration(started.elapsed()),
    );
    Ok(ExitCode::SUCCESS)
}

/// Waits while another invocation (the scheduled indexer, a lookup's
/// refresh) holds the scope's lease; the build then resumes where it left.
async fn wait_while_held(
    services: &Services,
    scope: &Scope,
    owner: &str,
    bar: &ProgressBar,
) -> Result<(), String> {
    loop {
        let meta = services
            .phone_index
            .meta(&scope.id)
            .await
            .map_err(|e| e.to_string())?;
        match (&meta.lease_owner, meta.lease_until_ms) {
            (Some(holder), Some(until)) if holder != owner && until >= now_ms() => {
                bar.set_message(format!("waiting: {holder} works on this index"));
                tokio::time::sleep(WAIT_FOR_HOLDER).await;
            }
            _ => return Ok(()),
        }
    }
}

/// Prints the state of the workflow's scope: size, when built, the
/// watermark, the last refresh, a build in progress, a lease held.
pub async fn status(services: &Services, workflow_id: &str) -> Result<ExitCode, String> {
    let settings = workflow(services, workflow_id).await?;
    let scope = Scope::of(&settings);
    let meta = services
        .phone_index
        .meta(&scope.id)
        .await
        .map_err(|e| e.to_string())?;
    print!("{}", status_text(&scope, &meta, now_ms()));
    Ok(ExitCode::SUCCESS)
}

fn status_text(scope: &Scope, meta: &IndexMeta, now: i64) -> String {
    let at = |ms: Option<i64>| match ms {
        Some(ms) => format!("{} ({})", when(ms), ago(now, ms)),
        None => "never".to_string(),
    };
    let mut lines = vec![
        ("scope", scope.id.clone()),
        (
            "contacts",
            match meta.built_at_ms {
                Some(_) => format!("{} indexed by the last full build", meta.contacts),
                None => "not built yet: phone lookups answer 503 phone_index_building".to_string(),
            },
        ),
        ("built at", at(meta.built_at_ms)),
        ("watermark", at(meta.watermark_s.map(|s| s * 1000))),
        ("last refresh", at(meta.last_refresh_ms)),
    ];
    lines.push((
        "build",
        match meta.build {
            Some(cursor) => format!(
                "in progress since {}: {} contacts read, page {} next",
                at(Some(cursor.started_ms)),
                cursor.contacts_read,
                cursor.next_page
            ),
            None => "none in progress".to_string(),
        },
    ));
    if let (Some(owner), Some(until)) = (&meta.lease_owner, meta.lease_until_ms)
        && until >= now
    {
        lines.push(("busy", format!("{owner} until {}", when(until))));
    }
    lines
        .into_iter()
        .map(|(name, value)| format!("{name:<13}{value}\n"))
        .collect()
}

/// `3 minutes ago`; `in the future` for a clock ahead of this one.
fn ago(now: i64, then_ms: i64) -> String {
    match u64::try_from(now - then_ms) {
        Ok(ms) => format!("{} ago", HumanDuration(Duration::from_millis(ms))),
        Err(_) => "in the future".to_string(),
    }
}

async fn workflow(services: &Services, workflow_id: &str) -> Result<Settings, String> {
    let settings = services
        .workflows
        .get(workflow_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no workflow '{workflow_id}'"))?;
    Ok((*settings).clone())
}

async fn token(services: &Services, settings: &Settings) -> Result<String, String> {
    let id = &settings.kvcore_token_secret;
    let secret = services
        .secrets
        .get(id)
        .await
        .map_err(|e| format!("kvcore_token_secret '{id}': {e}"))?;
    secrets::kvcore_token(&secret)
        .ok_or_else(|| format!("kvcore_token_secret '{id}' does not hold a kvCORE API token"))
}

/// The token's pace: the lowest `kvcore_max_rps` among the enabled
/// workflows that share its secret, and this one (SPEC section 3), as the
/// scheduled indexer paces it.
async fn token_rate(services: &Services, settings: &Settings) -> Result<f64, String> {
    let all = services.workflows.all().await.map_err(|e| e.to_string())?;
    Ok(all
        .valid
        .iter()
        .filter(|s| s.enabled && s.kvcore_token_secret == settings.kvcore_token_secret)
        .map(|s| s.kvcore_max_rps)
        .fold(settings.kvcore_max_rps, f64::min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsync::adapters::store::BuildCursor;

    fn scope() -> Scope {
        let item = kvsync::domain::settings::Item::from([
            (
                "kvcore_token_secret".to_string(),
                kvsync::domain::settings::Attr::S("kvsync/t".into()),
            ),
            (
                "webhook_secret".to_string(),
                kvsync::domain::settings::Attr::S("w".into()),
            ),
        ]);
        Scope::of(&kvsync::domain::settings::parse("wf", &item).unwrap().0)
    }

    #[test]
    fn status_of_a_scope_never_built() {
        let text = status_text(&scope(), &IndexMeta::default(), 1_700_000_000_000);
        assert!(text.contains("scope        kvsync/t#US\n"), "{text}");
        assert!(text.contains("not built yet"), "{text}");
        assert!(text.contains("built at     never\n"), "{text}");
        assert!(text.contains("none in progress"), "{text}");
    }

    #[test]
    fn status_gives_ages_in_human_terms() {
        let now = 1_700_000_000_000;
        let meta = IndexMeta {
            built_at_ms: Some(now - 3 * 3_600_000),
            watermark_s: Some((now - 5 * 60_000) / 1000),
            last_refresh_ms: Some(now - 40_000),
            contacts: 900,
            build: Some(BuildCursor {
                started_ms: now - 120_000,
                next_page: 3,
                contacts_read: 1000,
            }),
            lease_owner: Some("kvcore-indexer/abc".into()),
            lease_until_ms: Some(now + 60_000),
        };
        let text = status_text(&scope(), &meta, now);
        assert!(text.contains("900 indexed"), "{text}");
        assert!(text.contains("(3 hours ago)"), "{text}");
        assert!(text.contains("(5 minutes ago)"), "{text}");
        assert!(text.contains("(40 seconds ago)"), "{text}");
        assert!(text.contains("1000 contacts read, page 3 next"), "{text}");
        assert!(text.contains("busy         kvcore-indexer/abc"), "{text}");
    }
}
