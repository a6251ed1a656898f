//! `omnisession-admin`: operator commands against the tables named by the environment
//! (the same variables the functions read; `config/dev.env` locally).
//!
//!   omnisession-admin create-tables [--template template.yaml] [--recreate]
//!   omnisession-admin import-customers customers.csv
//!   OMNISESSION_PASSWORD=… omnisession-admin set-password +919876543210
//!   omnisession-admin export --phone +919876543210 [--cursor …]   (JSON on stdout)
//!   omnisession-admin erase --phone +919876543210
//!   omnisession-admin kiosk add|list|revoke|rotate …   (see `kiosk::USAGE`)

use std::process::ExitCode;

use omnisession::config::Config;
use omnisession::model::rfc3339;
use omnisession::passwords::{Password, Passwords};
use omnisession::phone::PhoneNumber;
use omnisession::service::{erasure, export};
use omnisession::store::Store;
use omnisession_admin::{import, kiosk, tables};

const USAGE: &str = "usage:
  omnisession-admin create-tables [--template template.yaml] [--recreate]
  omnisession-admin import-customers <customers.csv>
  omnisession-admin set-password <phone>   (password from OMNISESSION_PASSWORD or stdin)
  omnisession-admin export --phone <phone> [--cursor <next_cursor>]   (JSON on stdout)
  omnisession-admin erase --phone <phone>   (also finishes an erasure cut short)";

/// Every command's usage, the kiosk registry's included.
fn usage() -> String {
    format!("{USAGE}\n{}", kiosk::USAGE)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("omnisession-admin: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let store = Store::connect(&config).await;
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("create-tables") => {
            let mut template = "template.yaml".to_string();
            let mut recreate = false;
            let mut rest = args.iter().skip(1);
            while let Some(a) = rest.next() {
                match a.as_str() {
                    "--recreate" => recreate = true,
                    "--template" => template = rest.next().ok_or(USAGE)?.clone(),
                    _ => return Err(USAGE.into()),
                }
            }
            let yaml =
                std::fs::read_to_string(&template).map_err(|e| format!("{template}: {e}"))?;
            let defs = tables::table_definitions(&yaml).map_err(|e| e.to_string())?;
            let names = tables::configured_names(&config.tables);
            for line in tables::create_tables(store.client(), &defs, &names, recreate)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{line}");
            }
            Ok(())
        }
        Some("import-customers") => {
            let path = arg(1).ok_or(USAGE)?;
            let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
            let report = import::import_customers(&store, config.phone_region, file)
                .await
                .map_err(|e| e.to_string())?;
            for (line, reason) in &report.rejected {
                eprintln!("{path}:{line}: rejected: {reason}");
            }
            println!(
                "{path}: {} created, {} updated, {} rejected",
                report.created,
                report.updated,
                report.rejected.len()
            );
            Ok(())
        }
        Some("set-password") => {
            let phone = PhoneNumber::parse(arg(1).ok_or(USAGE)?, config.phone_region)
                .map_err(|e| format!("phone {e}"))?;
            let raw = match std::env::var("OMNISESSION_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|e| e.to_string())?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let password = Password::parse(raw).map_err(|e| format!("password {e}"))?;
            let hash = Passwords::new(config.bcrypt_cost)
                .hash(&password)
                .await
                .map_err(|e| e.to_string())?;
            let now = rfc3339(chrono::Utc::now());
            if store
                .set_password_hash(&phone, &hash, None, &now)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
            {
                println!("password set for {phone}");
                Ok(())
            } else {
                Err(format!("no customer has phone number {phone}"))
            }
        }
        // A support request: the same use cases as the customer's own routes.
        Some("export") => {
            let phone = phone_flag(&args, &config)?;
            let cursor = flag(&args, "--cursor");
            let data = export::export(&store, &phone, cursor)
                .await
                .map_err(|e| e.to_string())?;
            println!("{data:#}");
            Ok(())
        }
        Some("erase") => {
            let phone = phone_flag(&args, &config)?;
            let erased = erasure::erase(&store, &phone, erasure::STRAGGLER_PAUSE)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{phone} erased: {} sessions, {} messages, {} other items",
                erased.sessions, erased.messages, erased.items
            );
            Ok(())
        }
        Some("kiosk") => {
            // Checked before anything is written.
            let command = kiosk::parse(&args[1..])?;
            kiosk::run(
                &store,
                command,
                |name| std::env::var(name).ok(),
                config.local_dev,
            )
            .await
        }
        _ => Err(usage()),
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

fn phone_flag(args: &[String], config: &Config) -> Result<PhoneNumber, String> {
    let raw = flag(args, "--phone").ok_or(USAGE)?;
    PhoneNumber::parse(raw, config.phone_region).map_err(|e| format!("phone {e}"))
}
