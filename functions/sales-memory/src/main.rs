#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    omnisession::run(sales_memory::handle).await
}
