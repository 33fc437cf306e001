//! The kvCORE API under `/v2/public`: every request is recorded, then meets
//! the faults, then authentication, then its route. Admin routes are in
//! `admin`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::search::Criteria;
use crate::store::WriteError;
use crate::{Fault, RecordedRequest, Shared, State, admin, lock};

const PREFIX: &str = "/v2/public";
const DEFAULT_LIMIT: usize = 20;
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

/// kvCORE's error shape: `{"errors": [message]}`.
pub fn errors(status: StatusCode, message: &str) -> Response {
    answer(status, json!({"errors": [message]}))
}

/// What an API request asks for.
enum Route {
    List,
    Get(u64),
    Create,
    Update(u64),
    /// `/contact/{not a number}`
    NoSuchContact,
    Unknown,
}

fn route(method: &Method, path: &str) -> Route {
    let Some(path) = path.strip_prefix(PREFIX) else {
        return Route::Unknown;
    };
    let id = path.strip_prefix("/contact/").map(str::parse::<u64>);
    match (method, path, id) {
        (&Method::GET, "/contacts", _) => Route::List,
        (&Method::POST, "/contact", _) => Route::Create,
        (&Method::GET, _, Some(Ok(id))) => Route::Get(id),
        (&Method::PUT, _, Some(Ok(id))) => Route::Update(id),
        (&Method::GET | &Method::PUT, _, Some(Err(_))) => Route::NoSuchContact,
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
    let fault = {
        let mut state = lock(&state);
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: query.clone(),
            body: json_body.as_ref().and_then(|b| b.as_ref().ok()).cloned(),
        });
        state.next_fault()
    };
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
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }

    let mut state = lock(&state);
    if !authenticated(&state, &headers) {
        return errors(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    }
    let route = route(&method, uri.path());
    let fields = match (&route, json_body) {
        (Route::Create | Route::Update(_), Some(Ok(Value::Object(fields)))) => fields,
        (Route::Create | Route::Update(_), Some(_)) => {
            return errors(StatusCode::BAD_REQUEST, "Invalid JSON.");
        }
        _ => Map::new(),
    };
    let lag = state.config.search_lag;
    match route {
        Route::List => list(&state, &query, &headers, uri.path()),
        Route::Get(id) => match state.contacts.get(id) {
            Some(contact) => answer(StatusCode::OK, contact),
            None => errors(StatusCode::NOT_FOUND, "Contact not found."),
        },
        Route::Create => {
            let reject = state.config.reject_duplicate_emails;
            written(state.contacts.create(fields, reject), StatusCode::CREATED)
        }
        Route::Update(id) => written(state.contacts.update(id, fields, lag), StatusCode::OK),
        Route::NoSuchContact => errors(StatusCode::NOT_FOUND, "Contact not found."),
        Route::Unknown => errors(StatusCode::NOT_FOUND, "Not found."),
    }
}

fn authenticated(state: &State, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| state.config.tokens.iter().any(|ok| ok == token))
}

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

/// `GET /contacts`: a Laravel page of what the lagging index finds.
fn list(state: &State, query: &[(String, String)], headers: &HeaderMap, path: &str) -> Response {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let page: usize = param("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let limit: usize = param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l >= 1)
        .unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {"limit": ["The limit may not be greater than 500."]}}),
        );
    }
    let found = state
        .contacts
        .list(&Criteria::from_query(query), state.config.search_lag);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let links = PageLinks {
        path: format!("http://{host}{path}"),
        query,
    };
    answer(StatusCode::OK, laravel_page(found, page, limit, &links))
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

/// Page `page` (1-based) of `found`, `limit` a page, the way Laravel's
/// paginator answers it (`from`/`to` null on an empty page).
fn laravel_page(found: Vec<Value>, page: usize, limit: usize, links: &PageLinks) -> Value {
    let total = found.len();
    let last_page = total.div_ceil(limit).max(1);
    let skip = (page - 1).saturating_mul(limit);
    let data: Vec<Value> = found.into_iter().skip(skip).take(limit).collect();
    let from = (!data.is_empty()).then(|| skip + 1);
    let to = from.map(|from| from + data.len() - 1);
    json!({
        "current_page": page,
        "data": data,
        "first_page_url": links.to(1),
        "from": from,
        "last_page": last_page,
        "last_page_url": links.to(last_page),
        "next_page_url": (page < last_page).then(|| links.to(page + 1)),
        "path": links.path,
        "per_page": limit,
        "prev_page_url": (page > 1).then(|| links.to(page - 1)),
        "to": to,
        "total": total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(total: u64, page: usize, limit: usize) -> Value {
        let found = (1..=total).map(|id| json!({"id": id})).collect();
        let query = [("filter[email]".to_string(), "a@ex.com".to_string())];
        let links = PageLinks {
            path: "http://h/v2/public/contacts".into(),
            query: &query,
        };
        laravel_page(found, page, limit, &links)
    }

    #[test]
    fn pages_follow_laravel() {
        let middle = page(45, 2, 20);
        assert_eq!(middle["data"][0]["id"], 21);
        assert_eq!(
            (middle["from"].clone(), middle["to"].clone()),
            (json!(21), json!(40))
        );
        assert_eq!(
            (middle["last_page"].clone(), middle["total"].clone()),
            (json!(3), json!(45))
        );
        assert_eq!(
            middle["next_page_url"],
            "http://h/v2/public/contacts?filter%5Bemail%5D=a%40ex.com&page=3"
        );
        assert_eq!(
            middle["prev_page_url"],
            "http://h/v2/public/contacts?filter%5Bemail%5D=a%40ex.com&page=1"
        );

        let last = page(45, 3, 20);
        assert_eq!(last["data"].as_array().map(Vec::len), Some(5));
        assert_eq!(last["next_page_url"], Value::Null);

        let empty = page(0, 1, 20);
        assert_eq!(empty["last_page"], 1);
        assert_eq!(
            (empty["from"].clone(), empty["to"].clone()),
            (Value::Null, Value::Null)
        );
        assert_eq!(page(3, 9, 20)["data"], json!([]));
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
