//! A local HTTP front like the API Gateway HTTP API: `POST /webhooks/{workflow_id}` → the function.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::Result;
use crate::apigw::{LambdaHttpResponse, http_api_event};
use crate::runtime_api::{InvokeError, LambdaProcess};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Serves until the task is dropped or the listener fails.
pub async fn serve(addr: SocketAddr, process: Arc<LambdaProcess>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(process)).await?;
    Ok(())
}

/// Binds (port 0 is fine) and serves in the background; answers the bound address.
pub async fn spawn(
    addr: SocketAddr,
    process: Arc<LambdaProcess>,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(process)).await {
            tracing::error!("gateway stopped: {e}");
        }
    });
    Ok((bound, task))
}

pub fn router(process: Arc<LambdaProcess>) -> Router {
    Router::new()
        .route("/webhooks/{workflow_id}", any(webhook))
        .fallback(|| async { not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(process)
}

async fn webhook(
    State(process): State<Arc<LambdaProcess>>,
    method: Method,
    Path(workflow_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return not_found();
    }
    let raw_path = format!("/webhooks/{workflow_id}");
    let header_pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let event = http_api_event(
        "POST",
        &raw_path,
        &[("workflow_id", &workflow_id)],
        &header_pairs,
        query.as_deref().unwrap_or(""),
        &body,
    );
    match process.invoke(event).await {
        Ok(result) => match LambdaHttpResponse::from_invoke_result(result) {
            Ok(response) => to_http(response),
            Err(e) => {
                tracing::error!("malformed Lambda response: {e}");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        },
        Err(InvokeError::Timeout(d)) => {
            tracing::error!("function timed out after {d:?}");
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Err(e) => {
            tracing::error!("invocation failed: {e}");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

fn to_http(r: LambdaHttpResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        if matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            headers.insert(k, v);
        }
    }
    for cookie in &r.cookies {
        if let Ok(v) = HeaderValue::try_from(cookie.as_str()) {
            headers.append("set-cookie", v);
        }
    }
    (status, headers, r.body).into_response()
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not Found")
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"message": text}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_api::idle_process;
    use serde_json::Value;
    use std::time::Duration;

    #[tokio::test]
    async fn turns_requests_into_events_and_answers_the_function_response() {
        let process = Arc::new(idle_process(Duration::from_secs(10)).await);
        let (addr, _task) = spawn("127.0.0.1:0".parse().unwrap(), process.clone())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let request = tokio::spawn(
            http.post(format!("http://{addr}/webhooks/demo?token=t%20x"))
                .header("X-Kvsync-Token", "demo-token")
                .header("content-type", "application/json")
                .body("{\"contact\":{}}\n")
                .send(),
        );

        let runtime = format!("http://{}/2018-06-01/runtime", process.runtime_api_addr());
        let next = http
            .get(format!("{runtime}/invocation/next"))
            .send()
            .await
            .unwrap();
        let id = next.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let event: Value = next.json().await.unwrap();
        assert_eq!(event["rawPath"], "/webhooks/demo");
        assert_eq!(event["routeKey"], "POST /webhooks/{workflow_id}");
        assert_eq!(event["pathParameters"]["workflow_id"], "demo");
        assert_eq!(event["rawQueryString"], "token=t%20x");
        assert_eq!(event["queryStringParameters"]["token"], "t x");
        assert_eq!(event["headers"]["x-kvsync-token"], "demo-token");
        assert_eq!(event["body"], "{\"contact\":{}}\n");
        assert_eq!(event["isBase64Encoded"], false);

        let answer = serde_json::json!({
            "statusCode": 401,
            "headers": {"content-type": "application/json"},
            "body": "{\"error\":{\"code\":\"unauthorized\"}}",
            "isBase64Encoded": false
        });
        http.post(format!("{runtime}/invocation/{id}/response"))
            .json(&answer)
            .send()
            .await
            .unwrap();
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"]["code"],
            "unauthorized"
        );
    }

    #[tokio::test]
    async fn other_routes_are_not_found() {
        let process = Arc::new(idle_process(Duration::from_secs(10)).await);
        let (addr, _task) = spawn("127.0.0.1:0".parse().unwrap(), process)
            .await
            .unwrap();
        let http = reqwest::Client::new();
        for request in [
            http.get(format!("http://{addr}/webhooks/demo")),
            http.post(format!("http://{addr}/other")),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 404);
            assert_eq!(
                response.json::<Value>().await.unwrap(),
                serde_json::json!({"message": "Not Found"})
            );
        }
    }
}
