//! The bench's configuration and clients: config/dev.env pointed at the bench's own
//! DynamoDB Local and `-bench-` tables, and SDK clients built like `Store::connect`
//! builds them (same retry mode and timeouts), so the handlers run on a production-shaped
//! client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use omnisession::AppState;
use omnisession::config::Config;
use omnisession::passwords::Passwords;
use omnisession::store::Store;
use omnisession_admin::tables;

use crate::Result;
use crate::probe::Probe;

/// config/dev.env with the bench's overrides: its DynamoDB Local, `-bench-` tables and
/// the given bcrypt cost. The same variables reach the cold-started binaries.
pub fn bench_env(root: &Path, port: u16, bcrypt_cost: u32) -> Result<BTreeMap<String, String>> {
    let path = root.join("config/dev.env");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut env: BTreeMap<String, String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().replace("-dev-", "-bench-")))
        .collect();
    env.insert(
        "DYNAMODB_ENDPOINT".into(),
        format!("http://127.0.0.1:{port}"),
    );
    env.insert("BCRYPT_COST".into(), bcrypt_cost.to_string());
    env.insert("OMNISESSION_LOCAL_DEV".into(), "1".into());
    Ok(env)
}

pub fn config(env: &BTreeMap<String, String>) -> Result<Config> {
    Ok(Config::from_lookup(|k| env.get(k).cloned())?)
}

/// A client configured as `Store::connect` configures it, plus `probe` if given.
pub async fn client(config: &Config, probe: Option<Probe>) -> Client {
    let sdk = Store::sdk_config(config)
        // Explicit, so the SDK never probes the environment or IMDS from the bench.
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
        .load()
        .await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk);
    if let Some(probe) = probe {
        builder = builder.interceptor(probe);
    }
    Client::from_conf(builder.build())
}

/// Creates the tables from template.yaml (DynamoDB Local is in-memory: always fresh).
pub async fn create_tables(root: &Path, client: &Client, config: &Config) -> Result<()> {
    let template = std::fs::read_to_string(root.join("template.yaml"))?;
    let defs = tables::table_definitions(&template)?;
    tables::create_tables(
        client,
        &defs,
        &tables::configured_names(&config.tables),
        false,
    )
    .await?;
    Ok(())
}

/// The state a function builds at cold start, on the given client and bcrypt cost.
pub fn state(config: &Config, client: Client, bcrypt_cost: u32) -> AppState {
    let mut config = config.clone();
    config.bcrypt_cost = bcrypt_cost;
    AppState {
        store: Store::new(client, config.tables.clone()),
        passwords: Passwords::new(bcrypt_cost),
        config,
    }
}

pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}
