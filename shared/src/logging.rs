//! Logs as every kvsync function writes them (SPEC section 2): JSON lines
//! from `tracing-subscriber`, filtered by `RUST_LOG` (default `info`), the
//! current span's fields on each line, no timestamps (CloudWatch adds its
//! own).

/// Installs the JSON log subscriber; call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .init();
}
