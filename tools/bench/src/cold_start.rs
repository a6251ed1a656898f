//! Cold starts of the release binaries, through the Lambda runtime API as Lambda runs
//! them: a fresh process with Lambda's variables and the function's configuration,
//! timed from spawn to its first `next` poll (init: config, SDK client, runtime) and from
//! there to its answer (the first event: first connection to DynamoDB, first handler run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::runtime_api::RuntimeApi;
use crate::stats::Summary;
use omnisession_testkit::Function;

pub struct ColdStart {
    pub function: Function,
    /// Which request the first event was.
    pub event: String,
    pub starts: usize,
    pub init_ms: Summary,
    pub first_event_ms: Summary,
    pub total_ms: Summary,
    pub peak_rss_kib: Summary,
}

pub struct Spec<'a> {
    pub binary: PathBuf,
    pub function: Function,
    pub memory_mb: u32,
    pub env: &'a BTreeMap<String, String>,
    /// One API Gateway event per start (some can be used only once).
    pub events: Vec<String>,
    pub event_label: String,
    pub log: PathBuf,
}

pub fn measure(spec: &Spec) -> Result<ColdStart> {
    let (mut init, mut first, mut total, mut rss) = (vec![], vec![], vec![], vec![]);
    for event in &spec.events {
        let stub = RuntimeApi::start(event.clone())?;
        let log = std::fs::File::create(&spec.log)?;
        let started = Instant::now();
        let mut child = Command::new(&spec.binary)
            .env_clear()
            .envs(spec.env)
            .env("AWS_LAMBDA_RUNTIME_API", stub.address())
            .env(
                "AWS_LAMBDA_FUNCTION_NAME",
                format!("omnisession-{}", spec.function.package()),
            )
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/omnisession-bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", spec.binary.display()))?;
        let seen = stub.wait(Duration::from_secs(30));
        // Peak resident memory so far (init and the first event), read before the kill.
        let peak = peak_rss_kib(child.id());
        let _ = child.kill();
        let _ = child.wait();
        drop(stub);

        let (Some(next_at), Some(answered_at)) = (seen.next_at, seen.answered_at) else {
            return Err(format!(
                "{}: no answer from the cold start ({}); see {}",
                spec.function.package(),
                seen.error.unwrap_or_else(|| "timed out".into()),
                spec.log.display()
            )
            .into());
        };
        let status = seen
            .answer
            .as_deref()
            .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
            .and_then(|a| a["statusCode"].as_u64())
            .unwrap_or(0);
        if !(200..300).contains(&status) {
            return Err(format!(
                "{}: cold-start event answered {status}: {:?}",
                spec.function.package(),
                seen.answer
            )
            .into());
        }
        init.push((next_at - started).as_secs_f64() * 1000.0);
        first.push((answered_at - next_at).as_secs_f64() * 1000.0);
        total.push((answered_at - started).as_secs_f64() * 1000.0);
        if let Some(kib) = peak {
            rss.push(kib as f64);
        }
    }
    Ok(ColdStart {
        function: spec.function,
        event: spec.event_label.clone(),
        starts: spec.events.len(),
        init_ms: Summary::of(&init),
        first_event_ms: Summary::of(&first),
        total_ms: Summary::of(&total),
        peak_rss_kib: Summary::of(&rss),
    })
}

/// `VmHWM` of /proc/<pid>/status: the process's peak resident set, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The x86_64 release binary of a function, built by `cargo build --release`.
pub fn binary(release_dir: &Path, function: Function) -> PathBuf {
    release_dir.join(function.package())
}
