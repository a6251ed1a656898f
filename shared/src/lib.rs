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
//!   table of routes and handlers; [`metrics`], what each request counted, written as
//!   CloudWatch Embedded Metric Format lines.
//!
//! A function's `main` builds one [`AppState`] at cold start and hands its handler to
//! the Lambda runtime.

pub mod channel;
pub mod codes;
pub mod config;
pub mod courier;
pub mod entering;
pub mod error;
pub mod events;
pub mod guard;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod kiosks;
pub mod logins;
pub mod metrics;
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
pub mod vault;
pub mod views;

use std::sync::Arc;

use config::Config;
use kiosks::{Kiosk, Kiosks};
use passwords::Passwords;
use store::Store;
use vault::{Secrets, Vault, VaultError};

/// What every invocation of a function borrows: built once per cold start.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub passwords: Passwords,
    /// The kiosk registry, cached (see [`kiosks`]).
    pub kiosks: Kiosks,
    /// The secrets, refreshed from Secrets Manager every few minutes: read them through
    /// [`AppState::secrets`] on each request, never keep them.
    pub vault: Vault,
    /// Built on the first code sent (only the verify function sends): the others' cold
    /// starts pay nothing for it.
    pub courier: tokio::sync::OnceCell<courier::Courier>,
}

impl AppState {
    /// Builds the clients for a validated configuration and reads the secrets.
    pub async fn new(config: Config) -> Result<Self, VaultError> {
        let sdk = Store::sdk_config(&config).load().await;
        let vault = Vault::open(&config, &sdk).await?;
        Ok(Self {
            store: Store::on_sdk(&sdk, config.tables.clone()),
            passwords: Passwords::new(config.bcrypt_cost),
            vault,
            config,
            kiosks: Kiosks::default(),
            courier: tokio::sync::OnceCell::new(),
        })
    }

    /// This request's secrets.
    pub async fn secrets(&self) -> Arc<Secrets> {
        self.vault.get().await
    }

    /// The active kiosk whose key is `key`, from the cached registry (read again when a
    /// minute old, see [`kiosks`]).
    pub async fn kiosk(&self, key: &str) -> Result<Option<Kiosk>, store::StoreError> {
        self.kiosks.find(key, || self.store.kiosk_registry()).await
    }

    /// The courier of codes, if this function is configured to send them.
    pub async fn courier(&self) -> Option<&courier::Courier> {
        let config = self.config.courier.clone()?;
        Some(
            self.courier
                .get_or_init(|| async {
                    let sdk = Store::sdk_config(&self.config).load().await;
                    courier::Courier::new(config, &sdk)
                })
                .await,
        )
    }
}

/// How long a cold start's init may take (docs/design.md §6), of which the phone warm-up
/// gets what the rest leaves.
const INIT_BUDGET: std::time::Duration = std::time::Duration::from_millis(45);

/// A function's whole `main`: JSON logs, state built once (a bad configuration stops the
/// cold start with a clear log line), then the handler for every event.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static AppState, lambda_http::Request) -> Fut,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    let started = std::time::Instant::now();
    telemetry::init();
    let config = match Config::from_env().and_then(|c| c.require_real_secrets().map(|()| c)) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "refusing to start: invalid configuration");
            return Err(err.into());
        }
    };
    // The default region's phone metadata and regular expressions (tens of ms) load on a
    // thread of their own, beside the SDK's set-up. Init waits for them until its budget
    // is spent; a first event that parses a number before they are ready waits for the
    // rest. Either way they are off the requests after it (phone.rs).
    let warming = phone::warm_up_in_background(config.phone_region);
    let state = match AppState::new(config).await {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(error = %err, "refusing to start: the secrets cannot be read");
            return Err(err.into());
        }
    };
    warming.wait_until(started + INIT_BUDGET);
    // Lives as long as the process, like the Lambda execution environment.
    let state: &'static AppState = Box::leak(Box::new(state));
    lambda_http::run(lambda_http::service_fn(|req| {
        let response = handler(state, req);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}
