#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    omnisession::run(session::handle).await
}
