//! A counting HTTP proxy in front of moto_server: every AWS request the
//! function makes passes here and is counted by operation (`X-Amz-Target`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

#[derive(Clone)]
pub struct DynamoDbCounter {
    pub url: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl DynamoDbCounter {
    pub async fn start(target: &str) -> std::io::Result<DynamoDbCounter> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let forward = Forward {
            target: target.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            counts: counts.clone(),
        };
        let app = axum::Router::new().fallback(proxy).with_state(forward);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DynamoDbCounter { url, counts })
    }

    /// Requests by operation so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// DynamoDB requests so far (Secrets Manager, also behind the proxy, not counted).
    pub fn total(&self) -> u64 {
        self.counts()
            .iter()
            .filter(|(operation, _)| operation.starts_with("dynamodb:"))
            .map(|(_, n)| n)
            .sum()
    }
}

async fn proxy(
    State(forward): State<Forward>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| {
            t.replace("DynamoDB_20120810.", "dynamodb:")
                .replace("secretsmanager.", "secretsmanager:")
        })
        .unwrap_or_else(|| "other".to_string());
    if let Ok(mut counts) = forward.counts.lock() {
        *counts.entry(operation).or_default() += 1;
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = forward
        .http
        .request(method, format!("{}{path}", forward.target))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response.body(Body::from(bytes)).unwrap_or_default()
        }
        Err(_) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap_or_default(),
    }
}
