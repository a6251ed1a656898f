//! `omnisession-bench`: measures what docs/design.md §6 budgets and what a request costs, and
//! writes BENCHMARKS.md. Run through `make bench` (scripts/bench.sh), which starts the
//! DynamoDB Local instance and builds the release binaries this reads.
//!
//! ```text
//! omnisession-bench [--port 8102] [--out BENCHMARKS.md] [--target-dir DIR]
//!                   [--iterations 400] [--warmup 20] [--slow-iterations 15]
//!                   [--cold-starts 10] [--command "make bench"] [--skip-cold-starts]
//! ```

mod bcrypt_cost;
mod cold_start;
mod endpoints;
mod events;
mod init_breakdown;
mod latency;
mod replay;
mod report;
mod runtime_api;
mod setup;
mod sizes;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;

use endpoints::{Endpoint, Harness, Kind};
use omnisession_testkit::Function;
use omnisession_testkit::probe::Probe;
use omnisession_testkit::setup::repo_root;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

struct Args {
    port: u16,
    out: PathBuf,
    target_dir: PathBuf,
    plan: latency::Plan,
    cold_starts: usize,
    command: String,
    skip_cold_starts: bool,
}

fn args() -> Result<Args> {
    let root = repo_root();
    let mut args = Args {
        port: 8102,
        out: root.join("BENCHMARKS.md"),
        target_dir: std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target")),
        plan: latency::Plan {
            warmup: 20,
            iterations: 400,
            slow_iterations: 15,
            capacity_iterations: 5,
        },
        cold_starts: 10,
        command: "omnisession-bench".into(),
        skip_cold_starts: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.port = value()?.parse()?,
            "--out" => args.out = value()?.into(),
            "--target-dir" => args.target_dir = value()?.into(),
            "--iterations" => args.plan.iterations = value()?.parse()?,
            "--warmup" => args.plan.warmup = value()?.parse()?,
            "--slow-iterations" => args.plan.slow_iterations = value()?.parse()?,
            "--cold-starts" => args.cold_starts = value()?.parse()?,
            "--command" => args.command = value()?,
            "--skip-cold-starts" => args.skip_cold_starts = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("init-breakdown") {
        return init_breakdown::child();
    }
    let args = args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// Progress goes to stderr; stdout carries the handlers' own JSON log lines, as in Lambda.
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("bench: {}", format!($($arg)*)) };
}

async fn run(args: Args) -> Result<()> {
    let root = repo_root();
    let load_before = load_average();
    let template = sizes::template(&root)?;
    let env = setup::bench_env(args.port, 4)?;
    let config = setup::config(&env)?;

    let probe = Probe::default();
    let client = setup::client(&config, Some(probe.clone())).await;
    let replay_client = setup::client(&config, None).await;
    omnisession_testkit::setup::create_tables(&replay_client, &config).await?;
    // The kiosk the kiosk requests come from, registered as seed.sh registers it.
    let kiosk_key = env
        .get("DEV_KIOSK_KEY")
        .ok_or("config/dev.env has no DEV_KIOSK_KEY")?
        .clone();
    let registry = omnisession::store::Store::new(replay_client.clone(), config.tables.clone());
    omnisession_testkit::setup::register_kiosk(
        &registry,
        omnisession_testkit::setup::DEV_KIOSK,
        &kiosk_key,
    )
    .await?;

    // The handlers log one JSON line per request, as deployed (to stdout).
    omnisession::telemetry::init();
    let states = BTreeMap::from([
        (4, setup::state(&config, client.clone(), 4)),
        (
            template.bcrypt_cost,
            setup::state(&config, client.clone(), template.bcrypt_cost),
        ),
    ]);
    let harness = Harness::new(states, probe, events::Events::load(&root)?, kiosk_key)?;
    let endpoints: Vec<Endpoint> = endpoints::all()
        .into_iter()
        .map(|mut e| {
            // The "production" bcrypt rows use the template's default cost.
            if e.bcrypt_cost > 4 {
                e.bcrypt_cost = template.bcrypt_cost;
            }
            e
        })
        .collect();

    // DynamoDB Local runs on a JVM: a round of every endpoint first, so that its JIT has
    // compiled the paths the measurements take.
    progress!("warming up DynamoDB Local and the handlers");
    let warm = latency::Plan {
        warmup: 0,
        iterations: 10,
        slow_iterations: 1,
        capacity_iterations: 1,
    };
    for endpoint in &endpoints {
        latency::measure(&harness, &replay_client, endpoint, &warm).await?;
    }

    let mut measured = Vec::new();
    for endpoint in &endpoints {
        progress!(
            "latency {} {}",
            endpoint.function.package(),
            endpoint.label()
        );
        measured.push(latency::measure(&harness, &replay_client, endpoint, &args.plan).await?);
    }

    progress!("bcrypt costs");
    let bcrypt = bcrypt_cost::measure(&[4, 10, 11, 12])?;

    let mut cold = Vec::new();
    let mut breakdown = BTreeMap::new();
    if !args.skip_cold_starts {
        // Fresh processes read their secrets as deployed functions do: from Secrets
        // Manager (a local stand-in, so the network's share is not in the numbers).
        let standin =
            omnisession_testkit::standin::Standin::start(std::path::Path::new("/dev/null"))?;
        let secret: serde_json::Map<String, serde_json::Value> = omnisession::vault::NAMES
            .iter()
            .filter_map(|name| Some((name.to_string(), env.get(*name)?.clone().into())))
            .collect();
        standin.put_secret("omnisession-bench", &secret.into());
        let mut env = env.clone();
        env.insert("SECRETS".into(), "omnisession-bench".into());
        env.insert("SECRETS_MANAGER_ENDPOINT".into(), standin.base.clone());
        progress!("init breakdown ({} fresh processes)", args.cold_starts);
        breakdown = init_breakdown::measure(&env, args.cold_starts)?;
        let log_dir = root.join(".local/bench");
        std::fs::create_dir_all(&log_dir)?;
        for function in Function::ALL {
            let (label, events) = cold_start_events(&harness, function, args.cold_starts).await?;
            progress!("cold starts {} ({})", function.package(), label);
            let spec = cold_start::Spec {
                binary: cold_start::binary(&args.target_dir.join("release"), function),
                function,
                memory_mb: template.memory_mb[&function],
                env: &env,
                events,
                event_label: label,
                log: log_dir.join(format!("cold-start-{}.log", function.package())),
            };
            cold.push(tokio::task::block_in_place(|| cold_start::measure(&spec))?);
        }
    }

    let sizes: Vec<(Function, sizes::Sizes)> = Function::ALL
        .iter()
        .map(|f| (*f, sizes::sizes(&args.target_dir, *f)))
        .collect();
    let text = report::render(&report::Inputs {
        command: &args.command,
        plan: &args.plan,
        cold_starts: args.cold_starts,
        measured: &measured,
        bcrypt: &bcrypt,
        cold: &cold,
        breakdown: &breakdown,
        sizes: &sizes,
        template: &template,
        target_dir: &args.target_dir,
        load_before: &load_before,
        load_after: &load_average(),
    });
    std::fs::write(&args.out, text)?;
    progress!("wrote {}", args.out.display());
    Ok(())
}

/// The first event each cold-started function gets: one of its usual requests, prepared
/// in-process (tokens, QR codes and message ids are fresh for every start).
async fn cold_start_events(
    harness: &Harness,
    function: Function,
    starts: usize,
) -> Result<(String, Vec<String>)> {
    let kind = match function {
        Function::Session => Kind::Restore,
        Function::Auth => Kind::PasswordLoginJoin,
        Function::Qr => Kind::QrInit,
        Function::SalesMemory => Kind::Context,
        Function::WhatsApp => Kind::WebhookDelivery,
        Function::Verify => Kind::CodeSend,
    };
    let endpoint = endpoints::all()
        .into_iter()
        .find(|e| e.kind == kind && e.bcrypt_cost == 4 && !e.full)
        .ok_or("cold-start endpoint")?;
    let fixture = harness.fixture(&endpoint).await?;
    let mut events = Vec::with_capacity(starts);
    for _ in 0..starts {
        events.push(harness.request(&endpoint, &fixture).await?.json());
    }
    Ok((endpoint.label(), events))
}

/// The machine's load average, so the report shows whether other work competed.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
