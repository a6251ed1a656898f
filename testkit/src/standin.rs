//! The local stand-in for WhatsApp's Cloud API, Amazon SNS and AWS Secrets Manager
//! (`scripts/standin.py`), so that tests run the real courier and the real secrets client
//! against an HTTP server and read what a customer would have received.
//!
//! [`standin`] starts one per test process on a free port (nextest runs each test in its
//! own process; python starts in tens of ms). The stand-in watches its stdin, which only
//! this process holds: however the process ends, the stand-in ends with it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

use crate::setup::repo_root;

pub struct Standin {
    /// `http://127.0.0.1:<port>`: SNS's endpoint; the Graph API is under [`Self::graph_api_base`].
    pub base: String,
    port: u16,
    /// Held, never written: its closing (at exit) stops the stand-in.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// This process's stand-in, started on first use.
pub fn standin() -> &'static Standin {
    static STANDIN: OnceLock<Standin> = OnceLock::new();
    STANDIN.get_or_init(|| {
        // Tests read the outbox over HTTP (`outbox`), from the stand-in's memory: no file
        // per test process left behind.
        Standin::start(std::path::Path::new("/dev/null"))
            .unwrap_or_else(|e| panic!("scripts/standin.py: {e}"))
    })
}

impl Standin {
    /// A stand-in of its own that also writes its outbox to `outbox`, as `make dev`'s does
    /// (for a test that reads the file the way the README does).
    pub fn start(outbox: &std::path::Path) -> Result<Self, String> {
        let mut child = Command::new("python3")
            .arg(repo_root().join("scripts/standin.py"))
            .args(["--port", "0", "--exit-on-stdin-eof", "--outbox"])
            .arg(outbox)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .map_err(|e| format!("no first line: {e}"))?;
        // "standin: listening on http://127.0.0.1:<port> (outbox: …)"
        let port: u16 = first
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("unexpected first line {first:?}"))?;
        // The rest of stdout is the dev log (one line per message): drained so that the
        // stand-in never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            _stdin: Mutex::new(stdin),
            _child: Mutex::new(child),
        })
    }

    /// `GRAPH_API_BASE` for this stand-in.
    pub fn graph_api_base(&self) -> String {
        format!("{}/v21.0", self.base)
    }

    /// The courier's and the secrets' endpoint variables pointed at this stand-in, to
    /// lay over config/dev.env's.
    pub fn env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("GRAPH_API_BASE".to_string(), self.graph_api_base()),
            ("SNS_ENDPOINT".to_string(), self.base.clone()),
            ("SECRETS_MANAGER_ENDPOINT".to_string(), self.base.clone()),
        ])
    }

    /// The next `times` deliveries (all, when None) to `to` on `via` (`whatsapp`, `sms`)
    /// fail as `fail` says: `not_on_whatsapp`, `5xx` or `timeout`.
    pub fn fail(&self, to: &str, via: &str, fail: &str, times: Option<u32>) {
        let body = json!({"to": to, "via": via, "fail": fail, "times": times});
        let (status, text) = self.call("POST", "/_standin/rules", Some(&body));
        assert_eq!(status, 200, "stand-in refused the rule {body}: {text}");
    }

    /// Creates or replaces Secrets Manager secret `name` with `value` (a JSON object), as
    /// an operator's `put-secret-value` does.
    pub fn put_secret(&self, name: &str, value: &Value) {
        let string = value.to_string();
        for (operation, body) in [
            (
                "PutSecretValue",
                json!({"SecretId": name, "SecretString": string}),
            ),
            (
                "CreateSecret",
                json!({"Name": name, "SecretString": string}),
            ),
        ] {
            let target = format!("secretsmanager.{operation}");
            let (status, text) = self.call_as_aws(&target, &body);
            if status == 200 {
                return;
            }
            assert!(
                text.contains("ResourceNotFoundException"),
                "stand-in refused {operation}: {text}"
            );
        }
        panic!("stand-in: secret {name} neither updated nor created");
    }

    /// The next `times` reads (all, when None) of secret `name` fail as `fail` says:
    /// `5xx` or `timeout`.
    pub fn fail_secret(&self, name: &str, fail: &str, times: Option<u32>) {
        let body = json!({"secret": name, "fail": fail, "times": times});
        let (status, text) = self.call("POST", "/_standin/rules", Some(&body));
        assert_eq!(status, 200, "stand-in refused the rule {body}: {text}");
    }

    /// What was delivered to `to`, oldest first: `{at, via, to, body}` per message.
    pub fn outbox(&self, to: &str) -> Vec<Value> {
        let path = format!("/_standin/outbox?to={}", to.replace('+', "%2B"));
        let (status, text) = self.call("GET", &path, None);
        assert_eq!(status, 200, "stand-in outbox: {text}");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("outbox line {l:?}: {e}")))
            .collect()
    }

    /// The code in the last message delivered to `to`: the first run of 4 to 15 digits
    /// of its body (both channels' texts lead with it).
    pub fn last_code(&self, to: &str) -> Option<String> {
        let last = self.outbox(to).pop()?;
        let body = last["body"].as_str()?.to_string();
        body.split(|c: char| !c.is_ascii_digit())
            .find(|run| (4..=15).contains(&run.len()))
            .map(str::to_string)
    }

    /// A Secrets Manager call as the SDK makes it (the stand-in checks only that it is
    /// signed).
    fn call_as_aws(&self, target: &str, body: &Value) -> (u16, String) {
        let headers = format!(
            "X-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=local/test\r\n"
        );
        self.exchange("POST", "/", &headers, Some(body))
    }

    /// One HTTP/1.1 exchange with the stand-in (std only: usable from any test, sync or
    /// async); its status and body.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        self.exchange(method, path, "", body)
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: Option<&Value>,
    ) -> (u16, String) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("stand-in port");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write to the stand-in");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read the stand-in's answer");
        let (head, text) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text.to_string())
    }
}

/// SDK settings as a function has them locally: a region and any credentials (the
/// stand-in only checks that a request is signed).
pub async fn local_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("ap-south-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "standin",
        ))
        .load()
        .await
}
