//! docs/design.md §6's round-trip budgets, counted on the real SDK client: these are behaviour
//! (what a request costs in DynamoDB calls), not timing.

use crate::helpers::*;

#[tokio::test]
async fn a_password_login_makes_two_round_trips_and_a_restore_one() {
    let counter = Probe::default();
    let app = App::counting(counter.clone()).await;
    let (phone, web) = app.new_customer().await;
    counter.take();

    // Joining the live session: customer with its lockout beside the phone index, then
    // the join (the login's mark) beside the login's own item and the end of the history
    // (which the answer shows).
    let login = app.login(&phone, "secret-pass", "kiosk").await;
    assert_eq!(login.status, 200);
    assert_eq!(
        counter.take_round_trips(),
        ["BatchGetItem + Query", "PutItem + Query + UpdateItem"]
    );

    // Starting a session: customer with its lockout beside the phone index, one
    // transaction beside the login's own item.
    assert_eq!(app.end(&web.token(), "global").await.status, 200);
    counter.take();
    let fresh = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(fresh.body["reused"], false);
    assert_eq!(
        counter.take_round_trips(),
        ["BatchGetItem + Query", "PutItem + TransactWriteItems"]
    );

    // A restore with no expiry write due: one strongly consistent read of the session
    // and the login, beside the end of its history.
    assert_eq!(app.restore(&fresh.token()).await.status, 200);
    assert_eq!(counter.take_round_trips(), ["BatchGetItem + Query"]);
}
