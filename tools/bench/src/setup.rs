//! The bench's configuration and clients: config/dev.env pointed at the bench's own
//! DynamoDB Local and `-bench-` tables, and SDK clients built like `Store::connect`
//! builds them (same retry mode and timeouts), so the handlers run on a production-shaped
//! client.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use omnisession::AppState;
use omnisession::config::Config;
use omnisession::store::Store;
use omnisession_testkit::probe::Probe;
use omnisession_testkit::setup;

use crate::Result;

/// config/dev.env with the bench's overrides: its DynamoDB Local, `-bench-` tables and
/// the given bcrypt cost. The same variables reach the cold-started binaries.
pub fn bench_env(port: u16, bcrypt_cost: u32) -> Result<BTreeMap<String, String>> {
    let mut env = setup::dev_env("bench")?;
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
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(omnisession::metrics::DynamoDbCalls);
    if let Some(probe) = probe {
        builder = builder.interceptor(probe);
    }
    Client::from_conf(builder.build())
}

/// The state a function builds at cold start, on the given client and bcrypt cost.
pub fn state(config: &Config, client: Client, bcrypt_cost: u32) -> AppState {
    let mut config = config.clone();
    config.bcrypt_cost = bcrypt_cost;
    setup::state(config, client)
}
