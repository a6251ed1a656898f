//! Issue 17, item 2: the kiosk registry. Kiosks are added, listed, revoked and rotated
//! with the operator's command (the built `omnisession-admin`, against the test tables),
//! and the functions take their keys from the registry: a revocation or a rotation bites
//! once the registry is read again (a minute in the functions; here a state whose registry
//! ages in half a second, see `kiosks::tests` for the minute itself), and what a kiosk
//! login records (its kiosk and store) reaches the login list, the account events and
//! the sales agent's context.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use omnisession::kiosks::{CacheAges, key_hash};
use omnisession_testkit::setup;
use serde_json::{Value, json};

use crate::helpers::*;

/// A registry that goes stale in half a second, so that a test outwaits it.
const SHORT: CacheAges = CacheAges {
    max_age: Duration::from_millis(500),
    miss_reload: Duration::from_millis(500),
};

async fn outwait_the_registry() {
    tokio::time::sleep(SHORT.max_age + Duration::from_millis(100)).await;
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", hex::encode(rand::random::<[u8; 4]>()))
}

/// A kiosk registered by `omnisession-admin kiosk add`: its id, store and key.
struct Added {
    id: String,
    store: String,
    key: String,
}

fn add_kiosk(label: &str) -> Added {
    let (id, store) = (unique("till"), unique("store"));
    let run = run_admin(
        &[
            "kiosk", "add", "--store", &store, "--label", label, "--id", &id,
        ],
        &[],
    );
    assert!(run.ok, "kiosk add: {}", run.stderr);
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "stdout is the key alone: {:?}",
        run.stdout
    );
    Added {
        id,
        store,
        key: run.stdout.trim().to_string(),
    }
}

/// A kiosk registered straight into the app's registry table (faster than the command,
/// for tests about what its logins record).
async fn register(app: &App, label: &str) -> Added {
    let (id, store) = (unique("till"), unique("store"));
    let key = format!("test-kiosk-key-{}", hex::encode(rand::random::<[u8; 16]>()));
    setup::register_kiosk(&app.state.store, (&id, &store, label), &key)
        .await
        .expect("register a kiosk");
    Added { id, store, key }
}

/// `POST /session/start` for `phone` by the kiosk whose key is `key`.
async fn start_at(app: &App, key: &str, phone: &str) -> Reply {
    let body = json!({"phone": phone, "channel": "kiosk"});
    let req = with_header(with_body(event("session-start"), &body), "x-kiosk-key", key);
    app.send(req).await
}

/// A customer who signed up on the web, then had `typing` log them in by phone and handed
/// their web login to `scanning` by QR code: their phone and those three logins.
async fn met_at(app: &App, typing: &Added, scanning: &Added) -> (String, Reply, Reply, Reply) {
    let (phone, web) = app.new_customer().await;
    let typed = start_at(app, &typing.key, &phone).await;
    assert_eq!(typed.status, 200, "{:?}", typed.body);
    let code = app.qr_init(&web.token()).await.text("/qr_token").unwrap();
    let handed = app.qr_verify(&code, &scanning.key).await;
    assert_eq!(handed.status, 200, "{:?}", handed.body);
    (phone, web, typed, handed)
}

/// A kiosk added by the operator that has just started a session for a phone on an app
/// whose registry goes stale in [`SHORT`]: the kiosk, the app and the phone.
async fn kiosk_at_work(label: &str) -> (Added, App, String) {
    let kiosk = add_kiosk(label);
    let app = App::with_kiosk_ages(SHORT).await;
    let phone = unique_phone();
    let started = start_at(&app, &kiosk.key, &phone).await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    (kiosk, app, phone)
}

/// The `kiosk list` line of `id`.
fn listed(id: &str) -> String {
    let list = run_admin(&["kiosk", "list"], &[]);
    assert!(list.ok, "kiosk list: {}", list.stderr);
    assert!(list.stdout.starts_with("KIOSK"), "{}", list.stdout);
    list.stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("{id} is not listed:\n{}", list.stdout))
        .to_string()
}

fn login_of<'a>(logins: &'a Reply, token: &str) -> &'a Value {
    let id = token.split('.').nth(1).expect("a token id");
    logins.body["logins"]
        .as_array()
        .expect("logins")
        .iter()
        .find(|login| login["login_id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {:?}", logins.body))
}

#[tokio::test]
async fn a_kiosk_added_by_the_operator_starts_sessions_and_its_key_is_shown_once() {
    let kiosk = add_kiosk("Till 1, ground floor");
    assert_eq!(kiosk.key.len(), 43, "256 random bits");
    // A function instance that starts now reads the registry on its first kiosk request.
    let app = App::new().await;
    let started = start_at(&app, &kiosk.key, &unique_phone()).await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    assert_eq!(started.body["session"]["channel"], "kiosk");

    let row = listed(&kiosk.id);
    for shown in [kiosk.store.as_str(), "Till 1, ground floor", "active"] {
        assert!(row.contains(shown), "{shown:?} missing from {row:?}");
    }
    let list = run_admin(&["kiosk", "list"], &[]).stdout;
    assert!(!list.contains(&kiosk.key), "list shows a key");
    assert!(!list.contains(&key_hash(&kiosk.key)), "list shows a hash");

    // The table keeps the key's hash, never the key.
    let item = app
        .db()
        .get_item()
        .table_name(&app.state.config.tables.kiosks)
        .key("kiosk_id", AttributeValue::S(kiosk.id.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the kiosk's item");
    assert_eq!(
        item["key_hash"].as_s().map(String::as_str),
        Ok(key_hash(&kiosk.key).as_str())
    );
    assert!(!format!("{item:?}").contains(&kiosk.key));
}

#[tokio::test]
async fn a_revoked_kiosk_is_refused_once_the_registry_is_read_again() {
    let (kiosk, app, phone) = kiosk_at_work("Till to revoke").await;

    let revoked = run_admin(&["kiosk", "revoke", &kiosk.id], &[]);
    assert!(revoked.ok, "{}", revoked.stderr);
    assert!(
        revoked.stdout.contains("within a minute"),
        "{}",
        revoked.stdout
    );
    outwait_the_registry().await;
    let refused = start_at(&app, &kiosk.key, &phone).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(
        refused.detail(),
        "X-Kiosk-Key is not a registered kiosk key"
    );
    // Every route that takes a kiosk key refuses it.
    let (_, web) = app.new_customer().await;
    let code = app.qr_init(&web.token()).await.text("/qr_token").unwrap();
    assert_eq!(app.qr_verify(&code, &kiosk.key).await.status, 401);
    let send = with_header(
        with_body(
            event("auth-code-send"),
            &json!({"phone_number": phone, "purpose": "login"}),
        ),
        "x-kiosk-key",
        &kiosk.key,
    );
    assert_eq!(app.send(send).await.status, 401);
    // The code was not spent: a registered kiosk takes it.
    assert_eq!(app.qr_verify(&code, &app.kiosk_key()).await.status, 200);

    assert!(listed(&kiosk.id).contains("revoked"));
    let again = run_admin(&["kiosk", "revoke", &kiosk.id], &[]);
    assert!(again.ok, "{}", again.stderr);
    assert!(again.stdout.contains("already revoked"), "{}", again.stdout);
}

#[tokio::test]
async fn revoking_a_kiosk_ends_the_logins_it_made_and_running_it_again_ends_the_later_ones() {
    let kiosk = add_kiosk("Till whose key was stolen");
    let app = App::new().await;
    let other = register(&app, "Till next to it").await;
    // What the kiosk's key made: a login by the typed phone, and a QR handoff from the
    // customer's phone.
    let (phone, web, typed, handed) = met_at(&app, &kiosk, &kiosk).await;
    let elsewhere = start_at(&app, &other.key, &phone).await;
    assert_eq!(elsewhere.status, 200, "{:?}", elsewhere.body);

    let revoked = run_admin(&["kiosk", "revoke", &kiosk.id], &[]);
    assert!(revoked.ok, "{}", revoked.stderr);
    assert!(
        revoked.stdout.contains("2 logins made at kiosk"),
        "{}",
        revoked.stdout
    );
    assert!(
        revoked.stdout.contains("run `kiosk revoke"),
        "{}",
        revoked.stdout
    );
    // At once, not within a minute.
    for token in [typed.token(), handed.token()] {
        let refused = app.restore(&token).await;
        assert_eq!(refused.status, 401, "{:?}", refused.body);
    }
    // The customer's own login, and another kiosk's, stand.
    assert_eq!(app.restore(&web.token()).await.status, 200);
    assert_eq!(app.restore(&elsewhere.token()).await.status, 200);

    // This instance read the registry before the revocation and may take the key for up to
    // a minute: what it makes meanwhile, the next run ends.
    let late = start_at(&app, &kiosk.key, &phone).await;
    assert_eq!(late.status, 200, "{:?}", late.body);
    let again = run_admin(&["kiosk", "revoke", &kiosk.id], &[]);
    assert!(again.ok, "{}", again.stderr);
    assert!(again.stdout.contains("already revoked"), "{}", again.stdout);
    assert!(
        again.stdout.contains("1 login made at kiosk"),
        "{}",
        again.stdout
    );
    assert_eq!(app.restore(&late.token()).await.status, 401);
    assert_eq!(app.restore(&web.token()).await.status, 200);

    // The customer's history says which kiosk's logins were ended.
    let export = app
        .send(with_token(event("auth-me-export"), &web.token()))
        .await;
    assert_eq!(export.status, 200, "{:?}", export.body);
    let ended: Vec<&Value> = export.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "revocation")
        .collect();
    assert_eq!(ended.len(), 3, "{ended:?}");
    assert!(
        ended.iter().all(|e| e["kiosk"] == kiosk.id.as_str()),
        "{ended:?}"
    );
}

#[tokio::test]
async fn one_key_is_never_registered_for_two_kiosks() {
    let key = format!(
        "moved-in-kiosk-key-{}",
        hex::encode(rand::random::<[u8; 8]>())
    );
    let (first, second) = (unique("till"), unique("till"));
    let add = |id: &str| {
        run_admin(
            &[
                "kiosk",
                "add",
                "--store",
                "s",
                "--label",
                "Moved in",
                "--id",
                id,
                "--key-from-env",
                "KEY",
            ],
            &[("KEY", &key)],
        )
    };
    assert!(add(&first).ok);
    // The same kiosk again changes nothing; another kiosk with its key is refused.
    assert!(add(&first).ok);
    let refused = add(&second);
    assert!(!refused.ok, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains(&format!("registered already, to kiosk {first}")),
        "{}",
        refused.stderr
    );
    // A revoked kiosk's key is not given to another either.
    assert!(run_admin(&["kiosk", "revoke", &first], &[]).ok);
    let refused = add(&second);
    assert!(!refused.ok, "{}", refused.stdout);
    assert!(refused.stderr.contains("revoked"), "{}", refused.stderr);
    assert!(!run_admin(&["kiosk", "list"], &[]).stdout.contains(&second));
}

#[tokio::test]
async fn a_key_that_two_active_kiosks_share_anyway_is_refused_for_both() {
    // As two operators adding one key at the same moment could leave the table.
    let app = App::new().await;
    let key = format!(
        "shared-kiosk-key-{}",
        hex::encode(rand::random::<[u8; 16]>())
    );
    for id in [unique("till"), unique("till")] {
        setup::register_kiosk(&app.state.store, (&id, "s", "Twin"), &key)
            .await
            .expect("register a kiosk");
    }
    let refused = start_at(&app, &key, &unique_phone()).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    // Other kiosks are unaffected.
    let started = start_at(&app, &app.kiosk_key(), &unique_phone()).await;
    assert_eq!(started.status, 200, "{:?}", started.body);
}

#[tokio::test]
async fn a_rotated_kiosk_works_with_its_new_key_and_refuses_the_old_one() {
    let (kiosk, app, phone) = kiosk_at_work("Till to rotate").await;

    let rotated = run_admin(&["kiosk", "rotate", &kiosk.id], &[]);
    assert!(rotated.ok, "{}", rotated.stderr);
    let new_key = rotated.stdout.trim().to_string();
    assert_eq!(new_key.len(), 43);
    assert_ne!(new_key, kiosk.key);
    outwait_the_registry().await;
    let renewed = start_at(&app, &new_key, &phone).await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    assert_eq!(start_at(&app, &kiosk.key, &phone).await.status, 401);
    // Still the same kiosk, at the same store.
    let logins = app
        .send(with_token(event("auth-sessions"), &renewed.token()))
        .await;
    let login = login_of(&logins, &renewed.token());
    assert_eq!(login["kiosk"], kiosk.id.as_str());
    assert_eq!(login["store"], kiosk.store.as_str());
    assert!(listed(&kiosk.id).contains("rotated"));
}

#[tokio::test]
async fn a_revoked_kiosk_cannot_be_rotated_and_bad_kiosk_commands_say_why() {
    let kiosk = add_kiosk("Till gone for good");
    assert!(run_admin(&["kiosk", "revoke", &kiosk.id], &[]).ok);
    let rotate = run_admin(&["kiosk", "rotate", &kiosk.id], &[]);
    assert!(!rotate.ok, "a revoked kiosk was rotated: {}", rotate.stdout);
    assert!(rotate.stdout.is_empty(), "no key is printed");
    assert!(rotate.stderr.contains("revoked"), "{}", rotate.stderr);

    let given_key = [
        "kiosk",
        "add",
        "--store",
        "s",
        "--label",
        "x",
        "--key-from-env",
        "KEY",
    ];
    for (args, extra, says) in [
        (
            vec!["kiosk", "rotate", "no-such-kiosk"],
            vec![],
            "no kiosk has id",
        ),
        (
            vec!["kiosk", "add", "--store", "Main Street", "--label", "x"],
            vec![],
            "lowercase",
        ),
        (
            vec![
                "kiosk", "add", "--store", "s", "--label", "x", "--id", &kiosk.id,
            ],
            vec![],
            "taken",
        ),
        (given_key.to_vec(), vec![("KEY", "too-short")], "characters"),
        // A public development key, outside a developer's machine.
        (
            given_key.to_vec(),
            vec![
                ("KEY", "dev-kiosk-key-0000000000000001"),
                ("OMNISESSION_LOCAL_DEV", "0"),
            ],
            "development value",
        ),
        (vec!["kiosk", "revoke"], vec![], "one kiosk id"),
    ] {
        let run = run_admin(&args, &extra);
        assert!(!run.ok, "{args:?} succeeded: {}", run.stdout);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test]
async fn the_agent_sees_the_stores_a_customer_visited_sorted_and_once_each() {
    let app = App::new().await;
    let [mall, airport, station] = [
        register(&app, "Mall kiosk").await,
        register(&app, "Airport kiosk").await,
        register(&app, "Station kiosk").await,
    ];
    let (phone, web) = app.new_customer().await;
    for at in [&mall, &airport, &mall] {
        let started = start_at(&app, &at.key, &phone).await;
        assert_eq!(started.status, 200, "{:?}", started.body);
        assert_eq!(started.session_id(), web.session_id());
    }
    // The QR handoff to a kiosk at a third store.
    let code = app.qr_init(&web.token()).await.text("/qr_token").unwrap();
    let handed = app.qr_verify(&code, &station.key).await;
    assert_eq!(handed.status, 200, "{:?}", handed.body);

    let context = app
        .agent("session-sid-context", &web.session_id(), None)
        .await;
    assert_eq!(context.status, 200, "{:?}", context.body);
    let mut expected = vec![
        mall.store.clone(),
        airport.store.clone(),
        station.store.clone(),
    ];
    expected.sort();
    assert_eq!(context.body["stores_visited"], json!(expected));

    // A customer who never met a kiosk visited no store.
    let (_, online) = app.new_customer().await;
    let context = app
        .agent("session-sid-context", &online.session_id(), None)
        .await;
    assert_eq!(context.body["stores_visited"], json!([]));
}

#[tokio::test]
async fn kiosk_logins_name_their_kiosk_and_store_in_the_login_list_events_and_export() {
    let app = App::new().await;
    let (kiosk, handoff) = (
        register(&app, "Till 3").await,
        register(&app, "Till 4").await,
    );
    let (_, web, typed, handed) = met_at(&app, &kiosk, &handoff).await;

    let logins = app
        .send(with_token(event("auth-sessions"), &web.token()))
        .await;
    assert_eq!(logins.status, 200, "{:?}", logins.body);
    for (token, at) in [(typed.token(), &kiosk), (handed.token(), &handoff)] {
        let login = login_of(&logins, &token);
        assert_eq!(login["kiosk"], at.id.as_str(), "{login:?}");
        assert_eq!(login["store"], at.store.as_str(), "{login:?}");
    }
    let own = login_of(&logins, &web.token());
    assert!(
        own.get("kiosk").is_none() && own.get("store").is_none(),
        "{own:?}"
    );

    let export = app
        .send(with_token(event("auth-me-export"), &web.token()))
        .await;
    assert_eq!(export.status, 200, "{:?}", export.body);
    let kiosk_events: Vec<(&str, &str)> = export.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "login" && e["channel"] == "kiosk")
        .map(|e| {
            (
                e["kiosk"].as_str().unwrap_or("?"),
                e["store"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        kiosk_events,
        [
            (kiosk.id.as_str(), kiosk.store.as_str()),
            (handoff.id.as_str(), handoff.store.as_str())
        ]
    );
    let mut stores = vec![kiosk.store.clone(), handoff.store.clone()];
    stores.sort();
    assert_eq!(export.body["stores_visited"], json!(stores));
    assert!(!export.body.to_string().contains(&kiosk.key));
}

#[tokio::test]
async fn concurrent_first_kiosk_requests_read_the_registry_once_and_made_up_keys_do_not_scan() {
    let probe = Probe::default();
    let app = App::counting(probe.clone()).await;
    let scans = |probe: &Probe| {
        probe
            .take()
            .iter()
            .filter(|call| call.input.name() == "Scan")
            .count()
    };
    probe.take();
    let key = app.dev_kiosk_key();
    let phones: Vec<String> = (0..10).map(|_| unique_phone()).collect();
    let replies = join_all(phones.iter().map(|phone| start_at(&app, &key, phone))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    assert_eq!(scans(&probe), 1, "the instance's first kiosk requests");

    // A spray of made-up keys: refused from memory, at most one Scan per 5 s between them.
    let made_up: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "made-up-kiosk-key-{i:02}-{}",
                hex::encode(rand::random::<[u8; 8]>())
            )
        })
        .collect();
    let replies = join_all(made_up.iter().map(|key| start_at(&app, key, &phones[0]))).await;
    assert!(replies.iter().all(|r| r.status == 401), "{replies:?}");
    assert!(scans(&probe) <= 1, "a made-up key read the registry");
}

#[tokio::test]
async fn a_kiosks_qr_lockout_outlives_its_key_and_locks_no_other_kiosk() {
    let (kiosk, app, _) = kiosk_at_work("Till that guesses").await;
    let bad = |key: &str| {
        let body = json!({"qr_token": "x".repeat(27), "channel": "kiosk"});
        from_ip(
            with_header(
                with_body(event("auth-qr-verify"), &body),
                "x-kiosk-key",
                key,
            ),
            "203.0.113.77",
        )
    };
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.send(bad(&kiosk.key)).await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The bucket is the kiosk's (by id), not its key's.
    let rotated = run_admin(&["kiosk", "rotate", &kiosk.id], &[]);
    assert!(rotated.ok, "{}", rotated.stderr);
    outwait_the_registry().await;
    let still = app.send(bad(rotated.stdout.trim())).await;
    assert_eq!(still.status, 429, "{:?}", still.body);
    // Another kiosk at the same address is not locked.
    assert_eq!(app.send(bad(&app.kiosk_key())).await.status, 401);
}
