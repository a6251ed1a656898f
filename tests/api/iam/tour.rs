//! The IAM drift test: a scripted tour through every DynamoDB call path of every
//! function, recording what each function used, then a comparison with template.yaml:
//! each function's policy must grant exactly that, nothing missing (the deployed
//! function would fail) and nothing extra (least privilege).
//!
//! Call paths, by function, and the step that covers each (see `shared/src/store/*.rs`,
//! `shared/src/sessions.rs` and `functions/*/src`); "(rare)" marks a path the tour does
//! not force, with the step that already covers its permission:
//!
//! - auth: `create_customer` (transaction Put ×2 on customers) and `create_session`
//!   (transaction Put ×2 on sessions) ← signup (a signup again is a 409 that reads
//!   nothing more); `live_session_by_phone` (Query on the phone index) ← every login,
//!   beside the customer read; `last_messages` (Query on messages) ← every login answer;
//!   `customer_and_buckets` (BatchGetItem on customers and sessions) ← every login and
//!   password change; `join_session` (UpdateItem on sessions) ← a login into a live
//!   session; `put_bucket` (PutItem on sessions) ← a wrong password; its re-read after
//!   a race (`bucket`, GetItem on sessions) (rare: covered by `authenticate`);
//!   `delete_bucket` (DeleteItem on sessions) ← the right password after a failure;
//!   `create_session` replacing an expired session (transaction Delete on sessions) ← a
//!   login after the session expired; `authenticate` (GetItem on sessions) and
//!   `revoke_token` ← logout; `set_password_hash` (UpdateItem on customers),
//!   `revoke_all_tokens` ← password change; `revoke_all_tokens` ← logout-all; a trim of
//!   logins beyond their quota (rare: UpdateItem, covered by every join); `put_event`
//!   (PutItem on messages) ← every login, logout, revocation, password change and
//!   logout-all; `authenticate` and `login_items` (BatchGetItem on sessions) ← the list of
//!   logins; `revoke_token` ← ending a login;
//!   `customer_by_phone` (GetItem on customers), `locked_session`, `session_in_batch`,
//!   `logins_of` (BatchGetItem on sessions) and `messages_page` (Query on messages) ←
//!   an export; `session_ids_by_phone` (Query on the phone index), `erasure` and
//!   `items_by_pk` (BatchGetItem), `put_erasure` (PutItem), `delete_session_now`
//!   (DeleteItem ×2), `message_keys` (Query on messages), `delete_items`
//!   (BatchWriteItem on all three tables), `items_naming` (Scan on customers and
//!   sessions) ← an erasure with the current password; `change_number` (a transaction:
//!   Put, Delete and Update on customers, Put, Update and Delete on sessions) ← a new
//!   phone number; with a reset code instead
//!   `take_code_try` and `consume_code` (rare: UpdateItem, DeleteItem, covered above).
//! - session, qr and verify: `kiosk_registry` (Scan on kiosks) ← every request with an
//!   `X-Kiosk-Key` (the tour's registry is never fresh, so each one reads it).
//! - session: `customer_by_phone`, `create_customer`, `live_session_by_phone`,
//!   `create_session` ← a kiosk start for a new phone; `join_session` ← a kiosk start for
//!   a known phone and a signed phone login; `authenticate` + `customer_of` +
//!   `count_in_window` (UpdateItem on sessions) + `join_session` ← a start with a token
//!   (a login minted from it); `last_messages` (Query on the messages table) beside the
//!   join or the token check ← every login answer and restore; `touch_session` ← a
//!   restore with a due expiry slide; `apply_changes` (UpdateItem on sessions returning
//!   the new item, then PutItem on messages) ← an update; its `seen#` claim (PutItem on
//!   sessions) ← an update with `Idempotency-Key`, answered from the claim on the same
//!   update again; the claim given back after a failed write (rare: UpdateItem, covered
//!   by every write); `create_session` replacing (transaction Delete) ← a kiosk start
//!   after the session expired; `revoke_token` ← a local end; `end_session`
//!   (transaction Delete ×2 on sessions) ← a global end; its fallback DeleteItem when
//!   the lock points elsewhere (rare: covered by the global end); a trim of logins beyond
//!   their quota (rare: UpdateItem, covered by every join).
//! - qr: `authenticate` + `put_qr` (PutItem on sessions) ← init; `buckets`
//!   (BatchGetItem on sessions), `consume_qr` (conditional DeleteItem),
//!   `customer_by_phone`, `count_in_window` (UpdateItem), `join_session` and
//!   `last_messages` (Query on messages) and `put_event` (PutItem on messages) ← a good
//!   code; `put_bucket` ← a used code; `delete_bucket` ← a good code after that failure;
//!   `bucket` after a racing failure (rare: GetItem, covered by `authenticate`).
//! - sales-memory: `session` (GetItem) ← every agent call, `authenticate` ← a customer's
//!   read; `last_messages` (Query on the messages table) ← context; `apply_changes`
//!   (UpdateItem on sessions, PutItem on messages) ← summary, recommendations and
//!   messages; its `seen#` claim (PutItem) ← recommendations and messages with
//!   `Idempotency-Key`, and their replays.
//! - whatsapp: the handshake makes no call; the message id's `claim` (PutItem on
//!   sessions) beside `live_session_by_phone` ← every delivery; `phone_session`
//!   (`customer_by_phone`, `create_customer`, `live_session_by_phone`,
//!   `create_session`) ← a first message from a new phone; `write_changes` (UpdateItem
//!   on sessions joining WhatsApp, PutItem on messages) ← a second message; `session`
//!   (GetItem) ← a catalog order; `whatsapp_sort_key` (GetItem on sessions) beside
//!   `live_session_by_phone`, and `revise_message` (UpdateItem on messages) ← an edit
//!   and a deletion; a
//!   redelivery stops at its claim; `create_session` replacing (transaction Delete) ← a
//!   message after the session expired; the claim given back when filing fails (rare:
//!   UpdateItem, covered by every message); a customer created by another channel at the
//!   same instant, re-read (rare: GetItem on customers, covered by every first message;
//!   the same in the session function); `prove_customer` (UpdateItem on customers) and
//!   `end_session` ← the first message from the phone of an unproven signup.
//! - session, again: `prove_customer` ← a signed phone login for an unproven signup.
//! - whatsapp and session, by WhatsApp user id: `whatsapp_user` (BatchGetItem on
//!   customers) ← every delivery or login that carries one; a merge of a user id's
//!   session into a phone's: `link_whatsapp_user` (PutItem, UpdateItem on customers),
//!   `locked_session` and `session_in_batch` (BatchGetItem on sessions), `mark_merged`
//!   and `fold_session` (UpdateItem), `message_items` (Query on messages),
//!   `copy_messages` (BatchWriteItem on messages), `release_lock` (DeleteItem on
//!   sessions), `delete_customer_record` (DeleteItem on customers) ← a delivery, and a
//!   signed login, naming both the phone and the user id.
//! - verify: `code_sends` (BatchGetItem on sessions), `count_in_window` (UpdateItem),
//!   `put_code_sends` and `put_code` (PutItem) ← every send; `take_code_try` (UpdateItem)
//!   and `consume_code` (DeleteItem) ← every verify; a login code for a new phone runs
//!   `phone_login` (`customer_by_phone`, `create_customer`, `live_session_by_phone`,
//!   `create_session`, `last_messages`); a reset runs `set_password_hash` (UpdateItem on
//!   customers), `locked_session` (BatchGetItem), `revoke_all_tokens` and a join;
//!   `put_event` (PutItem on messages) ← every code login and reset; a
//!   step-up runs `authenticate`, `raise_login` (UpdateItem ×2) and `customer_of`
//!   (GetItem on customers); a code for an unproven signup's phone runs `prove_customer`
//!   and `end_session`; an SMS is one SNS `Publish` (seen by the stand-in); a
//!   click-to-verify link is `count_this_hour` and `put_walink` (PutItem), its poll
//!   `walink` (BatchGetItem) and `redeem_walink` (UpdateItem) before the login, and the
//!   whatsapp function's `bind_walink` (UpdateItem on sessions) binds it.
//! - every function: `GetSecretValue` of the secrets its `SECRETS` names (the keys; the
//!   verify function also the courier's) ← its cold start (`secrets`), run under its role.

use std::collections::BTreeSet;

use chrono::Utc;
use omnisession::config::Config;
use omnisession::kiosks::CacheAges;
use omnisession::model::limits;
use omnisession_testkit::{Function, scope, setup};
use serde_json::{Value, json};

use omnisession_testkit::standin::standin;

use super::Iam;
use super::policy::{Grant, SMS_ONLY, function_env};
use crate::helpers::*;

#[tokio::test]
async fn iam_policies_grant_exactly_what_the_functions_use() {
    let config = test_config();
    let iam = Iam::for_tables(&config.tables).recording_only();
    // One state serves every function here, where each function has its own: a
    // registry that is never fresh makes every kiosk request read it, as each function's
    // first kiosk request does.
    let always_stale = CacheAges {
        max_age: std::time::Duration::ZERO,
        miss_reload: std::time::Duration::ZERO,
    };
    let app = App::checked_by_with_ages(iam.clone(), always_stale).await;

    auth(&app).await;
    session(&app).await;
    qr(&app).await;
    sales_memory(&app).await;
    whatsapp(&app).await;
    verify(&app).await;
    identities(&app).await;
    secrets(&iam).await;

    let policies = iam.policies();
    let functions: BTreeSet<String> = Function::ALL
        .iter()
        .map(|f| f.package().to_string())
        .collect();
    assert_eq!(
        policies.functions(),
        functions,
        "template.yaml's functions vs omnisession_testkit::Function::ALL"
    );
    let mut used = iam.used();
    // SNS is not behind the DynamoDB recorder: the stand-in saw the verify function's
    // real client publish an SMS (the tour's `verify` step asks for one).
    if standin()
        .outbox(SMS_PHONE.get().map_or("", String::as_str))
        .iter()
        .any(|m| m["via"] == "sms")
    {
        used.insert(("verify".to_string(), Grant::new("sns:Publish", SMS_ONLY)));
    }
    let mut problems = Vec::new();
    for function in Function::ALL.map(Function::package) {
        let used: BTreeSet<Grant> = used
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, grant)| grant.clone())
            .collect();
        let granted = policies.of(function);
        for grant in used.difference(&granted) {
            problems.push(format!(
                "IAM: function {function} may not {grant}, which its code does"
            ));
        }
        for grant in granted.difference(&used) {
            problems.push(format!(
                "IAM: function {function} is granted {grant}, which its code never does"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "template.yaml's policies differ from what the functions do:\n{}",
        problems.join("\n")
    );
}

/// Every function's cold start: the secrets template.yaml's `SECRETS` names for it, read
/// by the real client under that function's policy.
async fn secrets(iam: &Iam) {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let tables = test_config().tables;
    let dev = setup::dev_env("test").unwrap();
    let keys: serde_json::Map<String, Value> = [
        "SERVICE_KEYS",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "CODE_HMAC_KEY",
    ]
    .into_iter()
    .map(|name| (name.to_string(), json!(dev[name])))
    .collect();
    standin().put_secret(KEYS_SECRET, &Value::Object(keys));
    standin().put_secret(
        "omnisession-test-CourierSecret",
        &json!({"WHATSAPP_ACCESS_TOKEN": dev["WHATSAPP_ACCESS_TOKEN"]}),
    );
    for function in Function::ALL.map(Function::package) {
        let ids = function_env(&template, &tables, function, "SECRETS")
            .unwrap()
            .unwrap_or_else(|| panic!("template.yaml gives {function} no SECRETS"));
        let mut env = test_env();
        env.extend(standin().env());
        // Only the function that sends codes has the courier's settings (and secret).
        if !ids.contains("CourierSecret") {
            env.remove("WHATSAPP_PHONE_NUMBER_ID");
        }
        env.insert("SECRETS".into(), ids);
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        scope::run_as(function, vault_checked(&config, iam.clone()))
            .await
            .unwrap_or_else(|e| panic!("{function}'s cold start: {e}"));
    }
}

fn messages(count: usize, tag: &str) -> Value {
    let messages: Vec<Value> = (0..count)
        .map(|i| json!({"role": "user", "content": format!("{tag} {i}")}))
        .collect();
    json!({ "messages": messages })
}

fn idempotent(req: lambda_http::Request, key: &str) -> lambda_http::Request {
    with_header(req, "idempotency-key", key)
}

async fn expire(app: &App, session_id: &str) {
    let past = Utc::now().timestamp() - 10;
    app.set_session_numbers(session_id, &[("expires_at", past)])
        .await;
}

/// The auth function's paths.
async fn auth(app: &App) {
    let phone = unique_phone();
    let password = "secret-pass";
    let signup = app.signup(&phone, password, "web").await;
    assert_eq!(signup.status, 201, "{:?}", signup.body);
    // A signup again is a 409, whatever the password.
    assert_eq!(app.signup(&phone, password, "web").await.status, 409);

    assert_eq!(app.login(&phone, "wrong-pass", "web").await.status, 401);
    // The failure is recorded in the caller's bucket, and cleared by the next success.
    let guard = omnisession::guard::Guard::password(
        &omnisession::phone::PhoneNumber::from_stored(phone.clone()),
        "127.0.0.1",
    );
    let caller = format!("lockout#{}", guard.keys()[0]);
    assert!(app.sessions_item(&caller).await.is_some());
    let kiosk = app.login(&phone, password, "kiosk").await;
    assert_eq!(kiosk.status, 200, "{:?}", kiosk.body);
    assert_eq!(kiosk.session_id(), signup.session_id());
    assert!(app.sessions_item(&caller).await.is_none());

    let logout = app
        .send(with_token(event("auth-logout"), &kiosk.token()))
        .await;
    assert_eq!(logout.status, 200, "{:?}", logout.body);

    let new_password = "another-secret-2026";
    let change = with_body(
        with_token(event("auth-password"), &signup.token()),
        &json!({"current_password": password, "new_password": new_password}),
    );
    let changed = app.send(change).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);

    let web = app.login(&phone, new_password, "web").await;
    assert_eq!(web.status, 200, "{:?}", web.body);
    let kiosk = app.login(&phone, new_password, "kiosk").await;
    let listed = app
        .send(with_token(event("auth-sessions"), &web.token()))
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let kiosk_id = kiosk.token().split('.').nth(1).unwrap().to_string();
    let end = with_path(
        event("auth-sessions-login_id"),
        &format!("/auth/sessions/{kiosk_id}"),
    );
    let ended = app.send(with_token(end, &web.token())).await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    let all = app
        .send(with_token(event("auth-logout-all"), &web.token()))
        .await;
    assert_eq!(all.status, 200, "{:?}", all.body);

    // After the session expired, a login takes its lock over.
    let web = app.login(&phone, new_password, "web").await;
    expire(app, &web.session_id()).await;
    let again = app.login(&phone, new_password, "web").await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_ne!(again.session_id(), web.session_id());

    // The customer's data: an export, then the erasure.
    app.update(&again.token(), messages(2, "export")).await;
    let export = app
        .send(with_token(event("auth-me-export"), &again.token()))
        .await;
    assert_eq!(export.status, 200, "{:?}", export.body);
    let erase = with_body(
        with_token(event("auth-me-delete"), &again.token()),
        &json!({"current_password": new_password}),
    );
    let erased = app.send(erase).await;
    assert_eq!(erased.status, 200, "{:?}", erased.body);
}

/// The session function's paths.
async fn session(app: &App) {
    let phone = unique_phone();
    let first = app.kiosk_start(&phone).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["reused"], false);
    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(kiosk.body["reused"], true, "{:?}", kiosk.body);
    let whatsapp = app.whatsapp_login(&phone, "Asha").await;
    assert_eq!(whatsapp.status, 200, "{:?}", whatsapp.body);
    let sid = kiosk.session_id();

    // A start with a token opens another channel of the same session.
    let web = with_body(
        with_token(
            without_header(event("session-start"), "x-kiosk-key"),
            &kiosk.token(),
        ),
        &json!({"phone": phone, "channel": "web"}),
    );
    let web = app.send(web).await;
    assert_eq!(web.status, 200, "{:?}", web.body);
    let token = web.token();

    // A restore writes the slid expiry only when it is due.
    let stale = Utc::now().timestamp() + 7 * 24 * 3600 - 7200;
    app.set_session_numbers(&sid, &[("expires_at", stale)])
        .await;
    assert_eq!(app.restore(&token).await.status, 200);

    assert_eq!(app.update(&token, messages(1, "plain")).await.status, 200);
    let keyed = || {
        let req = with_body(
            with_token(event("session-update"), &token),
            &messages(1, "keyed"),
        );
        idempotent(req, "tour-update-1")
    };
    assert_eq!(app.send(keyed()).await.status, 200);
    let replay = app.send(keyed()).await;
    assert_eq!(replay.status, 200, "{:?}", replay.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");

    // Full updates: the history grows in the messages table, the item does not.
    for round in 0..2 {
        let body = messages(limits::MESSAGES_PER_UPDATE, &format!("chat {round}"));
        assert_eq!(app.update(&token, body).await.status, 200);
    }
    let item = app.sessions_item(&sid).await.expect("session item");
    assert!(
        !item.contains_key("recent"),
        "the session item holds no chat"
    );

    let local = app.end(&kiosk.token(), "local").await;
    assert_eq!(local.status, 200, "{:?}", local.body);
    // A global end needs a password login.
    let (_, password_login) = app.new_customer().await;
    let global = app.end(&password_login.token(), "global").await;
    assert_eq!(global.status, 200, "{:?}", global.body);

    // An expired session's lock is taken over by the next login.
    let started = app.kiosk_start(&phone).await;
    expire(app, &started.session_id()).await;
    let taken = app.kiosk_start(&phone).await;
    assert_eq!(taken.status, 200, "{:?}", taken.body);
    assert_ne!(taken.session_id(), started.session_id());
}

/// The QR function's paths, from a password login.
async fn qr(app: &App) {
    let (_, web) = app.new_customer().await;
    let key = app.kiosk_key();
    let code = app.qr_init(&web.token()).await;
    assert_eq!(code.status, 200, "{:?}", code.body);
    let code = code.body["qr_token"].as_str().unwrap().to_string();
    assert_eq!(app.qr_verify(&code, &key).await.status, 200);
    // Used: a failure, counted against the kiosk key…
    assert_eq!(app.qr_verify(&code, &key).await.status, 401);
    // …and cleared by the next good code.
    let code = app.qr_init(&web.token()).await.body["qr_token"]
        .as_str()
        .unwrap()
        .to_string();
    let good = app.qr_verify(&code, &key).await;
    assert_eq!(good.status, 200, "{:?}", good.body);
}

/// The sales-memory function's paths, on a live session with a customer's token.
async fn sales_memory(app: &App) {
    let (_, web) = app.new_customer().await;
    let (sid, token) = (web.session_id(), web.token());
    assert_eq!(app.update(&token, messages(2, "hello")).await.status, 200);

    for name in [
        "session-sid-context",
        "session-sid-summary-get",
        "session-sid-recommendations-get",
        "session-sid-cart",
    ] {
        let reply = app.agent(name, &sid, None).await;
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
    }
    let own = app.send(with_token(
        without_header(memory_event("session-sid-context", &sid), "x-service-key"),
        &token,
    ));
    assert_eq!(own.await.status, 200);

    let summary = app.agent("session-sid-summary-post", &sid, None).await;
    assert_eq!(summary.status, 200, "{:?}", summary.body);
    for name in ["session-sid-recommendations-post", "session-sid-messages"] {
        for round in 0..2 {
            let reply = app
                .send(idempotent(
                    memory_event(name, &sid),
                    &format!("tour-{name}"),
                ))
                .await;
            assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
            assert_eq!(
                reply.headers.contains_key("idempotent-replayed"),
                round == 1
            );
        }
    }

    let reply = app.agent("session-sid-messages", &sid, None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

/// The WhatsApp webhook's paths.
async fn whatsapp(app: &App) {
    let handshake = app.send(event("webhooks-whatsapp-get")).await;
    assert_eq!(handshake.status, 200, "{:?}", handshake.body);

    let phone = unique_phone();
    let from = phone.trim_start_matches('+');
    let first = delivery(&[(from, &wamid(), "hi")], "Ravi");
    assert_eq!(app.webhook(&first).await.body["stored"], 1);
    assert_eq!(app.webhook(&first).await.body["duplicates"], 1);
    let second_id = wamid();
    let second = delivery(&[(from, &second_id, "still there?")], "Ravi");
    assert_eq!(app.webhook(&second).await.body["stored"], 1);
    // A catalog order reads the live session's cart; an edit and a deletion read the
    // original's claim and change the stored message.
    let mut kinds = second.clone();
    let order = json!({"from": from, "id": wamid(), "timestamp": "1795780801", "type": "order", "order": {"catalog_id": "1", "product_items": [{"product_retailer_id": "SKU-1", "quantity": 1, "item_price": 10, "currency": "INR"}]}});
    let edit = json!({"from": from, "id": wamid(), "timestamp": "1795780802", "type": "edit", "edit": {"original_message_id": second_id, "message": {"type": "text", "text": {"body": "still here?"}}}});
    let revoke = json!({"from": from, "id": wamid(), "timestamp": "1795780803", "type": "revoke", "revoke": {"original_message_id": second_id}});
    kinds["entry"][0]["changes"][0]["value"]["messages"] = json!([order, edit, revoke]);
    let reply = app.webhook(&kinds).await;
    assert_eq!(
        (reply.body["stored"].clone(), reply.body["revised"].clone()),
        (json!(1), json!(2)),
        "{:?}",
        reply.body
    );

    // After the session expired, the next message starts a new one in its place.
    let live = app.live_sessions(&phone).await;
    assert_eq!(live.len(), 1, "{live:?}");
    expire(app, &live[0]).await;
    let later = delivery(&[(from, &wamid(), "back again")], "Ravi");
    assert_eq!(app.webhook(&later).await.body["stored"], 1);
    let now_live = app.live_sessions(&phone).await;
    assert!(
        !now_live.is_empty() && !now_live.contains(&live[0]),
        "{now_live:?}"
    );
}

/// The phone the tour's SMS goes to.
static SMS_PHONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The verify function's paths, and the takeovers the session and whatsapp functions do.
async fn verify(app: &App) {
    // A login code for a new phone, by SMS.
    let phone = SMS_PHONE.get_or_init(unique_phone).clone();
    let body = json!({"phone_number": phone, "purpose": "login", "via": "sms"});
    assert_eq!(
        app.send(from_ip(
            with_body(event("auth-code-send"), &body),
            "198.19.0.1"
        ))
        .await
        .status,
        202
    );
    let login = app
        .verify_code(&phone, &app.last_code(&phone), "login", json!({}))
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    // A reset of the same phone.
    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let reset = app
        .verify_code(
            &phone,
            &app.last_code(&phone),
            "reset",
            json!({"new_password": "tour reset pass"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    // A kiosk login stepped up.
    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let body = json!({"phone_number": phone, "code": app.last_code(&phone), "purpose": "login", "channel": "web"});
    let stepped = app
        .send(with_token(
            with_body(event("auth-code-verify"), &body),
            &kiosk.token(),
        ))
        .await;
    assert_eq!(stepped.status, 200, "{:?}", stepped.body);
    // A code sent and typed back at a kiosk: its key checked against the registry.
    let at_kiosk = |name: &str, body: Value| {
        with_header(
            with_body(event(name), &body),
            "x-kiosk-key",
            &app.kiosk_key(),
        )
    };
    let walk_in = unique_phone();
    let body = json!({"phone_number": walk_in, "purpose": "login"});
    assert_eq!(app.send(at_kiosk("auth-code-send", body)).await.status, 202);
    let body = json!({"phone_number": walk_in, "code": app.last_code(&walk_in), "purpose": "login", "channel": "kiosk"});
    let typed = app.send(at_kiosk("auth-code-verify", body)).await;
    assert_eq!(typed.status, 200, "{:?}", typed.body);

    // A WhatsApp username customer proves a phone with a code: merged into it.
    let (owned, _) = app.new_customer().await;
    let user = format!("IN.{}", rand::random::<u64>());
    let bot = app.whatsapp_login_user(&user, "Asha").await;
    let said = json!({"messages": [{"role": "user", "content": "by user id"}]});
    assert_eq!(app.update(&bot.token(), said).await.status, 200);
    assert_eq!(app.send_code(&owned, "login").await.status, 202);
    let body = json!({"phone_number": owned, "code": app.last_code(&owned), "purpose": "login", "channel": "web"});
    let merged = app
        .send(with_token(
            with_body(event("auth-code-verify"), &body),
            &bot.token(),
        ))
        .await;
    assert_eq!(merged.status, 200, "{:?}", merged.body);

    // A new phone number (the auth function): the record and the session move in one
    // transaction (Put, Delete and Update on customers; Put, Update, Delete on sessions).
    let (_, web) = app.new_customer().await;
    let renumbered = unique_phone();
    assert_eq!(app.send_code(&renumbered, "change_phone").await.status, 202);
    let body = json!({"new_phone_number": renumbered, "code": app.last_code(&renumbered)});
    let change = with_token(with_body(event("auth-phone-change"), &body), &web.token());
    assert_eq!(app.send(change).await.status, 200);

    // A click-to-verify link: made, its text sent from WhatsApp (the whatsapp function
    // binds it), collected.
    let link = crate::walink::web_link(app).await;
    let text = crate::walink::text_of(&link);
    crate::walink::send_text(app, &phone, &text).await;
    assert_eq!(crate::walink::poll(app, &link).await.status, 200);

    // Proofs of unproven signups' phones, by each function that proves one.
    for prove in ["code", "whatsapp", "signed login"] {
        let phone = unique_phone();
        let squatter = app.signup(&phone, "squatter pass", "web").await;
        assert_eq!(squatter.status, 201);
        match prove {
            "code" => {
                assert_eq!(app.send_code(&phone, "login").await.status, 202);
                let code = app.last_code(&phone);
                assert_eq!(
                    app.verify_code(&phone, &code, "login", json!({}))
                        .await
                        .status,
                    200
                );
            }
            "whatsapp" => {
                let from = phone.trim_start_matches('+');
                let message = delivery(&[(from, &wamid(), "mine")], "Owner");
                assert_eq!(app.webhook(&message).await.body["stored"], 1);
            }
            _ => assert_eq!(app.whatsapp_login(&phone, "Owner").await.status, 200),
        }
        assert_eq!(app.restore(&squatter.token()).await.status, 401, "{prove}");
    }
}

/// The merges of a WhatsApp user id's customer into a phone's, by the webhook and by the
/// signed login.
async fn identities(app: &App) {
    // The webhook.
    let (phone, _) = app.new_customer().await;
    let user = format!("IN.{}", rand::random::<u64>());
    let by_user = |user: &str, from: Option<&str>| {
        let mut message = json!({"from_user_id": user, "id": wamid(), "timestamp": "1795780800",
            "type": "text", "text": {"body": "hi"}});
        let mut contact = json!({"profile": {"name": "Asha"}, "user_id": user});
        if let Some(from) = from {
            message["from"] = json!(from);
            contact["wa_id"] = json!(from);
        }
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"contacts": [contact], "messages": [message]}}]}]})
    };
    assert_eq!(app.webhook(&by_user(&user, None)).await.body["stored"], 1);
    let from = phone.trim_start_matches('+');
    assert_eq!(
        app.webhook(&by_user(&user, Some(from))).await.body["stored"],
        1
    );
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );

    // The signed login.
    let (phone, _) = app.new_customer().await;
    let user = format!("IN.{}", rand::random::<u64>());
    let bot = app.whatsapp_login_user(&user, "Asha").await;
    assert_eq!(bot.status, 200);
    let said = json!({"messages": [{"role": "user", "content": "by user id"}]});
    assert_eq!(app.update(&bot.token(), said).await.status, 200);
    let body =
        json!({"phone_number": phone, "user_id": user, "name": "Asha", "channel": "whatsapp"});
    let req = with_raw_body(event("session-login"), &body.to_string());
    assert_eq!(app.send(app.signed_now(req)).await.status, 200);
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );
}
