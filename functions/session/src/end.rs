//! `POST /session/end {scope?}`: `local` (the default) ends this login only, so logging
//! out of a public kiosk leaves the customer's phone signed in; `global` ends the session
//! on every channel and needs a `password`-level login (a kiosk that typed a phone number
//! must not wipe the customer's chat and cart).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::http::{self, HttpResult};
use omnisession::service;
use omnisession::sessions;
use omnisession::token::Level;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Scope {
    #[default]
    Local,
    Global,
}

#[derive(Deserialize, Default)]
struct EndRequest {
    #[serde(default)]
    scope: Scope,
}

pub async fn end(state: &AppState, req: &Request) -> HttpResult {
    let authed = sessions::authenticate(state, http::session_token(req)).await?;
    // The body is optional: no body means the local scope.
    let body: EndRequest = if http::raw_body(req).iter().all(u8::is_ascii_whitespace) {
        EndRequest::default()
    } else {
        http::parse_json(req, state.config.max_body_bytes)?
    };
    match body.scope {
        Scope::Local => service::account::log_out(state, &authed).await?,
        Scope::Global => {
            let authed = authed.require(
                Level::Password,
                "ending the session on every channel needs a password login",
            )?;
            service::account::end_session(state, &authed).await?
        }
    }
    let scope = if body.scope == Scope::Global {
        "global"
    } else {
        "local"
    };
    http::ok(&json!({ "success": true, "scope": scope }))
}
