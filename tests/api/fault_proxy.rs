//! A fault-injecting HTTP proxy in front of DynamoDB Local. The SDK speaks HTTP/1.1 to an
//! `http://` endpoint, one JSON request per POST (`X-Amz-Target: DynamoDB_20120810.<Op>`),
//! so a small hand-written HTTP/1.1 server with keep-alive is enough; requests that are
//! let through are forwarded with reqwest.
//!
//! A [`Plan`] says which requests fail and how: after letting `after` requests through,
//! the next `times` requests (optionally only those of one operation) get the [`Fault`];
//! everything else passes. The proxy records every request it saw, so a test can tell
//! that the SDK retried.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What a failing request gets instead of DynamoDB's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ThrottlingException`, as DynamoDB's control plane and on-demand tables send it.
    Throttling,
    /// 400 `ProvisionedThroughputExceededException`.
    ProvisionedThroughputExceeded,
    /// What DynamoDB answers a throttled `TransactWriteItems`: 400
    /// `TransactionCanceledException` whose reasons name `ThrottlingError`. Other operations
    /// get a plain `ThrottlingException`.
    TransactionThrottled,
    /// 500 `InternalServerError`.
    InternalServerError,
    /// Holds the request this long, then forwards it anyway (a slow DynamoDB: the write may
    /// land after the client has given up on it).
    Delay(Duration),
    /// Closes the connection without forwarding the request or answering.
    Drop,
    /// Forwards the request (the write is made), then closes the connection instead of
    /// answering: the client cannot know it succeeded.
    LoseResponse,
}

/// Which requests fail.
#[derive(Clone, Debug)]
pub struct Plan {
    fault: Fault,
    /// Requests (of `operation`, if set) let through before the first fault.
    after: u64,
    /// Faults to inject; `None` for every request until [`FaultProxy::heal`].
    times: Option<u64>,
    /// Only every `every`-th request (counted from the first fault) fails.
    every: u64,
    /// Requests counted since the faults started.
    counted: u64,
    operation: Option<String>,
}

impl Plan {
    /// Every request fails with `fault` until healed.
    pub fn always(fault: Fault) -> Self {
        Self {
            fault,
            after: 0,
            times: None,
            every: 1,
            counted: 0,
            operation: None,
        }
    }

    /// The next `times` requests fail with `fault`.
    pub fn next(times: u64, fault: Fault) -> Self {
        Self {
            times: Some(times),
            ..Self::always(fault)
        }
    }

    /// Every `n`-th request fails, the others pass: with `n = 2` each call's first attempt
    /// fails and its retry passes.
    pub fn every(n: u64, fault: Fault) -> Self {
        Self {
            every: n.max(1),
            ..Self::always(fault)
        }
    }

    /// Lets `requests` through before the faults start.
    pub fn after(mut self, requests: u64) -> Self {
        self.after = requests;
        self
    }

    /// Only requests of this operation (`GetItem`, `TransactWriteItems`…) count and fail.
    pub fn on(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_string());
        self
    }
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The DynamoDB operation, e.g. `TransactWriteItems`.
    pub operation: String,
    /// The fault it got; `None` when it was forwarded and answered normally.
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct Shared {
    plan: Mutex<Option<Plan>>,
    seen: Mutex<Vec<Seen>>,
    /// Requests being handled (a delayed one may still be forwarded after its client left).
    in_flight: AtomicUsize,
}

impl Shared {
    /// Decides the fate of one request of `operation`.
    fn decide(&self, operation: &str) -> Option<Fault> {
        let mut plan = self.plan.lock().expect("plan lock");
        let fault = plan.as_mut().and_then(|plan| {
            if plan
                .operation
                .as_deref()
                .is_some_and(|only| only != operation)
            {
                return None;
            }
            if plan.after > 0 {
                plan.after -= 1;
                return None;
            }
            plan.counted += 1;
            if (plan.counted - 1) % plan.every != 0 {
                return None;
            }
            match &mut plan.times {
                Some(0) => None,
                Some(left) => {
                    *left -= 1;
                    Some(plan.fault)
                }
                None => Some(plan.fault),
            }
        });
        self.seen.lock().expect("seen lock").push(Seen {
            operation: operation.to_string(),
            fault,
        });
        fault
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`
    /// (`http://127.0.0.1:<port>`), passing everything until a plan is set.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy's port");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared::default());
        let forward = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let upstream = upstream.trim_end_matches('/').to_string();
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(
                        stream,
                        shared.clone(),
                        forward.clone(),
                        upstream.clone(),
                    ));
                }
            }
        });
        Self {
            addr,
            shared,
            accept,
        }
    }

    /// The endpoint to give the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn plan(&self, plan: Plan) {
        *self.shared.plan.lock().expect("plan lock") = Some(plan);
    }

    /// Lets everything through again.
    pub fn heal(&self) {
        *self.shared.plan.lock().expect("plan lock") = None;
    }

    /// The requests seen since the last call.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.shared.seen.lock().expect("seen lock"))
    }

    /// Waits until no request is being handled (a delayed request may still be on its
    /// way to DynamoDB after its client gave up), so that a check reads a settled table.
    pub async fn settle(&self) {
        for _ in 0..300 {
            if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the proxy still handles requests after 15 s");
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A request read off the wire.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn operation(&self) -> String {
        self.header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string()
    }
}

/// Serves one client connection: requests one after another (keep-alive).
async fn serve(stream: TcpStream, shared: Arc<Shared>, forward: reqwest::Client, upstream: String) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let request = match read_request(&mut read).await {
            Ok(Some(request)) => request,
            // The client closed the connection, or sent something we do not speak.
            Ok(None) | Err(_) => return,
        };
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let keep_open = handle(&request, &mut write, &shared, &forward, &upstream).await;
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        let close = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if !keep_open || close {
            return;
        }
    }
}

/// Answers one request as the plan says; `false` when the connection must be closed.
async fn handle(
    request: &Request,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    forward: &reqwest::Client,
    upstream: &str,
) -> bool {
    let operation = request.operation();
    let response = match shared.decide(&operation) {
        None => forward_request(request, forward, upstream).await,
        Some(Fault::Throttling) => dynamodb_error(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        Some(Fault::ProvisionedThroughputExceeded) => dynamodb_error(
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        Some(Fault::TransactionThrottled) if operation == "TransactWriteItems" => {
            throttled_transaction(&request.body)
        }
        Some(Fault::TransactionThrottled) => dynamodb_error(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        Some(Fault::InternalServerError) => {
            dynamodb_error(500, "InternalServerError", "Internal server error")
        }
        Some(Fault::Delay(pause)) => {
            tokio::time::sleep(pause).await;
            forward_request(request, forward, upstream).await
        }
        Some(Fault::Drop) => return false,
        Some(Fault::LoseResponse) => {
            let _ = forward_request(request, forward, upstream).await;
            return false;
        }
    };
    match response {
        Some(bytes) => write.write_all(&bytes).await.is_ok(),
        // DynamoDB did not answer (it is down): so does the proxy.
        None => false,
    }
}

async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if read.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        eprintln!("fault proxy: chunked request bodies are not supported");
        return Ok(None);
    }
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; length];
    read.read_exact(&mut request.body).await?;
    Ok(Some(request))
}

/// Sends the request on to DynamoDB Local; its answer as raw HTTP, or `None` when it
/// could not be reached.
async fn forward_request(
    request: &Request,
    forward: &reqwest::Client,
    upstream: &str,
) -> Option<Vec<u8>> {
    const HOP_BY_HOP: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).ok()?;
    let mut outgoing = forward
        .request(method, format!("{upstream}{}", request.path))
        .timeout(Duration::from_secs(30))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        if !HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            outgoing = outgoing.header(name, value);
        }
    }
    let response = outgoing.send().await.ok()?;
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let body = response.bytes().await.ok()?;
    Some(http_response(status.as_u16(), &headers, &body))
}

/// DynamoDB's error shape (awsJson1_0): the error code in `__type` and in
/// `x-amzn-ErrorType`.
fn dynamodb_error(status: u16, code: &str, message: &str) -> Option<Vec<u8>> {
    let body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": message,
    });
    Some(error_response(status, code, &body))
}

/// A transaction cancelled because one of its items was throttled, as DynamoDB reports it:
/// one reason per item, the first `ThrottlingError`, the others `None`.
fn throttled_transaction(request_body: &[u8]) -> Option<Vec<u8>> {
    let items = serde_json::from_slice::<Value>(request_body)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
        .max(1);
    let mut reasons = vec![json!({
        "Code": "ThrottlingError",
        "Message": "Throughput exceeds the current capacity of your table or index. DynamoDB is \
                    automatically scaling your table or index so please try again shortly.",
    })];
    reasons.resize(items, json!({"Code": "None"}));
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons,
    });
    Some(error_response(400, "TransactionCanceledException", &body))
}

fn error_response(status: u16, code: &str, body: &Value) -> Vec<u8> {
    let headers = [
        (
            "content-type".to_string(),
            "application/x-amz-json-1.0".to_string(),
        ),
        ("x-amzn-errortype".to_string(), code.to_string()),
        (
            "x-amzn-requestid".to_string(),
            hex::encode(rand::random::<[u8; 16]>()),
        ),
    ];
    http_response(status, &headers, body.to_string().as_bytes())
}

fn http_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
