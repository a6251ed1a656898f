//! API Gateway HTTP API (payload v2) events, starting from the samples in `events/` so
//! that the bench sends what API Gateway sends. The same JSON feeds the in-process
//! handlers (parsed by `lambda_http`, as the runtime parses it) and, verbatim, the
//! cold-started binaries through the runtime-API stub.

use std::collections::BTreeMap;
use std::path::Path;

use lambda_http::Request;
use serde_json::Value;

use crate::Result;

/// Every sample event of `events/`, read once.
pub struct Events(BTreeMap<String, Value>);

impl Events {
    pub fn load(root: &Path) -> Result<Self> {
        let mut events = BTreeMap::new();
        for entry in std::fs::read_dir(root.join("events"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .ok_or("event file name")?
                    .to_string();
                let text = std::fs::read_to_string(&path)?;
                events.insert(name, serde_json::from_str(&text)?);
            }
        }
        Ok(Self(events))
    }

    /// A copy of the sample `name` (e.g. `session-restore`).
    pub fn get(&self, name: &str) -> Event {
        Event(
            self.0
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("events/{name}.json is missing")),
        )
    }
}

#[derive(Clone, Debug)]
pub struct Event(Value);

impl Event {
    /// The sample's path with the session id placeholder filled in.
    pub fn session_id(mut self, sid: &str) -> Self {
        for pointer in ["/rawPath", "/requestContext/http/path"] {
            if let Some(Value::String(path)) = self.0.pointer_mut(pointer) {
                *path = path.replace("REPLACE_WITH_SESSION_ID", sid);
            }
        }
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0["headers"][name] = Value::String(value.to_string());
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        if let Some(headers) = self.0["headers"].as_object_mut() {
            headers.remove(name);
        }
        self
    }

    /// The caller's address, as API Gateway gives it (`requestContext.http.sourceIp`).
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.0["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_string());
        self
    }

    pub fn token(self, token: &str) -> Self {
        self.header("x-session-token", token)
    }

    pub fn body(mut self, body: &str) -> Self {
        self.0["body"] = Value::String(body.to_string());
        self.0["isBase64Encoded"] = Value::Bool(false);
        self
    }

    /// The sample's own JSON body, parsed (to change a field and send it back).
    pub fn sample_body(&self) -> Value {
        self.0["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null)
    }

    /// A unique request id, as API Gateway gives every request.
    pub fn request_id(mut self, id: &str) -> Self {
        self.0["requestContext"]["requestId"] = Value::String(id.to_string());
        self
    }

    pub fn json(&self) -> String {
        self.0.to_string()
    }

    /// The request as `lambda_http` hands it to a handler.
    pub fn request(&self) -> Result<Request> {
        Ok(lambda_http::request::from_str(&self.json())?)
    }
}
