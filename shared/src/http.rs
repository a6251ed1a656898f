//! HTTP plumbing shared by the handlers: reading JSON bodies with clear 4xx errors,
//! finding credentials in headers, writing JSON responses, and logging each request
//! without its secrets.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::metrics::{self, Meter};

pub type HttpResult = Result<Response<Body>, ApiError>;

/// Header carrying a session token (`Authorization: Bearer` is accepted too).
pub const SESSION_TOKEN: &str = "x-session-token";
pub const KIOSK_KEY: &str = "x-kiosk-key";
pub const SERVICE_KEY: &str = "x-service-key";
pub const HUB_SIGNATURE: &str = "x-hub-signature-256";
/// Epoch seconds at which our WhatsApp bot signed a `/session/login` (inside the HMAC).
pub const SIGNED_AT: &str = "x-omnisession-timestamp";

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    // Serialising our own response types cannot fail; fall back to an empty object anyway.
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The answer for an error: `{"detail", "error_type"}` with its status, and
/// `Retry-After` where the client should wait. A 500 names the request id and nothing of
/// what went wrong.
pub fn error_response(err: &ApiError, request_id: &str) -> Response<Body> {
    let body = match err {
        ApiError::Internal(_) => serde_json::json!({
            "detail": format!("Internal error. Quote request id {request_id} when reporting it."),
            "error_type": err.error_type(),
            "request_id": request_id,
        }),
        _ => serde_json::json!({ "detail": err.to_string(), "error_type": err.error_type() }),
    };
    let mut response = json(err.status(), &body);
    if let Some(seconds) = err.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub fn ok<T: Serialize + ?Sized>(value: &T) -> HttpResult {
    Ok(json(StatusCode::OK, value))
}

/// The raw body bytes as the client sent them (API Gateway's base64 already undone).
pub fn raw_body(req: &Request) -> &[u8] {
    req.body().as_ref()
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The kiosk of the request's `X-Kiosk-Key`: `None` without one, 401 for a key no active
/// kiosk has (unknown, revoked, or replaced by a rotation), 503 when the registry could
/// not be read.
pub async fn kiosk(
    state: &crate::AppState,
    req: &Request,
) -> Result<Option<crate::kiosks::Kiosk>, ApiError> {
    let Some(key) = req.headers().get(KIOSK_KEY) else {
        return Ok(None);
    };
    let key = key.to_str().unwrap_or_default();
    match state.kiosk(key).await? {
        Some(kiosk) => Ok(Some(kiosk)),
        None => Err(ApiError::Unauthorized(
            "X-Kiosk-Key is not a registered kiosk key",
        )),
    }
}

/// The session token from `X-Session-Token` or `Authorization: Bearer <token>`.
pub fn session_token(req: &Request) -> Option<&str> {
    header(req, SESSION_TOKEN).or_else(|| {
        header(req, "authorization").and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
    })
}

/// Parses a JSON object body into `T`, answering 413, 415 or a 400 that names the field.
pub fn parse_json<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    let bytes = raw_body(req);
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let is_json = header(req, "content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Invalid(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Invalid(format!("request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::Invalid(
            "request body must be a JSON object".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::Invalid(format!("request body: {inner}"))
        } else {
            ApiError::Invalid(format!("{path}: {inner}"))
        }
    })
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`), to count
/// failed attempts per caller; `"unknown"` when the event carries none.
pub fn source_ip(req: &Request) -> String {
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .filter(|ip| !ip.is_empty())
    .unwrap_or_else(|| "unknown".to_string())
}

/// The id that ties a response to its log lines: the Lambda request id when there is one.
pub fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|ctx| ctx.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()))
}

/// Runs a handler, renders its error if any, and logs one line per request: method,
/// path, status, latency, error kind. Never headers or bodies, which carry secrets. What
/// the request counted is written as metrics to `meter` (see `metrics`).
pub async fn serve<'r, F, Fut>(req: &'r Request, meter: Meter<'_>, handler: F) -> Response<Body>
where
    F: FnOnce(&'r Request) -> Fut,
    Fut: Future<Output = HttpResult>,
{
    metrics::measured(meter, answer(req, handler)).await
}

async fn answer<'r, F, Fut>(req: &'r Request, handler: F) -> Response<Body>
where
    F: FnOnce(&'r Request) -> Fut,
    Fut: Future<Output = HttpResult>,
{
    let started = Instant::now();
    let request_id = request_id(req);
    // Each DynamoDB call is bounded by the SDK's timeouts, but a flow of several calls is
    // not: past the function's timeout, Lambda would kill it and API Gateway answer 500.
    // Every multi-item write is one transaction, so giving up leaves nothing half-done;
    // a write in flight may still commit whole (hence `Idempotency-Key` for retries).
    let budget = time_budget(req);
    let result = match tokio::time::timeout(budget, handler(req)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(%request_id, budget_ms = budget.as_millis() as u64, "time budget exceeded; answering 503");
            Err(ApiError::Unavailable)
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.status(),
    };
    let locked = matches!(result, Err(ApiError::TooManyRequests(_)));
    metrics::answered(status.as_u16(), locked);
    let method = req.method().as_str();
    let path = req.uri().path();
    match result {
        Ok(response) => {
            tracing::info!(%request_id, method, path, status = response.status().as_u16(), latency_ms, "request");
            response
        }
        Err(err) => {
            let status = err.status().as_u16();
            if let ApiError::Internal(cause) = &err {
                tracing::error!(%request_id, method, path, status, latency_ms, cause, "request failed");
            } else {
                tracing::info!(%request_id, method, path, status, latency_ms, error_type = err.error_type(), "request refused");
            }
            error_response(&err, &request_id)
        }
    }
}

/// The longest a handler may run: a second under template.yaml's function `Timeout` (10 s),
/// or the invocation's own deadline less [`ANSWER_MARGIN`] when that is nearer.
const HANDLER_BUDGET: Duration = Duration::from_secs(9);
/// Kept back from the invocation's deadline to write the 503.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

fn time_budget(req: &Request) -> Duration {
    let until_deadline = req.lambda_context_ref().and_then(|ctx| {
        let deadline = UNIX_EPOCH + Duration::from_millis(ctx.deadline);
        deadline.duration_since(SystemTime::now()).ok()
    });
    match until_deadline {
        Some(left) => left.saturating_sub(ANSWER_MARGIN).min(HANDLER_BUDGET),
        None => HANDLER_BUDGET,
    }
}

/// The answer for a path or method this function does not serve.
pub fn no_route(req: &Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}
