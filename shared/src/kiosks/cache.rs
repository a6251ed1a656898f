//! The registry as a function instance keeps it ([`Kiosks`]): one `Scan` of that small
//! table on the first kiosk request, not one read per request.
//!
//! So that a revocation bites without a deploy, a registry older than
//! [`CacheAges::max_age`] (60 s) is read again before it answers, whether or not the
//! instance was busy meanwhile. A key it does not hold reads it again too, at most once per
//! [`CacheAges::miss_reload`] (5 s), so that a kiosk added a moment ago works at once while
//! a spray of made-up keys costs one `Scan` per 5 s, not one per request.
//!
//! One read at a time: requests that find the registry stale while a read is under way
//! wait for it and take its outcome, the registry it read or the error it met (503), rather
//! than read again in turn. After a failed read, lookups that need one are refused without
//! reading for [`RETRY_AFTER_FAILURE`], so a table that cannot be read is not hammered.
//!
//! A key registered for two active kiosks (which `kiosk add` refuses, but two operators at
//! once could still do) is refused for both, and each read logs it as an error naming
//! them: attributing its logins to either could be wrong, and revoking one would leave the
//! key working through the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Kiosk, KioskRecord, MAX_KEY_CHARS, key_hash};
use crate::store::StoreError;

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

/// How long after a failed read the next one may start; meanwhile lookups that need a read
/// get the failed read's error.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

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
    by_hash: HashMap<String, Kiosk>,
}

impl Snapshot {
    /// The active kiosks of `records` by their key's hash, leaving out every hash held by
    /// more than one of them; those kiosks' ids come back, a list per hash, sorted.
    fn of(records: &[KioskRecord], loaded_at: Instant) -> (Self, Vec<Vec<String>>) {
        let mut holders: HashMap<&str, Vec<&KioskRecord>> = HashMap::new();
        for record in records.iter().filter(|record| record.is_active()) {
            holders.entry(&record.key_hash).or_default().push(record);
        }
        let mut by_hash = HashMap::new();
        let mut shared = Vec::new();
        for (hash, holders) in holders {
            if let [only] = holders[..] {
                by_hash.insert(hash.to_string(), only.kiosk());
            } else {
                let mut ids: Vec<String> = holders.iter().map(|r| r.kiosk_id.clone()).collect();
                ids.sort();
                shared.push(ids);
            }
        }
        shared.sort();
        (Self { loaded_at, by_hash }, shared)
    }

    /// Looked up by the presented key's hash: what a lookup's timing could tell is about
    /// the hash of what was presented, and a hash close to a registered key's hash says
    /// nothing about that key (finding one is a preimage search).
    fn find(&self, hash: &str) -> Option<Kiosk> {
        self.by_hash.get(hash).cloned()
    }
}

/// What the instance knows of the table: the last registry read, and how the last read
/// went.
#[derive(Clone, Default)]
struct State {
    /// The last registry read successfully, if any.
    snapshot: Option<Arc<Snapshot>>,
    /// Counts reads, failed ones too, so that a request that waited for another's read
    /// takes its outcome.
    reads: u64,
    /// When the last read failed, and why; `None` once a read succeeds.
    failed: Option<(Instant, StoreError)>,
}

/// A clock, so that tests can move time.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The registry as a function instance caches it (see the module's documentation).
pub struct Kiosks {
    ages: CacheAges,
    clock: Clock,
    state: Mutex<State>,
    /// Held while the table is read: one read at a time, the others wait for it.
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
            state: Mutex::new(State::default()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> State {
        // A panic elsewhere cannot leave a half-written state: it is swapped whole.
        match self.state.lock() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, state: State) {
        match self.state.lock() {
            Ok(mut current) => *current = state,
            Err(poisoned) => *poisoned.into_inner() = state,
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
        let seen = self.state();
        let found = seen.snapshot.as_ref().and_then(|s| s.find(&hash));
        let loaded_at = seen.snapshot.as_ref().map(|s| s.loaded_at);
        let now = (self.clock)();
        if decide(loaded_at, found.is_some(), now, self.ages) == Decision::Use {
            return Ok(found);
        }
        if let Some((failed_at, err)) = &seen.failed
            && now.saturating_duration_since(*failed_at) < RETRY_AFTER_FAILURE
        {
            return Err(err.clone());
        }
        let _flight = self.reloading.lock().await;
        let latest = self.state();
        if latest.reads != seen.reads {
            // Another request read while this one waited: what it found (or failed to) is
            // as new as what this request would.
            return match latest.failed {
                Some((_, err)) => Err(err),
                None => Ok(latest.snapshot.and_then(|s| s.find(&hash))),
            };
        }
        // Read before the Scan starts: the registry is as old as the Scan's start.
        let started = (self.clock)();
        let reads = latest.reads + 1;
        match load().await {
            Ok(records) => {
                let (snapshot, shared) = Snapshot::of(&records, started);
                for ids in shared {
                    tracing::error!(
                        kiosks = %ids.join(", "),
                        "one key is registered for several active kiosks: it is refused for \
                         all of them until all but one are revoked"
                    );
                }
                let found = snapshot.find(&hash);
                self.replace(State {
                    snapshot: Some(Arc::new(snapshot)),
                    reads,
                    failed: None,
                });
                Ok(found)
            }
            Err(err) => {
                self.replace(State {
                    snapshot: latest.snapshot,
                    reads,
                    failed: Some(((self.clock)(), err.clone())),
                });
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use futures::future::join_all;

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

    /// A registry table as the test sets it, how often it was read, and whether reading it
    /// fails.
    #[derive(Default)]
    struct Table {
        records: Mutex<Vec<KioskRecord>>,
        loads: AtomicUsize,
        failing: AtomicBool,
    }

    impl Table {
        async fn load(&self) -> Result<Vec<KioskRecord>, StoreError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            // Long enough for every concurrent lookup to arrive while it runs.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("throttled".into()));
            }
            Ok(self.records.lock().unwrap().clone())
        }

        fn fail(&self, failing: bool) {
            self.failing.store(failing, Ordering::SeqCst);
        }

        fn set(&self, records: Vec<KioskRecord>) {
            *self.records.lock().unwrap() = records;
        }

        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }

        /// What `kiosks` answers for `key`, reading this table when it must.
        async fn try_find(&self, kiosks: &Kiosks, key: &str) -> Result<Option<Kiosk>, StoreError> {
            kiosks.find(key, || self.load()).await
        }

        async fn find(&self, kiosks: &Kiosks, key: &str) -> Option<Kiosk> {
            self.try_find(kiosks, key).await.unwrap()
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
        let found = join_all(lookups()).await;
        assert!(found.iter().all(Option::is_some), "{found:?}");
        assert_eq!(table.loads(), 1, "the first lookups of an instance");
        advance(&now, 60 * SECOND);
        join_all(lookups()).await;
        assert_eq!(table.loads(), 2, "a stale registry");
    }

    fn throttled(reply: &Result<Option<Kiosk>, StoreError>) -> bool {
        matches!(reply, Err(StoreError::Unavailable(why)) if why == "throttled")
    }

    #[tokio::test]
    async fn lookups_queued_behind_a_failed_read_share_its_error_and_the_next_read_waits_a_second()
    {
        let (kiosks, now) = on_a_moved_clock();
        let table = Table::default();
        table.set(vec![record("till-4", "key-four", false)]);
        table.fail(true);
        let replies = join_all((0..20).map(|_| table.try_find(&kiosks, "key-four"))).await;
        assert!(replies.iter().all(throttled), "{replies:?}");
        assert_eq!(
            table.loads(),
            1,
            "one failed read between them, not one each"
        );

        // The table is back, but the last read failed under a second ago.
        table.fail(false);
        advance(&now, RETRY_AFTER_FAILURE - Duration::from_millis(1));
        let refused = table.try_find(&kiosks, "key-four").await;
        assert!(throttled(&refused), "{refused:?}");
        assert_eq!(table.loads(), 1, "no read within a second of a failure");
        advance(&now, Duration::from_millis(1));
        assert!(table.find(&kiosks, "key-four").await.is_some());
        assert_eq!(table.loads(), 2);

        // A failure after a good read: the lookups that need a read fail (a stale registry
        // could let a revoked key in) and share that read, then all is well again.
        advance(&now, 60 * SECOND);
        table.fail(true);
        let replies = join_all((0..5).map(|_| table.try_find(&kiosks, "key-four"))).await;
        assert!(replies.iter().all(throttled), "{replies:?}");
        assert_eq!(table.loads(), 3);
        table.fail(false);
        advance(&now, RETRY_AFTER_FAILURE);
        assert!(table.find(&kiosks, "key-four").await.is_some());
        assert_eq!(table.loads(), 4);
    }

    #[tokio::test]
    async fn a_key_registered_for_two_active_kiosks_is_refused_for_both_and_reported() {
        let (kiosks, _) = on_a_moved_clock();
        let table = Table::default();
        let records = vec![
            record("till-b", "shared-key", false),
            record("till-a", "shared-key", false),
            record("till-c", "own-key", false),
            // A revoked kiosk's key does not count: its active twin works.
            record("till-d", "reused-key", true),
            record("till-e", "reused-key", false),
        ];
        table.set(records.clone());
        assert_eq!(table.find(&kiosks, "shared-key").await, None);
        for (key, id) in [("own-key", "till-c"), ("reused-key", "till-e")] {
            let found = table.find(&kiosks, key).await.map(|k| k.id);
            assert_eq!(found.as_deref(), Some(id), "{key}");
        }
        // What each read logs as an error: the kiosks sharing a key, by id.
        let (_, shared) = Snapshot::of(&records, Instant::now());
        assert_eq!(
            shared,
            vec![vec!["till-a".to_string(), "till-b".to_string()]]
        );
    }
}
