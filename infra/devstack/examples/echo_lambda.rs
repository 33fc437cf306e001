//! A tiny lambda_http function that echoes its request; tests run it under the Runtime API emulator.
//! Body "panic" panics, "exit" exits the process, "sleep" sleeps 3 s.

use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};
use serde_json::json;

async fn echo(request: Request) -> Result<Response<Body>, Error> {
    let body = std::str::from_utf8(request.body().as_ref())
        .unwrap_or("<binary>")
        .to_string();
    match body.as_str() {
        "panic" => panic!("asked to panic"),
        "exit" => std::process::exit(3),
        "sleep" => tokio::time::sleep(std::time::Duration::from_secs(3)).await,
        _ => {}
    }
    eprintln!(
        "echo: handling {} {}",
        request.method(),
        request.uri().path()
    );
    let answer = json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "workflow_id": request.path_parameters().first("workflow_id"),
        "token": request.query_string_parameters().first("token"),
        "signature": request.headers().get("webhook-signature").and_then(|v| v.to_str().ok()),
        "body": body,
        "env": std::env::var("GREETING").ok(),
    });
    Ok(Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .body(answer.to_string().into())?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(echo)).await
}
