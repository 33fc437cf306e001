//! A counting HTTP proxy in front of moto_server: every AWS request the
//! function makes passes here and is counted by operation (`X-Amz-Target`),
//! and the time moto has a request in hand is added up. It can give every
//! request a region's round trip, which a local moto_server lacks, in one of
//! two ways ([`RoundTrip`]), and keep a timeline of the requests it saw. The same
//! proxy in front of another HTTP server (the kvCORE fake) labels requests
//! by method, path and query keys instead.

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

/// How the proxy gives each request a region's round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RoundTrip {
    /// Forwarded at once, answered as soon as moto answers.
    #[default]
    None,
    /// Held this long, then forwarded: the round trip plus all of moto's
    /// own time, as if the region's service took as long as moto.
    HeldBefore(Duration),
    /// Forwarded at once and answered no sooner than this long after it
    /// arrived: a region's round trip with the service's work inside it.
    /// When moto takes longer, the request takes moto's time.
    AtLeast(Duration),
}

/// One request as the proxy saw it: when it arrived, when it was forwarded
/// (after any hold), when moto answered it, and when its answer went back.
#[derive(Debug, Clone)]
pub struct Span {
    /// `dynamodb:GetItem`, or `GET /v2/public/contacts?filter[email]`.
    pub label: String,
    pub arrived: Instant,
    pub forwarded: Instant,
    pub upstream_answered: Instant,
    pub answered: Instant,
}

/// Requests by operation, and the wall time with at least one in flight.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    in_flight: u32,
    since: Option<Instant>,
    busy: Duration,
    /// The round trip each request is given.
    round_trip: RoundTrip,
    /// Requests seen since `record_timeline`, when recording.
    timeline: Option<Vec<Span>>,
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

    /// Gives every request from now on this round trip.
    pub fn set_round_trip(&self, round_trip: RoundTrip) {
        if let Ok(mut tally) = self.tally.lock() {
            tally.round_trip = round_trip;
        }
    }

    /// Starts (again) keeping a timeline of the requests seen.
    pub fn record_timeline(&self) {
        if let Ok(mut tally) = self.tally.lock() {
            tally.timeline = Some(Vec::new());
        }
    }

    /// The requests seen since [`DynamoDbCounter::record_timeline`], in the
    /// order they were answered; recording stops.
    pub fn take_timeline(&self) -> Vec<Span> {
        self.tally
            .lock()
            .ok()
            .and_then(|mut t| t.timeline.take())
            .unwrap_or_default()
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

/// A request without `X-Amz-Target` (kvCORE): method, path and the query's
/// keys, never its values (they hold emails).
fn request_label(method: &Method, uri: &Uri) -> String {
    let keys: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(key, _)| key.into_owned())
        .filter(|key| key != "page" && key != "limit")
        .collect();
    match keys.is_empty() {
        true => format!("{method} {}", uri.path()),
        false => format!("{method} {}?{}", uri.path(), keys.join("&")),
    }
}

async fn proxy(
    State(forward): State<Forward>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let label = match target {
        Some(_) => operation(target),
        None => request_label(&method, &uri),
    };
    let round_trip = forward
        .tally
        .lock()
        .map(|t| t.round_trip)
        .unwrap_or_default();
    if let RoundTrip::HeldBefore(hold) = round_trip {
        sleep_exactly(hold).await;
    }
    let forwarded = Instant::now();
    if let Ok(mut tally) = forward.tally.lock() {
        tally.begin(operation(target), forwarded);
    }
    let response = forward_request(&forward, method, uri, headers, body).await;
    let upstream_answered = Instant::now();
    if let Ok(mut tally) = forward.tally.lock() {
        tally.end(upstream_answered);
    }
    if let RoundTrip::AtLeast(round_trip) = round_trip {
        let due = arrived + round_trip;
        sleep_exactly(due.saturating_duration_since(upstream_answered)).await;
    }
    let answered = Instant::now();
    if let Ok(mut tally) = forward.tally.lock()
        && let Some(timeline) = tally.timeline.as_mut()
    {
        timeline.push(Span {
            label,
            arrived,
            forwarded,
            upstream_answered,
            answered,
        });
    }
    response
}

/// tokio's timer rounds a sleep up to its next millisecond tick (5 ms
/// became ~6.3); a blocking thread's sleep keeps it what it was set to.
async fn sleep_exactly(duration: Duration) {
    if !duration.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(duration)).await;
    }
}

/// Headers of one connection, not of the message (RFC 9110 section 7.6.1,
/// "Connection"): a proxy does not forward them. moto_server's Werkzeug
/// answers `Connection: close`; passed on, it made the function open a new
/// TCP connection for every AWS request, where DynamoDB keeps its
/// connections open. The body's framing is the proxy's own.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

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
                if !HOP_BY_HOP.contains(&name.as_str()) {
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
    fn kvcore_requests_are_labelled_without_query_values() {
        let uri: Uri = "/v2/public/contacts?filter%5Bemail%5D=a%40b.example&page=2&limit=500"
            .parse()
            .unwrap();
        assert_eq!(
            request_label(&Method::GET, &uri),
            "GET /v2/public/contacts?filter[email]"
        );
        let get: Uri = "/v2/public/contact/1001".parse().unwrap();
        assert_eq!(
            request_label(&Method::GET, &get),
            "GET /v2/public/contact/1001"
        );
    }

    #[tokio::test]
    async fn requests_are_held_back_and_recorded() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let proxy = DynamoDbCounter::start(&upstream).await.unwrap();
        proxy.set_round_trip(RoundTrip::HeldBefore(Duration::from_millis(30)));
        proxy.record_timeline();
        let started = Instant::now();
        let answer = reqwest::Client::new()
            .post(&proxy.url)
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
        assert!(started.elapsed() >= Duration::from_millis(30));
        let timeline = proxy.take_timeline();
        assert_eq!(timeline.len(), 1);
        assert_eq!(timeline[0].label, "dynamodb:GetItem");
        let held = timeline[0].forwarded - timeline[0].arrived;
        assert!(held >= Duration::from_millis(30), "{held:?}");
        assert!(proxy.take_timeline().is_empty(), "recording stopped");
        assert_eq!(proxy.counts()["dynamodb:GetItem"], 1);
    }

    #[tokio::test]
    async fn an_at_least_round_trip_holds_the_answer_not_the_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = format!("http://{}", listener.local_addr().unwrap());
        // The upstream takes as long as the request's path says (ms).
        let app = axum::Router::new().fallback(|uri: Uri| async move {
            let ms: u64 = uri.path().trim_start_matches('/').parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "ok"
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let proxy = DynamoDbCounter::start(&upstream).await.unwrap();
        proxy.set_round_trip(RoundTrip::AtLeast(Duration::from_millis(40)));
        let http = reqwest::Client::new();
        for upstream_ms in [0u64, 80] {
            proxy.record_timeline();
            let answer = http
                .post(format!("{}/{upstream_ms}", proxy.url))
                .header("x-amz-target", "DynamoDB_20120810.GetItem")
                .send()
                .await
                .unwrap();
            assert_eq!(answer.text().await.unwrap(), "ok");
            let span = proxy.take_timeline().remove(0);
            let whole = span.answered - span.arrived;
            assert!(span.forwarded - span.arrived < Duration::from_millis(20));
            let expected = Duration::from_millis(upstream_ms.max(40));
            assert!(whole >= expected, "{upstream_ms} ms upstream: {whole:?}");
            assert!(
                whole < expected + Duration::from_millis(30),
                "{upstream_ms} ms upstream, not padded beyond it: {whole:?}"
            );
        }
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
