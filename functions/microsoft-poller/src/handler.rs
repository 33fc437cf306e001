//! One scheduled run (SPEC section 15): every enabled `microsoft` workflow
//! → one poll each (every contact folder it names), in turn, each under its
//! own lease, so one failing stops no other (the shared poll,
//! `kvsync::flows::poll`); the answer is a summary per workflow.

use kvsync::flows::microsoft_poll::{MicrosoftPoller, Run, RunSummary};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

pub async fn handle(
    poller: &MicrosoftPoller,
    event: LambdaEvent<Value>,
) -> Result<RunSummary, Error> {
    let owner = format!("microsoft-poller/{}", event.context.request_id);
    let run = Run::for_invocation(event.context.deadline, owner);
    Ok(poller.poll_all(&run).await?)
}
