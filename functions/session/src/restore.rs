//! `GET /session/restore`: the token's session, with its expiry slid (written at most
//! once an hour, so a restore is usually one round trip: the session and the end of its
//! history are read in parallel).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::http::{self, HttpResult};
use omnisession::sessions;
use omnisession::views;
use serde_json::json;

pub async fn restore(state: &AppState, req: &Request) -> HttpResult {
    let (authed, chat) = sessions::authenticate_with_chat(state, http::session_token(req)).await?;
    let login = authed.login.clone();
    let session = sessions::touch(state, authed).await?;
    let view = views::session(&session, &chat, &login, state.config.kiosk_phone_history);
    http::ok(&json!({ "session": view }))
}
