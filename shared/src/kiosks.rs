//! The kiosk registry: which `X-Kiosk-Key`s are live, and which kiosk (and store) each one
//! belongs to.
//!
//! Kiosks are items of their own table (`KIOSKS_TABLE`), which operators change with
//! `omnisession-admin kiosk add|list|revoke|rotate`; a key exists in clear only in the
//! output of the `add` or `rotate` that made it, and the table keeps its SHA-256 alone.
//!
//! A function keeps the whole registry in memory ([`Kiosks`]): one `Scan` of that small
//! table on the first kiosk request, not one read per request. So that a revocation bites
//! without a deploy, a registry older than [`CacheAges::max_age`] (60 s) is read again
//! before it answers, whether or not the instance was busy meanwhile. A key it does not
//! hold reads it again too, at most once per [`CacheAges::miss_reload`] (5 s), so that a
//! kiosk added a moment ago works at once while a spray of made-up keys costs one `Scan`
//! per 5 s, not one per request. Concurrent requests that find it stale wait for one
//! reload between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::SecretString;
use crate::store::StoreError;

/// A registered, active kiosk, as a request presenting its key is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kiosk {
    pub id: String,
    /// The store the kiosk stands in: recorded with its logins, so the sales agent sees
    /// which stores a customer visited.
    pub store: String,
    pub label: String,
}

/// A kiosk as the registry stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KioskRecord {
    pub kiosk_id: String,
    pub store: String,
    pub label: String,
    /// SHA-256 (hex) of the key, never the key.
    pub key_hash: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Set once revoked: the key is refused from then on (within [`CacheAges::max_age`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When the key was last replaced by `kiosk rotate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
}

impl KioskRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    pub fn kiosk(&self) -> Kiosk {
        Kiosk {
            id: self.kiosk_id.clone(),
            store: self.store.clone(),
            label: self.label.clone(),
        }
    }
}

/// The stored form of a key. One fast hash, not bcrypt: every key the registry makes is
/// 256 random bits ([`generate_key`]), which no amount of hashing speed lets anyone guess
/// back from a leaked table, and a slow hash would cost every kiosk request CPU time. The
/// few keys an operator brings (`--key-from-env`) must be long ([`MIN_GIVEN_KEY_CHARS`]).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new kiosk key: 256 random bits, URL-safe base64 (43 characters).
pub fn generate_key() -> SecretString {
    SecretString::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

/// An id for a kiosk the operator did not name: `kiosk-` and 8 random hex digits.
pub fn generate_id() -> String {
    format!("kiosk-{}", hex::encode(rand::random::<[u8; 4]>()))
}

/// A key an operator brings instead of a generated one (the development kiosk, or a key
/// already configured in a kiosk when moving it into the registry) must be at least this
/// long.
pub const MIN_GIVEN_KEY_CHARS: usize = 24;
/// No registered key is longer: a longer `X-Kiosk-Key` is refused without a lookup.
pub const MAX_KEY_CHARS: usize = 256;

/// Checks a kiosk id: 1 to 32 lowercase letters, digits and `-`, starting with a letter or
/// a digit. It appears in item keys of the sessions table (`lockout#qr-verify#<id>…`,
/// `rate#code#kiosk#<id>#…`), which an erasure's sweep matches by substring against
/// phones (`+…`), customer ids (`cus_…`), WhatsApp user ids (upper case, `.`) and
/// session ids (32 hex digits): this alphabet and length cannot hold the first three, and
/// hold a session id only by a 2^-128 coincidence.
pub fn check_id(id: &str) -> Result<(), String> {
    check_slug("kiosk id", id, 32)
}

/// Checks a store code: 1 to 40 lowercase letters, digits and `-`, starting with a letter
/// or a digit (e.g. `blr-indiranagar`). The sales agent sees it as it is written.
pub fn check_store(store: &str) -> Result<(), String> {
    check_slug("store", store, 40)
}

/// Checks a label (what an operator calls the kiosk, e.g. "Till 2, ground floor"): 1 to
/// 80 characters, no control characters, no leading or trailing spaces.
pub fn check_label(label: &str) -> Result<(), String> {
    let chars = label.chars().count();
    if chars == 0 || chars > 80 {
        return Err(format!("label must be 1 to 80 characters, not {chars}"));
    }
    if label.chars().any(char::is_control) {
        return Err("label must not contain control characters (tabs, newlines…)".into());
    }
    if label.trim() != label {
        return Err("label must not start or end with spaces".into());
    }
    Ok(())
}

fn check_slug(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max {
        return Err(format!(
            "{what} must be 1 to {max} characters, not {}",
            value.chars().count()
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "{what} {value:?} may only hold lowercase letters a-z, digits and '-'"
        ));
    }
    if value.starts_with('-') {
        return Err(format!(
            "{what} {value:?} must start with a letter or a digit"
        ));
    }
    Ok(())
}

/// How old the cached registry may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheAges {
    /// Older than this, it is read again before it answers: a revocation takes effect
    /// within this time.
    pub max_age: Duration,
    /// A key it does not hold reads it again when it is older than this: a kiosk just
    /// added works after at most this long, and unknown keys cost one `Scan` per period.
    pub miss_reload: Duration,
}

impl CacheAges {
    /// The functions' ages: a revocation bites within a minute.
    pub const DEFAULT: Self = Self {
        max_age: Duration::from_secs(60),
        miss_reload: Duration::from_secs(5),
    };
}

impl Default for CacheAges {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a lookup does with the registry it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// Answer from it.
    Use,
    /// Read the table again first.
    Reload,
}

/// Whether a lookup may answer from a registry loaded at `loaded_at` (if any), which
/// does or does not hold the presented key, at `now`.
fn decide(loaded_at: Option<Instant>, holds_key: bool, now: Instant, ages: CacheAges) -> Decision {
    let Some(loaded_at) = loaded_at else {
        return Decision::Reload;
    };
    let age = now.saturating_duration_since(loaded_at);
    if age >= ages.max_age || (!holds_key && age >= ages.miss_reload) {
        Decision::Reload
    } else {
        Decision::Use
    }
}

/// One load of the registry: the active kiosks by their key's hash.
struct Snapshot {
    loaded_at: Instant,
    /// Counts loads, so that a request that waited for another's reload uses it.
    generation: u64,
    by_hash: HashMap<String, Kiosk>,
}

impl Snapshot {
    /// Looked up by the presented key's hash: what a lookup's timing could tell is about
    /// the hash of what was presented, and a hash close to a registered key's hash says
    /// nothing about that key (finding one is a preimage search).
    fn find(&self, hash: &str) -> Option<Kiosk> {
        self.by_hash.get(hash).cloned()
    }
}

/// A clock, so that tests can move time.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The registry as a function instance caches it (see the module's documentation).
pub struct Kiosks {
    ages: CacheAges,
    clock: Clock,
    current: Mutex<Option<Arc<Snapshot>>>,
    /// Held while the table is read: one reload at a time, the others wait for it.
    reloading: tokio::sync::Mutex<()>,
}

impl Default for Kiosks {
    fn default() -> Self {
        Self::new(CacheAges::DEFAULT)
    }
}

impl Kiosks {
    pub fn new(ages: CacheAges) -> Self {
        Self::with_clock(ages, Arc::new(Instant::now))
    }

    fn with_clock(ages: CacheAges, clock: Clock) -> Self {
        Self {
            ages,
            clock,
            current: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        // A panic elsewhere cannot leave a half-written snapshot: it is swapped whole.
        match self.current.lock() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, snapshot: Arc<Snapshot>) {
        match self.current.lock() {
            Ok(mut current) => *current = Some(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Some(snapshot),
        }
    }

    /// The active kiosk whose key is `key`, if any; `load` reads the whole registry when
    /// the cached one is too old for this lookup. A failed load fails the lookup (the
    /// request answers 503): an out-of-date registry could let a revoked key in.
    pub async fn find<F, Fut>(&self, key: &str, load: F) -> Result<Option<Kiosk>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<KioskRecord>, StoreError>>,
    {
        if key.is_empty() || key.len() > MAX_KEY_CHARS {
            return Ok(None);
        }
        let hash = key_hash(key);
        let seen = self.snapshot();
        let found = seen.as_ref().and_then(|s| s.find(&hash));
        let loaded_at = seen.as_ref().map(|s| s.loaded_at);
        if decide(loaded_at, found.is_some(), (self.clock)(), self.ages) == Decision::Use {
            return Ok(found);
        }
        let seen_generation = seen.map(|s| s.generation);
        let _flight = self.reloading.lock().await;
        // Another request reloaded while this one waited: its registry is as new as one
        // this request would read.
        let latest = self.snapshot();
        if let Some(latest) = &latest
            && Some(latest.generation) != seen_generation
        {
            return Ok(latest.find(&hash));
        }
        // Read before the Scan starts: the registry is as old as the Scan's start.
        let loaded_at = (self.clock)();
        let records = load().await?;
        let snapshot = Arc::new(Snapshot {
            loaded_at,
            generation: seen_generation.map_or(1, |g| g + 1),
            by_hash: records
                .iter()
                .filter(|record| record.is_active())
                .map(|record| (record.key_hash.clone(), record.kiosk()))
                .collect(),
        });
        self.replace(snapshot.clone());
        Ok(snapshot.find(&hash))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_registry_is_read_again_when_a_minute_old_and_on_a_miss_after_five_seconds() {
        let t0 = Instant::now();
        let ages = CacheAges::DEFAULT;
        assert_eq!(decide(None, false, t0, ages), Decision::Reload);
        // A key it holds: answered from memory for up to a minute, then read again.
        assert_eq!(
            decide(Some(t0), true, t0 + 59 * SECOND, ages),
            Decision::Use
        );
        assert_eq!(
            decide(Some(t0), true, t0 + 60 * SECOND, ages),
            Decision::Reload
        );
        // A key it does not hold: refused from memory for five seconds after a load.
        assert_eq!(
            decide(Some(t0), false, t0 + 4 * SECOND, ages),
            Decision::Use
        );
        assert_eq!(
            decide(Some(t0), false, t0 + 5 * SECOND, ages),
            Decision::Reload
        );
        // A clock that went back never makes a registry younger than zero.
        assert_eq!(decide(Some(t0 + SECOND), true, t0, ages), Decision::Use);
    }

    /// A cache on a clock the test moves by hand (with [`advance`]), at the functions' ages.
    fn on_a_moved_clock() -> (Kiosks, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = now.clone();
        let clock: Clock = Arc::new(move || *read.lock().unwrap());
        (Kiosks::with_clock(CacheAges::DEFAULT, clock), now)
    }

    fn advance(now: &Mutex<Instant>, by: Duration) {
        *now.lock().unwrap() += by;
    }

    fn record(id: &str, key: &str, revoked: bool) -> KioskRecord {
        KioskRecord {
            kiosk_id: id.into(),
            store: format!("store-of-{id}"),
            label: format!("Kiosk {id}"),
            key_hash: key_hash(key),
            created_at: "2026-12-01T10:00:00.000Z".into(),
            revoked_at: revoked.then(|| "2026-12-01T11:00:00.000Z".into()),
            rotated_at: None,
        }
    }

    /// A registry table as the test sets it, and how often it was read.
    #[derive(Default)]
    struct Table {
        records: Mutex<Vec<KioskRecord>>,
        loads: AtomicUsize,
    }

    impl Table {
        async fn load(&self) -> Result<Vec<KioskRecord>, StoreError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            // Long enough for every concurrent lookup to arrive while it runs.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(self.records.lock().unwrap().clone())
        }

        fn set(&self, records: Vec<KioskRecord>) {
            *self.records.lock().unwrap() = records;
        }

        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }

        /// What `kiosks` finds for `key`, reading this table when it must.
        async fn find(&self, kiosks: &Kiosks, key: &str) -> Option<Kiosk> {
            kiosks.find(key, || self.load()).await.unwrap()
        }
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_once_the_minute_is_up_and_not_before() {
        let (kiosks, now) = on_a_moved_clock();
        let table = Table::default();
        table.set(vec![record("till-1", "key-one", false)]);
        let found = table.find(&kiosks, "key-one").await;
        assert_eq!(found.map(|k| k.id), Some("till-1".to_string()));

        table.set(vec![record("till-1", "key-one", true)]);
        advance(&now, 59 * SECOND);
        assert!(table.find(&kiosks, "key-one").await.is_some());
        assert_eq!(table.loads(), 1, "answered from memory within the minute");
        advance(&now, SECOND);
        assert_eq!(table.find(&kiosks, "key-one").await, None);
        assert_eq!(table.loads(), 2);
    }

    #[tokio::test]
    async fn a_new_key_works_after_five_seconds_and_unknown_keys_read_at_most_that_often() {
        let (kiosks, now) = on_a_moved_clock();
        let table = Table::default();
        assert_eq!(table.find(&kiosks, "key-two").await, None);
        table.set(vec![record("till-2", "key-two", false)]);
        for i in 0..50 {
            let key = format!("made-up-{i}");
            assert_eq!(table.find(&kiosks, &key).await, None);
        }
        assert_eq!(table.find(&kiosks, "key-two").await, None);
        assert_eq!(table.loads(), 1, "misses within 5 s read nothing");
        advance(&now, 5 * SECOND);
        let found = table.find(&kiosks, "key-two").await;
        assert_eq!(found.map(|k| k.store), Some("store-of-till-2".to_string()));
        assert_eq!(table.loads(), 2);
        // Too long or empty keys are refused without a look.
        assert_eq!(table.find(&kiosks, "").await, None);
        let long = "k".repeat(MAX_KEY_CHARS + 1);
        advance(&now, 5 * SECOND);
        assert_eq!(table.find(&kiosks, &long).await, None);
        assert_eq!(table.loads(), 2);
    }

    #[tokio::test]
    async fn concurrent_lookups_of_a_stale_registry_share_one_load() {
        let (kiosks, now) = on_a_moved_clock();
        let table = Table::default();
        table.set(vec![record("till-3", "key-three", false)]);
        let lookups = || (0..20).map(|_| table.find(&kiosks, "key-three"));
        let found = futures::future::join_all(lookups()).await;
        assert!(found.iter().all(Option::is_some), "{found:?}");
        assert_eq!(table.loads(), 1, "the first lookups of an instance");
        advance(&now, 60 * SECOND);
        futures::future::join_all(lookups()).await;
        assert_eq!(table.loads(), 2, "a stale registry");
    }

    #[tokio::test]
    async fn a_failed_load_fails_the_lookup_and_the_next_one_tries_again() {
        let kiosks = Kiosks::default();
        let failed = kiosks
            .find("key-four", || async {
                Err(StoreError::Unavailable("throttled".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
        let table = Table::default();
        table.set(vec![record("till-4", "key-four", false)]);
        assert!(table.find(&kiosks, "key-four").await.is_some());
    }

    #[test]
    fn ids_stores_and_labels_are_checked_with_a_reason() {
        for good in ["dev-kiosk", "k1", "blr-indiranagar-2", &"a".repeat(32)] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "1 to 32"),
            (&"a".repeat(33), "1 to 32"),
            ("Till-1", "lowercase"),
            ("till_1", "lowercase"),
            ("till 1", "lowercase"),
            ("+919876543210", "lowercase"),
            ("-till", "start with"),
        ] {
            let err = check_id(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        assert!(check_id(&generate_id()).is_ok());
        assert!(check_store("blr-indiranagar").is_ok());
        assert!(check_store("BLR").unwrap_err().contains("store"));
        assert!(check_label("Till 2, ground floor — près de l'entrée").is_ok());
        for bad in ["", " padded", "two\nlines", &"x".repeat(81)] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_are_long_random_and_stored_only_as_their_hash() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= MIN_GIVEN_KEY_CHARS);
        let hash = key_hash(a.expose());
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(a.expose()));
    }
}
