//! Verification codes (`functions/verify`): sent through the real courier to this test
//! process's stand-in, read back from what the "customer" received, and typed back to log
//! in, to reset a password, or to step a login up.

use std::time::{Duration, Instant};

use omnisession_testkit::standin::standin;
use serde_json::{Value, json};

use crate::helpers::*;

/// The fields of a send's answer, without the times.
fn shape(reply: &Reply) -> (u16, Vec<String>) {
    let keys = reply
        .body
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    (reply.status, keys)
}

#[tokio::test]
async fn a_customer_who_forgot_the_password_resets_it_with_a_code() {
    let app = App::with_standin(&[]).await;
    let (phone, web) = app.new_customer().await;
    app.update(
        &web.token(),
        json!({"messages": [{"role": "user", "content": "red shoes?"}]}),
    )
    .await;
    let kiosk = app.login(&phone, "secret-pass", "kiosk").await;

    let sent = app.send_code(&phone, "reset").await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    assert!(sent.body["expires_at"].is_string() && sent.body["resend_after"].is_string());
    let message = standin().outbox(&phone).pop().unwrap();
    assert_eq!(message["via"], "whatsapp");
    let code = app.last_code(&phone);

    let reset = app
        .verify_code(
            &phone,
            &code,
            "reset",
            json!({"new_password": "a brand new pass"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    // The session (and its history) stays; every other login ended.
    assert_eq!(reset.session_id(), web.session_id());
    let chat = reset.body["session"]["chat_context"].as_array().unwrap();
    assert!(chat.iter().any(|m| m["content"] == "red shoes?"));
    assert_eq!(app.restore(&web.token()).await.status, 401);
    assert_eq!(app.restore(&kiosk.token()).await.status, 401);
    assert_eq!(app.restore(&reset.token()).await.status, 200);
    // Password level: the personal record is shown.
    assert_eq!(reset.body["customer"]["city"], "Pune");
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 401);
    assert_eq!(
        app.login(&phone, "a brand new pass", "web").await.status,
        200
    );
    // Single use.
    let again = app
        .verify_code(
            &phone,
            &code,
            "reset",
            json!({"new_password": "another new pass"}),
        )
        .await;
    assert_eq!(again.status, 401, "{:?}", again.body);
}

#[tokio::test]
async fn a_reset_checks_the_new_password_before_it_spends_a_try() {
    let app = App::with_standin(&[]).await;
    let (phone, _) = app.new_customer().await;
    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let code = app.last_code(&phone);
    for (extra, field) in [
        (json!({}), "new_password"),
        (json!({"new_password": "123"}), "new_password"),
    ] {
        let reply = app.verify_code(&phone, &code, "reset", extra).await;
        assert_eq!(reply.status, 400, "{:?}", reply.body);
        assert!(reply.detail().contains(field), "{}", reply.detail());
    }
    let wrong_code = app.verify_code(&phone, "12345", "login", json!({})).await;
    assert_eq!(wrong_code.status, 400);
    assert!(wrong_code.detail().contains("code"));
    // The code is still good: nothing above took one of its tries.
    let reset = app
        .verify_code(
            &phone,
            &code,
            "reset",
            json!({"new_password": "fine new pass"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
}

#[tokio::test]
async fn known_and_unknown_phones_get_the_same_answer_even_when_delivery_fails() {
    let app = App::with_standin(&[]).await;
    let (known, _) = app.new_customer().await;
    let unknown = unique_phone();
    let a = app.send_code(&known, "reset").await;
    let b = app.send_code(&unknown, "reset").await;
    assert_eq!(shape(&a), shape(&b));
    assert_eq!(a.status, 202);
    // Both got a code: a code proves the phone whether or not it has an account.
    assert_eq!(standin().outbox(&known).len(), 1);
    assert_eq!(standin().outbox(&unknown).len(), 1);

    // Neither channel works: still the same 202, and nothing reached anyone.
    let (down_known, down_unknown) = (known.clone(), unique_phone());
    for phone in [&down_known, &down_unknown] {
        standin().fail(phone, "whatsapp", "5xx", None);
        standin().fail(phone, "sms", "5xx", None);
    }
    let before = standin().outbox(&down_known).len();
    let c = app.send_code(&down_known, "login").await;
    let d = app.send_code(&down_unknown, "login").await;
    assert_eq!(shape(&c), shape(&a));
    assert_eq!(shape(&d), shape(&a));
    assert_eq!(standin().outbox(&down_known).len(), before);
    assert!(standin().outbox(&down_unknown).is_empty());
}

/// The same DynamoDB calls, in the same order, for a phone with an account and one
/// without: a send never looks the phone up, so its time tells nothing either (timing
/// itself is for benchmarks, not tests).
#[tokio::test]
async fn a_send_does_the_same_work_for_known_and_unknown_phones() {
    let probe = Probe::default();
    let app = App::counting(probe.clone()).await;
    let (known, _) = app.new_customer().await;
    probe.take();
    assert_eq!(app.send_code(&known, "reset").await.status, 202);
    let for_known = probe.take_round_trips();
    assert_eq!(app.send_code(&unique_phone(), "reset").await.status, 202);
    let for_unknown = probe.take_round_trips();
    assert_eq!(for_known, for_unknown);
    // The phone's sends, the caller's hour, the new sends record, the code.
    assert_eq!(
        for_known,
        ["BatchGetItem", "UpdateItem", "PutItem", "PutItem"]
    );
}

#[tokio::test]
async fn a_number_not_on_whatsapp_gets_the_code_by_sms() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    standin().fail(&phone, "whatsapp", "not_on_whatsapp", None);
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let outbox = standin().outbox(&phone);
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["via"], "sms");
    let login = app
        .verify_code(&phone, &app.last_code(&phone), "login", json!({}))
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
}

#[tokio::test]
async fn a_delivery_that_hangs_is_given_up_within_the_functions_time() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    standin().fail(&phone, "whatsapp", "timeout", None);
    standin().fail(&phone, "sms", "timeout", None);
    let started = Instant::now();
    let sent = app.send_code(&phone, "login").await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    // `http::serve` answers 503 at 9 s: the delivery must be given up well before.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn three_sends_per_phone_in_a_quarter_hour_then_429() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    for _ in 0..3 {
        assert_eq!(app.send_code(&phone, "login").await.status, 202);
    }
    let refused = app.send_code(&phone, "reset").await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error_type"], "rate_limited");
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&wait), "{wait}");
    assert_eq!(standin().outbox(&phone).len(), 3);
    // Another phone is not held up.
    assert_eq!(app.send_code(&unique_phone(), "login").await.status, 202);
}

#[tokio::test]
async fn one_address_cannot_pump_codes_to_many_numbers() {
    let app = App::with_standin(&[]).await;
    let caller = format!("198.18.{}.{}", rand::random::<u8>(), rand::random::<u8>());
    let send = |phone: String| {
        let body = json!({"phone_number": phone, "purpose": "login"});
        app.send(from_ip(with_body(event("auth-code-send"), &body), &caller))
    };
    let cap = omnisession::service::proof::SENDS_PER_ADDRESS_HOUR;
    for _ in 0..cap {
        assert_eq!(send(unique_phone()).await.status, 202);
    }
    let refused = send(unique_phone()).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    // A kiosk's sends count against its key, not the store's address.
    let body = json!({"phone_number": unique_phone(), "purpose": "login"});
    let kiosk = from_ip(with_body(event("auth-code-send"), &body), &caller);
    let kiosk = with_header(kiosk, "x-kiosk-key", &app.kiosk_key());
    assert_eq!(app.send(kiosk).await.status, 202);
}

#[tokio::test]
async fn five_wrong_tries_end_the_code_even_when_sent_at_once() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let code = app.last_code(&phone);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    // Twelve guesses at once, the right one last: only five are ever compared.
    let mut guesses: Vec<_> = (0..11)
        .map(|_| app.verify_code(&phone, &wrong, "login", json!({})))
        .collect();
    guesses.push(app.verify_code(&phone, &code, "login", json!({})));
    let replies = futures::future::join_all(guesses).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert!(statuses[..11].iter().all(|s| *s == 401), "{statuses:?}");
    let right = replies.last().unwrap();
    if right.status == 200 {
        // It was among the first five compared: fine, but then it was used up.
        assert_eq!(
            app.verify_code(&phone, &code, "login", json!({}))
                .await
                .status,
            401
        );
    } else {
        assert_eq!(right.status, 401);
    }
    // Either way the code is gone now.
    let late = app.verify_code(&phone, &code, "login", json!({})).await;
    assert_eq!(late.status, 401, "{:?}", late.body);
    assert!(
        late.detail().contains("request a new one"),
        "{}",
        late.detail()
    );

    // In sequence: five wrong, then the right one is refused.
    let other = unique_phone();
    assert_eq!(app.send_code(&other, "login").await.status, 202);
    let code = app.last_code(&other);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 7) % 1_000_000);
    for _ in 0..5 {
        assert_eq!(
            app.verify_code(&other, &wrong, "login", json!({}))
                .await
                .status,
            401
        );
    }
    assert_eq!(
        app.verify_code(&other, &code, "login", json!({}))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn of_two_verifies_of_one_code_exactly_one_wins() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let code = app.last_code(&phone);
    let replies = futures::future::join_all(
        (0..4).map(|_| app.verify_code(&phone, &code, "login", json!({}))),
    )
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_login_code_makes_a_new_phone_a_customer_at_password_level() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let login = app
        .verify_code(&phone, &app.last_code(&phone), "login", json!({}))
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["reused"], false);
    assert_eq!(login.body["customer"]["phone_number"], phone.as_str());
    // Password level: it may make a QR code, which a phone-level login may not.
    assert_eq!(app.qr_init(&login.token()).await.status, 200);
    // WhatsApp joins the same session.
    let whatsapp = app.whatsapp_login(&phone, "Asha").await;
    assert_eq!(whatsapp.session_id(), login.session_id());
    // A code is for its purpose only.
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let code = app.last_code(&phone);
    let reply = app
        .verify_code(
            &phone,
            &code,
            "reset",
            json!({"new_password": "some new pass"}),
        )
        .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn a_kiosk_login_by_phone_is_stepped_up_in_place_by_a_code() {
    let app = App::with_standin(&[]).await;
    let (phone, _) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(kiosk.status, 200);
    assert_eq!(app.qr_init(&kiosk.token()).await.status, 403);
    // The kiosk asks for the code with its key; the customer reads it off their phone.
    let body = json!({"phone_number": phone, "purpose": "login"});
    let send = with_header(
        with_body(event("auth-code-send"), &body),
        "x-kiosk-key",
        &app.kiosk_key(),
    );
    assert_eq!(app.send(send).await.status, 202);
    let body = json!({"phone_number": phone, "code": app.last_code(&phone), "purpose": "login", "channel": "kiosk"});
    let verify = with_header(
        with_body(event("auth-code-verify"), &body),
        "x-kiosk-key",
        &app.kiosk_key(),
    );
    let stepped = app.send(with_token(verify, &kiosk.token())).await;
    assert_eq!(stepped.status, 200, "{:?}", stepped.body);
    // The same token, now at password level.
    assert_eq!(stepped.token(), kiosk.token());
    assert_eq!(stepped.session_id(), kiosk.session_id());
    assert_eq!(stepped.body["customer"]["city"], "Pune");
    assert_eq!(app.qr_init(&kiosk.token()).await.status, 200);

    // A token of another phone cannot be stepped up by this phone's code.
    let (other, _) = app.new_customer().await;
    let other_kiosk = app.kiosk_start(&other).await;
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let body = json!({"phone_number": phone, "code": app.last_code(&phone), "purpose": "login", "channel": "kiosk"});
    let verify = with_header(
        with_body(event("auth-code-verify"), &body),
        "x-kiosk-key",
        &app.kiosk_key(),
    );
    let refused = app.send(with_token(verify, &other_kiosk.token())).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
}

#[tokio::test]
async fn kiosk_codes_need_the_kiosk_key() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let body = json!({"phone_number": phone, "code": app.last_code(&phone), "purpose": "login", "channel": "kiosk"});
    let reply = app.send(with_body(event("auth-code-verify"), &body)).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    let forged = with_header(
        with_body(event("auth-code-send"), &body),
        "x-kiosk-key",
        "not-a-kiosk-key-at-all",
    );
    assert_eq!(app.send(forged).await.status, 401);
}

#[tokio::test]
async fn a_customer_known_only_by_whatsapp_sets_a_password_with_a_reset_code() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    let whatsapp = app.whatsapp_login(&phone, "Ravi").await;
    assert_eq!(whatsapp.status, 200);
    let signup = app.signup(&phone, "my own pass", "web").await;
    assert_eq!(signup.status, 409);
    assert!(signup.detail().contains("reset"), "{}", signup.detail());

    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let reset = app
        .verify_code(
            &phone,
            &app.last_code(&phone),
            "reset",
            json!({"new_password": "my own pass"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    assert_eq!(reset.session_id(), whatsapp.session_id());
    assert_eq!(app.login(&phone, "my own pass", "web").await.status, 200);
}

#[tokio::test]
async fn a_stranger_who_signs_up_someones_phone_loses_it_to_the_owner() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    let squatter = app.signup(&phone, "squatters pass", "web").await;
    assert_eq!(squatter.status, 201);
    app.update(
        &squatter.token(),
        json!({"messages": [{"role": "user", "content": "planted"}]}),
    )
    .await;

    // The owner writes on WhatsApp: a proof of the phone. Their words do not land in the
    // squatter's session, and the squatter is out.
    let words = "my private question";
    assert_eq!(
        app.webhook(&delivery(&[(&phone[1..], &wamid(), words)], "Owner"))
            .await
            .status,
        200
    );
    assert_eq!(app.restore(&squatter.token()).await.status, 401);
    assert_eq!(app.login(&phone, "squatters pass", "web").await.status, 401);
    let owner = app.whatsapp_login(&phone, "Owner").await;
    assert_ne!(owner.session_id(), squatter.session_id());
    let chat = owner.body["session"]["chat_context"].to_string();
    assert!(chat.contains(words) && !chat.contains("planted"), "{chat}");
    // The squatter's record went with the password.
    assert_ne!(owner.body["customer"]["name"], "Test Customer");

    // The owner sets a password with a reset code; the phone is theirs.
    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let reset = app
        .verify_code(
            &phone,
            &app.last_code(&phone),
            "reset",
            json!({"new_password": "owners own pass"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    assert_eq!(reset.session_id(), owner.session_id());
}

#[tokio::test]
async fn an_unproven_signup_keeps_its_session_to_itself_until_proven() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    let signup = app.signup(&phone, "honest pass", "web").await;
    assert_eq!(signup.status, 201);
    // A second device with the password joins the account's own session.
    let again = app.login(&phone, "honest pass", "kiosk").await;
    assert_eq!(again.session_id(), signup.session_id());

    // Right after signup the page proves the phone with a code, on the same token.
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let code = app.last_code(&phone);
    let proven = app
        .send(with_token(
            with_body(
                event("auth-code-verify"),
                &json!({"phone_number": phone, "code": code, "purpose": "login", "channel": "web"}),
            ),
            &signup.token(),
        ))
        .await;
    assert_eq!(proven.status, 200, "{:?}", proven.body);
    assert_eq!(proven.token(), signup.token());
    // Proven: WhatsApp now joins it, and nobody was signed out.
    let whatsapp = app.whatsapp_login(&phone, "Meera").await;
    assert_eq!(whatsapp.session_id(), signup.session_id());
    assert_eq!(app.restore(&again.token()).await.status, 200);
    assert_eq!(app.login(&phone, "honest pass", "web").await.status, 200);
}

#[tokio::test]
async fn a_kiosk_by_typed_phone_sees_nothing_earlier_when_history_waits_for_proof() {
    let app = App::with_standin(&[("KIOSK_PHONE_HISTORY", "after_proof")]).await;
    let (phone, web) = app.new_customer().await;
    let earlier = json!({"messages": [{"role": "user", "content": "my secret size"}],
        "cart": [{"sku": "SHOE-1", "quantity": 1, "price": 10.0}]});
    assert_eq!(app.update(&web.token(), earlier).await.status, 200);

    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(kiosk.status, 200, "{:?}", kiosk.body);
    let empty = |reply: &Reply| {
        let s = &reply.body["session"];
        s["chat_context"].as_array().unwrap().is_empty()
            && s["cart"].as_array().unwrap().is_empty()
            && s["conversation_summary"] == ""
    };
    assert!(empty(&kiosk), "{:?}", kiosk.body);
    assert!(empty(&app.restore(&kiosk.token()).await));
    // The agent's views of the memory are refused to it, not a way around.
    let sid = kiosk.session_id();
    for name in [
        "session-sid-context",
        "session-sid-summary-get",
        "session-sid-cart",
    ] {
        let read = without_header(memory_event(name, &sid), "x-service-key");
        let reply = app.send(with_token(read, &kiosk.token())).await;
        assert_eq!(reply.status, 403, "{name}: {:?}", reply.body);
    }
    // What the kiosk says itself, it sees.
    let said = app
        .update(
            &kiosk.token(),
            json!({"messages": [{"role": "user", "content": "at the kiosk"}]}),
        )
        .await;
    let chat: Vec<Value> = said.body["session"]["chat_context"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert_eq!(chat[0]["content"], "at the kiosk");
    // The web login sees everything, as before.
    let web_view = app.restore(&web.token()).await;
    assert_eq!(
        web_view.body["session"]["chat_context"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Stepped up by a code, the kiosk sees the whole session.
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let body = json!({"phone_number": phone, "code": app.last_code(&phone), "purpose": "login", "channel": "kiosk"});
    let verify = with_header(
        with_body(event("auth-code-verify"), &body),
        "x-kiosk-key",
        &app.kiosk_key(),
    );
    let stepped = app.send(with_token(verify, &kiosk.token())).await;
    assert_eq!(stepped.status, 200, "{:?}", stepped.body);
    let read = without_header(memory_event("session-sid-cart", &sid), "x-service-key");
    assert_eq!(app.send(with_token(read, &kiosk.token())).await.status, 200);
    let full = app.restore(&kiosk.token()).await;
    assert_eq!(
        full.body["session"]["chat_context"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(full.body["session"]["cart"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn codes_are_stored_only_as_hmacs() {
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let code = app.last_code(&phone);
    let item = app
        .sessions_item(&format!("code#login#{phone}"))
        .await
        .unwrap();
    assert!(item.contains_key("mac"), "{item:?}");
    // Nowhere in any table, before or after it is used (a reset's new password neither).
    app.assert_stored_nowhere(std::slice::from_ref(&code)).await;
    let reset = app.verify_code(&phone, &code, "login", json!({})).await;
    assert_eq!(reset.status, 200);
    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let second = app.last_code(&phone);
    let password = "a fresh pass 2026".to_string();
    let body = json!({"new_password": password});
    assert_eq!(
        app.verify_code(&phone, &second, "reset", body).await.status,
        200
    );
    app.assert_stored_nowhere(&[code, second, password]).await;
}

/// A customer known only by their WhatsApp user id proves a phone with a code, through
/// the bot's login: the two customers become one, and that login is stepped up in the
/// phone's session.
#[tokio::test]
async fn a_code_proves_the_phone_of_a_username_customer_and_merges_them() {
    let app = App::with_standin(&[]).await;
    let (phone, web) = app.new_customer().await;
    let user = format!("IN.{}", rand::random::<u64>());
    let bot = app.whatsapp_login_user(&user, "Asha").await;
    assert_eq!(bot.status, 200, "{:?}", bot.body);
    let said = json!({"messages": [{"role": "user", "content": "said by username"}]});
    assert_eq!(app.update(&bot.token(), said).await.status, 200);

    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let body = json!({"phone_number": phone, "code": app.last_code(&phone), "purpose": "login", "channel": "web"});
    let proven = app
        .send(with_token(
            with_body(event("auth-code-verify"), &body),
            &bot.token(),
        ))
        .await;
    assert_eq!(proven.status, 200, "{:?}", proven.body);
    assert_eq!(proven.token(), bot.token());
    assert_eq!(proven.session_id(), web.session_id());
    let restore = app.restore(&web.token()).await;
    let chat = restore.body["session"]["chat_context"].to_string();
    assert!(chat.contains("said by username"), "{chat}");
    // The bot's login is at password level now.
    assert_eq!(app.qr_init(&bot.token()).await.status, 200);
}
