//! What the tests (`tests/`) and the bench (`tools/bench`) share, so that both drive the
//! functions the same way: the five functions and their route tables ([`functions`]), the
//! in-process HTTP server ([`server`]) and the function scope its handlers run in
//! ([`scope`]), config/dev.env's settings and the tables and state built from them
//! ([`setup`]), the SDK interceptor that records every DynamoDB call ([`probe`],
//! [`capacity`]), the local stand-in for WhatsApp and SMS delivery ([`standin`]) and a
//! handler's answer as JSON ([`Reply`]).

pub mod capacity;
pub mod functions;
pub mod probe;
pub mod scope;
pub mod server;
pub mod setup;
pub mod standin;

use lambda_http::http::HeaderMap;
use lambda_http::{Body, Response};
use serde_json::Value;

pub use functions::Function;

/// A handler's answer: its status, JSON body (the text as a string when it is not JSON)
/// and headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn from_response(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
            Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Self {
            status,
            body,
            headers,
        }
    }

    /// The string at `pointer` (e.g. `/session_token`) of the body.
    pub fn text(&self, pointer: &str) -> Result<String, String> {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("reply {} has no {pointer}: {}", self.status, self.body))
    }

    pub fn token(&self) -> String {
        self.text("/session_token").expect("session_token")
    }

    pub fn session_id(&self) -> String {
        self.text("/session/session_id").expect("session_id")
    }

    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }

    pub fn channels(&self) -> Vec<String> {
        self.body["session"]["metadata"]["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }
}

/// A fresh, valid Indian mobile number, so that no two tests (or bench requests) share a
/// customer.
pub fn unique_phone() -> String {
    format!("+9198{:08}", rand::random::<u32>() % 100_000_000)
}

/// A fresh WhatsApp message id.
pub fn wamid() -> String {
    format!("wamid.{}", hex::encode(rand::random::<[u8; 12]>()))
}
