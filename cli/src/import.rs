//! `kvsync import <workflow_id> <file.csv> --preview | --apply` and `kvsync
//! google preview <workflow_id>` (SPEC section 13): the flags and the
//! progress bars; the reading, deciding, reporting and queueing are
//! `kvsync::flows::import`'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use kvsync::adapters::import_file::ImportFile;
use kvsync::adapters::import_report;
use kvsync::adapters::store::EventStatus;
use kvsync::domain::import::{Report, Target, parse_map};
use kvsync::domain::settings::Settings;
use kvsync::flows::Services;
use kvsync::flows::import::{self, Applied, Preview, Progress};

/// How often the drain of an applied import is looked at.
const DRAIN_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["preview", "apply"])))]
pub struct ImportArgs {
    /// The workflow's id: its rules decide every row.
    pub workflow_id: String,
    /// The CSV export (Google Contacts, Outlook, Follow Up Boss, kvCORE, or
    /// any with --map): UTF-8, `,` or `;`, a header row.
    pub file: PathBuf,
    /// Decide every row against kvCORE and write the report; nothing is
    /// written to kvCORE.
    #[arg(long)]
    pub preview: bool,
    /// Preview, then queue the rows that write (one message per row);
    /// applying the same file again queues nothing twice.
    #[arg(long)]
    pub apply: bool,
    /// A column the export names its own way: "Column=field" (fields:
    /// first_name, last_name, name, email, phone, mobile, home_phone,
    /// work_phone, street, city, state, zip, birthday, tags, owner,
    /// source_id, or - to ignore the column). Repeatable.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub maps: Vec<String>,
    /// Where the report goes (a directory) [default: next to the file].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --apply: queue and return, without waiting for the queue to drain.
    #[arg(long, requires = "apply")]
    pub no_wait: bool,
}

/// Previews (and with `--apply` queues) an import.
pub async fn run(services: &Services, args: ImportArgs) -> Result<ExitCode, String> {
    let overrides: Vec<(String, Target)> = args
        .maps
        .iter()
        .map(|m| parse_map(m).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let settings = workflow(services, &args.workflow_id).await?;
    let file = ImportFile::open(&args.file).map_err(|e| e.to_string())?;
    let sha256 = file.sha256.clone();
    let bars = Bars::new();
    let preview =
        import::preview_file(services, &settings, file, &overrides, &mut |p| bars.show(p))
            .await
            .map_err(|e| e.to_string())?;
    bars.done();
    let (csv, html) = report_paths(&args.file, args.out.as_deref(), "preview")?;
    write_reports(&preview.report, &csv, &html)?;
    print_totals(&preview.report, &csv, &html);
    if !args.apply {
        println!(
            "nothing was written to kvCORE; to queue the {} rows that write: kvsync import {} {} --apply",
            preview.report.totals.writes(),
            args.workflow_id,
            args.file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    apply(services, &settings, &sha256, &preview, args.no_wait).await
}

async fn apply(
    services: &Services,
    settings: &Settings,
    sha256: &str,
    preview: &Preview,
    no_wait: bool,
) -> Result<ExitCode, String> {
    let applied = import::apply(services, settings, sha256, &preview.writes)
        .await
        .map_err(|e| match e.code() {
            "in_progress" => format!(
                "this file is being queued by another run right now; run --apply again in {} (a run cut short resumes)",
                HumanDuration(import::APPLY_BUDGET)
            ),
            code => format!("{code}: {e}"),
        })?;
    let event_id = match applied {
        Applied::Queued { event_id, queued } => {
            println!("queued {queued} rows as event {event_id}");
            event_id
        }
        Applied::AlreadyApplied { event_id, total } => {
            println!(
                "this file was applied before (event {event_id}, {total} rows): nothing was queued again"
            );
            event_id
        }
    };
    if no_wait {
        println!("follow it with: kvsync history {}", settings.workflow_id);
        return Ok(ExitCode::SUCCESS);
    }
    drain(services, &settings.workflow_id, &event_id).await
}

/// Shows the event's persons as the sync-worker records them, until none
/// is pending.
async fn drain(services: &Services, workflow_id: &str, event_id: &str) -> Result<ExitCode, String> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {pos}/{len} rows synced  {msg}  [{elapsed_precise}, about {eta} left]",
        )
        .map_err(|e| e.to_string())?,
    );
    loop {
        let record = services
            .ledger
            .event(workflow_id, event_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no event {event_id} recorded"))?;
        let counts = record.queued.unwrap_or_default();
        bar.set_length(counts.total);
        bar.set_position(counts.done + counts.failed);
        bar.set_message(format!("{} failed", counts.failed));
        let finished = counts.pending() == 0
            && matches!(record.status, EventStatus::Completed | EventStatus::Failed)
            || counts.total == 0;
        if finished {
            bar.finish_and_clear();
            println!(
                "import {}: {} rows synced, {} failed; see kvsync history {workflow_id} and kvsync usage {workflow_id}",
                match record.status {
                    EventStatus::Failed => "finished with failures",
                    _ => "completed",
                },
                counts.done,
                counts.failed,
            );
            return Ok(if counts.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// `<dir>/<stem>.<what>.csv` and `.html`, `<dir>` the file's own unless
/// `--out` names one.
pub fn report_paths(
    file: &Path,
    out: Option<&Path>,
    what: &str,
) -> Result<(PathBuf, PathBuf), String> {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".to_string());
    let dir = match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
            dir.to_path_buf()
        }
        None => file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    Ok((
        dir.join(format!("{stem}.{what}.csv")),
        dir.join(format!("{stem}.{what}.html")),
    ))
}

pub fn write_reports(report: &Report, csv: &Path, html: &Path) -> Result<(), String> {
    import_report::write_csv(csv, report).map_err(|e| e.to_string())?;
    import_report::write_html(html, report).map_err(|e| e.to_string())
}

pub fn print_totals(report: &Report, csv: &Path, html: &Path) {
    let t = &report.totals;
    println!(
        "{} rows: {} to create, {} to update, {} unchanged, {} skipped",
        t.rows, t.create, t.update, t.unchanged, t.skip
    );
    for (reason, n) in &t.skipped_by_reason {
        println!("  skipped {reason}: {n}");
    }
    println!(
        "kvCORE: {} contacts listed in {} list requests, {} full records read",
        report.contacts_listed, report.list_requests, report.record_reads
    );
    println!("report: {}\n        {}", html.display(), csv.display());
}

pub async fn workflow(services: &Services, workflow_id: &str) -> Result<Settings, String> {
    let settings = services
        .workflows
        .get(workflow_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no workflow '{workflow_id}'"))?;
    Ok((*settings).clone())
}

/// The preview's progress on stderr: rows read, contacts listed, rows decided.
pub struct Bars {
    bar: ProgressBar,
}

impl Bars {
    pub fn new() -> Bars {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} {pos}/{len}  {per_sec}  [{elapsed_precise}, about {eta} left]",
        ) {
            bar.set_style(style);
        }
        Bars { bar }
    }

    pub fn show(&self, progress: Progress) {
        match progress {
            Progress::Rows(rows) => {
                self.bar.set_message("rows read");
                self.bar.set_length(rows as u64);
                self.bar.set_position(rows as u64);
            }
            Progress::Listed { contacts, total } => {
                if self.bar.message() != "kvCORE contacts listed" {
                    self.bar.set_message("kvCORE contacts listed");
                    self.bar.reset_eta();
                }
                self.bar
                    .set_length(total.unwrap_or(contacts as u64).max(contacts as u64));
                self.bar.set_position(contacts as u64);
            }
            Progress::Decided { done, of } => {
                if self.bar.message() != "rows decided" {
                    self.bar.set_message("rows decided");
                    self.bar.reset_eta();
                }
                self.bar.set_length(of as u64);
                self.bar.set_position(done as u64);
            }
        }
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}

/// `kvsync google preview <workflow_id>`: the same report for what a
/// polled Google workflow's `initial_sync: all` would do before its first
/// listing (SPEC section 13): every Google person decided like an import
/// row. Nothing is written, to kvCORE or to the poller's state.
pub async fn google_preview(
    services: &Services,
    workflow_id: &str,
    out: Option<&Path>,
) -> Result<ExitCode, String> {
    use kvsync::adapters::google::{DEFAULT_PEOPLE_BASE_URL, DEFAULT_TOKEN_URL, Google};
    let settings = workflow(services, workflow_id).await?;
    let people_base = std::env::var("GOOGLE_PEOPLE_BASE_URL")
        .unwrap_or_else(|_| DEFAULT_PEOPLE_BASE_URL.to_string());
    let token_url =
        std::env::var("GOOGLE_OAUTH_TOKEN_URL").unwrap_or_else(|_| DEFAULT_TOKEN_URL.to_string());
    let google = Google::new(&people_base, &token_url).map_err(|e| e.to_string())?;
    let bars = Bars::new();
    let mut show = |p| bars.show(p);
    let candidates = import::google::candidates(services, &settings, &google, &mut show)
        .await
        .map_err(|e| e.to_string())?;
    let source = import::Source {
        title: format!("Google initial sync preview: workflow {workflow_id}"),
        name: "Google Contacts (every person, as initial_sync: all lists them)".to_string(),
        export_kind: "Google People API".to_string(),
        sha256: None,
    };
    // What the workflow will do once enabled: a workflow kept disabled
    // while its first listing is previewed is decided as if it ran.
    let settings = Settings {
        enabled: true,
        ..settings
    };
    let preview = import::preview(services, &settings, source, candidates, &mut show)
        .await
        .map_err(|e| e.to_string())?;
    bars.done();
    // A file name with no directory: the report goes to --out, else here.
    let name = PathBuf::from(format!("google-{workflow_id}"));
    let (csv, html) = report_paths(&name, out, "preview")?;
    write_reports(&preview.report, &csv, &html)?;
    print_totals(&preview.report, &csv, &html);
    println!(
        "nothing was written; with initial_sync \"all\" the google-poller's first listing syncs these people"
    );
    Ok(ExitCode::SUCCESS)
}
