//! The HTTP client every vendor adapter (kvCORE, Follow Up Boss, Google,
//! Microsoft) is built from: one rustls configuration per process, trusting
//! Mozilla's root certificates as compiled into `webpki-roots`.
//!
//! Why not the system's store (reqwest's default, through
//! rustls-platform-verifier): reading it parses the CA bundle's PEM text
//! (about 150 certificates, base64 decoded in constant time) once per
//! client built, and that was 61% of a webhook cold start's instructions
//! for its two clients (issue 22, `PROFILER=callgrind`). The vendors' API
//! hosts all chain to public roots Mozilla's program includes, and a
//! Lambda function has no corporate proxy whose own CA the system store
//! would add; the roots are as fresh as the `webpki-roots` release the
//! build locks. Every certificate is still verified (rustls' WebPKI
//! verifier, hostname included).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The `User-Agent` every vendor request carries.
const USER_AGENT: &str = concat!("kvsync/", env!("CARGO_PKG_VERSION"));

/// Built on first use, then cloned (a few `Arc`s) into each client.
static TLS: LazyLock<Option<rustls::ClientConfig>> = LazyLock::new(|| {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
});

/// A client builder with kvsync's user agent, `connect_timeout` and
/// whole-request `timeout`, over the shared TLS configuration. `None`
/// only if rustls refuses its own default protocol versions for the
/// aws-lc provider (then the caller reports a network error).
pub fn client(connect_timeout: Duration, timeout: Duration) -> Option<reqwest::Client> {
    let tls = TLS.as_ref()?.clone();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_configuration_builds_clients_over_mozillas_roots() {
        assert!(TLS.is_some(), "rustls accepts aws-lc's default versions");
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        // reqwest refuses to build over a configuration of another rustls
        // version than its own ("unknown preconfigured TLS backend").
        assert!(client(Duration::from_secs(1), Duration::from_secs(2)).is_some());
    }
}
