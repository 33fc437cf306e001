//! Small statistics and report shaping: percentiles, per-event request
//! counts by operation, sizes in MiB, and figures read from /proc.

use std::collections::BTreeMap;
use std::time::Duration;

/// Requests by operation (`dynamodb:UpdateItem`, `search by email`, ...).
pub type Counts = BTreeMap<String, u64>;

/// The `p`th percentile (0..=100) by nearest rank; zero for no samples.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of per-event counts (the upper one of an even number); zero for none.
pub fn median(counts: &[u64]) -> u64 {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

pub fn ms(duration: Duration) -> f64 {
    round(duration.as_secs_f64() * 1000.0, 2)
}

pub fn mib(bytes: u64) -> f64 {
    round(bytes as f64 / 1_048_576.0, 2)
}

pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// What `after` counted beyond `before`.
pub fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .filter_map(|(op, &n)| {
            let more = n.saturating_sub(before.get(op).copied().unwrap_or_default());
            (more > 0).then(|| (op.clone(), more))
        })
        .collect()
}

pub fn add(total: &mut Counts, more: &Counts) {
    for (op, n) in more {
        *total.entry(op.clone()).or_default() += n;
    }
}

/// Counts over `events` events as requests per event (3 decimals).
pub fn per_event(total: &Counts, events: usize) -> BTreeMap<String, f64> {
    total
        .iter()
        .map(|(op, &n)| (op.clone(), round(n as f64 / events.max(1) as f64, 3)))
        .collect()
}

/// A `kB` field of /proc/<pid>/status (`VmHWM`, `RssAnon`, ...) in MiB.
pub fn status_mib(status: &str, field: &str) -> Option<f64> {
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(round(kib / 1024.0, 2))
}

/// CPU time (user + system) a live process has used, its ended threads'
/// included: `utime` + `stime` of /proc/<pid>/stat (proc(5)), in clock
/// ticks of 10 ms (`_SC_CLK_TCK` is 100 on Linux), which the kernel
/// derives from the threads' exact run time; over 200 events a tick is
/// 0.05 ms an event.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `fields[0]` is field 3 (state).
    let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Duration::from_millis((ticks(14)? + ticks(15)?) * 10))
}

/// CPU time the live threads of a process have run, to the nanosecond:
/// the first field of each /proc/<pid>/task/<tid>/schedstat (the kernel's
/// `sum_exec_runtime`). Exact for a cold start, where no thread has ended.
pub fn cpu_time_of_threads(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Each live thread's run time, to the nanosecond, by thread id (the
/// first field of /proc/<pid>/task/<tid>/schedstat).
pub fn thread_times(pid: u32) -> Option<std::collections::BTreeMap<u32, u64>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut times = std::collections::BTreeMap::new();
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        times.insert(tid, schedstat.split_whitespace().next()?.parse().ok()?);
    }
    Some(times)
}

/// The CPU a process spent between two [`thread_times`] readings: each
/// thread's growth, a thread new since `before` counted whole. A thread
/// that ended in between loses its share (tokio's blocking-pool threads
/// idle out after 10 s; the webhook's one runtime thread does not), so
/// this is exact for the webhook's warm loop, where 10 ms ticks
/// ([`cpu_time`]) are a twentieth of a millisecond an event.
pub fn cpu_between(
    before: &std::collections::BTreeMap<u32, u64>,
    after: &std::collections::BTreeMap<u32, u64>,
) -> Duration {
    let ns = after
        .iter()
        .map(|(tid, &ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    Duration::from_nanos(ns)
}

/// Intervals (start, end) merged where they overlap, in order: requests
/// sent together are one round trip on the critical path.
pub fn merged(intervals: &[(Duration, Duration)]) -> Vec<(Duration, Duration)> {
    let mut sorted = intervals.to_vec();
    sorted.sort();
    let mut out: Vec<(Duration, Duration)> = Vec::new();
    for (start, end) in sorted {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The wall time covered by at least one of the intervals.
pub fn covered(intervals: &[(Duration, Duration)]) -> Duration {
    merged(intervals)
        .iter()
        .map(|(start, end)| *end - *start)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> Counts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 95.0), Duration::from_millis(95));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 95.0),
            Duration::from_millis(7)
        );
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn median_of_counts_ignores_a_rare_extra_request() {
        assert_eq!(median(&[3, 4, 3, 3]), 3);
        assert_eq!(median(&[1, 2, 2]), 2);
        assert_eq!(median(&[]), 0);
    }

    #[test]
    fn milliseconds_and_mebibytes_with_two_decimals() {
        assert_eq!(ms(Duration::from_micros(1234)), 1.23);
        assert_eq!(mib(14_712_248), 14.03);
        assert_eq!(round(2.0 / 3.0, 3), 0.667);
    }

    #[test]
    fn delta_keeps_only_what_grew() {
        let before = counts(&[("dynamodb:GetItem", 5), ("dynamodb:UpdateItem", 2)]);
        let after = counts(&[
            ("dynamodb:GetItem", 5),
            ("dynamodb:UpdateItem", 4),
            ("dynamodb:TransactWriteItems", 1),
        ]);
        assert_eq!(
            delta(&before, &after),
            counts(&[
                ("dynamodb:TransactWriteItems", 1),
                ("dynamodb:UpdateItem", 2)
            ])
        );
    }

    #[test]
    fn per_event_averages_the_sum() {
        let mut total = Counts::new();
        add(&mut total, &counts(&[("a", 2), ("b", 1)]));
        add(&mut total, &counts(&[("a", 2)]));
        add(&mut total, &counts(&[("a", 2)]));
        let each = per_event(&total, 3);
        assert_eq!(each["a"], 2.0);
        assert_eq!(each["b"], 0.333);
        assert_eq!(per_event(&total, 0)["a"], 6.0);
    }

    #[test]
    fn overlapping_requests_are_one_round_trip() {
        let at = |a, b| (Duration::from_millis(a), Duration::from_millis(b));
        // Sent together (a transaction and a read), then one more later.
        let spans = [at(0, 6), at(1, 5), at(300, 306), at(2, 7)];
        assert_eq!(merged(&spans), [at(0, 7), at(300, 306)]);
        assert_eq!(covered(&spans), Duration::from_millis(13));
        assert_eq!(merged(&[]), []);
        assert_eq!(merged(&[at(0, 5), at(5, 9)]), [at(0, 9)], "touching");
    }

    #[test]
    fn proc_status_fields_in_mebibytes() {
        let status =
            "Name:\twebhook\nVmPeak:\t  100000 kB\nVmHWM:\t   18320 kB\nRssAnon:\t    9216 kB\n";
        assert_eq!(status_mib(status, "VmHWM"), Some(17.89));
        assert_eq!(status_mib(status, "RssAnon"), Some(9.0));
        assert_eq!(status_mib(status, "VmRSS"), None);
    }
}
