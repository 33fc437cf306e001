//! `make profile`: a profiler attached to the function over the warm loop
//! only (after the process's first event, before its shutdown), chosen by
//! `BENCH_PROFILE`:
//! - `perf`: `perf record -e cpu-clock --call-graph dwarf -p <pid>` into
//!   `target/profile/perf.data` (the machine has no hardware counters, so
//!   the software `cpu-clock` event; frames unwound from `.eh_frame`, as a
//!   Rust release build keeps no frame pointers), stopped with SIGINT, on
//!   which perf writes its data and exits (perf-record(1));
//! - `callgrind`: the function already runs under `valgrind
//!   --tool=callgrind` (infra/scripts/profile.sh wraps it); its counters are
//!   zeroed when the warm loop starts and dumped when it ends
//!   (`callgrind_control -z` / `-d`, valgrind manual section 6.2.4), so the
//!   dump counts the warm loop's instructions alone.
//!
//! Unset, nothing runs.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::Error;

pub enum Profiler {
    None,
    Perf(PathBuf),
    Callgrind,
}

/// A profiler attached to one process, until [`Running::stop`].
pub struct Running {
    perf: Option<Child>,
    callgrind_pid: Option<u32>,
}

impl Profiler {
    pub fn from_env() -> Profiler {
        match std::env::var("BENCH_PROFILE").as_deref() {
            Ok("perf") => Profiler::Perf(
                kvsync_devstack::template::workspace_root().join("target/profile/perf.data"),
            ),
            Ok("callgrind") => Profiler::Callgrind,
            _ => Profiler::None,
        }
    }

    pub async fn start(self, pid: u32) -> Result<Running, Error> {
        let mut running = Running {
            perf: None,
            callgrind_pid: None,
        };
        match self {
            Profiler::None => {}
            Profiler::Perf(out) => {
                if let Some(dir) = out.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let perf = Command::new("perf")
                    .args(["record", "-q", "-e", "cpu-clock", "-F", "4000"])
                    .args(["--call-graph", "dwarf,32768", "-p", &pid.to_string(), "-o"])
                    .arg(&out)
                    .stdout(Stdio::null())
                    .spawn()?;
                // perf attaches within a few ms; give it that before the loop.
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                running.perf = Some(perf);
            }
            Profiler::Callgrind => {
                callgrind_control("-z", pid).await?;
                running.callgrind_pid = Some(pid);
            }
        }
        Ok(running)
    }
}

impl Running {
    pub async fn stop(self) -> Result<(), Error> {
        if let Some(mut perf) = self.perf {
            if let Some(id) = perf.id() {
                Command::new("kill")
                    .args(["-INT", &id.to_string()])
                    .status()
                    .await?;
            }
            perf.wait().await?;
        }
        if let Some(pid) = self.callgrind_pid {
            callgrind_control("-d", pid).await?;
        }
        Ok(())
    }
}

async fn callgrind_control(option: &str, pid: u32) -> Result<(), Error> {
    let status = Command::new("callgrind_control")
        .args([option, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .await?;
    if !status.success() {
        return Err(format!("callgrind_control {option} {pid}: {status}").into());
    }
    Ok(())
}
