//! `kvcore-fake`: the kvCORE fake as a standalone server, for `make dev`
//! and benchmarks. Prints one line (its base URL) on stdout; logs go to
//! stderr (`RUST_LOG`, default `info`). Stops on Ctrl-C or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use kvcore_fake::{DuplicatePolicy, FakeConfig, FakeKvcore};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: kvcore-fake [--addr 127.0.0.1:8090] [--token TOKEN]... \
[--list-lag-ms N] [--duplicates accept|409|422] [--loose-types | --plain-types] [--latency-ms N] \
[--allow-non-loopback]
  --search-lag-ms is --list-lag-ms; --allow-duplicate-emails is --duplicates accept (the default)";

#[derive(Debug)]
struct Options {
    addr: SocketAddr,
    config: FakeConfig,
}

/// Reads the arguments (without the program name). A fake that accepts a
/// well-known token must not be reachable from the network by accident, so
/// a non-loopback address needs `--allow-non-loopback`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8090).into();
    let mut config = FakeConfig::default();
    let mut tokens = Vec::new();
    let mut allow_non_loopback = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => {
                let text = value()?;
                addr = text
                    .parse()
                    .map_err(|_| format!("--addr {text}: not an IP:PORT"))?;
            }
            "--token" => tokens.push(value()?),
            "--list-lag-ms" | "--search-lag-ms" => {
                config.search_lag = Duration::from_millis(number(&arg, &value()?)?);
            }
            "--latency-ms" => config.latency = Duration::from_millis(number(&arg, &value()?)?),
            "--duplicates" => {
                config.duplicates = match value()?.as_str() {
                    "accept" => DuplicatePolicy::Accept,
                    "409" => DuplicatePolicy::Conflict409,
                    "422" => DuplicatePolicy::Unprocessable422,
                    other => return Err(format!("--duplicates {other}: accept, 409 or 422")),
                };
            }
            "--allow-duplicate-emails" => config.duplicates = DuplicatePolicy::Accept,
            "--loose-types" => config.loose_types = true,
            // Loose types are the default (SPEC section 7); this turns them off.
            "--plain-types" => config.loose_types = false,
            "--allow-non-loopback" => allow_non_loopback = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(format!(
            "{addr} is not a loopback address; pass --allow-non-loopback to listen there"
        ));
    }
    if !tokens.is_empty() {
        config.tokens = tokens;
    }
    Ok(Options { addr, config })
}

fn number(flag: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{flag} {text}: not a number"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    let options = match parse_args(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("kvcore-fake: {message}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let fake = match FakeKvcore::start_on(options.addr, options.config).await {
        Ok(fake) => fake,
        Err(error) => {
            eprintln!("kvcore-fake: cannot listen on {}: {error}", options.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("kvcore-fake listening on {}", fake.base_url());
    shutdown_signal().await;
    tracing::info!("kvcore-fake stopping");
    std::process::ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM (how `make dev` and containers stop a process).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults_listen_on_loopback_8090() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.addr.to_string(), "127.0.0.1:8090");
        assert_eq!(options.config.tokens, ["kvcore-test-token"]);
        assert_eq!(options.config.duplicates, DuplicatePolicy::Accept);
        assert!(options.config.loose_types, "the harsher reading by default");
        assert!(!parse(&["--plain-types"]).unwrap().config.loose_types);
        assert_eq!(options.config.latency, Duration::ZERO);
    }

    #[test]
    fn every_flag_is_read() {
        let options = parse(&[
            "--addr",
            "[::1]:9000",
            "--token",
            "a",
            "--token",
            "b",
            "--list-lag-ms",
            "1500",
            "--duplicates",
            "422",
            "--loose-types",
            "--latency-ms",
            "150",
        ])
        .unwrap();
        assert_eq!(options.addr.to_string(), "[::1]:9000");
        assert_eq!(options.config.tokens, ["a", "b"]);
        assert_eq!(options.config.search_lag, Duration::from_millis(1500));
        assert_eq!(options.config.duplicates, DuplicatePolicy::Unprocessable422);
        assert!(options.config.loose_types);
        assert_eq!(options.config.latency, Duration::from_millis(150));
        let older = parse(&[
            "--search-lag-ms",
            "20",
            "--duplicates",
            "409",
            "--allow-duplicate-emails",
        ])
        .unwrap();
        assert_eq!(older.config.search_lag, Duration::from_millis(20));
        assert_eq!(older.config.duplicates, DuplicatePolicy::Accept);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--addr", "0.0.0.0:8090"]).is_err());
        assert!(parse(&["--addr", "0.0.0.0:8090", "--allow-non-loopback"]).is_ok());
        assert!(parse(&["--addr", "localhost"]).is_err());
        assert!(parse(&["--search-lag-ms", "soon"]).is_err());
        assert!(parse(&["--latency-ms", "-1"]).is_err());
        assert!(parse(&["--duplicates", "refuse"]).is_err());
        assert!(parse(&["--token"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}
