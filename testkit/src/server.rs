//! Every function behind one local HTTP server, in process: the same handlers and the
//! same DynamoDB, without the Lambda emulator in between. The fuzz and load tests use it
//! because `cargo lambda watch` runs one instance per function at a time and now and
//! then answers 500 on its own for a request the function answered; the `e2e` tests
//! still go through `cargo lambda watch`.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use omnisession::AppState;
use tokio::net::TcpListener;

use crate::{Function, scope};

/// Sends a request to the function whose route table serves it, as API Gateway's routes
/// do, in that function's scope (see [`scope`]): its DynamoDB calls are checked against
/// its IAM policy. A path no function serves goes to the session function, which answers
/// it as every function does: 404.
pub async fn dispatch(state: &AppState, req: Request) -> Response<Body> {
    let function =
        Function::serving(req.method().as_str(), req.uri().path()).unwrap_or(Function::Session);
    scope::run_as(function.package(), function.handle(state, req)).await
}

/// A server answering on 127.0.0.1 (an ephemeral port) until the process ends.
pub async fn start(state: Arc<AppState>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&state, req, peer).await) }
                });
                // A client that hangs up mid-request is its own business.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// One HTTP exchange: the request as API Gateway would hand it to the function (raw
/// body, headers, query string parameters, the caller's address as `sourceIp`), the
/// function's response as it would send it.
async fn answer(
    state: &AppState,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(400, "could not read the request body"),
    };
    let query: QueryMap = parts
        .uri
        .query()
        .and_then(|q| q.parse().ok())
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    let req = Request::from_parts(parts, body)
        .with_query_string_parameters(query)
        .with_request_context(source_context(&peer.ip().to_string()));
    let (parts, body) = dispatch(state, req).await.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// An API Gateway v2 request context that names the caller's address, as
/// `requestContext.http.sourceIp` does.
pub fn source_context(source_ip: &str) -> RequestContext {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(source_ip.to_string());
    RequestContext::ApiGatewayV2(context)
}

fn plain(status: u16, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    response
}
