//! docs/design.md §6's round-trip budgets, counted on the real SDK client: these are behaviour
//! (what a request costs in DynamoDB calls), not timing.

use crate::helpers::*;

#[tokio::test]
async fn a_password_login_makes_three_dynamodb_calls_and_a_restore_one() {
    let counter = Probe::default();
    let app = App::counting(counter.clone()).await;
    let (phone, web) = app.new_customer().await;
    counter.take();

    // Joining the live session: customer with its lockout, phone index, join.
    let login = app.login(&phone, "secret-pass", "kiosk").await;
    assert_eq!(login.status, 200);
    assert_eq!(
        counter.take_operations(),
        ["BatchGetItem", "Query", "UpdateItem"]
    );

    // Starting a session: customer with its lockout, phone index, one transaction.
    assert_eq!(app.end(&web.token(), "global").await.status, 200);
    counter.take();
    let fresh = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(fresh.body["reused"], false);
    assert_eq!(
        counter.take_operations(),
        ["BatchGetItem", "Query", "TransactWriteItems"]
    );

    // A restore with no expiry write due: one strongly consistent read.
    assert_eq!(app.restore(&fresh.token()).await.status, 200);
    assert_eq!(counter.take_operations(), ["GetItem"]);
}
