//! WhatsApp click-to-verify: `POST /auth/wa-link` and `GET /auth/wa-link/{link_id}`.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::HttpResult;
use omnisession::routes::Params;

pub async fn create(_state: &AppState, _req: &Request) -> HttpResult {
    Err(ApiError::NotFound("not yet".into()))
}

pub async fn poll(_state: &AppState, _req: &Request, _params: &Params<'_>) -> HttpResult {
    Err(ApiError::NotFound("not yet".into()))
}
