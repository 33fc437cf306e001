//! Secrets Manager as the operator's command needs it: whether a secret
//! exists, creating one, the ids under the stack's prefix (to name the one
//! a typo'd id meant), and reading a secret's value from a prompt or stdin,
//! never from the command line (where it would stay in shell history and
//! the process list).

use std::io::{BufRead, IsTerminal};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;

/// Whether a secret with this id (name or ARN) exists.
pub async fn exists(client: &Client, id: &str) -> Result<bool, String> {
    match client.describe_secret().secret_id(id).send().await {
        Ok(_) => Ok(true),
        Err(error) => match error.as_service_error() {
            Some(DescribeSecretError::ResourceNotFoundException(_)) => Ok(false),
            _ => Err(format!(
                "Secrets Manager: describing '{id}': {}",
                aws_message(&error)
            )),
        },
    }
}

/// Creates a secret holding `value` (SecretString).
pub async fn create(
    client: &Client,
    id: &str,
    value: &str,
    description: &str,
) -> Result<(), String> {
    client
        .create_secret()
        .name(id)
        .secret_string(value)
        .description(description)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("Secrets Manager: creating '{id}': {}", aws_message(&e)))
}

/// The names of every secret whose name starts with `prefix` (paged
/// `ListSecrets`, filtered here so any prefix works).
pub async fn names_under(client: &Client, prefix: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let page = client
            .list_secrets()
            .set_next_token(next.take())
            .max_results(100)
            .send()
            .await
            .map_err(|e| format!("Secrets Manager: listing secrets: {}", aws_message(&e)))?;
        names.extend(
            page.secret_list()
                .iter()
                .filter_map(|s| s.name())
                .filter(|name| name.starts_with(prefix))
                .map(String::from),
        );
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => break,
        }
    }
    names.sort();
    Ok(names)
}

/// "Did you mean": the library's, shared with the health checks.
pub use kvsync::flows::health::nearest;

/// A secret value the operator types: a hidden prompt on a terminal, else
/// the next line of stdin (for scripts: `printf '%s\n' "$TOKEN" | kvsync …`).
pub fn read_value(prompt: &str) -> Result<String, String> {
    let value = if std::io::stdin().is_terminal() {
        dialoguer::Password::new()
            .with_prompt(prompt)
            .interact()
            .map_err(|e| format!("reading {prompt}: {e}"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading {prompt} from stdin: {e}"))?;
        line
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!(
            "{prompt}: nothing was given (type it at the prompt, or give one line per secret on stdin)"
        ));
    }
    Ok(value)
}

/// An SDK error's message, or its kind.
pub fn aws_message<
    E: std::error::Error + aws_sdk_secretsmanager::error::ProvideErrorMetadata,
    R,
>(
    error: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    match error.as_service_error() {
        Some(service) => {
            let code = service.code().unwrap_or("error");
            match service.message() {
                Some(message) => format!("{code}: {message}"),
                None => code.to_string(),
            }
        }
        None => match error {
            aws_sdk_secretsmanager::error::SdkError::DispatchFailure(_) => {
                "could not connect (check AWS_ENDPOINT_URL / region / network)".to_string()
            }
            aws_sdk_secretsmanager::error::SdkError::TimeoutError(_) => "timed out".to_string(),
            _ => "request failed".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_id_it_meant() {
        let ids = vec![
            "kvsync/leads/kvcore-token".to_string(),
            "kvsync/leads/webhook-secret".to_string(),
            "kvsync/other/kvcore-token".to_string(),
        ];
        assert_eq!(
            nearest("kvsync/leads/kvcore-tokn", &ids),
            Some("kvsync/leads/kvcore-token")
        );
        assert_eq!(
            nearest("kvsync/leads/webhok-secret", &ids),
            Some("kvsync/leads/webhook-secret")
        );
        assert_eq!(nearest("zzzz", &ids), None);
        let workflows = vec!["doc".to_string(), "leads".to_string()];
        assert_eq!(nearest("dco", &workflows), Some("doc"));
        assert_eq!(nearest("lead", &workflows), Some("leads"));
        assert_eq!(nearest("anything", &[]), None);
    }
}
