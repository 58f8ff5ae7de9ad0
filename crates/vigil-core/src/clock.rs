//! Time for the engine is event time. Code that needs "now" takes a [`Clock`]; the engine's is an
//! [`EventClock`] advanced by the events themselves, so a replay and a live run of the same input
//! see the same time. Only the binary's edges (throughput reports, live sources stamping receive
//! time) use a wall clock, and it lives there.

use crate::time::Ts;
use std::cell::Cell;

pub trait Clock {
    fn now(&self) -> Ts;
}

/// Event time: the largest timestamp seen so far.
#[derive(Default, Debug)]
pub struct EventClock {
    now: Cell<Ts>,
}

impl EventClock {
    pub fn new(start: Ts) -> Self {
        EventClock { now: Cell::new(start) }
    }
    /// Moves time forward to `ts`; never backward.
    pub fn advance(&self, ts: Ts) {
        if ts > self.now.get() {
            self.now.set(ts);
        }
    }
}

impl Clock for EventClock {
    fn now(&self) -> Ts {
        self.now.get()
    }
}

/// A clock a test sets by hand.
#[derive(Default, Debug)]
pub struct TestClock {
    now: Cell<Ts>,
}

impl TestClock {
    pub fn new(start: Ts) -> Self {
        TestClock { now: Cell::new(start) }
    }
    pub fn set(&self, ts: Ts) {
        self.now.set(ts)
    }
    pub fn advance_by(&self, nanos: i64) {
        self.now.set(Ts(self.now.get().0 + nanos))
    }
}

impl Clock for TestClock {
    fn now(&self) -> Ts {
        self.now.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_clock_never_goes_back() {
        let c = EventClock::new(Ts(10));
        c.advance(Ts(5));
        assert_eq!(c.now(), Ts(10));
        c.advance(Ts(20));
        assert_eq!(c.now(), Ts(20));
        let t = TestClock::new(Ts(0));
        t.advance_by(7);
        assert_eq!(t.now(), Ts(7));
    }
}
