//! Login throttling: attempts are counted per account and per client address in a
//! sliding window; past the limit, further attempts are refused (429 with Retry-After)
//! until the oldest counted attempt leaves the window. In memory, per process: enough to
//! make online guessing slow; a shared store is needed once several instances serve logins.
//!
//! An attempt *reserves* its slot, under the one lock, before its password is checked
//! (`reserve`): argon2 takes tens of milliseconds on a blocking thread, and a check that
//! only counted finished failures would let every attempt already in flight through. So at
//! most `per_account` passwords are evaluated per account and window, however many arrive
//! at once. The reservation then becomes a failure (`Reservation::failed`), is cleared by a
//! success (`Reservation::succeeded`), or is released when the attempt was never judged
//! (`Reservation::release`, e.g. the database was down).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub window: Duration,
    pub per_account: usize,
    pub per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            per_account: 5,
            per_address: 20,
        }
    }
}

/// Keys tracked at most (bounded memory under a spray of distinct emails).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Throttle {
    limits: Option<Limits>,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// A slot taken by one login attempt, in the account's and the address's windows. Say
/// how it ended; a reservation dropped without a word counts as a failure (the safe side).
#[derive(Debug)]
#[must_use = "say how the attempt ended"]
pub struct Reservation<'a> {
    throttle: &'a Throttle,
    account: String,
    address: String,
    at: Instant,
    settled: bool,
}

impl Reservation<'_> {
    /// The password was wrong (or the account unusable): the slot stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The login succeeded: the account's attempts are cleared and this attempt's slot
    /// in the address's window is given back (a shared address is not locked by its
    /// successful logins).
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut map = self.throttle.lock();
        map.remove(&account_key(&self.account));
        remove_one(&mut map, &address_key(&self.address), self.at);
    }

    /// The attempt was not judged (a database error, a malformed request): both slots are
    /// given back.
    pub fn release(mut self) {
        self.settled = true;
        let mut map = self.throttle.lock();
        remove_one(&mut map, &account_key(&self.account), self.at);
        remove_one(&mut map, &address_key(&self.address), self.at);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.settled {
            tracing::debug!("login attempt reservation dropped unsettled: counted as a failure");
        }
    }
}

fn account_key(account: &str) -> String {
    format!("acct:{account}")
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

/// Removes one attempt made at `at` from `key`'s window (the queue is in time order).
fn remove_one(map: &mut HashMap<String, VecDeque<Instant>>, key: &str, at: Instant) {
    if let Some(q) = map.get_mut(key) {
        if let Some(i) = q.iter().rposition(|t| *t == at) {
            q.remove(i);
        }
        if q.is_empty() {
            map.remove(key);
        }
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits: Some(limits),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn limits(&self) -> Limits {
        self.limits.unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for an attempt on `account` from `address`, or `Err(seconds)` to wait
    /// when either window is full. Checking and counting happen under one lock, so
    /// concurrent attempts can never take more slots than the limits.
    pub fn reserve(
        &self,
        account: &str,
        address: &str,
        now: Instant,
    ) -> Result<Reservation<'_>, u64> {
        let limits = self.limits();
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < limits.window)
            });
        }
        let keys = [
            (account_key(account), limits.per_account),
            (address_key(address), limits.per_address),
        ];
        let mut wait = None::<Duration>;
        for (key, limit) in &keys {
            if let Some(q) = map.get_mut(key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= limits.window)
                {
                    q.pop_front();
                }
                if q.len() >= *limit {
                    if let Some(oldest) = q.front() {
                        let left = limits.window.saturating_sub(now.duration_since(*oldest));
                        wait = Some(wait.map_or(left, |w| w.max(left)));
                    }
                }
            }
        }
        if let Some(w) = wait {
            return Err(w.as_secs().max(1));
        }
        for (key, _) in keys {
            map.entry(key).or_default().push_back(now);
        }
        Ok(Reservation {
            throttle: self,
            account: account.to_owned(),
            address: address.to_owned(),
            at: now,
            settled: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_account: usize, per_address: usize) -> Limits {
        Limits {
            window: Duration::from_secs(60),
            per_account,
            per_address,
        }
    }

    #[test]
    fn accounts_lock_after_the_limit_and_unlock_when_the_window_passes() {
        let t = Throttle::new(limits(3, 100));
        let t0 = Instant::now();
        for i in 0..3 {
            t.reserve("a@x", "1.2.3.4", t0)
                .unwrap_or_else(|w| panic!("attempt {i} refused ({w} s)"))
                .failed();
        }
        let wait = t.reserve("a@x", "5.6.7.8", t0 + Duration::from_secs(10));
        assert_eq!(wait.err(), Some(50), "from any address");
        assert!(
            t.reserve("b@x", "1.2.3.4", t0).is_ok(),
            "other accounts are not affected"
        );
        assert!(t
            .reserve("a@x", "1.2.3.4", t0 + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn attempts_in_flight_hold_their_slots() {
        let t = Throttle::new(limits(5, 100));
        let t0 = Instant::now();
        // Forty attempts arrive before any is judged: five get a slot.
        let held: Vec<_> = (0..40)
            .filter_map(|_| t.reserve("a@x", "1.2.3.4", t0).ok())
            .collect();
        assert_eq!(held.len(), 5);
        for r in held {
            r.failed();
        }
        assert!(t.reserve("a@x", "1.2.3.4", t0).is_err());
    }

    #[test]
    fn addresses_lock_across_accounts() {
        let t = Throttle::new(limits(100, 4));
        let t0 = Instant::now();
        for i in 0..4 {
            t.reserve(&format!("user{i}@x"), "9.9.9.9", t0)
                .unwrap_or_else(|w| panic!("attempt {i} refused ({w} s)"))
                .failed();
        }
        assert!(t.reserve("fresh@x", "9.9.9.9", t0).is_err());
        assert!(t.reserve("fresh@x", "8.8.8.8", t0).is_ok());
    }

    #[test]
    fn success_clears_the_account_and_gives_back_the_address_slot() {
        let t = Throttle::new(limits(2, 3));
        let t0 = Instant::now();
        t.reserve("a@x", "1.1.1.1", t0)
            .map(Reservation::failed)
            .ok();
        let r = t.reserve("a@x", "1.1.1.1", t0).ok();
        assert!(t.reserve("a@x", "1.1.1.1", t0).is_err());
        if let Some(r) = r {
            r.succeeded();
        }
        for i in 0..2 {
            t.reserve("a@x", "1.1.1.1", t0)
                .unwrap_or_else(|w| panic!("attempt {i} refused ({w} s)"))
                .succeeded();
        }
        // One failure is left in the address's window: two more slots.
        t.reserve("b@x", "1.1.1.1", t0)
            .map(Reservation::failed)
            .ok();
        t.reserve("c@x", "1.1.1.1", t0)
            .map(Reservation::failed)
            .ok();
        assert!(t.reserve("d@x", "1.1.1.1", t0).is_err());
    }

    #[test]
    fn released_attempts_count_for_nothing() {
        let t = Throttle::new(limits(1, 1));
        let t0 = Instant::now();
        for _ in 0..3 {
            t.reserve("a@x", "1.1.1.1", t0)
                .map(Reservation::release)
                .unwrap_or_else(|w| panic!("refused ({w} s)"));
        }
    }
}
