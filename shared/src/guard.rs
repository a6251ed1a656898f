//! Limits on guessing secrets (passwords, QR codes).
//!
//! Failed attempts fill two leaky buckets at once:
//! - the **caller's**: one source address guessing at one target (a phone's password, a
//!   kiosk's QR codes). A stranger who keeps failing locks only themselves;
//! - the **target's**, whoever calls: a ceiling far above what a person types, so that many
//!   addresses together get no more tries than one.
//!
//! A bucket holds up to [`Rule::free`] failures without a lock; each further failure locks
//! for 2^(n − free) seconds, at most [`MAX_LOCK_MS`]. One failure leaks out per
//! [`Rule::leak_ms`]: the count slides down with time and never drops to zero because a
//! lock ended, so a patient guesser gets about one try per `leak_ms`, not a fresh set of
//! free tries. A success empties the caller's bucket, never the target's.
//!
//! Times are epoch milliseconds: with whole seconds, a one-second lock set at 12:00:00.9
//! ended at 12:00:01.0, a tenth of a second later.
//!
//! Buckets live in the sessions table as `lockout#<key>` items (see `store::lockout`) and
//! expire by TTL once drained.

use crate::AppState;
use crate::passwords::Password;
use crate::phone::PhoneNumber;
use crate::secrets::fingerprint;
use crate::store::{CustomerItem, Store, StoreError, StoreResult};

/// How one bucket fills and drains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Failures held without a lock.
    pub free: u32,
    /// One failure leaks out per this many milliseconds.
    pub leak_ms: i64,
}

/// One source address guessing at one target.
pub const CALLER: Rule = Rule {
    free: 5,
    leak_ms: 15 * 60 * 1000,
};

/// Everyone together guessing at one target.
pub const TARGET: Rule = Rule {
    free: 50,
    leak_ms: 15 * 60 * 1000,
};

/// The longest lock, in milliseconds.
pub const MAX_LOCK_MS: i64 = 15 * 60 * 1000;

/// A bucket as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub failures: u32,
    /// Epoch milliseconds from which the next failure leaks out.
    pub leak_from: i64,
    /// Epoch milliseconds; no attempt is checked before then.
    pub locked_until: i64,
}

impl Bucket {
    /// Whole seconds to wait (rounded up, so that waiting them is enough), when locked at
    /// `now` (epoch milliseconds).
    pub fn retry_after(&self, now: i64) -> Option<u64> {
        (self.locked_until > now).then(|| ((self.locked_until - now) as u64).div_ceil(1000))
    }

    /// The bucket once the failures due to leak out by `now` have.
    fn drained(&self, rule: Rule, now: i64) -> Bucket {
        let leak = rule.leak_ms.max(1);
        let leaked = ((now - self.leak_from).max(0) / leak).min(i64::from(self.failures));
        let failures = self.failures - leaked as u32;
        Bucket {
            failures,
            leak_from: if failures == 0 {
                now
            } else {
                self.leak_from + leaked * leak
            },
            locked_until: self.locked_until,
        }
    }

    /// The bucket after one more failure at `now`.
    pub fn after_failure(&self, rule: Rule, now: i64) -> Bucket {
        let drained = self.drained(rule, now);
        let failures = drained.failures.saturating_add(1);
        let locked_until = if failures >= rule.free {
            let exponent = (failures - rule.free).min(20);
            now + (1000_i64 << exponent).min(MAX_LOCK_MS)
        } else {
            0
        };
        Bucket {
            failures,
            leak_from: drained.leak_from,
            locked_until: locked_until.max(self.locked_until),
        }
    }

    /// When (epoch milliseconds) the bucket has drained and any lock has passed.
    pub fn drained_at(&self, rule: Rule) -> i64 {
        (self.leak_from + i64::from(self.failures) * rule.leak_ms).max(self.locked_until)
    }
}

/// What is being guessed at, and from where: the keys of its two buckets.
#[derive(Clone, Debug)]
pub struct Guard {
    caller: String,
    target: String,
}

impl Guard {
    /// Passwords of `phone` (logins and password changes), tried from `source`.
    pub fn password(phone: &PhoneNumber, source: &str) -> Self {
        Self::new(format!("login#{phone}"), source)
    }

    /// QR codes presented by one kiosk (by its id: a rotated key keeps its count), from
    /// `source`.
    pub fn qr_codes(kiosk_id: &str, source: &str) -> Self {
        Self::new(format!("qr-verify#{kiosk_id}"), source)
    }

    fn new(target: String, source: &str) -> Self {
        // The address is not stored as it is: a bucket only needs to tell callers apart.
        let caller = format!("{target}#ip#{}", fingerprint(source));
        Self { caller, target }
    }

    /// The keys to read: the caller's bucket, then the target's.
    pub fn keys(&self) -> [&str; 2] {
        [&self.caller, &self.target]
    }

    /// The guard with its buckets as read (in [`Guard::keys`] order).
    pub fn tally(self, [caller, target]: [Bucket; 2]) -> Tally {
        Tally {
            guard: self,
            caller,
            target,
        }
    }
}

/// A guard's buckets as read before an attempt.
#[derive(Clone, Debug)]
pub struct Tally {
    guard: Guard,
    caller: Bucket,
    target: Bucket,
}

/// Tries of a failure record that raced another one.
const RECORD_ATTEMPTS: usize = 4;

impl Tally {
    /// Seconds to wait when either bucket is locked; checked before the secret is, so that
    /// during a lock even the right secret is refused.
    pub fn retry_after(&self, now: i64) -> Option<u64> {
        self.caller
            .retry_after(now)
            .into_iter()
            .chain(self.target.retry_after(now))
            .max()
    }

    /// Counts a failed attempt in both buckets.
    pub async fn failed(&self, store: &Store, now: i64) -> StoreResult<()> {
        tokio::try_join!(
            fill(store, &self.guard.caller, CALLER, self.caller, now),
            fill(store, &self.guard.target, TARGET, self.target, now),
        )?;
        Ok(())
    }

    /// A success empties the caller's bucket (the target's only drains with time, so that
    /// the owner's login does not hand a distributed guesser a fresh ceiling).
    pub async fn succeeded(&self, store: &Store) -> StoreResult<()> {
        if self.caller.failures > 0 {
            store.delete_bucket(&self.guard.caller).await?;
        }
        Ok(())
    }
}

/// Why a guarded attempt was not made.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The caller or the target is locked; seconds until the lock ends.
    #[error("locked for {0} seconds")]
    Locked(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks `password` for `phone`, tried from `source`, under the password buckets: the
/// customer when it is theirs, `None` when it is not (or the phone has no customer or no
/// password: the same bcrypt work against a dummy hash, so timing tells nothing), counted
/// as a failure. 429 during a lock, even for the right password, checked before bcrypt.
/// Serves logins and password changes alike.
pub async fn check_password(
    state: &AppState,
    phone: &PhoneNumber,
    source: &str,
    password: &Password,
) -> Result<Option<CustomerItem>, GuardError> {
    let guard = Guard::password(phone, source);
    let now = chrono::Utc::now().timestamp_millis();
    let (customer, buckets) = state
        .store
        .customer_and_buckets(phone, guard.keys())
        .await?;
    let tally = guard.tally(buckets);
    if let Some(wait) = tally.retry_after(now) {
        return Err(GuardError::Locked(wait));
    }
    let hash = customer.as_ref().and_then(|c| c.password_hash.as_deref());
    if !state.passwords.verify(password, hash).await {
        tally.failed(&state.store, now).await?;
        return Ok(None);
    }
    tally.succeeded(&state.store).await?;
    Ok(customer)
}

/// Adds one failure to the bucket `key`, on top of `seen` or of whatever a concurrent
/// failure wrote meanwhile.
async fn fill(store: &Store, key: &str, rule: Rule, mut seen: Bucket, now: i64) -> StoreResult<()> {
    for _ in 0..RECORD_ATTEMPTS {
        let next = seen.after_failure(rule, now);
        if store
            .put_bucket(key, &next, &seen, (next.drained_at(rule) + 999) / 1000)
            .await?
        {
            return Ok(());
        }
        seen = store.bucket(key).await?;
    }
    Err(StoreError::Unavailable("failure record kept racing".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;
    const SECOND: i64 = 1000;

    fn fail(bucket: Bucket, rule: Rule, now: i64, times: usize) -> Bucket {
        (0..times).fold(bucket, |b, _| b.after_failure(rule, now))
    }

    #[test]
    fn five_failures_are_free_then_the_lock_doubles_up_to_fifteen_minutes() {
        let mut bucket = fail(Bucket::default(), CALLER, NOW, 4);
        assert_eq!(bucket.retry_after(NOW), None);
        let waits: Vec<u64> = (0..14)
            .map(|_| {
                bucket = bucket.after_failure(CALLER, NOW);
                bucket.retry_after(NOW).unwrap()
            })
            .collect();
        assert_eq!(&waits[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(*waits.last().unwrap(), 900);
    }

    #[test]
    fn a_lock_lasts_its_whole_time_whatever_the_millisecond_it_began() {
        // Set just before a second turns: still locked 999 ms later, told to wait 1 s.
        let locked = fail(Bucket::default(), CALLER, NOW + 999, 5);
        assert_eq!(locked.retry_after(NOW + 999), Some(1));
        assert_eq!(locked.retry_after(NOW + SECOND + 998), Some(1));
        assert_eq!(locked.retry_after(NOW + SECOND + 999), None);
        // A wait is rounded up: 1.5 s left is told as 2.
        assert_eq!(
            locked
                .after_failure(CALLER, NOW + 999)
                .retry_after(NOW + 1499),
            Some(2)
        );
    }

    #[test]
    fn the_count_slides_down_one_failure_per_leak_and_a_lock_ending_resets_nothing() {
        let locked = fail(Bucket::default(), CALLER, NOW, 15);
        assert_eq!(locked.retry_after(NOW), Some(900));
        // The longest lock has passed: the next failure locks again at once, where the
        // old fixed window gave five free tries.
        let later = NOW + MAX_LOCK_MS + 1;
        assert_eq!(locked.retry_after(later), None);
        let again = locked.after_failure(CALLER, later);
        assert_eq!(again.failures, 15, "one failure leaked, one added");
        assert_eq!(again.retry_after(later), Some(900));
        // Drained after 15 quiet leaks: free tries again, one by one.
        let drained_at = locked.drained_at(CALLER);
        assert_eq!(drained_at, NOW + 15 * CALLER.leak_ms);
        let fresh = locked.after_failure(CALLER, drained_at);
        assert_eq!(fresh.failures, 1);
        assert_eq!(fresh.retry_after(drained_at), None);
    }

    #[test]
    fn a_patient_guesser_gets_about_one_try_per_leak() {
        // Try whenever unlocked, for a day: the count stays up and each try locks again.
        let (mut bucket, mut now, mut tries) = (Bucket::default(), NOW, 0);
        while now < NOW + 24 * 3600 * SECOND {
            if bucket.retry_after(now).is_none() {
                bucket = bucket.after_failure(CALLER, now);
                tries += 1;
            }
            now += SECOND;
        }
        assert!(tries <= 15 + 24 * 4 + 1, "{tries} tries in a day");
    }

    #[test]
    fn the_target_ceiling_is_far_above_a_persons_typing() {
        let bucket = fail(Bucket::default(), TARGET, NOW, 20);
        assert_eq!(bucket.retry_after(NOW), None);
        let bucket = fail(bucket, TARGET, NOW, 30);
        assert_eq!(bucket.retry_after(NOW), Some(1));
    }

    #[test]
    fn callers_are_told_apart_by_address_without_storing_it() {
        let phone = PhoneNumber::from_stored("+919876543210".into());
        let a = Guard::password(&phone, "203.0.113.7");
        let b = Guard::password(&phone, "198.51.100.9");
        assert_ne!(a.keys()[0], b.keys()[0]);
        assert_eq!(a.keys()[1], b.keys()[1]);
        assert_eq!(a.keys()[1], "login#+919876543210");
        assert!(!a.keys()[0].contains("203.0.113.7"));
    }
}
