//! Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: CloudWatch Logs
//! turns them into metrics, so counting costs no API call on the request path.
//!
//! Each request counts into an accumulator of its own, a task-local that
//! [`crate::http::serve`] opens with [`measured`]; when the request is answered, its
//! counts are written as one EMF document per set of dimension values (see [`emf`]):
//! usually one line per request, one more for a login or a code sent. Code that runs
//! outside a request (the admin tool, a test calling a service function directly, a task
//! spawned off the request) counts nothing: the `count` functions do nothing there. Work
//! of a function's own outside requests (a timer's) that should count opens a
//! [`measured`] scope of its own.
//!
//! README → "Metrics the functions emit" lists every metric and when it is counted.

mod dynamodb;
pub mod emf;

use std::cell::RefCell;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub use dynamodb::DynamoDbCalls;

use crate::channel::Channel;
use crate::config::Config;
use crate::courier::Via;

/// The namespace when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "omnisession";

/// A count published per function (dimension `Function`) and for the whole stack (no
/// dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Requests,
    Responses4xx,
    Responses5xx,
    /// A DynamoDB call attempt refused for throughput.
    DynamoDbThrottles,
    /// SDK attempts of a DynamoDB call beyond its first.
    DynamoDbRetries,
    /// A write answered from its `Idempotency-Key` record.
    IdempotentReplays,
    /// An attempt refused with 429 because a guessing limit is locked.
    Lockouts,
    /// A WhatsApp-user-id customer merged into a phone's.
    Merges,
    /// A refresh of the secrets that failed (the previous values stay in use).
    SecretRefreshFailures,
}

impl Counter {
    pub const ALL: [Counter; 9] = [
        Counter::Requests,
        Counter::Responses4xx,
        Counter::Responses5xx,
        Counter::DynamoDbThrottles,
        Counter::DynamoDbRetries,
        Counter::IdempotentReplays,
        Counter::Lockouts,
        Counter::Merges,
        Counter::SecretRefreshFailures,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Requests => "Requests",
            Counter::Responses4xx => "Responses4xx",
            Counter::Responses5xx => "Responses5xx",
            Counter::DynamoDbThrottles => "DynamoDbThrottles",
            Counter::DynamoDbRetries => "DynamoDbRetries",
            Counter::IdempotentReplays => "IdempotentReplays",
            Counter::Lockouts => "Lockouts",
            Counter::Merges => "Merges",
            Counter::SecretRefreshFailures => "SecretRefreshFailures",
        }
    }
}

/// The name of every metric the functions write.
pub fn metric_names() -> impl Iterator<Item = &'static str> {
    Counter::ALL.iter().map(|c| c.name()).chain([
        emf::LOGINS,
        emf::CODES_SENT,
        emf::CODE_DELIVERY_FAILURES,
    ])
}

/// How a login attempt ended (dimension `Result` of `Logins`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    Success,
    /// The credential was refused.
    Failure,
    /// A guessing limit refused the attempt before its credential was checked.
    Locked,
}

impl LoginResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginResult::Success => "success",
            LoginResult::Failure => "failure",
            LoginResult::Locked => "locked",
        }
    }
}

/// Where a request's metrics go: the namespace, and the function (its binary's name,
/// the `Function` dimension).
#[derive(Clone, Copy, Debug)]
pub struct Meter<'a> {
    pub namespace: &'a str,
    pub function: &'static str,
}

impl<'a> Meter<'a> {
    /// `function` is the binary's name: a function passes `env!("CARGO_PKG_NAME")`.
    pub fn new(config: &'a Config, function: &'static str) -> Self {
        Self {
            namespace: &config.metrics_namespace,
            function,
        }
    }
}

/// One request's counts. Fixed-size: counting never allocates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    counters: [u32; Counter::ALL.len()],
    /// The channel of the login this request attempts, once the handler knows it is one.
    login_channel: Option<Channel>,
    login: Option<(Channel, LoginResult)>,
    /// Codes by channel: `[delivered, not delivered]`.
    codes: [[u32; 2]; 2],
    dynamodb_calls: u32,
    dynamodb_attempts: u32,
}

impl Counts {
    pub fn add(&mut self, counter: Counter, n: u32) {
        let slot = &mut self.counters[counter as usize];
        *slot = slot.saturating_add(n);
    }

    pub fn get(&self, counter: Counter) -> u32 {
        let own = self.counters[counter as usize];
        match counter {
            // Attempts beyond the first of each call.
            Counter::DynamoDbRetries => {
                own.saturating_add(self.dynamodb_attempts.saturating_sub(self.dynamodb_calls))
            }
            _ => own,
        }
    }

    /// This request attempts a login on `channel`: its answer gives the result.
    pub fn attempting_login(&mut self, channel: Channel) {
        self.login_channel = Some(channel);
    }

    pub fn login(&mut self, channel: Channel, result: LoginResult) {
        self.login = Some((channel, result));
    }

    pub fn login_outcome(&self) -> Option<(Channel, LoginResult)> {
        self.login
    }

    pub fn code(&mut self, via: Via, delivered: bool) {
        let slot = &mut self.codes[via_index(via)][usize::from(!delivered)];
        *slot = slot.saturating_add(1);
    }

    /// Codes `via` delivered and not delivered.
    pub fn codes(&self, via: Via) -> (u32, u32) {
        let [sent, failed] = self.codes[via_index(via)];
        (sent, failed)
    }

    /// Counts what the request was answered: every request, its status class, a lockout;
    /// and the outcome of the login it attempted, if any: 200 is a success, 401 a refused
    /// credential, a locked guessing limit `locked`. Any other answer (a malformed
    /// request, 503) says nothing of the credential and is not a login outcome.
    pub fn answered(&mut self, status: u16, locked: bool) {
        self.add(Counter::Requests, 1);
        match status {
            400..=499 => self.add(Counter::Responses4xx, 1),
            500..=599 => self.add(Counter::Responses5xx, 1),
            _ => {}
        }
        if locked {
            self.add(Counter::Lockouts, 1);
        }
        let result = match status {
            _ if locked => Some(LoginResult::Locked),
            200 => Some(LoginResult::Success),
            401 => Some(LoginResult::Failure),
            _ => None,
        };
        if let (Some(channel), Some(result)) = (self.login_channel, result) {
            self.login(channel, result);
        }
    }
}

fn via_index(via: Via) -> usize {
    match via {
        Via::WhatsApp => 0,
        Via::Sms => 1,
    }
}

tokio::task_local! {
    static REQUEST: RefCell<Counts>;
}

/// Runs `work` (a request's handling) with an accumulator of its own, then writes what it
/// counted as EMF lines.
pub async fn measured<F: Future>(meter: Meter<'_>, work: F) -> F::Output {
    let (output, counts) = REQUEST
        .scope(RefCell::new(Counts::default()), async {
            let output = work.await;
            (output, REQUEST.with(|counts| counts.take()))
        })
        .await;
    let timestamp = chrono::Utc::now().timestamp_millis();
    write(&emf::lines(meter, &counts, timestamp));
    output
}

/// Applies `f` to the current request's counts; nothing outside a request.
fn with(f: impl FnOnce(&mut Counts)) {
    let _ = REQUEST.try_with(|counts| f(&mut counts.borrow_mut()));
}

/// Counts one `counter` for the current request.
pub fn count(counter: Counter) {
    with(|counts| counts.add(counter, 1));
}

/// Says that this request is a login attempt on `channel`: its answer decides the result
/// ([`Counts::answered`]). Called by a login's handler once it knows the channel, before
/// the credential is checked.
pub fn login_attempt(channel: Channel) {
    with(|counts| counts.attempting_login(channel));
}

/// Counts a code delivered (`true`) or not by `via`.
pub fn code(via: Via, delivered: bool) {
    with(|counts| counts.code(via, delivered));
}

/// Counts the answer of the current request (see [`Counts::answered`]).
pub fn answered(status: u16, locked: bool) {
    with(|counts| counts.answered(status, locked));
}

fn count_dynamodb_call() {
    with(|counts| counts.dynamodb_calls = counts.dynamodb_calls.saturating_add(1));
}

fn count_dynamodb_attempt() {
    with(|counts| counts.dynamodb_attempts = counts.dynamodb_attempts.saturating_add(1));
}

/// Whether lines are kept for [`captured`] instead of printed.
static CAPTURING: AtomicBool = AtomicBool::new(false);
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// For tests: from now on this process's metric lines are kept for [`captured`] instead
/// of printed. (The test runner runs each test in a process of its own.)
pub fn capture() {
    CAPTURING.store(true, Ordering::SeqCst);
}

/// For tests: the lines written since [`capture`] or the last call, oldest first.
pub fn captured() -> Vec<String> {
    std::mem::take(&mut *CAPTURED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Writes the lines to stdout, each whole (CloudWatch Logs reads one event per line).
fn write(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    if CAPTURING.load(Ordering::Relaxed) {
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(lines);
        return;
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        // A full pipe or a closed stdout loses a metric, never the answer.
        let _ = out.write_all(format!("{line}\n").as_bytes());
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_request_counting_does_nothing_and_does_not_panic() {
        count(Counter::Merges);
        login_attempt(Channel::Web);
        code(Via::Sms, false);
        answered(500, false);
    }

    #[tokio::test]
    async fn a_request_counts_into_its_own_accumulator() {
        let counts = REQUEST
            .scope(RefCell::new(Counts::default()), async {
                count(Counter::Merges);
                login_attempt(Channel::Kiosk);
                answered(429, true);
                REQUEST.with(|c| c.take())
            })
            .await;
        assert_eq!(counts.get(Counter::Merges), 1);
        assert_eq!(counts.get(Counter::Requests), 1);
        assert_eq!(counts.get(Counter::Responses4xx), 1);
        assert_eq!(counts.get(Counter::Lockouts), 1);
        assert_eq!(
            counts.login_outcome(),
            Some((Channel::Kiosk, LoginResult::Locked))
        );
    }

    #[test]
    fn a_login_outcome_comes_from_the_answer() {
        let outcome = |status, locked| {
            let mut counts = Counts::default();
            counts.attempting_login(Channel::Web);
            counts.answered(status, locked);
            counts.login_outcome().map(|(_, result)| result)
        };
        assert_eq!(outcome(200, false), Some(LoginResult::Success));
        assert_eq!(outcome(401, false), Some(LoginResult::Failure));
        assert_eq!(outcome(429, true), Some(LoginResult::Locked));
        // A malformed request or an outage says nothing of the credential.
        for status in [400, 403, 429, 503, 500] {
            assert_eq!(outcome(status, false), None, "{status}");
        }
        let mut not_a_login = Counts::default();
        not_a_login.answered(401, false);
        assert_eq!(not_a_login.login_outcome(), None);
    }

    #[test]
    fn retries_are_the_attempts_beyond_each_calls_first() {
        let mut counts = Counts {
            dynamodb_calls: 3,
            dynamodb_attempts: 5,
            ..Counts::default()
        };
        assert_eq!(counts.get(Counter::DynamoDbRetries), 2);
        // A call refused before any attempt (its serialisation failed) takes none away.
        counts.dynamodb_attempts = 2;
        assert_eq!(counts.get(Counter::DynamoDbRetries), 0);
    }
}
