//! API Gateway HTTP API (payload format 2.0): the event a request becomes, and the answer decoded.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::Result;

pub const ACCOUNT_ID: &str = "123456789012";
pub const API_ID: &str = "devstack";

/// The event for one request; the body goes as text when it is UTF-8, else as base64.
pub fn http_api_event(
    method: &str,
    raw_path: &str,
    path_parameters: &[(&str, &str)],
    headers: &[(&str, &str)],
    raw_query: &str,
    body: &[u8],
) -> Value {
    build(
        method,
        raw_path,
        path_parameters,
        headers,
        raw_query,
        body,
        false,
    )
}

/// The same event with the body always base64 (`isBase64Encoded: true`), as API Gateway sends
/// bodies it considers binary.
pub fn http_api_event_base64(
    method: &str,
    raw_path: &str,
    path_parameters: &[(&str, &str)],
    headers: &[(&str, &str)],
    raw_query: &str,
    body: &[u8],
) -> Value {
    build(
        method,
        raw_path,
        path_parameters,
        headers,
        raw_query,
        body,
        true,
    )
}

fn build(
    method: &str,
    raw_path: &str,
    path_parameters: &[(&str, &str)],
    headers: &[(&str, &str)],
    raw_query: &str,
    body: &[u8],
    base64: bool,
) -> Value {
    let method = method.to_ascii_uppercase();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let request_id = request_id();
    let route_key = if raw_path.starts_with("/webhooks/") {
        format!("{method} /webhooks/{{workflow_id}}")
    } else {
        "$default".to_string()
    };

    let (mut header_map, cookies) = lower_case_headers(headers);
    let domain = header_map
        .get("host")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{API_ID}.execute-api.us-east-1.amazonaws.com"));
    let user_agent = header_map
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    header_map
        .entry("host")
        .or_insert_with(|| json!(domain.clone()));
    header_map
        .entry("content-length")
        .or_insert_with(|| json!(body.len().to_string()));
    header_map
        .entry("x-forwarded-for")
        .or_insert_with(|| json!("127.0.0.1"));
    header_map
        .entry("x-forwarded-port")
        .or_insert_with(|| json!("443"));
    header_map
        .entry("x-forwarded-proto")
        .or_insert_with(|| json!("https"));
    header_map.entry("x-amzn-trace-id").or_insert_with(|| {
        json!(format!(
            "Root=1-{:08x}-{:024x}",
            now.as_secs(),
            rand::rng().random::<u128>() >> 32
        ))
    });

    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or(API_ID),
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": clf_time(now.as_secs()),
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    let obj = event.as_object_mut().expect("object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), json!(cookies));
    }
    let query = query_parameters(raw_query);
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !path_parameters.is_empty() {
        let params: Map<String, Value> = path_parameters
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        obj.insert("pathParameters".into(), Value::Object(params));
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) if !base64 => obj.insert("body".into(), json!(text)),
            _ => {
                obj.insert("isBase64Encoded".into(), json!(true));
                obj.insert("body".into(), json!(B64.encode(body)))
            }
        };
    }
    event
}

/// Lower-cased names, duplicates comma-joined; `cookie` headers become the `cookies` list.
fn lower_case_headers(headers: &[(&str, &str)]) -> (Map<String, Value>, Vec<String>) {
    let mut map: Map<String, Value> = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        match map.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                map.insert(name, json!(value));
            }
        }
    }
    (map, cookies)
}

/// Decoded query parameters, duplicates comma-joined (what API Gateway does in 2.0).
fn query_parameters(raw_query: &str) -> Map<String, Value> {
    let mut map: Map<String, Value> = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match map.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                map.insert(k, json!(v));
            }
        }
    }
    map
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex_pair(bytes[i + 1], bytes[i + 2]) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(hi)? * 16 + digit(lo)?) as u8)
}

fn request_id() -> String {
    let bytes: [u8; 10] = rand::rng().random();
    B64.encode(bytes)
}

/// `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`.
fn clf_time(epoch_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_date(epoch_secs);
    let secs = epoch_secs % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (year, month, day) in UTC, after Howard Hinnant's civil_from_days.
pub(crate) fn civil_date(epoch_secs: u64) -> (i64, u32, u32) {
    let z = (epoch_secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The function's answer as API Gateway turns it into an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaHttpResponse {
    pub status: u16,
    /// Lower-cased names; `multiValueHeaders` comma-joined into them.
    pub headers: BTreeMap<String, String>,
    /// Decoded from base64 when the function said `isBase64Encoded`.
    pub body: String,
    pub cookies: Vec<String>,
}

impl LambdaHttpResponse {
    /// Decodes `{"statusCode", "headers", "body", "isBase64Encoded", "cookies"}`. Like API Gateway
    /// (format 2.0), an answer without `statusCode` is a 200 whose body is that JSON.
    pub fn from_invoke_result(result: Value) -> Result<Self> {
        let Some(status) = result.get("statusCode") else {
            let body = match result {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let headers =
                BTreeMap::from([("content-type".to_string(), "application/json".to_string())]);
            return Ok(Self {
                status: 200,
                headers,
                body,
                cookies: Vec::new(),
            });
        };
        let status = status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| format!("statusCode is not an HTTP status: {status}"))?;
        let mut headers = BTreeMap::new();
        if let Some(Value::Object(h)) = result.get("headers") {
            for (k, v) in h {
                headers.insert(k.to_ascii_lowercase(), value_string(v));
            }
        }
        if let Some(Value::Object(h)) = result.get("multiValueHeaders") {
            for (k, v) in h {
                let joined = match v {
                    Value::Array(items) => {
                        items.iter().map(value_string).collect::<Vec<_>>().join(",")
                    }
                    other => value_string(other),
                };
                headers.entry(k.to_ascii_lowercase()).or_insert(joined);
            }
        }
        let raw = match result.get("body") {
            None | Some(Value::Null) => String::new(),
            Some(v) => value_string(v),
        };
        let body = if result.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
            let bytes = B64
                .decode(raw.as_bytes())
                .map_err(|e| format!("body is not base64: {e}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            raw
        };
        let cookies = match result.get("cookies") {
            Some(Value::Array(c)) => c.iter().map(value_string).collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            status,
            headers,
            body,
            cookies,
        })
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("response body is not JSON ({e}): {}", self.body).into())
    }
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(base64: bool) -> Value {
        let f = if base64 {
            http_api_event_base64
        } else {
            http_api_event
        };
        f(
            "post",
            "/webhooks/demo",
            &[("workflow_id", "demo")],
            &[
                ("Content-Type", "application/json"),
                ("X-Dup", "a"),
                ("x-dup", "b"),
                ("User-Agent", "curl/8"),
                ("Cookie", "a=1; b=2"),
            ],
            "token=a%20b&x=1&x=2&flag",
            br#"{"contact":{}}"#,
        )
    }

    #[test]
    fn event_has_the_payload_2_0_shape() {
        let e = sample(false);
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "POST /webhooks/{workflow_id}");
        assert_eq!(e["rawPath"], "/webhooks/demo");
        assert_eq!(e["rawQueryString"], "token=a%20b&x=1&x=2&flag");
        assert_eq!(e["headers"]["content-type"], "application/json");
        assert_eq!(e["headers"]["x-dup"], "a,b");
        assert_eq!(e["headers"]["content-length"], "14");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(
            e["queryStringParameters"],
            json!({"token": "a b", "x": "1,2", "flag": ""})
        );
        assert_eq!(e["pathParameters"], json!({"workflow_id": "demo"}));
        let rc = &e["requestContext"];
        assert_eq!(rc["accountId"], ACCOUNT_ID);
        assert_eq!(rc["apiId"], API_ID);
        assert_eq!(rc["http"]["method"], "POST");
        assert_eq!(rc["http"]["path"], "/webhooks/demo");
        assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
        assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(rc["http"]["userAgent"], "curl/8");
        assert_eq!(rc["routeKey"], e["routeKey"]);
        assert_eq!(rc["stage"], "$default");
        assert!(rc["requestId"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(rc["timeEpoch"].as_u64().unwrap() > 1_600_000_000_000);
        assert!(rc["time"].as_str().unwrap().ends_with(" +0000"));
        assert_eq!(e["body"], r#"{"contact":{}}"#);
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn body_as_base64_when_asked_or_not_utf8() {
        let e = sample(true);
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(
            B64.decode(e["body"].as_str().unwrap()).unwrap(),
            br#"{"contact":{}}"#
        );
        let e = http_api_event("POST", "/webhooks/x", &[], &[], "", &[0xff, 0xfe]);
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], B64.encode([0xff, 0xfe]));
        assert!(e.get("queryStringParameters").is_none());
        assert!(e.get("pathParameters").is_none());
        let e = http_api_event("POST", "/webhooks/x", &[], &[], "", b"");
        assert!(e.get("body").is_none());
    }

    #[test]
    fn request_time_format() {
        assert_eq!(clf_time(1_583_348_638), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }

    #[test]
    fn decodes_function_responses() {
        let r = LambdaHttpResponse::from_invoke_result(json!({
            "statusCode": 401,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"x-m": ["1", "2"]},
            "body": "{\"error\":{\"code\":\"unauthorized\"}}",
            "isBase64Encoded": false,
            "cookies": ["c=1"]
        }))
        .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-m"], "1,2");
        assert_eq!(r.json().unwrap()["error"]["code"], "unauthorized");
        assert_eq!(r.cookies, ["c=1"]);

        let r = LambdaHttpResponse::from_invoke_result(json!({
            "statusCode": 200, "body": B64.encode("hi"), "isBase64Encoded": true
        }))
        .unwrap();
        assert_eq!(r.body, "hi");

        let r = LambdaHttpResponse::from_invoke_result(json!({"ok": true})).unwrap();
        assert_eq!((r.status, r.json().unwrap()), (200, json!({"ok": true})));
        assert!(LambdaHttpResponse::from_invoke_result(json!({"statusCode": "x"})).is_err());
    }
}
