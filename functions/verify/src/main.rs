#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // The one function that sends codes refuses to start without a way to send them.
    if let Err(err) = omnisession::courier::CourierConfig::from_env() {
        eprintln!("refusing to start: {err}");
        return Err(err.into());
    }
    omnisession::run(verify::handle).await
}
