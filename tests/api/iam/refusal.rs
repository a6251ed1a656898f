//! The interceptor refuses what a policy does not grant, as AWS would, and leaves the
//! tests' own calls alone.

use omnisession::store::schema::PHONE_INDEX;

use super::Iam;
use super::policy::{Grant, index_arn};
use crate::helpers::*;

#[tokio::test]
async fn iam_refuses_a_call_its_policy_does_not_grant_and_the_handler_answers_500() {
    let config = test_config();
    let query = Grant::new(
        "dynamodb:Query",
        index_arn(&config.tables.sessions, PHONE_INDEX),
    );
    let mut policies = Iam::for_tables(&config.tables).policies().clone();
    policies.revoke("session", &query);
    let iam = Iam::with(policies);
    let app = App::checked_by(iam.clone()).await;

    // A kiosk login looks the phone's session up in the phone index.
    let phone = unique_phone();
    let reply = app.kiosk_start(&phone).await;
    assert_eq!(reply.status, 500, "{:?}", reply.body);
    assert!(iam.used().contains(&("session".to_string(), query)));

    // The same query made by the test itself is not a function's: not checked.
    assert!(app.live_sessions(&phone).await.is_empty());
}
