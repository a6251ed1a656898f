#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    omnisession::run(whatsapp::handle).await
}
