//! Where a cold start's time goes: the bench re-runs itself as a fresh process
//! (`omnisession-bench init-breakdown`) that performs a function's init steps one by
//! one, as `omnisession::run` and the first event do, and prints how long each took.
//! A fresh process matters: lazily loaded data (phone metadata, the TLS and SDK setup)
//! is only cold once per process.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use omnisession::phone::PhoneNumber;
use serde_json::{Value, json};

use crate::Result;
use crate::stats::Summary;

/// The steps, in the order a cold start meets them.
pub const STEPS: &[(&str, &str)] = &[
    (
        "exec",
        "exec → `main` (loader, Rust runtime setup), measured across processes",
    ),
    ("tokio", "tokio multi-thread runtime (`#[tokio::main]`)"),
    ("telemetry", "JSON log subscriber (`telemetry::init`)"),
    (
        "config",
        "`Config::from_env` (variables, key rings, region)",
    ),
    (
        "sdk",
        "`Store::connect`: `aws_config` defaults loaded, DynamoDB client built",
    ),
    (
        "secrets",
        "the secrets read from Secrets Manager (`Vault::open`: one `GetSecretValue`, a local stand-in)",
    ),
    (
        "phone_first",
        "first phone number parsed (no warm-up: the default region's metadata and regular expressions)",
    ),
    (
        "phone_again",
        "a second phone number parsed (for comparison)",
    ),
    (
        "ddb_first",
        "first DynamoDB call (new connection, identity resolved)",
    ),
    ("ddb_again", "a second DynamoDB call (warm connection)"),
];

const SPAWNED_AT: &str = "OMNISESSION_BENCH_SPAWNED_AT_NS";

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The child: runs the steps and prints `{step: ms}` as one JSON line.
pub fn child() -> Result<()> {
    let entered = now_ns();
    let mut out = BTreeMap::<&str, f64>::new();
    if let Some(spawned) = std::env::var(SPAWNED_AT)
        .ok()
        .and_then(|v| v.parse::<u128>().ok())
    {
        out.insert("exec", entered.saturating_sub(spawned) as f64 / 1e6);
    }
    let step = |out: &mut BTreeMap<&str, f64>, name, started: Instant| {
        out.insert(name, started.elapsed().as_secs_f64() * 1000.0);
    };

    let t = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    step(&mut out, "tokio", t);

    runtime.block_on(async {
        let t = Instant::now();
        omnisession::telemetry::init();
        step(&mut out, "telemetry", t);

        let t = Instant::now();
        let config = omnisession::config::Config::from_env()?;
        step(&mut out, "config", t);

        let t = Instant::now();
        let sdk = omnisession::store::Store::sdk_config(&config).load().await;
        let store = omnisession::store::Store::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.tables.clone(),
        );
        step(&mut out, "sdk", t);

        let t = Instant::now();
        omnisession::vault::Vault::open(&config, &sdk).await?;
        step(&mut out, "secrets", t);

        let t = Instant::now();
        PhoneNumber::parse("+919876543210", config.phone_region)?;
        step(&mut out, "phone_first", t);
        let t = Instant::now();
        PhoneNumber::parse("9812345678", config.phone_region)?;
        step(&mut out, "phone_again", t);

        for name in ["ddb_first", "ddb_again"] {
            let t = Instant::now();
            store
                .client()
                .get_item()
                .table_name(&config.tables.sessions)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S("init-breakdown".into()),
                )
                .consistent_read(true)
                .send()
                .await?;
            step(&mut out, name, t);
        }
        Ok::<_, crate::Error>(())
    })?;
    println!("{}", json!(out));
    Ok(())
}

/// The parent: runs the child `runs` times with the functions' environment.
pub fn measure(env: &BTreeMap<String, String>, runs: usize) -> Result<BTreeMap<String, Summary>> {
    let exe = std::env::current_exe()?;
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        let output = Command::new(&exe)
            .arg("init-breakdown")
            .env_clear()
            .envs(env)
            // The log line of the subscriber is not what is measured here.
            .env("RUST_LOG", "warn")
            .env(SPAWNED_AT, now_ns().to_string())
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "init-breakdown failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .last()
            .ok_or("init-breakdown printed nothing")?;
        let values: Value = serde_json::from_str(line)?;
        for (name, _) in STEPS {
            if let Some(ms) = values[*name].as_f64() {
                samples.entry(name.to_string()).or_default().push(ms);
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|(k, v)| (k, Summary::of(&v)))
        .collect())
}
