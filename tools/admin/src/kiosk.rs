//! `omnisession-admin kiosk add|list|revoke|rotate`: the kiosk registry
//! (`omnisession::kiosks`). A key is printed once, on stdout, by the `add` or `rotate`
//! that makes it (notes go to stderr, so `KEY=$(… kiosk add …)` captures the key alone);
//! the table keeps only its hash, and `list` never shows either. Every write is
//! conditional: two operators working on one kiosk at once get an error, never a key
//! that silently does not work. A key serves one kiosk: `add` and `rotate` refuse a key
//! registered already. `revoke` also ends the logins the kiosk made.

use chrono::{DateTime, TimeDelta, Utc};
use omnisession::kiosks::{self, CacheAges, KioskRecord, MAX_KEY_CHARS, MIN_GIVEN_KEY_CHARS};
use omnisession::model::rfc3339;
use omnisession::secrets::SecretString;
use omnisession::service::devices;
use omnisession::store::Store;

pub const USAGE: &str =
    "  omnisession-admin kiosk add --store <store> --label <label> [--id <kiosk_id>]
      (prints the new key once; --key-from-env <VAR> registers the key held in $VAR
      instead: for the development kiosk, or moving a kiosk's existing key in)
  omnisession-admin kiosk list
  omnisession-admin kiosk revoke <kiosk_id>   (also ends the logins it made; run it
      again a minute later to end those made while instances still took the key)
  omnisession-admin kiosk rotate <kiosk_id>   (prints the new key once)";

/// A `kiosk` command, checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Add {
        store: String,
        label: String,
        id: Option<String>,
        /// The variable holding an operator's key, instead of a generated one.
        key_from_env: Option<String>,
    },
    List,
    Revoke(String),
    Rotate(String),
}

/// Reads the words after `kiosk`, checking ids, store and label.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let usage = || format!("usage:\n{USAGE}");
    let (verb, rest) = args.split_first().ok_or_else(usage)?;
    match verb.as_str() {
        "add" => {
            let (mut store, mut label, mut id, mut key_from_env) = (None, None, None, None);
            let mut words = rest.iter();
            while let Some(flag) = words.next() {
                let slot = match flag.as_str() {
                    "--store" => &mut store,
                    "--label" => &mut label,
                    "--id" => &mut id,
                    "--key-from-env" => &mut key_from_env,
                    other => {
                        return Err(format!(
                            "kiosk add: unknown argument {other:?}\n{}",
                            usage()
                        ));
                    }
                };
                let value = words
                    .next()
                    .ok_or_else(|| format!("kiosk add: {flag} needs a value"))?;
                if slot.replace(value.clone()).is_some() {
                    return Err(format!("kiosk add: {flag} given twice"));
                }
            }
            let store = store.ok_or("kiosk add: --store <store> is required")?;
            let label = label.ok_or("kiosk add: --label <label> is required")?;
            kiosks::check_store(&store)?;
            kiosks::check_label(&label)?;
            if let Some(id) = &id {
                kiosks::check_id(id)?;
            }
            Ok(Command::Add {
                store,
                label,
                id,
                key_from_env,
            })
        }
        "list" if rest.is_empty() => Ok(Command::List),
        "revoke" | "rotate" => {
            let [id] = rest else {
                return Err(format!("kiosk {verb} takes one kiosk id\n{}", usage()));
            };
            kiosks::check_id(id)?;
            Ok(if verb == "revoke" {
                Command::Revoke(id.clone())
            } else {
                Command::Rotate(id.clone())
            })
        }
        _ => Err(usage()),
    }
}

/// Runs a command against the registry. `lookup` reads the environment (for
/// `--key-from-env`); `local_dev` (`OMNISESSION_LOCAL_DEV=1`) lets a public `dev-` key in.
pub async fn run(
    store: &Store,
    command: Command,
    lookup: impl Fn(&str) -> Option<String>,
    local_dev: bool,
) -> Result<(), String> {
    match command {
        Command::Add {
            store: shop,
            label,
            id,
            key_from_env,
        } => {
            let given = match &key_from_env {
                Some(var) => Some(given_key(var, lookup(var), local_dev)?),
                None => None,
            };
            add(store, &shop, &label, id, given).await
        }
        Command::List => list(store).await,
        Command::Revoke(id) => revoke(store, &id).await,
        Command::Rotate(id) => rotate(store, &id).await,
    }
}

/// An operator's key from `$var`: long, printable, and not a public development value
/// outside a developer's machine.
fn given_key(var: &str, value: Option<String>, local_dev: bool) -> Result<SecretString, String> {
    let key = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("--key-from-env: ${var} is not set"))?;
    if key.len() < MIN_GIVEN_KEY_CHARS || key.len() > MAX_KEY_CHARS {
        return Err(format!(
            "--key-from-env: the key in ${var} must be {MIN_GIVEN_KEY_CHARS} to {MAX_KEY_CHARS} characters \
             (it is {}); leave the flag out to have a 256-bit key made",
            key.len()
        ));
    }
    // What an HTTP header carries as it is, so the kiosk can send it.
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "--key-from-env: the key in ${var} may only hold visible ASCII characters (no spaces)"
        ));
    }
    if key.starts_with("dev-") && !local_dev {
        return Err(format!(
            "--key-from-env: the key in ${var} is a public development value (dev-…); \
             it is accepted only with OMNISESSION_LOCAL_DEV=1"
        ));
    }
    Ok(SecretString::new(key))
}

/// Tries of a generated id that was taken (32 random bits: in practice never twice).
const DRAWS: usize = 3;

async fn add(
    store: &Store,
    shop: &str,
    label: &str,
    id: Option<String>,
    given: Option<SecretString>,
) -> Result<(), String> {
    let generated = given.is_none();
    let key = given.unwrap_or_else(kiosks::generate_key);
    if let Some(holder) = holder_of(store, &kiosks::key_hash(key.expose()), id.as_deref()).await? {
        return Err(format!(
            "this key is registered already, to kiosk {} ({}): one key serves one kiosk{}",
            holder.kiosk_id,
            describe(&holder),
            if holder.is_active() {
                "; give this kiosk a key of its own (leave out --key-from-env to have one made)"
            } else {
                ", and a revoked kiosk's key is never used again"
            }
        ));
    }
    let draws = if id.is_some() { 1 } else { DRAWS };
    for _ in 0..draws {
        let kiosk_id = id.clone().unwrap_or_else(kiosks::generate_id);
        let record = KioskRecord {
            kiosk_id: kiosk_id.clone(),
            store: shop.to_string(),
            label: label.to_string(),
            key_hash: kiosks::key_hash(key.expose()),
            created_at: rfc3339(Utc::now()),
            revoked_at: None,
            rotated_at: None,
        };
        if store.add_kiosk(&record).await.map_err(|e| e.to_string())? {
            if generated {
                println!("{}", key.expose());
                eprintln!(
                    "kiosk {kiosk_id} added for store {shop} ({label}). Its key went to stdout: \
                     give it to the kiosk now, it is not stored and is never shown again."
                );
            } else {
                eprintln!("kiosk {kiosk_id} added for store {shop} ({label}), with the given key.");
            }
            return Ok(());
        }
        if id.is_none() {
            continue;
        }
        let existing = store
            .kiosk(&kiosk_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("kiosk {kiosk_id} was taken and removed meanwhile; run again")
            })?;
        // Registering the same kiosk with the same key again (a second `make dev`)
        // changes nothing and is no error.
        let same = KioskRecord {
            created_at: existing.created_at.clone(),
            ..record
        };
        if !generated && existing == same {
            eprintln!("kiosk {kiosk_id} is already registered with this key; nothing changed.");
            return Ok(());
        }
        return Err(format!(
            "kiosk id {kiosk_id} is taken ({}); choose another --id",
            describe(&existing)
        ));
    }
    Err("the generated kiosk ids kept colliding; run again or give --id".into())
}

/// The kiosk other than `id` whose key hashes to `hash`, active or revoked. One `Scan`
/// of the small kiosks table, not a `hash#…` guard item in a transaction: two operators
/// registering one key at the same moment could both pass it, and then the functions
/// refuse that key for both kiosks (and log it) rather than trust either, which is safe
/// enough for an operator's tool and keeps the table one item per kiosk.
async fn holder_of(
    store: &Store,
    hash: &str,
    id: Option<&str>,
) -> Result<Option<KioskRecord>, String> {
    let records = store.kiosk_registry().await.map_err(|e| e.to_string())?;
    Ok(records
        .into_iter()
        .find(|r| r.key_hash == hash && Some(r.kiosk_id.as_str()) != id))
}

async fn list(store: &Store) -> Result<(), String> {
    let mut records = store.kiosk_registry().await.map_err(|e| e.to_string())?;
    records.sort_by(|a, b| (&a.store, &a.kiosk_id).cmp(&(&b.store, &b.kiosk_id)));
    let rows: Vec<[String; 5]> = records
        .iter()
        .map(|r| {
            [
                r.kiosk_id.clone(),
                r.store.clone(),
                r.label.clone(),
                r.created_at.clone(),
                status(r),
            ]
        })
        .collect();
    print!(
        "{}",
        table(["KIOSK", "STORE", "LABEL", "CREATED", "STATUS"], &rows)
    );
    eprintln!(
        "{} kiosks, {} active",
        records.len(),
        records.iter().filter(|r| r.is_active()).count()
    );
    Ok(())
}

/// How long after a revocation a function instance may still take the key: its registry
/// may be [`CacheAges::max_age`] old, and a request it let in may run to the functions'
/// timeout (10 s) before its login is written.
const KEY_TAKEN_UNTIL: TimeDelta =
    TimeDelta::seconds(CacheAges::DEFAULT.max_age.as_secs() as i64 + 10);

/// Revokes the kiosk (if it is not revoked already), then ends the logins it made: each
/// run ends those made since the last.
async fn revoke(store: &Store, id: &str) -> Result<(), String> {
    let now = Utc::now();
    let revoked_at = if store
        .revoke_kiosk(id, &rfc3339(now))
        .await
        .map_err(|e| e.to_string())?
    {
        println!(
            "kiosk {id} revoked at {}: its key is refused everywhere within a minute \
             (the functions read the registry again at least once a minute)",
            rfc3339(now)
        );
        now
    } else {
        match store.kiosk(id).await.map_err(|e| e.to_string())? {
            Some(KioskRecord {
                revoked_at: Some(at),
                ..
            }) => {
                println!("kiosk {id} was already revoked at {at}; ending its logins again");
                // A time this tool did not write: if it cannot be read, remind anyway.
                DateTime::parse_from_rfc3339(&at).map_or(now, |at| at.to_utc())
            }
            _ => return Err(format!("no kiosk has id {id} (see `kiosk list`)")),
        }
    };
    let ended = devices::end_kiosk_logins(store, id).await.map_err(|e| {
        format!("kiosk {id} is revoked, but ending its logins failed ({e}); run again")
    })?;
    let logins = if ended == 1 { "login" } else { "logins" };
    println!("{ended} {logins} made at kiosk {id} ended");
    let until = revoked_at + KEY_TAKEN_UNTIL;
    if Utc::now() < until {
        println!(
            "instances may take its key until {}: run `kiosk revoke {id}` again after then, \
             to end the logins made meanwhile",
            rfc3339(until)
        );
    }
    Ok(())
}

async fn rotate(store: &Store, id: &str) -> Result<(), String> {
    let existing = store
        .kiosk(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no kiosk has id {id} (see `kiosk list`)"))?;
    if let Some(at) = &existing.revoked_at {
        return Err(format!(
            "kiosk {id} was revoked at {at}: a revoked kiosk keeps no key; add a new kiosk instead"
        ));
    }
    let key = kiosks::generate_key();
    let new_hash = kiosks::key_hash(key.expose());
    // 256 random bits never collide; were the table's copy of another key ever to match,
    // the registry would refuse the key for both kiosks.
    if let Some(holder) = holder_of(store, &new_hash, Some(id)).await? {
        return Err(format!(
            "the new key is registered already, to kiosk {}; nothing was changed, run again",
            holder.kiosk_id
        ));
    }
    let now = rfc3339(Utc::now());
    let rotated = store
        .rotate_kiosk(id, &existing.key_hash, &new_hash, &now)
        .await
        .map_err(|e| e.to_string())?;
    if !rotated {
        return Err(format!(
            "kiosk {id} was revoked or given another key while this ran; nothing was changed \
             (see `kiosk list`, then run again)"
        ));
    }
    println!("{}", key.expose());
    eprintln!(
        "kiosk {id} has a new key (on stdout, shown this once). The old key is refused \
         everywhere within a minute."
    );
    Ok(())
}

fn status(record: &KioskRecord) -> String {
    match (&record.revoked_at, &record.rotated_at) {
        (Some(at), _) => format!("revoked {at}"),
        (None, Some(at)) => format!("active (key rotated {at})"),
        (None, None) => "active".into(),
    }
}

fn describe(record: &KioskRecord) -> String {
    let mut text = format!("store {}, label {:?}", record.store, record.label);
    if let Some(at) = &record.revoked_at {
        text.push_str(&format!(", revoked {at}"));
    }
    text
}

/// Columns padded to their widest cell, two spaces apart.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn commands_are_read_with_their_flags() {
        assert_eq!(
            parse(&args(&[
                "add", "--store", "blr-1", "--label", "Till 2", "--id", "till-2"
            ])),
            Ok(Command::Add {
                store: "blr-1".into(),
                label: "Till 2".into(),
                id: Some("till-2".into()),
                key_from_env: None,
            })
        );
        assert_eq!(parse(&args(&["list"])), Ok(Command::List));
        assert_eq!(
            parse(&args(&["revoke", "till-2"])),
            Ok(Command::Revoke("till-2".into()))
        );
        assert_eq!(
            parse(&args(&["rotate", "till-2"])),
            Ok(Command::Rotate("till-2".into()))
        );
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        for (words, says) in [
            (&["add", "--label", "x"][..], "--store"),
            (&["add", "--store", "s"][..], "--label"),
            (&["add", "--store", "S 1", "--label", "x"][..], "store"),
            (
                &["add", "--store", "s", "--label", "x", "--id", "Till"][..],
                "kiosk id",
            ),
            (&["add", "--store", "s", "--label", "a\tb"][..], "control"),
            (
                &["add", "--store", "s", "--label", "x", "--colour", "red"][..],
                "--colour",
            ),
            (
                &["add", "--store", "s", "--store", "t", "--label", "x"][..],
                "twice",
            ),
            (&["add", "--store"][..], "needs a value"),
            (&["revoke"][..], "one kiosk id"),
            (&["rotate", "a", "b"][..], "one kiosk id"),
            (&["revoke", "+919876543210"][..], "lowercase"),
            (&["delete", "a"][..], "usage"),
            (&[][..], "usage"),
        ] {
            let err = parse(&args(words)).unwrap_err();
            assert!(err.contains(says), "{words:?}: {err}");
        }
    }

    #[test]
    fn a_given_key_must_be_long_printable_and_not_a_dev_value_outside_dev() {
        let key = "k".repeat(MIN_GIVEN_KEY_CHARS);
        assert!(given_key("K", Some(key.clone()), false).is_ok());
        assert!(given_key("K", None, false).unwrap_err().contains("not set"));
        let short = "k".repeat(MIN_GIVEN_KEY_CHARS - 1);
        assert!(
            given_key("K", Some(short), true)
                .unwrap_err()
                .contains("characters")
        );
        let spaced = format!("{key} x");
        assert!(
            given_key("K", Some(spaced), true)
                .unwrap_err()
                .contains("visible")
        );
        let dev = "dev-kiosk-key-0000000000000001".to_string();
        assert!(
            given_key("K", Some(dev.clone()), false)
                .unwrap_err()
                .contains("OMNISESSION_LOCAL_DEV")
        );
        assert!(given_key("K", Some(dev), true).is_ok());
    }

    #[test]
    fn the_list_table_pads_columns_and_shows_no_secret() {
        let record = KioskRecord {
            kiosk_id: "till-2".into(),
            store: "blr-1".into(),
            label: "Till 2".into(),
            key_hash: "ab".repeat(32),
            created_at: "2026-12-01T10:00:00.000Z".into(),
            revoked_at: None,
            rotated_at: None,
        };
        let rows = [[
            record.kiosk_id.clone(),
            record.store.clone(),
            record.label.clone(),
            record.created_at.clone(),
            status(&record),
        ]];
        let text = table(["KIOSK", "STORE", "LABEL", "CREATED", "STATUS"], &rows);
        assert_eq!(
            text,
            "KIOSK   STORE  LABEL   CREATED                   STATUS\n\
             till-2  blr-1  Till 2  2026-12-01T10:00:00.000Z  active\n"
        );
        assert!(!text.contains(&record.key_hash));
    }
}
