//! The interceptor: every SDK call a function makes (see `omnisession_testkit::scope`) is
//! checked against that function's policy before it is sent, and refused the way AWS
//! refuses it, so that a permission missing from template.yaml fails the test that
//! needs it instead of the deployed stack.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use omnisession::config::Tables;
use omnisession_testkit::scope;

use super::actions;
use super::policy::{Grant, Policies};
use crate::helpers::repo_root;

/// A function's use of a permission: (function binary, what it needed).
pub type Use = (String, Grant);

/// Enforces template.yaml's policies on a client's calls and records what each function
/// used. Clones share the record, so a test keeps one and reads what its app did.
#[derive(Clone, Debug)]
pub struct Iam {
    policies: Arc<Policies>,
    used: Arc<Mutex<BTreeSet<Use>>>,
    refuse: bool,
}

impl Iam {
    /// template.yaml's policies, for clients of `tables`. A policy this test cannot read
    /// exactly stops the test here, with the reason.
    pub fn for_tables(tables: &Tables) -> Self {
        let text =
            std::fs::read_to_string(repo_root().join("template.yaml")).expect("read template.yaml");
        let policies = Policies::from_template(&text, tables)
            .unwrap_or_else(|e| panic!("IAM: template.yaml: {e}"));
        Self::with(policies)
    }

    pub fn with(policies: Policies) -> Self {
        Self {
            policies: Arc::new(policies),
            used: Arc::default(),
            refuse: true,
        }
    }

    /// Records without refusing: the drift test's tour then runs every path to its end
    /// and names every missing permission at once, instead of stopping at the first.
    pub fn recording_only(self) -> Self {
        Self {
            refuse: false,
            ..self
        }
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Every permission checked so far, allowed or not.
    pub fn used(&self) -> BTreeSet<Use> {
        self.used.lock().unwrap().clone()
    }

    /// Why a call may not be made, one line per missing permission; none for a call
    /// the policy allows, or one the tests make themselves.
    fn refusals(&self, context: &BeforeSerializationInterceptorContextRef<'_>) -> Vec<String> {
        let Some(function) = scope::current() else {
            return Vec::new();
        };
        // Refused even when only recording: a call nobody can check is not trusted.
        let needed = match actions::required(context) {
            Ok(needed) => needed,
            Err(e) => return vec![format!("IAM: function {function} made a call: {e}")],
        };
        self.used.lock().unwrap().extend(
            needed
                .iter()
                .map(|grant| (function.to_string(), grant.clone())),
        );
        if !self.refuse {
            return Vec::new();
        }
        needed
            .iter()
            .filter(|grant| !self.policies.allows(function, grant))
            .map(|grant| format!("IAM: function {function} may not {grant}"))
            .collect()
    }
}

impl Intercept for Iam {
    fn name(&self) -> &'static str {
        "Iam"
    }

    /// Once per operation, before its retries: one check per call, as IAM makes it.
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let refusals = self.refusals(context);
        if refusals.is_empty() {
            return Ok(());
        }
        // The handler answers a bare 500 (the SDK error is logged, not shown); stderr
        // tells the failing test why.
        for line in &refusals {
            eprintln!("{line}");
        }
        // AWS answers AccessDeniedException and does nothing; so does this.
        Err(format!("AccessDeniedException: {}", refusals.join("; ")).into())
    }
}

/// `client` with the same settings and the interceptor added, for state built the way
/// Lambda builds it (`Store::connect`).
pub fn enforced(client: &aws_sdk_dynamodb::Client, iam: Iam) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(client.config().to_builder().interceptor(iam).build())
}
