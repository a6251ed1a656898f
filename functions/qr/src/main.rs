#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    omnisession::run(qr::handle).await
}
