#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    omnisession::run(verify::handle).await
}
