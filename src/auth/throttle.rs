//! Login throttling: failed attempts are counted per account and per client address in a
//! sliding window; past the limit, further attempts are refused (429 with Retry-After)
//! until the oldest failure leaves the window. In memory, per process: enough to make
//! online guessing slow; a shared store is needed once several instances serve logins.

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
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits: Some(limits),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn limits(&self) -> Limits {
        self.limits.unwrap_or_default()
    }

    fn keys(account: &str, address: &str) -> [(String, bool); 2] {
        [
            (format!("acct:{account}"), true),
            (format!("addr:{address}"), false),
        ]
    }

    /// `Some(seconds)` to wait when either the account or the address is over its limit.
    pub fn check(&self, account: &str, address: &str, now: Instant) -> Option<u64> {
        let limits = self.limits();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None::<Duration>;
        for (key, is_account) in Self::keys(account, address) {
            let limit = if is_account {
                limits.per_account
            } else {
                limits.per_address
            };
            if let Some(q) = map.get_mut(&key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= limits.window)
                {
                    q.pop_front();
                }
                if q.len() >= limit {
                    if let Some(oldest) = q.front() {
                        let left = limits.window.saturating_sub(now.duration_since(*oldest));
                        wait = Some(wait.map_or(left, |w| w.max(left)));
                    }
                }
            }
        }
        wait.map(|w| w.as_secs().max(1))
    }

    pub fn record_failure(&self, account: &str, address: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            let window = self.limits().window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for (key, _) in Self::keys(account, address) {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("acct:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_lock_after_the_limit_and_unlock_when_the_window_passes() {
        let t = Throttle::new(Limits {
            window: Duration::from_secs(60),
            per_account: 3,
            per_address: 100,
        });
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(t.check("a@x", "1.2.3.4", t0), None, "attempt {i}");
            t.record_failure("a@x", "1.2.3.4", t0);
        }
        let wait = t.check("a@x", "5.6.7.8", t0 + Duration::from_secs(10));
        assert_eq!(wait, Some(50), "from any address");
        assert_eq!(
            t.check("b@x", "1.2.3.4", t0),
            None,
            "other accounts are not affected"
        );
        assert_eq!(
            t.check("a@x", "1.2.3.4", t0 + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn addresses_lock_across_accounts() {
        let t = Throttle::new(Limits {
            window: Duration::from_secs(60),
            per_account: 100,
            per_address: 4,
        });
        let t0 = Instant::now();
        for i in 0..4 {
            t.record_failure(&format!("user{i}@x"), "9.9.9.9", t0);
        }
        assert!(t.check("fresh@x", "9.9.9.9", t0).is_some());
        assert!(t.check("fresh@x", "8.8.8.8", t0).is_none());
    }

    #[test]
    fn success_clears_the_account() {
        let t = Throttle::new(Limits {
            window: Duration::from_secs(60),
            per_account: 2,
            per_address: 100,
        });
        let t0 = Instant::now();
        t.record_failure("a@x", "1.1.1.1", t0);
        t.record_failure("a@x", "1.1.1.1", t0);
        assert!(t.check("a@x", "1.1.1.1", t0).is_some());
        t.record_success("a@x");
        assert!(t.check("a@x", "1.1.1.1", t0).is_none());
    }
}
