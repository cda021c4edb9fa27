//! The daemon's time, passed in: a [`SystemClock`] in the daemon, a [`ManualClock`] in tests, so
//! a test of expiry moves time forward instead of waiting for it. Time is whole seconds since the
//! Unix epoch, as token expiries are kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the daemon reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system's time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A clock that stands still until it is moved: for tests.
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at the system's time now.
    pub fn at_system_time() -> ManualClock {
        ManualClock(AtomicU64::new(SystemClock.now()))
    }

    /// Moves the clock `seconds` forward.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_system_time();
        let start = clock.now();
        assert!(start.abs_diff(SystemClock.now()) <= 1, "it starts at the system's time");
        clock.advance(3600);
        assert_eq!(clock.now(), start + 3600);
    }
}
