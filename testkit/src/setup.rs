//! The settings, tables and state the tests and the bench run the handlers on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_dynamodb::Client;
use omnisession::AppState;
use omnisession::config::{Config, SecretSource};
use omnisession::kiosks::{self, KioskRecord};
use omnisession::passwords::Passwords;
use omnisession::store::Store;
use omnisession::vault::Vault;
use omnisession_admin::tables;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// config/dev.env, the local stack's settings, with its `-dev-` tables renamed
/// `-<tag>-` (`test`, `bench`): the caller's own.
pub fn dev_env(tag: &str) -> Result<BTreeMap<String, String>, Error> {
    let path = repo_root().join("config/dev.env");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().replace("-dev-", &format!("-{tag}-")),
            )
        })
        .collect())
}

/// Creates `config`'s tables as template.yaml declares them, unless they exist; the
/// report's lines.
pub async fn create_tables(client: &Client, config: &Config) -> Result<Vec<String>, Error> {
    let template = std::fs::read_to_string(repo_root().join("template.yaml"))?;
    let defs = tables::table_definitions(&template)?;
    let names = tables::configured_names(&config.tables);
    Ok(tables::create_tables(client, &defs, &names, false).await?)
}

/// The state a function builds at cold start, on the given client, with the secrets of
/// the environment (`Config::secrets`) or `vault` when given (Secrets Manager's).
pub fn state(config: Config, client: Client) -> AppState {
    let vault = match &config.secrets {
        SecretSource::Environment(secrets) => Vault::fixed(secrets.clone()),
        SecretSource::Manager { .. } => {
            panic!("a Secrets Manager configuration: build the state with state_with_vault")
        }
    };
    state_with_vault(config, client, vault)
}

/// As [`state`], with the secrets in `vault`.
pub fn state_with_vault(config: Config, client: Client, vault: Vault) -> AppState {
    AppState {
        store: Store::new(client, config.tables.clone()),
        passwords: Passwords::new(config.bcrypt_cost),
        kiosks: Default::default(),
        vault,
        courier: Default::default(),
        config,
    }
}

/// The development kiosk as `scripts/seed.sh` registers it: id, store, label. Its key is
/// config/dev.env's `DEV_KIOSK_KEY`.
pub const DEV_KIOSK: (&str, &str, &str) = ("dev-kiosk", "dev-store", "Development kiosk");

/// Registers the kiosk `(id, store, label)` with `key` in `store`'s kiosks table, unless
/// that id is registered already: what seed.sh does for the shared tables, for tables of
/// a test's or the bench's own.
pub async fn register_kiosk(
    store: &Store,
    (id, shop, label): (&str, &str, &str),
    key: &str,
) -> Result<(), Error> {
    let record = KioskRecord {
        kiosk_id: id.to_string(),
        store: shop.to_string(),
        label: label.to_string(),
        key_hash: kiosks::key_hash(key),
        created_at: omnisession::model::rfc3339(chrono::Utc::now()),
        revoked_at: None,
        rotated_at: None,
    };
    store.add_kiosk(&record).await?;
    Ok(())
}
