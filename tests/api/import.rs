//! Importing the old system's customers.csv.

use omnisession::phone::PhoneNumber;
use omnisession_admin::import::import_customers;

use crate::helpers::*;

#[tokio::test]
async fn import_keeps_ids_normalises_phones_reports_bad_rows_and_is_idempotent() {
    let app = App::new().await;
    let tag = rand::random::<u32>();
    let (p1, p2) = (unique_phone(), unique_phone());
    let national = p2.trim_start_matches("+91");
    let csv = format!(
        "customer_id,name,phone_number,age,gender,city,building_name,address_landmark,extra\n\
         imp{tag}a,Meera,{p1},30,female,Delhi,Tower 1,Near metro,ignored\n\
         imp{tag}b,Kabir,{national},41.0,,Goa,,,\n\
         imp{tag}c,NoPhone,12345,,,,,,\n\
         imp{tag}d,,{p1},,,,,,\n\
         imp{tag}e,Thief,{p1},,,,,,\n"
    );
    let report = import_customers(
        &app.state.store,
        app.state.config.phone_region,
        csv.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(report.created, 2);
    let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [4, 5, 6], "{:?}", report.rejected);
    assert!(report.rejected[0].1.contains("phone_number"));
    assert!(report.rejected[1].1.contains("name"));
    assert!(report.rejected[2].1.contains("already belongs to customer"));

    let region = app.state.config.phone_region;
    let kabir = app
        .state
        .store
        .customer_by_phone(&PhoneNumber::parse(&p2, region).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kabir.customer_id, format!("imp{tag}b"));
    assert_eq!(kabir.age, Some(41));
    assert_eq!(kabir.phone_number, p2);
    assert_eq!(
        app.state
            .store
            .customer_by_id(&format!("imp{tag}a"))
            .await
            .unwrap()
            .unwrap()
            .name,
        "Meera"
    );

    let again = import_customers(&app.state.store, region, csv.as_bytes())
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.updated, again.rejected.len()),
        (0, 2, 3)
    );
}

#[tokio::test]
async fn an_imported_customer_keeps_a_password_set_later() {
    let app = App::new().await;
    let phone = unique_phone();
    let csv = format!(
        "customer_id,name,phone_number\nimp{}x,Zoya,{phone}\n",
        rand::random::<u32>()
    );
    let region = app.state.config.phone_region;
    import_customers(&app.state.store, region, csv.as_bytes())
        .await
        .unwrap();
    let parsed = PhoneNumber::parse(&phone, region).unwrap();
    let password = omnisession::passwords::Password::parse("zoya-pass".into()).unwrap();
    let hash = app.state.passwords.hash(&password).await.unwrap();
    assert!(
        app.state
            .store
            .set_password_hash(&parsed, &hash, None, "2026-11-27T00:00:00.000Z")
            .await
            .unwrap()
            .is_some()
    );
    import_customers(&app.state.store, region, csv.as_bytes())
        .await
        .unwrap();
    assert_eq!(app.login(&phone, "zoya-pass", "web").await.status, 200);
}
