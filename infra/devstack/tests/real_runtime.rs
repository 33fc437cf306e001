//! The emulator and the gateway driving a real lambda_http function (examples/echo_lambda.rs).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kvsync_devstack::runtime_api::SpawnOptions;
use kvsync_devstack::{
    InvokeError, LambdaHttpResponse, LambdaProcess, gateway, http_api_event, signing,
};
use serde_json::{Value, json};

/// `cargo test` builds examples next to the test binaries' directory.
fn echo_lambda() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("echo_lambda");
    if !bin.is_file() {
        eprintln!(
            "{} not built (run plain `cargo test -p kvsync-devstack`): skipping",
            bin.display()
        );
        return None;
    }
    Some(bin)
}

async fn spawn(timeout: Duration) -> Option<LambdaProcess> {
    let opts = SpawnOptions {
        timeout,
        ..Default::default()
    };
    let env = [("GREETING".to_string(), "hi".to_string())];
    Some(
        LambdaProcess::spawn_with(&echo_lambda()?, &env, opts)
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn runs_a_real_lambda_http_function() {
    let Some(p) = spawn(Duration::from_secs(10)).await else {
        return;
    };
    let body = br#"{"contact":{}}"#;
    let headers = signing::standard_webhook_headers(signing::DEMO_WHSEC, "msg_1", 1, body);
    let mut pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("content-type", "application/json"));
    for event in [
        http_api_event(
            "POST",
            "/webhooks/demo",
            &[("workflow_id", "demo")],
            &pairs,
            "token=abc",
            body,
        ),
        kvsync_devstack::http_api_event_base64(
            "POST",
            "/webhooks/demo",
            &[("workflow_id", "demo")],
            &pairs,
            "token=abc",
            body,
        ),
    ] {
        let result = p.invoke(event).await.unwrap();
        let r = LambdaHttpResponse::from_invoke_result(result).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.headers["content-type"], "application/json");
        let echoed = r.json().unwrap();
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["path"], "/webhooks/demo");
        assert_eq!(echoed["workflow_id"], "demo");
        assert_eq!(echoed["token"], "abc");
        assert_eq!(echoed["signature"], json!(headers[2].1));
        assert_eq!(echoed["body"], r#"{"contact":{}}"#);
        assert_eq!(echoed["env"], "hi");
    }
    let cold = p.time_to_first_poll().expect("polled");
    assert!(cold < Duration::from_secs(10), "{cold:?}");
    assert!(
        p.wait_for_log("echo: handling POST /webhooks/demo", Duration::from_secs(5))
            .await
            .is_some()
    );

    // A panic is an invocation error; the runtime keeps serving.
    let panic = http_api_event("POST", "/webhooks/demo", &[], &[], "", b"panic");
    assert!(matches!(
        p.invoke(panic).await,
        Err(InvokeError::Function(_))
    ));
    let ok = http_api_event("POST", "/webhooks/demo", &[], &[], "", b"{}");
    assert!(p.invoke(ok).await.is_ok());

    let exit = http_api_event("POST", "/webhooks/demo", &[], &[], "", b"exit");
    match p.invoke(exit).await {
        Err(InvokeError::ProcessExited { status, .. }) => assert_eq!(status, "exit status: 3"),
        other => panic!("expected the process to exit, got {other:?}"),
    }
    let after = http_api_event("POST", "/webhooks/demo", &[], &[], "", b"{}");
    assert!(matches!(
        p.invoke(after).await,
        Err(InvokeError::ProcessExited { .. })
    ));
}

#[tokio::test]
async fn a_slow_invocation_times_out() {
    let Some(p) = spawn(Duration::from_millis(500)).await else {
        return;
    };
    let sleep = http_api_event("POST", "/webhooks/demo", &[], &[], "", b"sleep");
    assert!(matches!(
        p.invoke(sleep).await,
        Err(InvokeError::Timeout(_))
    ));
}

#[tokio::test]
async fn invocations_queue_one_at_a_time() {
    let Some(p) = spawn(Duration::from_secs(10)).await else {
        return;
    };
    let p = Arc::new(p);
    let calls = (0..4).map(|i| {
        let p = p.clone();
        tokio::spawn(async move {
            let body = format!("{{\"n\":{i}}}");
            let event = http_api_event("POST", "/webhooks/demo", &[], &[], "", body.as_bytes());
            let r = LambdaHttpResponse::from_invoke_result(p.invoke(event).await.unwrap()).unwrap();
            (body, r.json().unwrap()["body"].clone())
        })
    });
    for call in calls.collect::<Vec<_>>() {
        let (sent, echoed) = call.await.unwrap();
        assert_eq!(Value::String(sent), echoed);
    }
}

#[tokio::test]
async fn the_gateway_serves_http() {
    let Some(p) = spawn(Duration::from_secs(10)).await else {
        return;
    };
    let (addr, _task) = gateway::spawn("127.0.0.1:0".parse().unwrap(), Arc::new(p))
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/w-1?token=t"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(
        (echoed["workflow_id"].as_str(), echoed["token"].as_str()),
        (Some("w-1"), Some("t"))
    );
    assert_eq!(echoed["body"], "hello");
}
