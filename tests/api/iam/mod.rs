//! IAM derived from, and checked against, the code. DynamoDB Local ignores IAM, so
//! without this every test would pass while the deployed stack answered 500 for a
//! permission missing from template.yaml.
//!
//! - [`policy`] reads each function's grants from template.yaml;
//! - [`actions`] derives the (action, resource) pairs AWS checks for a call;
//! - [`enforce`] is the interceptor on the harness's clients (`helpers::client_checked`):
//!   a call made by a function's handler (`omnisession_testkit::scope`, set by
//!   `server::dispatch`) that its policy does not allow fails as AWS would fail it, and
//!   stderr names the permission;
//! - [`tour`] is the drift test: it drives every DynamoDB call path of every function
//!   and asserts each policy grants exactly what was used.
//!
//! A function that gets another AWS client (SNS, Secrets Manager…) is covered the same
//! way: the harness installs the same [`Iam`] on that client
//! (`aws_sdk_sns::Config::builder().interceptor(iam.clone())`: every `aws-sdk-*` crate
//! takes the same `Intercept`), `actions::required` learns that service's inputs (say
//! `PublishInput` → `sns:Publish` on its topic ARN), `policy::Resolver` learns the new
//! logical id's name and ARN, and the tour gains the steps that make those calls.

mod actions;
mod enforce;
mod policy;
mod refusal;
mod tour;

pub use enforce::{Iam, enforced};
pub use policy::secret_arn;
