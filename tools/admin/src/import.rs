//! Imports the old system's customers.csv (`customer_id, name, phone_number, age, gender,
//! city, building_name, address_landmark`; other columns are ignored). Idempotent: ids
//! are kept, phones normalised to E.164, a row loaded twice is updated in place, and bad
//! rows are reported by line number while the rest load.

use std::collections::HashMap;
use std::io::Read;

use chrono::Utc;
use omnisession::model::{parse_name, parse_profile_field, rfc3339};
use omnisession::phone::{PhoneNumber, Region};
use omnisession::store::{CustomerItem, ImportOutcome, Store, StoreError};

#[derive(Debug, Default)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    /// (line number in the file, reason).
    pub rejected: Vec<(u64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("customers.csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("customers.csv: missing column {0:?}")]
    MissingColumn(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const REQUIRED: [&str; 3] = ["customer_id", "name", "phone_number"];
const OPTIONAL: [&str; 5] = ["age", "gender", "city", "building_name", "address_landmark"];

/// Turns one CSV row into a customer record, or says what is wrong with it.
fn parse_row(row: &HashMap<&str, &str>, region: Region, now: &str) -> Result<CustomerItem, String> {
    let get = |k: &str| row.get(k).copied().unwrap_or("").trim();
    let id = get("customer_id");
    // Spreadsheets turn 103 into 103.0.
    let id = id.strip_suffix(".0").unwrap_or(id);
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "customer_id {id:?} must be 1-64 letters, digits, '_' or '-'"
        ));
    }
    let name = parse_name(get("name")).map_err(|e| format!("name {e}"))?;
    let phone = PhoneNumber::parse(get("phone_number"), region)
        .map_err(|e| format!("phone_number {:?} {e}", get("phone_number")))?;
    let age = match get("age") {
        "" => None,
        raw => Some(
            raw.parse::<f64>()
                .ok()
                .filter(|a| a.fract() == 0.0 && (1.0..=130.0).contains(a))
                .map(|a| a as u32)
                .ok_or_else(|| format!("age {raw:?} must be a whole number from 1 to 130"))?,
        ),
    };
    let field =
        |k: &str| parse_profile_field(Some(get(k).to_string())).map_err(|e| format!("{k} {e}"));
    let mut customer = CustomerItem::new(id.to_string(), &phone, name, now);
    customer.age = age;
    customer.gender = field("gender")?;
    customer.city = field("city")?;
    customer.building_name = field("building_name")?;
    customer.address_landmark = field("address_landmark")?;
    Ok(customer)
}

pub async fn import_customers(
    store: &Store,
    region: Region,
    input: impl Read,
) -> Result<ImportReport, ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    for column in REQUIRED {
        if !headers.iter().any(|h| h == column) {
            return Err(ImportError::MissingColumn(column));
        }
    }
    let now = rfc3339(Utc::now());
    let mut report = ImportReport::default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                report.rejected.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let row: HashMap<&str, &str> = headers
            .iter()
            .map(String::as_str)
            .filter(|h| REQUIRED.contains(h) || OPTIONAL.contains(h))
            .zip(record.iter())
            .collect();
        let customer = match parse_row(&row, region, &now) {
            Ok(c) => c,
            Err(reason) => {
                report.rejected.push((line, reason));
                continue;
            }
        };
        match store.import_customer(&customer).await? {
            ImportOutcome::Created => report.created += 1,
            ImportOutcome::Updated => report.updated += 1,
            ImportOutcome::Rejected(reason) => report.rejected.push((line, reason)),
        }
    }
    Ok(report)
}
