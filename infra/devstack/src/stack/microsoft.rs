//! The microsoft-poller in the local stack (SPEC section 15): its
//! environment from template.yaml pointed at this stack and a Microsoft
//! Graph fake, its process under the Runtime API emulator, and
//! `microsoft` workflows to seed.

use std::path::PathBuf;

use microsoft_fake::FakeMicrosoft;
use serde_json::{Value, json};

use super::{LocalStack, SeededWorkflow, Urls, default_bin, function_env, spawn_options_for};
use crate::Result;
use crate::runtime_api::{LambdaProcess, SpawnOptions};
use crate::template::MICROSOFT_POLLER_FUNCTION;

/// The microsoft-poller binary: env MICROSOFT_POLLER_BIN, else the debug
/// build in the cargo target dir.
pub fn default_microsoft_poller_bin() -> PathBuf {
    default_bin("MICROSOFT_POLLER_BIN", "microsoft-poller")
}

impl LocalStack {
    /// The microsoft-poller's environment: what template.yaml sets for it,
    /// pointed at this stack, with Graph and the token endpoint at
    /// `microsoft`.
    pub fn microsoft_poller_env(&self, microsoft: &FakeMicrosoft) -> Result<Vec<(String, String)>> {
        let kvcore = self.fake.base_url();
        let urls = Urls {
            aws_endpoint: &self.endpoint,
            kvcore: &kvcore,
            followupboss: super::UNREACHABLE_FOLLOWUPBOSS,
        };
        let microsoft_env = [
            (
                "MICROSOFT_GRAPH_BASE_URL".to_string(),
                microsoft.graph_base_url(),
            ),
            ("MICROSOFT_TOKEN_URL".to_string(), microsoft.token_url()),
        ];
        function_env(
            &self.template,
            MICROSOFT_POLLER_FUNCTION,
            &self.tables,
            &urls,
            &microsoft_env,
        )
    }

    /// The microsoft-poller as template.yaml sizes it (its Timeout).
    pub fn microsoft_poller_spawn_options(&self) -> Result<SpawnOptions> {
        spawn_options_for(&self.template, MICROSOFT_POLLER_FUNCTION)
    }

    /// Runs the microsoft-poller binary with [`Self::microsoft_poller_env`].
    pub async fn spawn_microsoft_poller(&self, microsoft: &FakeMicrosoft) -> Result<LambdaProcess> {
        let options = self.microsoft_poller_spawn_options()?;
        self.spawn_microsoft_poller_with(microsoft, &[], options)
            .await
    }

    /// Same, with more env vars (they win) and other spawn options (e.g. a
    /// short timeout).
    pub async fn spawn_microsoft_poller_with(
        &self,
        microsoft: &FakeMicrosoft,
        env: &[(String, String)],
        opts: SpawnOptions,
    ) -> Result<LambdaProcess> {
        let bin = default_microsoft_poller_bin();
        if !bin.is_file() {
            return Err(format!(
                "microsoft-poller binary {} not found: run `cargo build -p microsoft-poller` or set MICROSOFT_POLLER_BIN",
                bin.display()
            )
            .into());
        }
        let env = super::merged(self.microsoft_poller_env(microsoft)?, env.iter().cloned());
        LambdaProcess::spawn_with(&bin, &env, opts).await
    }

    /// A `microsoft` workflow: the secrets of [`Self::seed_workflow`] and
    /// `{prefix}kvsync/{id}/microsoft-oauth` holding a fresh sign-in at
    /// `microsoft`, merged with `overrides`. Answers the seeded workflow
    /// and the OAuth secret's name.
    pub async fn seed_microsoft_workflow(
        &self,
        id: &str,
        microsoft: &FakeMicrosoft,
        overrides: Value,
    ) -> Result<(SeededWorkflow, String)> {
        let oauth_secret = self.secret_name(&format!("kvsync/{id}/microsoft-oauth"));
        self.put_secret(&oauth_secret, &microsoft.oauth_secret().to_string())
            .await?;
        let mut item = json!({
            "source": {"S": "microsoft"},
            "microsoft_oauth_secret": {"S": oauth_secret},
        });
        if let (Some(fields), Value::Object(more)) = (item.as_object_mut(), overrides) {
            fields.extend(more);
        }
        let seeded = self.seed_workflow(id, item).await?;
        Ok((seeded, oauth_secret))
    }
}
