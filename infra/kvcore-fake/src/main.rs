//! `kvcore-fake`: the kvCORE fake as a standalone server for `make dev`.
//!
//! kvcore-fake [--addr 127.0.0.1:8090] [--token TOKEN]... [--search-lag-ms N] [--allow-duplicate-emails]

use std::net::SocketAddr;
use std::time::Duration;

use kvcore_fake::{FakeConfig, FakeKvcore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_target(false).init();
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8090).into();
    let mut config = FakeConfig::default();
    let mut tokens = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => addr = value()?.parse()?,
            "--token" => tokens.push(value()?),
            "--search-lag-ms" => config.search_lag = Duration::from_millis(value()?.parse()?),
            "--allow-duplicate-emails" => config.reject_duplicate_emails = false,
            other => {
                return Err(format!("unknown argument {other}; see the top of src/main.rs").into());
            }
        }
    }
    if !tokens.is_empty() {
        config.tokens = tokens;
    }
    let fake = FakeKvcore::start_on(addr, config).await?;
    println!("kvcore-fake listening on {}", fake.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
