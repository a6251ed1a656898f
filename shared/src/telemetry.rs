//! JSON logs for CloudWatch. Handlers log ids, routes and outcomes; secrets are wrapped in
//! [`crate::secrets::SecretString`] and request headers and bodies are never logged.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. The level comes from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Whatever RUST_LOG says, the runtime and the SDK never log below info: at debug and
    // trace they print raw events (headers with tokens and keys) and request bodies.
    let filter = [
        "lambda_runtime=info",
        "lambda_runtime_api_client=info",
        "lambda_http=info",
        "aws_smithy_runtime=info",
        "aws_smithy_runtime_api=info",
        "hyper=info",
        "hyper_util=info",
    ]
    .into_iter()
    .filter_map(|d| d.parse().ok())
    .fold(filter, EnvFilter::add_directive);
    // A second call (tests) leaves the first subscriber in place.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line.
        .try_init();
}
