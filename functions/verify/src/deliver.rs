//! Hands a code to the courier (`omnisession::courier`) within the function's time: what
//! is left of the request's budget after the writes, less a margin for the answer.

use std::time::Duration;

use omnisession::AppState;
use omnisession::codes::Code;
use omnisession::courier::Via;
use omnisession::phone::PhoneNumber;

/// The most a delivery may take, retries and the SMS fallback included: `http::serve`
/// answers 503 at 9 s, and the writes before the delivery take well under a second.
const BUDGET: Duration = Duration::from_secs(6);

pub async fn code(
    state: &AppState,
    phone: &PhoneNumber,
    code: Code,
    via: Via,
) -> Result<(), String> {
    let courier = state
        .courier()
        .await
        .ok_or("no courier is configured (WHATSAPP_PHONE_NUMBER_ID is unset)")?;
    let secrets = state.secrets().await;
    let token = secrets
        .whatsapp_access_token
        .as_ref()
        .ok_or("no WhatsApp access token is configured (WHATSAPP_ACCESS_TOKEN)")?;
    let used = courier
        .send_code(phone, code.expose(), via, token, BUDGET)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(via = ?used, "verification code delivered");
    Ok(())
}
