//! `schemathesis` (from PyPI, installed by `scripts/install.sh`) fuzzes every operation of
//! `openapi.yaml` over HTTP (`scripts/fuzz.sh`): no 5xx, and every status code, content
//! type and body must be one the spec declares. It runs against the functions served in
//! process (`omnisession_testkit::server`) on tables of its own, since it fails QR codes and
//! passwords on purpose and would lock out the dev kiosk key for the other tests.

use crate::helpers::*;

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let app = App::isolated("fuzz").await;
    let base = app.serve().await;
    let output = tokio::process::Command::new(repo_root().join("scripts/fuzz.sh"))
        .arg(&base)
        .current_dir(repo_root())
        .kill_on_drop(true)
        .output()
        .await
        .expect("scripts/fuzz.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/fuzz.sh {base} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
