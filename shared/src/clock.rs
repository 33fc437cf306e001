//! Wall-clock time as kvsync records it: unix milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
