//! BENCHMARKS.md: the measurements, the cost model built on them, and docs/design.md §6's
//! budgets judged against them. Measured numbers and estimates are labelled as such.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::bcrypt_cost::BcryptTiming;
use crate::cold_start::ColdStart;
use omnisession_testkit::Function;

use crate::endpoints::Kind;
use crate::endpoints::{FRESH_MESSAGES, FULL_LOGINS, FULL_MESSAGES};
use crate::init_breakdown::STEPS;
use crate::latency::{Measured, Plan, units};
use crate::sizes::{Sizes, Template};
use crate::stats::Summary;

/// List prices given in issue 7 (us-east-1, arm64, on-demand, no free tier).
const LAMBDA_PER_GB_S: f64 = 0.000_013_333_4;
const LAMBDA_PER_M_REQUESTS: f64 = 0.20;
const HTTP_API_PER_M: f64 = 1.00;
const PER_M_WRU: f64 = 0.625;
const PER_M_RRU: f64 = 0.125;
/// Lambda gives one full vCPU at 1769 MB and a proportional share below.
const FULL_VCPU_MB: f64 = 1769.0;
const ZIP_BUDGET_BYTES: u64 = 6 * 1024 * 1024;

pub struct Inputs<'a> {
    pub command: &'a str,
    pub plan: &'a Plan,
    pub cold_starts: usize,
    pub measured: &'a [Measured],
    pub bcrypt: &'a [BcryptTiming],
    pub cold: &'a [ColdStart],
    pub breakdown: &'a BTreeMap<String, Summary>,
    pub sizes: &'a [(Function, Sizes)],
    pub template: &'a Template,
    pub target_dir: &'a Path,
    pub load_before: &'a str,
    pub load_after: &'a str,
}

fn ms(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `1 000`, as the docs write numbers.
fn thousands(n: usize) -> String {
    if n < 1000 {
        n.to_string()
    } else {
        format!("{} {:03}", thousands(n / 1000), n % 1000)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1_048_576.0)
}

fn dollars(v: f64) -> String {
    if v >= 1.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.3}")
    }
}

fn yes(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn memory_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| format!("{:.0} GiB RAM", kib / 1_048_576.0))
        .unwrap_or_default()
}

/// The non-bcrypt part of a request's overhead: overhead minus one bcrypt operation at
/// the endpoint's cost (median, measured apart). Derived, so labelled as such.
fn overhead_without_bcrypt(m: &Measured, bcrypt: &[BcryptTiming]) -> Option<f64> {
    judged_overhead_at(m, bcrypt, |o| o.p50).filter(|_| m.endpoint.runs_bcrypt)
}

/// The overhead the budgets are judged on, at the percentile `pick` takes: for password
/// endpoints only the bcrypt-4 rows, with one bcrypt operation (median) subtracted (at
/// cost 12 bcrypt is 99 % of the time and its jitter alone exceeds the budget).
fn judged_overhead_at(
    m: &Measured,
    bcrypt: &[BcryptTiming],
    pick: fn(&Summary) -> f64,
) -> Option<f64> {
    if !m.endpoint.runs_bcrypt {
        return Some(pick(&m.overhead));
    }
    if m.endpoint.bcrypt_cost != 4 {
        return None;
    }
    let b = bcrypt.iter().find(|b| b.cost == m.endpoint.bcrypt_cost)?;
    Some(pick(&m.overhead) - b.verify_ms.p50)
}

/// The median overhead the 1 ms budget is judged on.
fn judged_overhead(m: &Measured, bcrypt: &[BcryptTiming]) -> Option<f64> {
    judged_overhead_at(m, bcrypt, |o| o.p50)
}

/// How much longer CPU work takes at `memory_mb` than on a full vCPU (1769 MB and up).
fn cpu_stretch(memory_mb: u32) -> f64 {
    (FULL_VCPU_MB / f64::from(memory_mb)).max(1.0)
}

/// A function's warm overhead on one core: the largest judged p50 and p95 of its
/// endpoints, and the endpoint with the largest p95.
struct FunctionOverhead<'a> {
    function: Function,
    worst: &'a Measured,
    p50: f64,
    p95: f64,
}

fn function_overheads<'a>(i: &Inputs<'a>) -> Vec<FunctionOverhead<'a>> {
    Function::ALL
        .iter()
        .filter_map(|f| {
            let judged: Vec<(&Measured, f64, f64)> = i
                .measured
                .iter()
                .filter(|m| m.endpoint.function == *f)
                .filter_map(|m| {
                    Some((
                        m,
                        judged_overhead(m, i.bcrypt)?,
                        judged_overhead_at(m, i.bcrypt, |o| o.p95)?,
                    ))
                })
                .collect();
            let worst = judged.iter().max_by(|a, b| a.2.total_cmp(&b.2))?;
            Some(FunctionOverhead {
                function: *f,
                worst: worst.0,
                p50: judged.iter().map(|j| j.1).fold(0.0, f64::max),
                p95: worst.2,
            })
        })
        .collect()
}

/// The smallest memory (a multiple of 64 MB, at least 128) at which `overhead_ms` on a
/// full core stays within `budget_ms`; `None` if even a full vCPU does not.
fn memory_for(overhead_ms: f64, budget_ms: f64) -> Option<u32> {
    if overhead_ms > budget_ms {
        return None;
    }
    let mb = (FULL_VCPU_MB * overhead_ms / budget_ms / 64.0).ceil() * 64.0;
    Some((mb as u32).clamp(128, FULL_VCPU_MB as u32))
}

/// What a request of `kind` is, for the write-unit budgets of docs/design.md §6.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    /// Appends one message to a live session: ≤ 3 WRU.
    Append,
    /// Any other write to a live session: ≤ 4 WRU.
    Other,
    /// Starts or deletes a session (a transaction): not a write to a live session.
    StartOrEnd,
    /// Writes nothing to a session.
    None,
}

fn write_kind(kind: Kind) -> WriteKind {
    use Kind::*;
    match kind {
        UpdateMessage | MessagesPost | WebhookDelivery => WriteKind::Append,
        StartJoin | SignedLoginJoin | Update | UpdateCart | EndLocal | PasswordLoginJoin
        | Logout | LogoutAll | QrVerify | SummaryPost | RecommendationsPost => WriteKind::Other,
        StartNewPhone | SignedLoginNewPhone | Signup | PasswordLoginNewSession | EndGlobal => {
            WriteKind::StartOrEnd
        }
        Restore | QrInit | Context | SummaryGet | RecommendationsGet | CartGet
        | WebhookRedelivery | WebhookStatus | WebhookHandshake | CodeSend => WriteKind::None,
    }
}

/// `label: N WRU` for the rows of one write kind; the rows over `budget`.
fn write_units_list<'a>(
    i: &Inputs<'a>,
    kind: WriteKind,
    budget: f64,
) -> (Vec<String>, Vec<&'a Measured>) {
    let rows: Vec<&Measured> = i
        .measured
        .iter()
        .filter(|m| write_kind(m.endpoint.kind) == kind && m.endpoint.bcrypt_cost == 4)
        .collect();
    let list = rows
        .iter()
        .map(|m| format!("{} {}", m.endpoint.label(), units(m.max_write)))
        .collect();
    let over = rows.into_iter().filter(|m| m.max_write > budget).collect();
    (list, over)
}

/// A budget row of write units: the most one request of each `kind` consumed, against
/// `budget`; `missed` follows the list of the endpoints over it.
fn write_units_row(
    s: &mut String,
    i: &Inputs<'_>,
    kind: WriteKind,
    budget: f64,
    what: &str,
    missed: &str,
) {
    let (listed, over) = write_units_list(i, kind, budget);
    if listed.is_empty() {
        return;
    }
    let verdict = if over.is_empty() {
        yes(true).to_string()
    } else {
        let names: Vec<String> = over.iter().map(|m| m.endpoint.label()).collect();
        format!("{} for {}{missed}", yes(false), names.join(", "))
    };
    let _ = writeln!(
        s,
        "| {what} ≤ {} WRU, fresh and full | most WRU in one request: {} | {verdict} |",
        units(budget),
        listed.join(", ")
    );
}

/// "the full session's item is ≈ N bytes (…)", as measured after the endpoint's run.
fn item_note(m: &Measured) -> String {
    match m.session_item_bytes {
        Some(bytes) => format!(
            "the full session's item is ≈ {bytes} bytes after the run ({FULL_LOGINS} logins' marks, a cart, a summary and 2 SKUs)"
        ),
        None => "the session item grows with its logins' marks".into(),
    }
}

fn find<'a>(i: &Inputs<'a>, kind: Kind, full: bool) -> Option<&'a Measured> {
    i.measured
        .iter()
        .find(|m| m.endpoint.kind == kind && m.endpoint.bcrypt_cost == 4 && m.endpoint.full == full)
}

/// The usual sequence, its round trips, and in how many of the requests it was seen
/// (the probe groups calls by whether they overlapped in time, so on a busy machine a
/// few requests show calls sent together as one after the other: *notes* in the next
/// section).
fn sequence_and_trips(m: &Measured) -> String {
    let (seq, n) = m.usual_sequence();
    if n == m.samples {
        format!("`{seq}` ({})", m.round_trips())
    } else {
        format!("`{seq}` ({}; in {n} of {})", m.round_trips(), m.samples)
    }
}

struct Cost {
    compute: f64,
    dynamodb: f64,
    total: f64,
}

fn cost(duration_ms: f64, memory_mb: u32, m: &Measured) -> Cost {
    let billed_s = duration_ms.ceil() / 1000.0;
    let compute = billed_s * (f64::from(memory_mb) / 1024.0) * LAMBDA_PER_GB_S * 1e6;
    let dynamodb = m.capacity.read * PER_M_RRU + m.capacity.write * PER_M_WRU;
    Cost {
        compute,
        dynamodb,
        total: compute + dynamodb + LAMBDA_PER_M_REQUESTS + HTTP_API_PER_M,
    }
}

/// The duration at the function's CPU share: the handler's own CPU time (its overhead)
/// stretched by 1769 MB / memory, the DynamoDB wait unchanged. An estimate.
fn scaled_duration(m: &Measured, memory_mb: u32) -> f64 {
    let factor = (FULL_VCPU_MB / f64::from(memory_mb)).max(1.0);
    m.sdk.p50 + m.overhead.p50.max(0.0) * factor
}

pub fn render(i: &Inputs) -> String {
    let mut s = String::new();
    let commit = command_output("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty = !command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .trim()
        .is_empty();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `{}` (scripts/bench.sh → `omnisession-bench`); not part of `make test`. \
         Regenerate with `make bench`; every number below comes from that run unless it is \
         labelled an estimate.\n",
        i.command
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| date | {} |",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        s,
        "| commit | `{commit}`{} |",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "| machine | {nproc} cores (nproc), {}, {}, {} |",
        cpu_model(),
        memory_total(),
        command_output("uname", &["-sm"])
    );
    let _ = writeln!(
        s,
        "| toolchain | {} |",
        command_output("rustc", &["--version"])
    );
    let _ = writeln!(
        s,
        "| DynamoDB | DynamoDB Local (the jar of `amplify-dynamodb-simulator@2.9.30`, {}), in-memory, on the same 2 cores, 127.0.0.1 |",
        command_output("sh", &["-c", "java -version 2>&1 | head -n 1"])
    );
    let _ = writeln!(
        s,
        "| warm latency | release build, handlers called in-process on one state built once; {} warm-up + {} measured requests per endpoint ({} for bcrypt-{} rows), sequential |",
        i.plan.warmup, i.plan.iterations, i.plan.slow_iterations, i.template.bcrypt_cost
    );
    let _ = writeln!(
        s,
        "| cold starts | x86_64 release binaries, {} starts per function, through a runtime-API stub |\n",
        i.cold_starts
    );

    budgets(&mut s, i);
    round_trips(&mut s, i);
    latency(&mut s, i);
    memory_sizes(&mut s, i);
    bcrypt_section(&mut s, i);
    cold_starts(&mut s, i);
    sizes_section(&mut s, i);
    costs(&mut s, i);
    method(&mut s, i);
    s
}

fn budgets(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## docs/design.md §6 budgets\n");
    let _ = writeln!(
        s,
        "*Fresh*: a session with one or a few logins and a short history; *full session*: {} messages and {FULL_LOGINS} logins (10 password, 2 WhatsApp, 4 kiosk, 16 minted: every direct maker at its quota), a cart, a summary and 2 recommended SKUs, built through the handlers as tests/api/budgets.rs builds its session (which has no SKUs).\n",
        thousands(FULL_MESSAGES)
    );
    let _ = writeln!(s, "| budget | measured | met? |\n|---|---|---|");

    let restores: Vec<&Measured> = i
        .measured
        .iter()
        .filter(|m| m.endpoint.kind == Kind::Restore)
        .collect();
    if !restores.is_empty() {
        let mut parts = Vec::new();
        let mut met = true;
        for m in &restores {
            let (seq, _) = m.usual_sequence();
            let first = seq.split(" → ").next().unwrap_or("");
            let point_read = first
                .split(" + ")
                .find(|op| matches!(*op, "BatchGetItem" | "GetItem"));
            // Every such read of every request, not only the usual sequence's.
            let consistent = point_read.and_then(|op| m.reads_consistent.get(op).copied());
            met &= point_read.is_some() && consistent == Some(true) && m.round_trips() == 1;
            let others: Vec<String> = m
                .reads_consistent
                .iter()
                .filter(|(op, _)| Some(**op) != point_read)
                .map(|(op, c)| format!("`{op}` ConsistentRead={c}"))
                .collect();
            parts.push(format!(
                "{}: {}, `{}` ConsistentRead={} in every request{}",
                if m.endpoint.full {
                    "full session"
                } else {
                    "fresh"
                },
                sequence_and_trips(m),
                point_read.unwrap_or("no point read"),
                consistent.unwrap_or(false),
                if others.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (the history's {}, which checks no token)",
                        others.join(", ")
                    )
                }
            ));
        }
        let _ = writeln!(
            s,
            "| token check: one strongly consistent read round trip (the session and the login item, beside a `Query` of the messages) | `GET /session/restore` {} | {} |",
            parts.join("; "),
            yes(met)
        );
        let trips: Vec<String> = restores
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    if m.endpoint.full {
                        "full session"
                    } else {
                        "fresh"
                    },
                    sequence_and_trips(m)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "| `GET /session/restore` with no expiry write due: 1 round trip | {} | {} |",
            trips.join(", "),
            yes(restores.iter().all(|m| m.round_trips() == 1))
        );
    }

    let logins: Vec<&Measured> = i
        .measured
        .iter()
        .filter(|m| {
            matches!(
                m.endpoint.kind,
                Kind::PasswordLoginJoin | Kind::PasswordLoginNewSession
            )
        })
        .collect();
    if !logins.is_empty() {
        let below = logins
            .iter()
            .filter(|m| !m.endpoint.full)
            .map(|m| m.round_trips())
            .max()
            .unwrap_or(0);
        let at_quota = logins
            .iter()
            .filter(|m| m.endpoint.full)
            .map(|m| m.round_trips())
            .max();
        let cases: Vec<String> = logins
            .iter()
            .filter(|m| m.endpoint.bcrypt_cost == 4)
            .map(|m| format!("{}: {}", m.endpoint.case, sequence_and_trips(m)))
            .collect();
        let verdict = match at_quota {
            Some(n) if n > 2 && below <= 2 => format!(
                "{} at its maker's quota (10 password logins: pushing the least recently used one out is round trip {n}); met below it",
                yes(false)
            ),
            _ => yes(below <= 2 && at_quota.is_none_or(|n| n <= 2)).to_string(),
        };
        let _ = writeln!(
            s,
            "| password login: ≤ 2 round trips besides bcrypt | {below} below its maker's quota{}; {} | {verdict} |",
            at_quota.map(|n| format!(", {n} at it")).unwrap_or_default(),
            cases.join("; "),
        );
    }

    let texts: Vec<&Measured> = i
        .measured
        .iter()
        .filter(|m| m.endpoint.kind == Kind::WebhookDelivery)
        .collect();
    if !texts.is_empty() {
        let parts: Vec<String> = texts
            .iter()
            .map(|m| format!("{}: {}", m.endpoint.case, sequence_and_trips(m)))
            .collect();
        let _ = writeln!(
            s,
            "| a WhatsApp text message: ≤ 3 round trips | `POST /webhooks/whatsapp` {} | {} |",
            parts.join("; "),
            yes(texts.iter().all(|m| m.round_trips() <= 3))
        );
    }

    write_units_row(
        s,
        i,
        WriteKind::Append,
        3.0,
        "appending one message",
        " (see below); met by the others",
    );
    write_units_row(
        s,
        i,
        WriteKind::Other,
        4.0,
        "any other write to a live session",
        "",
    );
    let (starts, _) = write_units_list(i, WriteKind::StartOrEnd, f64::INFINITY);
    if !starts.is_empty() {
        let _ = writeln!(
            s,
            "| (not a write to a live session) starting a session, ending one globally | {}: each is one transaction (×2 units) over the session, the phone's lock and the login or customer items, and the phone index | — |",
            starts.join(", ")
        );
    }

    if !i.cold.is_empty() {
        let worst = i
            .cold
            .iter()
            .max_by(|a, b| a.init_ms.p50.total_cmp(&b.init_ms.p50));
        let list: Vec<String> = i
            .cold
            .iter()
            .map(|c| format!("{} {} ms", c.function.package(), ms(c.init_ms.p50)))
            .collect();
        let met = i.cold.iter().all(|c| c.init_ms.p50 <= 50.0);
        let _ = writeln!(
            s,
            "| cold start: init (process start → ready for its first event) ≤ 50 ms | median {} (x86_64 here){} | {} |",
            list.join(", "),
            worst
                .map(|w| format!("; worst max {} ms", ms(w.init_ms.max)))
                .unwrap_or_default(),
            yes(met)
        );
        // The first event's own time: its total minus what the same request spends in
        // DynamoDB warm (an estimate: a first call also opens its connection).
        let firsts: Vec<(String, f64)> = i
            .cold
            .iter()
            .map(|c| {
                let sdk = i
                    .measured
                    .iter()
                    .find(|m| {
                        !m.endpoint.full
                            && m.endpoint.function == c.function
                            && m.endpoint.label() == c.event
                    })
                    .map(|m| m.sdk.p50)
                    .unwrap_or(0.0);
                (c.function.package().to_string(), c.first_event_ms.p50 - sdk)
            })
            .collect();
        let over: Vec<&(String, f64)> = firsts.iter().filter(|(_, v)| *v > 15.0).collect();
        let _ = writeln!(
            s,
            "| cold start: the first event ≤ 15 ms beyond its DynamoDB calls | median first event minus the same request's warm DynamoDB time (an estimate): {} | {} |",
            firsts
                .iter()
                .map(|(f, v)| format!("{f} {} ms", ms(*v)))
                .collect::<Vec<_>>()
                .join(", "),
            if over.is_empty() {
                yes(true).to_string()
            } else {
                format!(
                    "{} for {} (the phone-number metadata load, see below)",
                    yes(false),
                    over.iter()
                        .map(|(f, _)| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    } else {
        let _ = writeln!(
            s,
            "| cold start init ≤ 50 ms | not measured in this run (`--skip-cold-starts`) | — |"
        );
    }
    let zips: Vec<(Function, u64)> = i
        .sizes
        .iter()
        .filter_map(|(f, sz)| sz.arm64_zip.as_ref().map(|z| (*f, z.bytes)))
        .collect();
    if zips.len() == i.sizes.len() {
        let largest = zips.iter().map(|(_, b)| *b).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "| bootstrap zip ≤ 6 MB (arm64) | largest {} ({}) | {} |",
            mib(largest),
            zips.iter()
                .map(|(f, b)| format!("{} {}", f.package(), mib(*b)))
                .collect::<Vec<_>>()
                .join(", "),
            yes(largest <= ZIP_BUDGET_BYTES)
        );
    } else {
        let _ = writeln!(
            s,
            "| bootstrap zip ≤ 6 MB (arm64) | zips not found under `{}/lambda` (build them with scripts/bench.sh without `BENCH_SKIP_ARM64`) | — |",
            i.target_dir.display()
        );
    }
    let judged: Vec<(&Measured, f64)> = i
        .measured
        .iter()
        .filter_map(|m| judged_overhead(m, i.bcrypt).map(|o| (m, o)))
        .collect();
    if let Some((worst, value)) = judged.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        let over: Vec<String> = judged
            .iter()
            .filter(|(_, o)| *o > 1.0)
            .map(|(m, o)| format!("{} {} ms", m.endpoint.label(), ms(*o)))
            .collect();
        let worst_p99 = i
            .measured
            .iter()
            .filter(|m| !m.endpoint.runs_bcrypt)
            .map(|m| m.overhead.p99)
            .fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "| warm handler overhead beyond its DynamoDB calls ≤ 1 ms on one vCPU | median per endpoint: worst {} ms ({}){}; worst p99 of the non-bcrypt endpoints {} ms | {} |",
            ms(*value),
            worst.endpoint.label(),
            if over.is_empty() {
                String::new()
            } else {
                format!("; over 1 ms: {}", over.join(", "))
            },
            ms(worst_p99),
            yes(over.is_empty())
        );
    }
    let per_function = function_overheads(i);
    if !per_function.is_empty() {
        let parts: Vec<String> = per_function
            .iter()
            .map(|f| {
                let memory = i.template.memory_mb[&f.function];
                let stretch = cpu_stretch(memory);
                format!(
                    "{} at {memory} MB: {} ms (p95 {} ms)",
                    f.function.package(),
                    ms(f.p50 * stretch),
                    ms(f.p95 * stretch)
                )
            })
            .collect();
        let met = per_function
            .iter()
            .all(|f| f.p50 * cpu_stretch(i.template.memory_mb[&f.function]) <= 2.0);
        let _ = writeln!(
            s,
            "| warm handler overhead ≤ 2 ms at the memory template.yaml gives the function | an estimate: each function's worst median overhead × 1769 MB / its memory: {} | {} |",
            parts.join(", "),
            yes(met)
        );
    }
    let _ = writeln!(
        s,
        "\nRound trips: calls in flight at once count as one (`A + B`); judged on each endpoint's usual sequence (the other sequences seen are in the next section's notes). WRU: the most write units one of the capacity requests consumed (DynamoDB Local's report, see the next section). Overhead = the handler's time minus the time the SDK spent in its DynamoDB calls, per request. Password endpoints are judged at bcrypt cost 4 with one bcrypt operation (median, measured below) subtracted. The 1 ms budget is judged on a 1-vCPU-class core here, i.e. Lambda at ≥ 1769 MB; the 2 ms one at each function's CPU share (see *Memory sizes*).\n"
    );
    what_stands_in_the_way(s, i, &judged);
}

fn what_stands_in_the_way(s: &mut String, i: &Inputs, judged: &[(&Measured, f64)]) {
    let init_missed = i.cold.iter().any(|c| c.init_ms.p50 > 50.0);
    let overhead_missed = judged.iter().any(|(_, o)| *o > 1.0);
    let zip_missed = i.sizes.iter().any(|(_, sz)| {
        sz.arm64_zip
            .as_ref()
            .is_some_and(|z| z.bytes > ZIP_BUDGET_BYTES)
    });
    let login_at_quota = find(i, Kind::PasswordLoginJoin, true).filter(|m| m.round_trips() > 2);
    let (_, appends_over) = write_units_list(i, WriteKind::Append, 3.0);
    let (_, others_over) = write_units_list(i, WriteKind::Other, 4.0);
    let _ = writeln!(s, "### Where a budget is missed or at risk\n");
    if !init_missed
        && !overhead_missed
        && !zip_missed
        && login_at_quota.is_none()
        && appends_over.is_empty()
        && others_over.is_empty()
    {
        let _ = writeln!(
            s,
            "Every measured budget is met in this run. Below: where the time goes, and what is at risk.\n"
        );
    }
    if let Some(capped) = login_at_quota {
        let below = find(i, Kind::PasswordLoginJoin, false);
        let same: Vec<String> = [Kind::SignedLoginJoin, Kind::StartJoin]
            .iter()
            .filter_map(|k| find(i, *k, true))
            .filter(|m| m.round_trips() > 2)
            .map(|m| format!("{} {}", m.endpoint.label(), sequence_and_trips(m)))
            .collect();
        let _ = writeln!(
            s,
            "- **A password login at its maker's quota: {} round trips (budget 2).** Into a session that already holds 10 password logins it makes {} ({} WRU: {}){}. \
             The join's `UpdateItem` adds the new login's mark without knowing the others: the first round trip reads the customer, its guessing buckets and the phone index, which gives the session id but projects only `expires_at` and `max_expires_at`, never the marks, so the marks are first seen in the join's own answer (`ALL_NEW`), and only then can `logins::to_evict` pick the least recently used password login and `Store::trim` remove it, in an `UpdateItem` of its own. \
             What would remove the round trip: choosing the victim before the join, from marks the first round trip already returns (projecting `tokens` into `phone-index`, at the price of an index write on every login, logout and hourly last-use touch, and with a condition on the victim's mark since the index is eventually consistent), or letting a maker's group run a few logins over its quota and dropping them in a later write that happens anyway. {}\n",
            capped.round_trips(),
            sequence_and_trips(capped),
            units(capped.max_write),
            capped.capacity_calls.join(", "),
            below
                .map(|b| format!(
                    "; below the quota the same login is {}",
                    sequence_and_trips(b)
                ))
                .unwrap_or_default(),
            if same.is_empty() {
                String::new()
            } else {
                format!(
                    "The other makers' logins push out the same way at their quotas: {}.",
                    same.join("; ")
                )
            }
        );
    }
    for m in &appends_over {
        let fresh = find(i, m.endpoint.kind, false);
        let without_claim: Vec<String> = [Kind::UpdateMessage, Kind::MessagesPost]
            .iter()
            .filter_map(|k| find(i, *k, m.endpoint.full))
            .map(|o| format!("{} {} WRU", o.endpoint.label(), units(o.max_write)))
            .collect();
        let siblings = if without_claim.is_empty() {
            String::new()
        } else {
            format!(
                "The messages without a claim, on the same kind of session: {}.",
                without_claim.join(", ")
            )
        };
        let _ = writeln!(
            s,
            "- **{}: {} WRU (budget 3 for appending one message).** Its calls: {}{}. {}\n",
            m.endpoint.label(),
            units(m.max_write),
            m.capacity_calls.join(", "),
            fresh
                .map(|f| format!(
                    "; on a fresh session: {} ({} WRU)",
                    f.capacity_calls.join(", "),
                    units(f.max_write)
                ))
                .unwrap_or_default(),
            if m.endpoint.kind == Kind::WebhookDelivery {
                let item = item_note(m);
                format!(
                    "What stands in the way: two of the units are not the message's. The message id's claim (`seen#whatsapp#<id>`, a conditional `PutItem`) is an item of its own, 1 WRU: it is what keeps a redelivery from filing the message twice or logging the phone in again after a logout. And the session's `UpdateItem` is billed per started KB of the larger of the session item before and after it: {item}, so that write is 2 WRU or more where a fresh session's is 1. {siblings} Reaching 3 needs one of the two gone: a session item under 1 KB at 32 logins (shorter marks, or fewer logins kept per session), or the claim made by the message's own put (a messages-table key derived from the WhatsApp id, so that a conditional `PutItem` of the message is the claim; today the sort key is the time, which the view's `Query` orders by)."
                )
            } else {
                format!(
                    "What stands in the way: the session's `UpdateItem` is billed per started KB of the larger of the session item before and after it, and {}, so it costs 2 or 3 WRU before the message's own put (1 WRU). Reaching 3 needs a session item that stays under 2 KB with the measured content: shorter marks, or fewer logins kept per session.",
                    item_note(m)
                )
            }
        );
    }
    for m in &others_over {
        let _ = writeln!(
            s,
            "- **{}: {} WRU (budget 4).** Its calls: {}. {}\n",
            m.endpoint.label(),
            units(m.max_write),
            m.capacity_calls.join(", "),
            if m.endpoint.full && m.endpoint.adds_logins() {
                format!(
                    "The join's `UpdateItem` and the push-out's (above) each bill the whole session item, and {}; with the login's own item that is over 4. Choosing the victim before the join (above) would make it one `UpdateItem`.",
                    item_note(m)
                )
            } else {
                format!(
                    "The session's `UpdateItem` is billed per started KB of the session item, and {}.",
                    item_note(m)
                )
            }
        );
    }
    if let Some(update) = find(i, Kind::UpdateMessage, true).filter(|u| u.max_write + 1.0 > 3.0) {
        let _ = writeln!(
            s,
            "- **Retried appends (at risk).** The bench sends no `Idempotency-Key`. With one, an append first claims the key (`seen#idem#…`, a conditional `PutItem` of a small item: 1 WRU, not measured here), so a customer's message on a full session would cost {} + 1 WRU, over the 3-WRU budget for the same reasons as the WhatsApp text.\n",
            units(update.max_write)
        );
    }
    if !i.breakdown.is_empty() {
        let step = |name: &str| i.breakdown.get(name).map(|v| v.p50).unwrap_or(0.0);
        let init_steps = ["exec", "tokio", "telemetry", "config", "sdk"];
        let init_sum: f64 = init_steps.iter().map(|n| step(n)).sum();
        let _ = writeln!(
            s,
            "- **Cold start.** The init steps measured one by one in fresh processes (table in *Cold starts*) add up to {} ms of median init; `Store::connect` (`aws_config` defaults: credential and region provider chains, the HTTPS client with its root certificates) is {} ms of it. {}\n\
             - **Phone numbers after a cold start.** The first number read in a fresh process costs {} ms: the default region's metadata (bundled on its own, `shared/src/phone/IN.xml`, so the other regions' load only for their numbers) and the compilation of its regular expressions on first use. `omnisession::run` starts that on a thread of its own at the start of init, beside the SDK's set-up, and waits for it until 45 ms into init; a first event that reads a number before it is done waits for the rest, which the first-event row above includes. The first DynamoDB call adds {} ms here (plain HTTP to 127.0.0.1); in AWS it is a TCP and TLS handshake to the regional endpoint, typically tens of ms, which no code change avoids (only keeping the environment warm does).",
            ms(init_sum),
            ms(step("sdk")),
            if init_missed {
                "To reach 50 ms: build the DynamoDB client from `aws_sdk_dynamodb::Config::builder()` with the environment credentials provider and `AWS_REGION` instead of `aws_config::defaults(..).load()` (Lambda always provides both)."
            } else {
                "Init is within budget with room to spare."
            },
            ms(step("phone_first")),
            ms(step("ddb_first")),
        );
    }
    let per_function = function_overheads(i);
    if !per_function.is_empty() {
        let parts: Vec<String> = per_function
            .iter()
            .map(|f| {
                let memory = i.template.memory_mb[&f.function];
                format!(
                    "{} {} ms at {memory} MB{}",
                    f.function.package(),
                    ms(f.p95 * cpu_stretch(memory)),
                    if memory == 256 {
                        String::new()
                    } else {
                        format!(
                            " (at 256 MB it would be {} ms)",
                            ms(f.p95 * cpu_stretch(256))
                        )
                    }
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "- **Warm overhead at each function's memory (an estimate).** Lambda gives CPU in proportion to memory (one vCPU at 1769 MB), so the overhead measured on a full core here is stretched by 1769 MB / memory. The p95 estimates: {}. The sizes in template.yaml come from these measurements (*Memory sizes* below); Graviton's cores are not this machine's, so AWS's numbers will differ somewhat.",
            parts.join(", ")
        );
    }
    if overhead_missed {
        let over: Vec<String> = judged
            .iter()
            .filter(|(_, o)| *o > 1.0)
            .map(|(m, o)| format!("{} ({} ms)", m.endpoint.label(), ms(*o)))
            .collect();
        let _ = writeln!(
            s,
            "- **Warm overhead.** Over 1 ms: {}. The handler's own work beyond DynamoDB is JSON in and out, token hashing and building the items and expressions; these endpoints do the most of it (several items per request). Profiling them (`perf record` on the bench) is the next step; the SDK's own serialisation is counted in the DynamoDB time, not in the overhead.",
            over.join(", ")
        );
    }
    if zip_missed {
        let _ = writeln!(
            s,
            "- **Zip size.** A bootstrap zip is over 6 MB: check `cargo bloat` on the function (the SDK and its TLS stack dominate) and `opt-level = \"s\"` for the release profile."
        );
    }
    let _ = writeln!(s);
}

fn memory_sizes(s: &mut String, i: &Inputs) {
    let per_function = function_overheads(i);
    if per_function.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Memory sizes\n");
    let _ = writeln!(
        s,
        "docs/design.md §6: warm overhead ≤ 2 ms at the memory the template gives the function. Lambda gives CPU in proportion to memory, one full vCPU at 1769 MB, so CPU work measured on one core here takes about 1769 / memory times as long (an estimate; the DynamoDB wait does not stretch). *Overhead*: the function's worst endpoint (by p95; password endpoints at bcrypt 4 without the bcrypt operation), median and p95 of the same warm requests as above. *Smallest for 2 ms*: the smallest multiple of 64 MB at which the p95 estimate stays within 2 ms. *Lambda compute*: that endpoint's duration at the memory (DynamoDB time + stretched overhead, billed per started ms) × memory, per 1 M requests; the fixed prices (HTTP API $1.00 and Lambda $0.20 per 1 M) come on top.\n"
    );
    let _ = writeln!(
        s,
        "| function | worst endpoint | overhead p50 / p95 (one core) | memory (template.yaml) | estimate p50 / p95 there | smallest for 2 ms (p95) | at 256 MB p50 / p95 | Lambda compute per 1 M: at 256 MB / at the template's memory |\n|---|---|---|---|---|---|---|---|"
    );
    for f in &per_function {
        let memory = i.template.memory_mb[&f.function];
        let at = |mb: u32| {
            let stretch = cpu_stretch(mb);
            format!("{} / {} ms", ms(f.p50 * stretch), ms(f.p95 * stretch))
        };
        let compute = |mb: u32| cost(scaled_duration(f.worst, mb), mb, f.worst).compute;
        let _ = writeln!(
            s,
            "| {} | {} | {} / {} ms | {memory} MB | {} | {} | {} | {} / {} |",
            f.function.package(),
            f.worst.endpoint.label(),
            ms(f.p50),
            ms(f.p95),
            at(memory),
            memory_for(f.p95, 2.0)
                .map(|mb| format!("{mb} MB"))
                .unwrap_or_else(|| "over 2 ms on a full vCPU".into()),
            at(256),
            dollars(compute(256)),
            dollars(compute(memory))
        );
    }
    if let Some(b) = i.bcrypt.iter().find(|b| b.cost == i.template.bcrypt_cost) {
        let _ = writeln!(
            s,
            "\nThe auth function's size is set by bcrypt rather than by this overhead: one verification at the template's cost {} takes {} ms on one core (*bcrypt* above), and is CPU-bound, so below 1769 MB a password login takes 1769 / memory times as long for about the same GB-seconds (at 256 MB about {} ms), and above it a second vCPU does nothing for one bcrypt. 1769 MB is the smallest size at full speed.",
            i.template.bcrypt_cost,
            ms(b.verify_ms.p50),
            ms(b.verify_ms.p50 * cpu_stretch(256))
        );
    }
    let _ = writeln!(s);
}

fn round_trips(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## DynamoDB round trips and capacity per request\n");
    let _ = writeln!(
        s,
        "Counted by an SDK interceptor on the handlers' client. Capacity: the interceptor adds `\"ReturnConsumedCapacity\":\"INDEXES\"` to each request body before signing and reads `ConsumedCapacity` from the response (the store code is unchanged). **DynamoDB Local does return it**, with DynamoDB's rules (4 KB read units, half for eventually consistent reads, 1 KB write units, ×2 in transactions, GSI writes included), so the units below are measured, as the mean of {} requests per endpoint (*most WRU*: the most one of them consumed; *units per call*: the last of them, call by call); on an on-demand table they are the billed request units (RRU/WRU). Round trips: calls in flight at once are one round trip, written `A + B`.\n",
        i.plan.capacity_iterations
    );
    let _ = writeln!(
        s,
        "| function | endpoint | status | DynamoDB calls | round trips | read units | write units (of which GSI) | most WRU | units per call | notes |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for m in i.measured {
        let (seq, n) = m.usual_sequence();
        let mut notes = Vec::new();
        if m.sequences.len() > 1 {
            notes.push(format!(
                "usual sequence in {n} of {}; others: {}",
                m.samples,
                m.sequences
                    .iter()
                    .filter(|(k, _)| k.as_str() != seq)
                    .map(|(k, v)| format!("`{k}` ×{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (call, count) in &m.failed_calls {
            notes.push(format!("{call} ×{count} (by design)"));
        }
        if m.capacity_unreported > 0 {
            notes.push(format!(
                "{} call(s) failed a condition and report no capacity (DynamoDB still bills a refused write: estimate +1 WRU each)",
                m.capacity_unreported
            ));
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} |",
            m.endpoint.function.package(),
            m.endpoint.label(),
            m.status,
            if seq.is_empty() {
                "none".into()
            } else {
                format!("`{seq}`")
            },
            m.round_trips(),
            units(m.capacity.read),
            units(m.capacity.write),
            units(m.capacity.index),
            units(m.max_write),
            m.capacity_calls.join(", "),
            notes.join("; ")
        );
    }
    let _ = writeln!(s);
}

fn latency(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## Warm latency (in-process, against DynamoDB Local)\n");
    let _ = writeln!(
        s,
        "Times in ms. *handler*: the function's `handle` called directly with the parsed API Gateway event (the runtime's event parsing and response posting are not included). \
         *SDK*: time inside the SDK for that request's DynamoDB calls (from the interceptor's first to last hook, so serialisation, signing, HTTP and parsing). \
         *overhead*: handler − SDK of the same request. \
         *floor*: the same calls (same typed inputs) sent again right after, directly with the SDK on a client built the same way; a write replayed after the handler's own may be refused by its condition (shown as *refused*), which DynamoDB decides after reading the item, so it costs about the same. \
         *ratio*: handler p50 / floor p50.\n"
    );
    let _ = writeln!(
        s,
        "| function | endpoint | n | handler p50 | handler p99 | SDK p50 | SDK p99 | overhead p50 | overhead p99 | floor p50 | floor p99 | ratio | overhead − bcrypt (p50, derived) | refused in replay |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for m in i.measured {
        let ratio = if m.replayed_calls > 0 && m.floor.p50 > 0.0 {
            format!("{:.2}", m.handler.p50 / m.floor.p50)
        } else {
            "—".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.endpoint.function.package(),
            m.endpoint.label(),
            m.samples,
            ms(m.handler.p50),
            ms(m.handler.p99),
            ms(m.sdk.p50),
            ms(m.sdk.p99),
            ms(m.overhead.p50),
            ms(m.overhead.p99),
            ms(m.floor.p50),
            ms(m.floor.p99),
            ratio,
            overhead_without_bcrypt(m, i.bcrypt)
                .map(ms)
                .unwrap_or_else(|| "—".into()),
            if m.replayed_calls == 0 {
                "—".into()
            } else {
                format!("{} of {}", m.replay_refused, m.replayed_calls)
            }
        );
    }
    let _ = writeln!(
        s,
        "\nThe handlers log one JSON line per request to stdout as deployed (the bench sends it to `.local/bench/handler-logs.jsonl`), so that cost is in the overhead.\n"
    );
}

fn bcrypt_section(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## bcrypt\n");
    let _ = writeln!(
        s,
        "One `bcrypt::verify` on one core of this machine (release build). Lambda gives a full vCPU at 1769 MB (`AuthMemorySize`, the auth function) and a share proportional to memory below, so the 256 MB column is an estimate (× 1769/256 ≈ 6.9); Graviton (arm64) cores run bcrypt at a different speed than this machine's x86_64 cores, so AWS numbers will differ somewhat.\n"
    );
    let _ = writeln!(
        s,
        "| cost | runs | median ms (measured) | min | max | at 1769 MB (≈ 1 vCPU) | at 256 MB (estimate) |\n|---|---|---|---|---|---|---|"
    );
    for b in i.bcrypt {
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | ≈ {} ms | ≈ {} ms |",
            b.cost,
            if b.cost == i.template.bcrypt_cost {
                " (template default)"
            } else if b.cost == 4 {
                " (tests, bench)"
            } else {
                ""
            },
            b.verify_ms.n,
            ms(b.verify_ms.p50),
            ms(b.verify_ms.min),
            ms(b.verify_ms.max),
            ms(b.verify_ms.p50),
            ms(b.verify_ms.p50 * FULL_VCPU_MB / 256.0)
        );
    }
    let _ = writeln!(s);
}

fn cold_starts(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## Cold starts\n");
    if i.cold.is_empty() {
        let _ = writeln!(s, "Not measured in this run.\n");
        return;
    }
    let _ = writeln!(
        s,
        "Each start spawns the function's **x86_64** release binary (`cargo build --release`; the deployed arm64 build cannot run on this x86_64 machine) with Lambda's variables (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` from template.yaml, `AWS_LAMBDA_FUNCTION_VERSION`) and config/dev.env (bcrypt cost 4, DynamoDB Local), and nothing else in its environment. \
         A runtime-API stub in the bench serves one API Gateway v2 event on `GET /2018-06-01/runtime/invocation/next` (with the `Lambda-Runtime-*` headers) and takes the answer on `POST …/response`. \
         *init*: spawn → first `next` poll. *first event*: event handed out → answer received. Peak RSS: `VmHWM` of /proc/<pid>/status after the answer. \
         The binary is in the page cache (Lambda also caches, but a first start after a deploy reads it from its store); no CPU limit is applied (below 1769 MB Lambda would give the process a share of a vCPU, memory / 1769 MB).\n"
    );
    let _ = writeln!(
        s,
        "| function | first event | starts | init min | init median | init max | first event median | first event max | total median | peak RSS median |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for c in i.cold {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |",
            c.function.package(),
            c.event,
            c.starts,
            ms(c.init_ms.min),
            ms(c.init_ms.p50),
            ms(c.init_ms.max),
            ms(c.first_event_ms.p50),
            ms(c.first_event_ms.max),
            ms(c.total_ms.p50),
            c.peak_rss_kib.p50 / 1024.0
        );
    }
    if !i.breakdown.is_empty() {
        let _ = writeln!(
            s,
            "\nWhere the time goes: `omnisession-bench init-breakdown`, run as {} fresh processes with the same environment, performs the steps of `omnisession::run` and of a first event one at a time (the bench binary is larger than a function's, so its *exec* is an upper bound).\n",
            i.cold_starts
        );
        let _ = writeln!(s, "| step | median ms | min | max |\n|---|---|---|---|");
        for (name, what) in STEPS {
            if let Some(v) = i.breakdown.get(*name) {
                let _ = writeln!(
                    s,
                    "| {what} | {} | {} | {} |",
                    ms(v.p50),
                    ms(v.min),
                    ms(v.max)
                );
            }
        }
    }
    let _ = writeln!(s);
}

fn sizes_section(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## Artifact sizes\n");
    let _ = writeln!(
        s,
        "arm64: `cargo lambda build --release --arm64 --output-format zip` (scripts/bench.sh builds them; scripts/deployable.sh checks the zips of `sam build`'s bootstraps against the same budget), read from `$CARGO_TARGET_DIR/lambda/<function>/bootstrap.zip`; the unzipped bootstrap is the binary in the zip (`$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/<function>`). x86_64: the release binaries the cold starts ran. Budget: zip ≤ 6 MB (6 MiB, as scripts/deployable.sh checks).\n"
    );
    let _ = writeln!(
        s,
        "| function | arm64 bootstrap | arm64 zip | zip built | x86_64 binary |\n|---|---|---|---|---|"
    );
    for (f, sz) in i.sizes {
        let arm = |a: &Option<crate::sizes::Artifact>, check_arch: bool| match a {
            Some(a) if check_arch && a.machine != Some(183) => {
                format!("{} (not arm64!)", mib(a.bytes))
            }
            Some(a) => mib(a.bytes),
            None => "not built".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            f.package(),
            arm(&sz.arm64_bootstrap, true),
            arm(&sz.arm64_zip, false),
            sz.arm64_zip
                .as_ref()
                .map(|z| z.modified.clone())
                .unwrap_or_else(|| "—".into()),
            sz.x86_64_binary
                .as_ref()
                .map(|b| mib(b.bytes))
                .unwrap_or_else(|| "not built".into())
        );
    }
    let _ = writeln!(s);
}

fn costs(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## Cost per 1 M requests\n");
    let _ = writeln!(
        s,
        "List prices of issue 7 (us-east-1; samconfig.toml deploys to ap-south-1, whose prices are a little higher): Lambda arm64 ${LAMBDA_PER_GB_S} per GB-s + ${LAMBDA_PER_M_REQUESTS:.2} per 1 M requests, API Gateway HTTP API ${HTTP_API_PER_M:.2} per 1 M, DynamoDB on demand ${PER_M_WRU} per 1 M WRU and ${PER_M_RRU} per 1 M RRU. No free tier, no CloudWatch Logs (about $0.50/GB ingested), data transfer, storage or backups. \
         Memory from template.yaml ({}). \
         *Duration (measured)* = the warm handler p50 above rounded up to Lambda's 1 ms billing: it was measured on one x86_64 core against DynamoDB Local, not in AWS (real DynamoDB round trips in-region are usually a few ms each, DynamoDB Local's a little less). \
         *Duration (estimate at the function's CPU share)*: the handler's own CPU time (overhead p50) stretched by 1769 MB / memory, DynamoDB time unchanged. Capacity units: measured (*DynamoDB round trips and capacity per request*). Rows at bcrypt cost 4 are the test configuration; the bcrypt-{} rows are the template's default. Cold starts are not included (since 2025 Lambda bills the init phase too; at the measured init times it is a small share unless most requests are cold).\n",
        Function::ALL
            .iter()
            .map(|f| format!("{} {} MB", f.package(), i.template.memory_mb[f]))
            .collect::<Vec<_>>()
            .join(", "),
        i.template.bcrypt_cost
    );
    let _ = writeln!(
        s,
        "| function | endpoint | memory | duration (measured) | Lambda compute | Lambda requests | HTTP API | DynamoDB | **total (measured duration)** | duration (estimate at CPU share) | total (estimate) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for m in i.measured {
        let memory = i.template.memory_mb[&m.endpoint.function];
        let measured = cost(m.handler.p50, memory, m);
        let scaled_ms = scaled_duration(m, memory);
        let scaled = cost(scaled_ms, memory, m);
        let _ = writeln!(
            s,
            "| {} | {} | {} MB | {} ms | {} | {} | {} | {} | **{}** | {} ms | {} |",
            m.endpoint.function.package(),
            m.endpoint.label(),
            memory,
            m.handler.p50.ceil(),
            dollars(measured.compute),
            dollars(LAMBDA_PER_M_REQUESTS),
            dollars(HTTP_API_PER_M),
            dollars(measured.dynamodb),
            dollars(measured.total),
            scaled_ms.ceil(),
            dollars(scaled.total)
        );
    }
    let mut by_dynamodb: Vec<&Measured> = i.measured.iter().collect();
    by_dynamodb.sort_by(|a, b| {
        let cost = |m: &Measured| m.capacity.read * PER_M_RRU + m.capacity.write * PER_M_WRU;
        cost(b).total_cmp(&cost(a))
    });
    let top: Vec<String> = by_dynamodb
        .iter()
        .take(3)
        .map(|m| {
            format!(
                "{} ({} WRU, {} RRU)",
                m.endpoint.label(),
                units(m.capacity.write),
                units(m.capacity.read)
            )
        })
        .collect();
    let full_update = find(i, Kind::UpdateCart, true)
        .zip(find(i, Kind::Update, false))
        .map(|(full, fresh)| {
            format!(
                "At {FULL_LOGINS} logins {}: the cart's write on a full session is {} (on a fresh one the sample update, 1 message and the cart, is {})",
                full.session_item_bytes
                    .map(|b| format!("the session item is ≈ {b} bytes"))
                    .unwrap_or_else(|| "the marks make the session item larger".into()),
                full.capacity_calls.join(", "),
                fresh.capacity_calls.join(", ")
            )
        })
        .unwrap_or_else(|| "see the units per call above".into());
    let _ = writeln!(
        s,
        "\nOutside the bcrypt endpoints, the fixed per-request prices (HTTP API $1.00 + Lambda $0.20) and DynamoDB writes make up nearly all of the cost; Lambda compute is cents. \
         The writes are priced by item size: a `PutItem` or `UpdateItem` is billed per started 1 KB of the larger of the item before and after it (×2 inside a transaction, plus the phone index's share when a projected attribute changes). The chat history is not in the session item: every message is an item of its own in the messages table (1 WRU to put), and so is every login (`login#…`, 1 WRU); the session item keeps the cart, the summary, the SKUs, counters and one short mark per login, so its writes do not grow with the history. {}. Starting a session is the dearest request: one transaction (×2) over the session, the phone's lock and, for a new phone, the customer and its id's claim, with the phone index, then the login's own item. \
         The most expensive requests here: {}.\n",
        full_update,
        top.join(", ")
    );
    // An illustrative traffic mix, so the per-endpoint prices can be compared with a
    // monthly figure; the weights are an assumption, not a measurement.
    let mix: [(Kind, u32, f64); 6] = [
        (Kind::PasswordLoginJoin, i.template.bcrypt_cost, 0.10),
        (Kind::Update, 4, 0.30),
        (Kind::Restore, 4, 0.30),
        (Kind::WebhookDelivery, 4, 0.10),
        (Kind::Context, 4, 0.10),
        (Kind::MessagesPost, 4, 0.10),
    ];
    let parts: Vec<(f64, &Measured)> = mix
        .iter()
        .filter_map(|(kind, cost, w)| {
            i.measured
                .iter()
                .find(|m| {
                    m.endpoint.kind == *kind && m.endpoint.bcrypt_cost == *cost && !m.endpoint.full
                })
                .map(|m| (*w, m))
        })
        .collect();
    if parts.len() == mix.len() {
        let total: f64 = parts
            .iter()
            .map(|(w, m)| {
                w * cost(m.handler.p50, i.template.memory_mb[&m.endpoint.function], m).total
            })
            .sum();
        let dynamodb: f64 = parts
            .iter()
            .map(|(w, m)| w * (m.capacity.read * PER_M_RRU + m.capacity.write * PER_M_WRU))
            .sum();
        let _ = writeln!(
            s,
            "Example (the mix is an assumption): 1 M requests of which 10 % password logins (bcrypt {}), 30 % `/session/update`, 30 % `/session/restore`, 10 % WhatsApp deliveries, 10 % agent context reads and 10 % agent message writes cost about **{}** with the measured durations and units, {} of it DynamoDB.\n",
            i.template.bcrypt_cost,
            dollars(total),
            dollars(dynamodb)
        );
    }
}

fn method(s: &mut String, i: &Inputs) {
    let _ = writeln!(s, "## Method and caveats\n");
    let _ = writeln!(
        s,
        "- One process, one request at a time: DynamoDB Local (a JVM) and the bench share the 2 cores, so latencies include that contention; no concurrency is measured.\n\
         - Each endpoint runs on its own fresh customer; preparation (new phones, tokens to log out, QR codes to verify, a first delivery to redeliver) goes through the handlers too, untimed. Memory endpoints read a session with {FRESH_MESSAGES} messages (*full session* rows: {} messages and {FULL_LOGINS} logins; its minted logins hang under password logins, or, where the endpoint adds password logins, under its WhatsApp and kiosk logins, so that a push-out never takes minted ones with it).\n\
         - The bench's handler state is built as `AppState::new` builds it (same retry mode and timeouts), with the probe interceptor added; capacity is requested only on {} extra requests per endpoint so the timed responses are the normal size.\n\
         - Percentiles are nearest-rank over the measured requests: with {} samples p99 is the {}th smallest (only {} requests were slower), so treat it as indicative.\n\
         - Other work on the machine competes too: load average (1/5/15 min) {} before the run, {} after.\n\
         - Nothing here is from AWS: DynamoDB Local's latency is not DynamoDB's, x86_64 is not Graviton, and an unthrottled dev core is not the CPU share of a Lambda below 1769 MB.\n",
        thousands(FULL_MESSAGES),
        i.plan.capacity_iterations,
        i.plan.iterations,
        (i.plan.iterations as f64 * 0.99).ceil(),
        i.plan.iterations - (i.plan.iterations as f64 * 0.99).ceil() as usize,
        i.load_before,
        i.load_after
    );
}
