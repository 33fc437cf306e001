//! The kvCORE API under `/v2/public` (SPEC section 7): every request is
//! recorded, waits out the latency, then meets the faults, then
//! authentication, then its route. Admin routes are in `admin`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::filters::Criteria;
use crate::store::{Snapshot, WriteError};
use crate::wire::{self, View};
use crate::{Fault, RecordedRequest, Shared, State, admin, lock};

const PREFIX: &str = "/v2/public";
/// SPEC section 7: "`limit` default 100, at most 500". A larger limit is
/// clamped to 500 (the docs do not say; clamping is the harsher reading, as
/// a client asking for more gets fewer rows than it asked for).
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

pub fn router(state: Shared) -> Router {
    admin::routes()
        .fallback(api)
        .with_state(state)
        .layer(axum::middleware::from_fn(log_request))
}

async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // The path only: a query may hold an email address.
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "kvcore-fake");
    response
}

pub fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// kvCORE's error shape: `{"errors": [message]}` (SPEC section 7).
pub fn errors(status: StatusCode, message: &str) -> Response {
    answer(status, json!({"errors": [message]}))
}

/// What an API request asks for.
enum Route {
    List,
    Get(u64),
    Create,
    Update(u64),
    Tags(u64),
    /// `/contact/{not a number}`
    NoSuchContact,
    Unknown,
}

fn route(method: &Method, path: &str) -> Route {
    let Some(path) = path.strip_prefix(PREFIX) else {
        return Route::Unknown;
    };
    let contact = path.strip_prefix("/contact/");
    let tags = contact.and_then(|rest| rest.strip_suffix("/tags"));
    match (method, path) {
        (&Method::GET, "/contacts") => return Route::List,
        (&Method::POST, "/contact") => return Route::Create,
        _ => {}
    }
    match (
        method,
        contact.map(str::parse::<u64>),
        tags.map(str::parse::<u64>),
    ) {
        (&Method::PUT, _, Some(Ok(id))) => Route::Tags(id),
        (&Method::PUT, _, Some(Err(_))) => Route::NoSuchContact,
        (&Method::GET, Some(Ok(id)), _) => Route::Get(id),
        (&Method::PUT, Some(Ok(id)), _) => Route::Update(id),
        (&Method::GET | &Method::PUT, Some(Err(_)), None) => Route::NoSuchContact,
        _ => Route::Unknown,
    }
}

/// Every request that is not an admin one.
async fn api(
    Extract(state): Extract<Shared>,
    method: Method,
    uri: Uri,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with("/_admin") {
        return errors(StatusCode::NOT_FOUND, "Not found.");
    }
    let query: Vec<(String, String)> =
        form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let json_body: Option<Result<Value, _>> =
        (!body.is_empty()).then(|| serde_json::from_slice::<Value>(&body));
    let (fault, latency) = {
        let mut state = lock(&state);
        state.request_times.push(std::time::Instant::now());
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: query.clone(),
            body: json_body.as_ref().and_then(|b| b.as_ref().ok()).cloned(),
        });
        (state.next_fault(), state.config.latency)
    };
    if !latency.is_zero() {
        wait_out(latency).await;
    }
    match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return errors(status, "Server Error");
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = errors(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            return response;
        }
        Some(Fault::RateLimitedWithoutRetryAfter) => {
            return errors(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.");
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }

    let mut state = lock(&state);
    if !authenticated(&state, &headers) {
        return errors(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    }
    let route = route(&method, uri.path());
    let fields = match (&route, json_body) {
        (Route::Create | Route::Update(_) | Route::Tags(_), Some(Ok(Value::Object(fields)))) => {
            fields
        }
        (Route::Create | Route::Update(_) | Route::Tags(_), Some(_)) => {
            return errors(StatusCode::BAD_REQUEST, "Invalid JSON.");
        }
        _ => Map::new(),
    };
    let (lag, loose) = (state.config.search_lag, state.config.loose_types);
    let full = |result: Result<Snapshot, WriteError>, ok: StatusCode| {
        written(result.map(|c| wire::render(&c, View::Full, loose)), ok)
    };
    match route {
        Route::List => list(&state, &query, &headers, uri.path()),
        // SPEC section 7: the full record, and no lag; archived ones too.
        Route::Get(id) => match state.contacts.get(id) {
            Some(contact) => answer(StatusCode::OK, wire::render(&contact, View::Full, loose)),
            None => errors(StatusCode::NOT_FOUND, "Contact not found."),
        },
        // SPEC section 7: "`POST /contact` answers the created contact".
        Route::Create => {
            let duplicates = state.config.duplicates;
            full(
                state.contacts.create(fields, duplicates),
                StatusCode::CREATED,
            )
        }
        // SPEC section 7: "`PUT /contact/{id}` answers the updated contact".
        Route::Update(id) => full(state.contacts.update(id, fields, lag), StatusCode::OK),
        Route::Tags(id) => add_tags(&mut state, id, &fields),
        Route::NoSuchContact => errors(StatusCode::NOT_FOUND, "Contact not found."),
        Route::Unknown => errors(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// A bearer token the fake accepts, and not a JWT past its `exp` (SPEC
/// section 7: tokens are JWTs valid one year; `crate::token`).
fn authenticated(state: &State, headers: &HeaderMap) -> bool {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| {
            state.config.tokens.iter().any(|ok| ok == token) && !crate::token::expired(token, now_s)
        })
}

/// A write's answer: the contact, or kvCORE's refusal (SPEC section 7:
/// "404 no contact; 409/422 refused").
fn written(result: Result<Value, WriteError>, ok: StatusCode) -> Response {
    match result {
        Ok(contact) => answer(ok, contact),
        Err(WriteError::Invalid(body)) => answer(StatusCode::UNPROCESSABLE_ENTITY, body),
        Err(WriteError::Duplicate) => errors(
            StatusCode::CONFLICT,
            "A contact with this email already exists.",
        ),
        Err(WriteError::NotFound) => errors(StatusCode::NOT_FOUND, "Contact not found."),
    }
}

/// `PUT /contact/{id}/tags` with `{"tags": [{"name": "buyer", "locked":
/// 0}]}` adds the tags (SPEC section 7). The docs do not say what it
/// answers, so the fake answers no contact (nothing may depend on one): 200
/// `{"message": "Tags updated."}`. A body without a `tags` array, or a tag
/// without a text `name`, is refused with 422 in Laravel's shape.
fn add_tags(state: &mut State, id: u64, body: &Map<String, Value>) -> Response {
    let Some(tags) = body.get("tags").and_then(Value::as_array) else {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {"tags": ["The tags field is required."]}}),
        );
    };
    let names: Option<Vec<String>> = tags
        .iter()
        .map(|tag| tag.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let Some(names) = names else {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {"tags.0.name": ["The tags.*.name field is required."]}}),
        );
    };
    let lag = state.config.search_lag;
    match state.contacts.add_tags(id, &names, lag) {
        Ok(()) => answer(StatusCode::OK, json!({"message": "Tags updated."})),
        Err(error) => written(Err(error), StatusCode::OK),
    }
}

/// `GET /contacts`: a Laravel page of partial rows of what the lagging list
/// finds, by id ascending (SPEC section 7). `page` from 1 (anything else
/// reads as 1), `limit` 100 by default (also for an unreadable or zero
/// one), clamped to 500.
fn list(state: &State, query: &[(String, String)], headers: &HeaderMap, path: &str) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    let page: usize = param("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let limit: usize = param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l >= 1)
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    let skip = (page - 1).saturating_mul(limit);
    let (total, found) = state.contacts.list(
        &Criteria::from_query(query),
        state.config.search_lag,
        skip,
        limit,
    );
    let loose = state.config.loose_types;
    let rows = found
        .iter()
        .map(|c| wire::render(c, View::List, loose))
        .collect();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let links = PageLinks {
        path: format!("http://{host}{path}"),
        query,
    };
    answer(
        StatusCode::OK,
        laravel_page(rows, total, page, limit, &links),
    )
}

/// Where page links point: this path with the same query, another page.
struct PageLinks<'a> {
    path: String,
    query: &'a [(String, String)],
}

impl PageLinks<'_> {
    fn to(&self, page: usize) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (key, value) in self.query.iter().filter(|(k, _)| k != "page") {
            url.append_pair(key, value);
        }
        url.append_pair("page", &page.to_string());
        format!("{}?{}", self.path, url.finish())
    }
}

/// Page `page` (1-based) of `total` contacts, `limit` a page, with exactly
/// the keys SPEC section 7 documents: `current_page`, `data`, `last_page`,
/// `per_page`, `total`, `next_page_url` (null on the last page). Laravel's
/// other keys are left out so that nothing comes to depend on them.
fn laravel_page(
    rows: Vec<Value>,
    total: usize,
    page: usize,
    limit: usize,
    links: &PageLinks,
) -> Value {
    let last_page = total.div_ceil(limit).max(1);
    json!({
        "current_page": page,
        "data": rows,
        "last_page": last_page,
        "next_page_url": (page < last_page).then(|| links.to(page + 1)),
        "per_page": limit,
        "total": total,
    })
}

/// Waits `latency` to within a fraction of a millisecond, so a bench's
/// "kvCORE answers in 100 ms" is 100 ms: tokio's timer rounds a sleep up to
/// its next millisecond tick (100 ms became ~101). The last 2 ms are slept
/// on a blocking thread, which a request holds only that long.
async fn wait_out(latency: std::time::Duration) {
    let until = std::time::Instant::now() + latency;
    let fine = std::time::Duration::from_millis(2).min(latency);
    tokio::time::sleep(latency - fine).await;
    let rest = until.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(total: usize, page: usize, limit: usize) -> Value {
        let query = [
            ("filter[email]".to_string(), "a@ex.com".to_string()),
            ("page".to_string(), page.to_string()),
        ];
        let links = PageLinks {
            path: "http://h/v2/public/contacts".into(),
            query: &query,
        };
        laravel_page(vec![json!({"id": 1})], total, page, limit, &links)
    }

    #[test]
    fn pages_have_the_documented_keys_only() {
        let middle = page(45, 2, 20);
        let mut keys: Vec<&str> = middle
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "current_page",
                "data",
                "last_page",
                "next_page_url",
                "per_page",
                "total"
            ]
        );
        assert_eq!(
            (
                &middle["current_page"],
                &middle["last_page"],
                &middle["total"],
                &middle["per_page"]
            ),
            (&json!(2), &json!(3), &json!(45), &json!(20))
        );
        assert_eq!(
            middle["next_page_url"],
            "http://h/v2/public/contacts?filter%5Bemail%5D=a%40ex.com&page=3"
        );
        assert_eq!(page(45, 3, 20)["next_page_url"], Value::Null);
        let empty = page(0, 1, 20);
        assert_eq!(
            (&empty["last_page"], &empty["next_page_url"]),
            (&json!(1), &Value::Null)
        );
    }

    #[test]
    fn routes_are_read_from_method_and_path() {
        let at = |method: Method, path: &str| route(&method, path);
        assert!(matches!(
            at(Method::GET, "/v2/public/contacts"),
            Route::List
        ));
        assert!(matches!(
            at(Method::GET, "/v2/public/contact/7"),
            Route::Get(7)
        ));
        assert!(matches!(
            at(Method::POST, "/v2/public/contact"),
            Route::Create
        ));
        assert!(matches!(
            at(Method::PUT, "/v2/public/contact/7"),
            Route::Update(7)
        ));
        assert!(matches!(
            at(Method::PUT, "/v2/public/contact/7/tags"),
            Route::Tags(7)
        ));
        assert!(matches!(
            at(Method::PUT, "/v2/public/contact/x/tags"),
            Route::NoSuchContact
        ));
        assert!(matches!(
            at(Method::GET, "/v2/public/contact/7/tags"),
            Route::Unknown
        ));
        assert!(matches!(
            at(Method::GET, "/v2/public/contact/x"),
            Route::NoSuchContact
        ));
        assert!(matches!(
            at(Method::DELETE, "/v2/public/contact/7"),
            Route::Unknown
        ));
        assert!(matches!(
            at(Method::POST, "/v2/public/contacts"),
            Route::Unknown
        ));
        assert!(matches!(at(Method::GET, "/contacts"), Route::Unknown));
    }
}
