//! The README's examples run as written, so they cannot rot: the `sh` block after "The old
//! service's checklist" is taken from README.md, pointed at the functions served in
//! process (the same handlers and DynamoDB Local as `make dev`, without `cargo lambda
//! watch`, which now and then answers 500 on its own; `e2e` covers the emulator) and run
//! with `bash -euo pipefail`. Its `curl -sSf` calls fail the script on any error status.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::*;

const CHECKLIST: &str = "The old service's checklist, against `make dev`:";
/// Where the README's commands find `make dev`.
const README_HOST: &str = "localhost:8000";
/// The chat message the checklist sends.
const README_MESSAGE: &str = "Running shoes, size 9?";

/// The first `sh` code block after `heading` in README.md.
fn code_block_after(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md no longer says {heading:?}"));
    let rest = &readme[start..];
    let open = rest
        .find("```sh\n")
        .expect("a ```sh block after the checklist")
        + 6;
    let close = rest[open..].find("```").expect("the end of the block");
    rest[open..open + close].to_string()
}

fn require(tool: &str) {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: the README's checklist needs it (scripts/install.sh installs it)"
    );
}

fn channels(answer: &Value) -> BTreeSet<String> {
    answer["session"]["metadata"]["channels"]
        .as_array()
        .unwrap_or_else(|| panic!("no channels in {answer}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_readmes_checklist_runs_as_written() {
    for tool in ["bash", "curl", "openssl", "python3"] {
        require(tool);
    }
    let app = App::new().await;
    crate::events::ensure_demo_customer(&app).await;
    let base = app.serve().await;
    let host = base.trim_start_matches("http://");

    let block = code_block_after(CHECKLIST);
    assert!(block.contains(README_HOST) && block.contains(README_MESSAGE));
    // Only the address and, so that this run's message can be told from earlier runs'
    // (the demo customer's session is shared), the message text are changed.
    let message = format!("{README_MESSAGE} (README run {})", rand::random::<u32>());
    let script = block
        .replace(README_HOST, host)
        .replace(README_MESSAGE, &message);
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .kill_on_drop(true)
        .output()
        .await
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's checklist failed ({}):\n{script}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );

    // What a user sees: the answers of the kiosk start, the update, the restore and the
    // WhatsApp login, one after the other (the web login's answer went into TOKEN).
    let answers: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the answers are not JSON ({e}): {stdout}"));
    let [kiosk, update, restore, whatsapp] = answers.as_slice() else {
        panic!("expected four answers, got {}: {stdout}", answers.len());
    };
    let sid = kiosk["session"]["session_id"].as_str().expect("session_id");
    // The restore is the web login's: all three logins share one session.
    for (name, answer) in [
        ("update", update),
        ("restore (web login)", restore),
        ("whatsapp login", whatsapp),
    ] {
        assert_eq!(
            answer["session"]["session_id"], sid,
            "{name} is in another session: {answer}"
        );
    }
    assert_eq!(whatsapp["reused"], true, "{whatsapp}");
    let all: BTreeSet<String> = ["kiosk", "web", "whatsapp"].map(String::from).into();
    assert_eq!(channels(whatsapp), all, "{whatsapp}");
    for answer in [kiosk, whatsapp] {
        assert!(answer["session_token"].is_string(), "{answer}");
        assert_eq!(answer["customer"]["customer_id"], "103", "{answer}");
    }
    // The restore shows what the web login wrote, and so does the WhatsApp login.
    for answer in [restore, whatsapp] {
        let said = answer["session"]["chat_context"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == message.as_str() && m["channel"] == "web");
        assert!(said, "the message is missing: {answer}");
    }
}

const RESET: &str = "Against `make dev`, the demo customer forgets `test123`:";
const OUTBOX: &str = ".local/outbox.jsonl";

/// The README's password reset runs as written: the code is read from the outbox file a
/// stand-in writes, as `make dev`'s does. On tables of its own: it changes the demo
/// customer's password, which the checklist above logs in with.
#[tokio::test]
async fn the_readmes_password_reset_runs_as_written() {
    for tool in ["bash", "curl", "grep", "tail"] {
        require(tool);
    }
    let dir = std::env::temp_dir().join(format!("omnisession-readme-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = dir.join("outbox.jsonl");
    let standin = omnisession_testkit::standin::Standin::start(&outbox).unwrap();
    let mut env = test_env();
    env.extend(standin.env());
    let config = omnisession::config::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let app = App::isolated_with("readme", config).await;
    crate::events::ensure_demo_customer(&app).await;
    let base = app.serve().await;

    let block = code_block_after(RESET);
    assert!(
        block.contains(README_HOST) && block.contains(OUTBOX),
        "{block}"
    );
    let script = block
        .replace(README_HOST, base.trim_start_matches("http://"))
        .replace(OUTBOX, &outbox.to_string_lossy());
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .kill_on_drop(true)
        .output()
        .await
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's reset failed ({}):\n{script}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The send's answer, the outbox line, the reset's login and the login with the new
    // password, one after the other.
    let answers: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the answers are not JSON ({e}): {stdout}"));
    let [sent, line, reset, login] = answers.as_slice() else {
        panic!("expected four answers, got {}: {stdout}", answers.len());
    };
    assert!(sent["resend_after"].is_string(), "{sent}");
    assert_eq!(line["to"], DEMO_PHONE, "{line}");
    assert!(reset["session_token"].is_string(), "{reset}");
    assert_eq!(login["customer"]["customer_id"], "103", "{login}");
    assert_eq!(
        login["session"]["session_id"],
        reset["session"]["session_id"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
