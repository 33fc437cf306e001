//! An import preview in the bench (issue 19, SPEC section 13): 10,000 rows
//! of a Google Contacts export against a kvCORE account of 20,000
//! contacts, through the `kvsync` binary (KVSYNC_BIN, release in `make
//! bench`) at `kvcore_max_rps` 1000 (paced in the process): the kvCORE requests (ceil(20000/500)
//! lists plus one read per planned update), the wall time, and the CLI's
//! peak RSS (target under 100 MiB), sampled from /proc while it runs.
//!
//! Wiring (bench/src/main.rs): `mod import;`, `"import_preview":
//! import::run().await` in the report, and `BENCH_ONLY=import`.

use std::time::{Duration, Instant};

use kvcore_fake::RecordedRequest;
use kvsync_devstack::{LocalStack, StackOptions};
use serde_json::{Value, json};

pub const ROWS: usize = 10_000;
pub const CONTACTS: usize = 20_000;
const MAX_RSS_MIB: f64 = 100.0;
const RATE: &str = "1000";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The measurement as the report's `import_preview` entry; a failure is
/// `{"error": ...}`.
pub async fn run() -> Value {
    match measure().await {
        Ok(report) => report,
        Err(error) => json!({"error": error.to_string()}),
    }
}

fn contact(i: usize) -> Value {
    json!({
        "first_name": format!("First{i}"), "last_name": format!("Last{i}"),
        "email": format!("c{i}@example.com"), "cell_phone_1": format!("(239) 30{:01}-{:04}", i / 10_000, i % 10_000),
        "assigned_agent_id": 7, "updated_at": 1_600_000_000,
    })
}

/// Rows 1..=4000 change a known contact's last name (update), 4001..=7000
/// say what kvCORE holds (unchanged), 7001..=9500 are new people, the rest
/// repeat earlier rows (duplicates) or have nothing usable.
fn export() -> String {
    let mut out =
        String::from("First Name,Last Name,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value\n");
    for row in 1..=ROWS {
        let line = match row {
            1..=4000 => format!("First{row},Changed{row},c{row}@example.com,,"),
            4001..=7000 => format!("First{row},Last{row},c{row}@example.com,,"),
            7001..=9500 => format!(
                "New{row},Person,new{row}@example.net,Mobile,239400{:04}",
                row % 10_000
            ),
            9501..=9900 => format!("Again{row},Person,new{}@example.net,,", row - 2000),
            _ => format!("Nobody{row},Here,,Mobile,12"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn measure() -> Result<Value, Error> {
    let binary =
        std::env::var("KVSYNC_BIN").map_err(|_| "KVSYNC_BIN is not set: run `make bench`")?;
    let stack = LocalStack::start(StackOptions::default()).await?;
    stack
        .seed_workflow("imp", json!({"kvcore_max_rps": {"N": RATE}}))
        .await?;
    let kvcore = stack.fake();
    kvcore.insert_contacts((1..=CONTACTS).map(contact).collect());
    kvcore.clear_requests();
    let dir = kvsync_devstack::template::workspace_root().join("target/bench/import");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bench-import.csv");
    std::fs::write(&file, export())?;

    // Paced in the process (no PACING_TABLE): the preview's own speed at
    // 1,000/s, not a busy moto_server's round trips to the shared table.
    let env = stack.function_env();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&binary)
        .args(["import", "imp"])
        .arg(&file)
        .args(["--preview", "--out"])
        .arg(&dir)
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id().ok_or("the kvsync process has no pid")?;
    let mut peak_mib: f64 = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(mib) = vm_hwm_mib(&text)
        {
            peak_mib = peak_mib.max(mib);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !status.success() {
        return Err(format!("kvsync import failed: {stdout}").into());
    }
    let lists = kvcore.count_requests(RecordedRequest::is_list);
    let reads = kvcore.count_requests(RecordedRequest::is_get);
    let writes = kvcore.count_requests(|r| r.method != "GET");
    Ok(json!({
        "rows": ROWS,
        "kvcore_contacts": CONTACTS,
        "kvcore_max_rps": RATE.parse::<u32>().unwrap_or_default(),
        "kvcore_list_requests": lists,
        "kvcore_list_requests_expected": CONTACTS.div_ceil(500),
        "kvcore_full_reads": reads,
        "kvcore_writes": writes,
        "seconds": (seconds * 10.0).round() / 10.0,
        "peak_rss_mib": peak_mib,
        "peak_rss_target_mib": MAX_RSS_MIB,
        "peak_rss_within_target": peak_mib > 0.0 && peak_mib < MAX_RSS_MIB,
        "summary": stdout.lines().next().unwrap_or_default(),
    }))
}

fn vm_hwm_mib(status: &str) -> Option<f64> {
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}
