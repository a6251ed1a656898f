//! Which function's handler is running. [`crate::server::dispatch`] runs each handler in
//! a scope naming its function, so that the tests' IAM interceptor (`tests/api/iam`) can
//! check every DynamoDB call against that function's policy in template.yaml, as AWS
//! checks it against the function's role. Calls made outside any scope (the harness
//! reading items, the admin tools) are the tests' own and are not checked.

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `work` as function `binary` ([`crate::Function::package`]). A task-local, not a
/// global: tests running at the same time each run their own function.
pub async fn run_as<F: Future>(binary: &'static str, work: F) -> F::Output {
    FUNCTION.scope(binary, work).await
}

/// The function whose handler runs in this task, if any. Work a handler spawns onto
/// another task leaves the scope: the IAM drift test notices, because the calls it
/// makes there are not recorded.
pub fn current() -> Option<&'static str> {
    FUNCTION.try_with(|binary| *binary).ok()
}
