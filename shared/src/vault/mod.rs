//! The service's secrets (docs/design.md §7): read from AWS Secrets Manager once per cold
//! start and again every few minutes, so that a rotation needs no deploy; on a developer's
//! machine, from environment variables (config/dev.env).
//!
//! A rotation: put the new value first and keep the old one after it (`"CODE_HMAC_KEY":
//! ["new", "old"]`); within one refresh interval every instance signs and stores with
//! the new value and still accepts the old; then drop the old one (README → Operate →
//! Secrets).

mod manager;
mod values;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use crate::config::{Config, SecretSource};
pub use manager::{Manager, ReadError};
pub use values::{NAMES, Rules, Secrets, ValueError, split};

/// After a failed refresh the values in hand are kept and the read is tried again this
/// much later (or at the next interval, if that is sooner).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// The most a refresh may add to the request that makes it (the values in hand are good
/// meanwhile); a cold start's first read has the SDK's own timeouts.
const REFRESH_BUDGET: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the secrets in {ids}: {error}")]
    Invalid { ids: String, error: ValueError },
}

/// The secrets in hand, refreshed on the request that finds them due.
pub struct Vault {
    current: RwLock<Arc<Secrets>>,
    refresh: Option<Refresh>,
}

struct Refresh {
    manager: Manager,
    ids: String,
    rules: Rules,
    every: Duration,
    due: Mutex<Instant>,
    /// One refresh at a time: a request that finds one running goes on with the values
    /// in hand instead of waiting for it.
    running: tokio::sync::Mutex<()>,
}

impl Vault {
    /// The secrets `config` names: from Secrets Manager (read now: an error fails the
    /// cold start) or the environment's.
    pub async fn open(config: &Config, sdk: &SdkConfig) -> Result<Self, VaultError> {
        match &config.secrets {
            SecretSource::Environment(secrets) => Ok(Self::fixed(secrets.clone())),
            SecretSource::Manager {
                ids,
                refresh,
                endpoint,
            } => {
                let mut client = aws_sdk_secretsmanager::config::Builder::from(sdk);
                // Unset in AWS; clears the DynamoDB Local endpoint the loader may carry.
                client.set_endpoint_url(endpoint.clone());
                let manager = Manager::new(
                    aws_sdk_secretsmanager::Client::from_conf(client.build()),
                    ids.clone(),
                );
                let rules = SecretSource::rules(config.local_dev, config.courier.is_some());
                Self::from_manager(manager, ids, rules, *refresh).await
            }
        }
    }

    /// Secrets that never change (environment variables, tests).
    pub fn fixed(secrets: Secrets) -> Self {
        Self {
            current: RwLock::new(Arc::new(secrets)),
            refresh: None,
        }
    }

    /// Reads the secrets `ids` name now (a cold start fails on an error, loudly) and
    /// again every `every`.
    pub async fn from_manager(
        manager: Manager,
        ids: &[String],
        rules: Rules,
        every: Duration,
    ) -> Result<Self, VaultError> {
        let refresh = Refresh {
            manager,
            ids: ids.join(", "),
            rules,
            every,
            due: Mutex::new(Instant::now() + every),
            running: tokio::sync::Mutex::new(()),
        };
        let secrets = refresh.load().await?;
        Ok(Self {
            current: RwLock::new(Arc::new(secrets)),
            refresh: Some(refresh),
        })
    }

    /// The secrets, re-read first when due. A refresh that fails, or finds values that
    /// do not pass the checks, keeps the values in hand: a bad rotation is logged, not
    /// an outage.
    pub async fn get(&self) -> Arc<Secrets> {
        if let Some(refresh) = &self.refresh
            && refresh.is_due()
            && let Ok(_running) = refresh.running.try_lock()
            // Another request may have refreshed between the check and the lock.
            && refresh.is_due()
        {
            let loaded = tokio::time::timeout(REFRESH_BUDGET, refresh.load())
                .await
                .unwrap_or_else(|_| {
                    Err(VaultError::Read(ReadError::Unavailable {
                        id: refresh.ids.clone(),
                        reason: format!("no answer within {REFRESH_BUDGET:?}"),
                    }))
                });
            let next = match loaded {
                Ok(secrets) => {
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                        Arc::new(secrets);
                    refresh.every
                }
                Err(err) => {
                    tracing::error!(error = %err, "secrets not refreshed; keeping the values in hand");
                    refresh.every.min(RETRY_AFTER_FAILURE)
                }
            };
            *refresh.due.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now() + next;
        }
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Refresh {
    fn is_due(&self) -> bool {
        Instant::now() >= *self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn load(&self) -> Result<Secrets, VaultError> {
        let entries = self.manager.read().await?;
        Secrets::read(
            |name| {
                entries
                    .get(name)
                    .map(|(v, _)| v.clone())
                    .unwrap_or_default()
            },
            self.rules,
        )
        .map_err(|error| VaultError::Invalid {
            ids: self.ids.clone(),
            error,
        })
    }
}
