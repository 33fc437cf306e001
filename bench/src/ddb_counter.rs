//! A counting HTTP proxy in front of moto_server: every AWS request the
//! function makes passes here and is counted by operation (`X-Amz-Target`),
//! and the time moto has a request in hand is added up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

#[derive(Clone)]
pub struct DynamoDbCounter {
    pub url: String,
    tally: Arc<Mutex<Tally>>,
}

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    tally: Arc<Mutex<Tally>>,
}

/// Requests by operation, and the wall time with at least one in flight.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    in_flight: u32,
    since: Option<Instant>,
    busy: Duration,
}

impl Tally {
    fn begin(&mut self, operation: String, now: Instant) {
        *self.counts.entry(operation).or_default() += 1;
        if self.in_flight == 0 {
            self.since = Some(now);
        }
        self.in_flight += 1;
    }

    fn end(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0
            && let Some(since) = self.since.take()
        {
            self.busy += now.saturating_duration_since(since);
        }
    }

    fn busy(&self, now: Instant) -> Duration {
        let running = self.since.map(|s| now.saturating_duration_since(s));
        self.busy + running.unwrap_or_default()
    }
}

impl DynamoDbCounter {
    pub async fn start(target: &str) -> std::io::Result<DynamoDbCounter> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let forward = Forward {
            target: target.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            tally: tally.clone(),
        };
        let app = axum::Router::new().fallback(proxy).with_state(forward);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DynamoDbCounter { url, tally })
    }

    /// Requests by operation so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.tally
            .lock()
            .map(|t| t.counts.clone())
            .unwrap_or_default()
    }

    /// Wall time so far during which moto had at least one request in hand
    /// (it answers one at a time, so this is how busy it was).
    pub fn busy(&self) -> Duration {
        let now = Instant::now();
        self.tally.lock().map(|t| t.busy(now)).unwrap_or_default()
    }

    /// The DynamoDB requests among `counts` (Secrets Manager, also behind
    /// the proxy, not counted).
    pub fn dynamodb_total(counts: &BTreeMap<String, u64>) -> u64 {
        counts
            .iter()
            .filter(|(operation, _)| operation.starts_with("dynamodb:"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// `DynamoDB_20120810.UpdateItem` → `dynamodb:UpdateItem`.
fn operation(target: Option<&str>) -> String {
    match target {
        Some(t) => t
            .replace("DynamoDB_20120810.", "dynamodb:")
            .replace("secretsmanager.", "secretsmanager:"),
        None => "other".to_string(),
    }
}

async fn proxy(
    State(forward): State<Forward>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = operation(headers.get("x-amz-target").and_then(|v| v.to_str().ok()));
    if let Ok(mut tally) = forward.tally.lock() {
        tally.begin(operation, Instant::now());
    }
    let response = forward_request(&forward, method, uri, headers, body).await;
    if let Ok(mut tally) = forward.tally.lock() {
        tally.end(Instant::now());
    }
    response
}

async fn forward_request(
    forward: &Forward,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_service() {
        let update = operation(Some("DynamoDB_20120810.UpdateItem"));
        assert_eq!(update, "dynamodb:UpdateItem");
        let secret = operation(Some("secretsmanager.GetSecretValue"));
        assert_eq!(secret, "secretsmanager:GetSecretValue");
        assert_eq!(operation(None), "other");
        let counts = BTreeMap::from([(update, 2), (secret, 1), ("other".to_string(), 1)]);
        assert_eq!(DynamoDbCounter::dynamodb_total(&counts), 2);
    }

    #[test]
    fn busy_time_counts_overlapping_requests_once() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut tally = Tally::default();
        tally.begin("dynamodb:UpdateItem".into(), at(0));
        tally.begin("dynamodb:UpdateItem".into(), at(5));
        tally.end(at(10));
        assert_eq!(tally.busy(at(12)), Duration::from_millis(12));
        tally.end(at(20));
        tally.begin("dynamodb:GetItem".into(), at(100));
        tally.end(at(104));
        assert_eq!(tally.busy(at(200)), Duration::from_millis(24));
        assert_eq!(tally.counts["dynamodb:UpdateItem"], 2);
    }
}
