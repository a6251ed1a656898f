//! A minimal stand-in for the Lambda runtime API (the HTTP interface the real service
//! offers a `provided.al2023` bootstrap): it hands out one event on
//! `GET /2018-06-01/runtime/invocation/next`, takes the answer on
//! `POST /2018-06-01/runtime/invocation/{id}/response` (or `/error`, `/init/error`), and
//! notes when each arrived. A second `next` is held open, as Lambda holds it while the
//! environment is frozen, until the stub is shut down.
//!
//! Plain std threads and HTTP/1.1 by hand: the runtime client speaks a tiny, fixed subset
//! (keep-alive, Content-Length bodies), and a stub with no async runtime of its own keeps
//! the measured process the only thing competing for the cores.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

#[derive(Debug, Default)]
struct State {
    event: String,
    served: bool,
    next_at: Option<Instant>,
    answered_at: Option<Instant>,
    answer: Option<String>,
    error: Option<String>,
    shutdown: bool,
}

/// What the stub saw of one process.
#[derive(Debug)]
pub struct Seen {
    pub next_at: Option<Instant>,
    pub answered_at: Option<Instant>,
    pub answer: Option<String>,
    pub error: Option<String>,
}

pub struct RuntimeApi {
    address: SocketAddr,
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Listens on an ephemeral port and serves `event` (API Gateway v2 JSON) once.
    pub fn start(event: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new((
            Mutex::new(State {
                event,
                ..State::default()
            }),
            Condvar::new(),
        ));
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.0.lock().map(|s| s.shutdown).unwrap_or(true) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accepting.clone();
                std::thread::spawn(move || {
                    // A connection ends with the process; errors just end the thread.
                    let _ = serve(stream, &shared);
                });
            }
        });
        Ok(Self { address, shared })
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Waits until the event was answered (or failed), at most `timeout`.
    pub fn wait(&self, timeout: Duration) -> Seen {
        let (lock, changed) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().expect("stub lock");
        while state.answered_at.is_none() && state.error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = changed.wait_timeout(state, left).expect("stub lock").0;
        }
        Seen {
            next_at: state.next_at,
            answered_at: state.answered_at,
            answer: state.answer.clone(),
            error: state.error.clone(),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let (lock, changed) = &*self.shared;
        if let Ok(mut state) = lock.lock() {
            state.shutdown = true;
        }
        changed.notify_all();
        // Wakes the accept loop so that it sees the shutdown.
        let _ = TcpStream::connect(self.address);
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<State>, Condvar)) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let now = Instant::now();

        let (lock, changed) = shared;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let mut state = lock.lock().expect("stub lock");
            if state.served {
                // Lambda freezes the environment here; hold the poll until shutdown.
                while !state.shutdown {
                    state = changed.wait(state).expect("stub lock");
                }
                return Ok(());
            }
            state.served = true;
            state.next_at = Some(now);
            let event = state.event.clone();
            drop(state);
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", REQUEST_ID.to_string()),
                ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:ap-south-1:123456789012:function:omnisession-bench".into(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0"
                        .into(),
                ),
            ];
            respond(&mut writer, "200 OK", &headers, &event)?;
        } else if method == "POST" && path.contains("/runtime/invocation/") {
            let mut state = lock.lock().expect("stub lock");
            if path.ends_with("/response") {
                state.answered_at = Some(now);
                state.answer = Some(body);
            } else {
                state.error = Some(format!("{path}: {body}"));
            }
            drop(state);
            changed.notify_all();
            respond(&mut writer, "202 Accepted", &[], r#"{"status":"OK"}"#)?;
        } else if method == "POST" && path.ends_with("/runtime/init/error") {
            lock.lock().expect("stub lock").error = Some(format!("init error: {body}"));
            changed.notify_all();
            respond(&mut writer, "202 Accepted", &[], r#"{"status":"OK"}"#)?;
        } else {
            respond(&mut writer, "404 Not Found", &[], "{}")?;
        }
    }
}

fn respond(
    writer: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(body.as_bytes())?;
    writer.flush()
}
