//! Every sample event in `events/` is accepted by the handler that serves its route, with
//! only the session token filled in (as a `sam local invoke` user would).

use omnisession::routes::Route;
use omnisession_admin::import::import_customers;
use omnisession_testkit::Function;

use crate::helpers::*;

/// The demo customer of the local stack: customer 103, +919876543210, test123.
pub(crate) async fn ensure_demo_customer(app: &App) {
    let csv = std::fs::read(repo_root().join("demo/customers.csv")).unwrap();
    import_customers(
        &app.state.store,
        app.state.config.phone_region,
        csv.as_slice(),
    )
    .await
    .unwrap();
    let phone =
        omnisession::phone::PhoneNumber::parse(DEMO_PHONE, app.state.config.phone_region).unwrap();
    let password = omnisession::passwords::Password::parse(DEMO_PASSWORD.into()).unwrap();
    let hash = app.state.passwords.hash(&password).await.unwrap();
    app.state
        .store
        .set_password_hash(&phone, &hash, None, "2026-11-27T00:00:00.000Z")
        .await
        .unwrap();
}

#[tokio::test]
async fn every_sample_event_is_served_by_its_handler() {
    let app = App::new().await;
    ensure_demo_customer(&app).await;

    let start = app.send(event("session-start")).await;
    assert_eq!(start.status, 200, "session-start: {:?}", start.body);
    assert_eq!(start.body["customer"]["customer_id"], "103");
    let login = app.send(event("auth-login")).await;
    assert_eq!(login.status, 200, "auth-login: {:?}", login.body);
    assert_eq!(login.session_id(), start.session_id());
    let whatsapp = app.send(app.signed_now(event("session-login"))).await;
    assert_eq!(whatsapp.status, 200, "session-login: {:?}", whatsapp.body);
    assert_eq!(whatsapp.session_id(), start.session_id());

    let token = login.token();
    for name in ["session-update", "session-restore", "session-end"] {
        let reply = app.send(with_token(event(name), &token)).await;
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
    }
    let logout = app
        .send(with_token(event("auth-logout"), &whatsapp.token()))
        .await;
    assert_eq!(logout.status, 200, "auth-logout: {:?}", logout.body);

    // The signup sample's phone is fixed, so it may be registered by an earlier run.
    let signup = app.send(event("auth-signup")).await;
    assert!(
        [201, 409].contains(&signup.status),
        "auth-signup: {:?}",
        signup.body
    );
}

/// `events/<slug>.json` for a route: the path with `/` as `-` and `{param}` as `param`,
/// plus `-get`/`-post` where one path has both.
fn event_name(routes: &[Route], method: &str, path: &str) -> String {
    let slug = path
        .trim_start_matches('/')
        .replace('/', "-")
        .replace(['{', '}'], "");
    let methods = routes.iter().filter(|r| r.path == path).count();
    if methods > 1 {
        format!("{slug}-{}", method.to_ascii_lowercase())
    } else {
        slug
    }
}

/// A sample's path as its route's template: the placeholders back to `{param}`.
fn route_path(sample: &str) -> String {
    sample
        .replace("REPLACE_WITH_SESSION_ID", "{sid}")
        .replace("REPLACE_WITH_LINK_ID", "{link_id}")
        .replace("REPLACE_WITH_LOGIN_ID", "{login_id}")
}

#[test]
fn every_route_has_a_sample_event() {
    let mut missing = Vec::new();
    for routes in [
        session::ROUTES,
        auth::ROUTES,
        qr::ROUTES,
        sales_memory::ROUTES,
        Function::WhatsApp.routes(),
        Function::Verify.routes(),
    ] {
        for Route { method, path, .. } in routes {
            let req = event(&event_name(routes, method, path));
            let sample_path = route_path(req.uri().path());
            if req.method().as_str() != *method || sample_path != *path {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "events/ lacks {missing:?}");
}

#[tokio::test]
async fn every_qr_and_memory_sample_is_served_by_its_handler() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let sid = web.session_id();
    let init = app
        .send(with_token(event("auth-qr-init"), &web.token()))
        .await;
    assert_eq!(init.status, 200, "auth-qr-init: {:?}", init.body);
    let body = event("auth-qr-verify")
        .body()
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace(
            "REPLACE_WITH_QR_TOKEN",
            init.body["qr_token"].as_str().unwrap(),
        );
    let verify = app
        .send(with_raw_body(event("auth-qr-verify"), &body))
        .await;
    assert_eq!(verify.status, 200, "auth-qr-verify: {:?}", verify.body);

    for Route { method, path, .. } in sales_memory::ROUTES {
        let name = event_name(sales_memory::ROUTES, method, path);
        let reply = app.send(memory_event(&name, &sid)).await;
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
    }
}

#[test]
fn every_file_in_events_is_an_api_gateway_v2_request_for_a_real_route() {
    let routes: Vec<(&str, &str)> = Function::all_routes()
        .map(|(_, r)| (r.method, r.path))
        .collect();
    let mut files = 0;
    for entry in std::fs::read_dir(repo_root().join("events")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let sample: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            sample["version"],
            "2.0",
            "{}: payload format 2.0",
            path.display()
        );
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let route_path = route_path(req.uri().path());
        assert!(
            routes
                .iter()
                .any(|(m, p)| *m == req.method().as_str() && *p == route_path),
            "{}: {} {route_path} is no route of the code",
            path.display(),
            req.method()
        );
        files += 1;
    }
    assert!(files >= routes.len());
}
