//! The google-poller in the local stack (SPEC section 10): its environment
//! from template.yaml pointed at this stack and a Google fake, its process
//! under the Runtime API emulator, and polled Google workflows to seed.

use std::path::PathBuf;

use google_fake::FakeGoogle;
use serde_json::{Value, json};

use super::{LocalStack, SeededWorkflow, Urls, default_bin, function_env, spawn_options_for};
use crate::Result;
use crate::runtime_api::{LambdaProcess, SpawnOptions};
use crate::template::GOOGLE_POLLER_FUNCTION;

/// The google-poller binary: env GOOGLE_POLLER_BIN, else the debug build in the cargo target dir.
pub fn default_google_poller_bin() -> PathBuf {
    default_bin("GOOGLE_POLLER_BIN", "google-poller")
}

impl LocalStack {
    /// The google-poller's environment: what template.yaml sets for it,
    /// pointed at this stack, with the Google endpoints at `google`.
    pub fn google_poller_env(&self, google: &FakeGoogle) -> Result<Vec<(String, String)>> {
        let kvcore = self.fake.base_url();
        let urls = Urls {
            aws_endpoint: &self.endpoint,
            kvcore: &kvcore,
            followupboss: super::UNREACHABLE_FOLLOWUPBOSS,
        };
        let google_env = [
            (
                "GOOGLE_PEOPLE_BASE_URL".to_string(),
                google.people_base_url(),
            ),
            ("GOOGLE_OAUTH_TOKEN_URL".to_string(), google.token_url()),
        ];
        function_env(
            &self.template,
            GOOGLE_POLLER_FUNCTION,
            &self.tables,
            &urls,
            &google_env,
        )
    }

    /// The google-poller as template.yaml sizes it (its Timeout).
    pub fn google_poller_spawn_options(&self) -> Result<SpawnOptions> {
        spawn_options_for(&self.template, GOOGLE_POLLER_FUNCTION)
    }

    /// Runs the google-poller binary with [`Self::google_poller_env`].
    pub async fn spawn_google_poller(&self, google: &FakeGoogle) -> Result<LambdaProcess> {
        let options = self.google_poller_spawn_options()?;
        self.spawn_google_poller_with(google, &[], options).await
    }

    /// Same, with more env vars (they win) and other spawn options (e.g. a
    /// short timeout).
    pub async fn spawn_google_poller_with(
        &self,
        google: &FakeGoogle,
        env: &[(String, String)],
        opts: SpawnOptions,
    ) -> Result<LambdaProcess> {
        let bin = default_google_poller_bin();
        if !bin.is_file() {
            return Err(format!(
                "google-poller binary {} not found: run `cargo build -p google-poller` or set GOOGLE_POLLER_BIN",
                bin.display()
            )
            .into());
        }
        let env = super::merged(self.google_poller_env(google)?, env.iter().cloned());
        LambdaProcess::spawn_with(&bin, &env, opts).await
    }

    /// A polled Google workflow (`source` = `google`): the secrets of
    /// [`Self::seed_workflow`] and `{prefix}kvsync/{id}/google-oauth`
    /// holding a fresh consent of `google`, merged with `overrides`.
    /// Answers the seeded workflow and the OAuth secret's name.
    pub async fn seed_google_workflow(
        &self,
        id: &str,
        google: &FakeGoogle,
        overrides: Value,
    ) -> Result<(SeededWorkflow, String)> {
        let oauth_secret = self.secret_name(&format!("kvsync/{id}/google-oauth"));
        self.put_secret(&oauth_secret, &google.oauth_secret().to_string())
            .await?;
        let mut item = json!({
            "source": {"S": "google"},
            "google_oauth_secret": {"S": oauth_secret},
        });
        if let (Some(fields), Value::Object(more)) = (item.as_object_mut(), overrides) {
            fields.extend(more);
        }
        let seeded = self.seed_workflow(id, item).await?;
        Ok((seeded, oauth_secret))
    }
}
