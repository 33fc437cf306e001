//! The health-check function in the local stack (SPEC section 14): its
//! environment from template.yaml pointed at this stack (the Follow Up Boss
//! fake the webhook is given, a Google fake when there is one), its process
//! under the Runtime API emulator.

use std::path::PathBuf;

use google_fake::FakeGoogle;

use super::{LocalStack, Urls, default_bin, function_env, spawn_options_for};
use crate::Result;
use crate::runtime_api::{LambdaProcess, SpawnOptions};
use crate::template::HEALTH_CHECK_FUNCTION;

/// The health-check binary: env HEALTH_CHECK_BIN, else the debug build in the cargo target dir.
pub fn default_health_check_bin() -> PathBuf {
    default_bin("HEALTH_CHECK_BIN", "health-check")
}

impl LocalStack {
    /// The health check's environment: what template.yaml sets for it,
    /// pointed at this stack; Google's token endpoint at `google` when
    /// given (else the template's default, never called without a polled
    /// workflow); `extra` last (they win), e.g. `FOLLOWUPBOSS_SYSTEM`.
    pub fn health_check_env(
        &self,
        google: Option<&FakeGoogle>,
        extra: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        let kvcore = self.fake.base_url();
        let followupboss = self
            .env
            .iter()
            .find(|(name, _)| name == "FOLLOWUPBOSS_BASE_URL")
            .map(|(_, url)| url.clone())
            .unwrap_or_else(|| super::UNREACHABLE_FOLLOWUPBOSS.to_string());
        let urls = Urls {
            aws_endpoint: &self.endpoint,
            kvcore: &kvcore,
            followupboss: &followupboss,
        };
        let mut more: Vec<(String, String)> = google
            .map(|g| vec![("GOOGLE_OAUTH_TOKEN_URL".to_string(), g.token_url())])
            .unwrap_or_default();
        more.extend(extra.iter().cloned());
        function_env(
            &self.template,
            HEALTH_CHECK_FUNCTION,
            &self.tables,
            &urls,
            &more,
        )
    }

    /// The health check as template.yaml sizes it (its Timeout).
    pub fn health_check_spawn_options(&self) -> Result<SpawnOptions> {
        spawn_options_for(&self.template, HEALTH_CHECK_FUNCTION)
    }

    /// Runs the health-check binary with [`Self::health_check_env`].
    pub async fn spawn_health_check(
        &self,
        google: Option<&FakeGoogle>,
        extra: &[(String, String)],
    ) -> Result<LambdaProcess> {
        let bin = default_health_check_bin();
        if !bin.is_file() {
            return Err(format!(
                "health-check binary {} not found: run `cargo build -p health-check` or set HEALTH_CHECK_BIN",
                bin.display()
            )
            .into());
        }
        let env = self.health_check_env(google, extra)?;
        LambdaProcess::spawn_with(&bin, &env, self.health_check_spawn_options()?).await
    }
}
