//! Everything the omnisession Lambdas share.
//!
//! Layers, from the inside out:
//! - domain types that can only hold valid values ([`phone`], [`channel`], [`passwords`],
//!   [`token`], [`model`]);
//! - the DynamoDB [`store`], which knows item shapes and conditional writes;
//! - [`sessions`], [`logins`], [`guard`]: the omni-channel rules (join or start,
//!   authenticate, slide expiry; which logins stand; guessing limits);
//! - [`service`], the use cases the handlers call: one function per operation, each with
//!   its own error;
//! - [`http`] and [`error`], which turn API Gateway requests into domain calls and
//!   results into `{"detail", "error_type"}` responses; [`routes`], each function's
//!   table of routes and handlers.
//!
//! A function's `main` builds one [`AppState`] at cold start and hands its handler to
//! the Lambda runtime.

pub mod channel;
pub mod config;
pub mod entering;
pub mod error;
pub mod guard;
pub mod http;
pub mod idempotency;
pub mod logins;
pub mod model;
pub mod passwords;
pub mod phone;
pub mod routes;
pub mod secrets;
pub mod service;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod views;

use config::Config;
use passwords::Passwords;
use store::Store;

/// What every invocation of a function borrows: built once per cold start.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub passwords: Passwords,
}

impl AppState {
    /// Reads and validates the configuration, then builds the DynamoDB client.
    /// A bad configuration fails the cold start with a clear message.
    pub async fn from_env() -> Result<Self, config::ConfigError> {
        let config = Config::from_env()?;
        config.require_real_secrets()?;
        Ok(Self::new(config).await)
    }

    pub async fn new(config: Config) -> Self {
        let store = Store::connect(&config).await;
        let passwords = Passwords::new(config.bcrypt_cost);
        Self {
            config,
            store,
            passwords,
        }
    }
}

/// A function's whole `main`: JSON logs, state built once (a bad configuration stops the
/// cold start with a clear log line), then the handler for every event.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static AppState, lambda_http::Request) -> Fut,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    telemetry::init();
    let state = match AppState::from_env().await {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(error = %err, "refusing to start: invalid configuration");
            return Err(err.into());
        }
    };
    // The default region's phone metadata and regular expressions here rather than in the
    // first event; the other regions' load only when a number needs them (phone.rs).
    phone::warm_up(state.config.phone_region);
    // Lives as long as the process, like the Lambda execution environment.
    let state: &'static AppState = Box::leak(Box::new(state));
    lambda_http::run(lambda_http::service_fn(|req| {
        let response = handler(state, req);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}
