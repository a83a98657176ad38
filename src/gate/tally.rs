//! What the gate has done so far, for its logs and the summary: the
//! requests it sent, since when it runs, and when it last had news, which
//! the heartbeat ([`HEARTBEAT`]) counts from.

use std::time::Duration;

use tokio::time::Instant;

use super::HEARTBEAT;

/// The requests sent, the start and the last news.
#[derive(Debug)]
pub(super) struct Tally {
    /// Requests sent to the API (status, list, history, settings, trigger,
    /// cancel).
    polls: u64,
    started: Instant,
    /// When something last changed (or the heartbeat last said nothing did).
    last_news: Instant,
}

impl Tally {
    /// A gate that starts at `started`.
    pub(super) fn new(started: Instant) -> Tally {
        Tally {
            polls: 0,
            started,
            last_news: started,
        }
    }

    /// Counts `n` requests sent.
    pub(super) fn sent(&mut self, n: usize) {
        self.polls += n as u64;
    }

    /// The requests sent so far.
    pub(super) fn polls(&self) -> u64 {
        self.polls
    }

    /// When the gate started.
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// How long the gate has run.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Something changed: the heartbeat waits another [`HEARTBEAT`].
    pub(super) fn news(&mut self) {
        self.last_news = Instant::now();
    }

    /// Whether the heartbeat is due `now`: nothing changed for
    /// [`HEARTBEAT`], and the `deadline` is more than a second away (the
    /// timeout line says it all a moment later). When it is, it counts as
    /// news.
    pub(super) fn heartbeat_due(&mut self, now: Instant, deadline: Instant) -> bool {
        let near_the_end = deadline.saturating_duration_since(now) < Duration::from_secs(1);
        if now.duration_since(self.last_news) < HEARTBEAT || near_the_end {
            return false;
        }
        self.last_news = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_from_zero() {
        let mut tally = Tally::new(Instant::now());
        assert_eq!(tally.polls(), 0);
        tally.sent(1);
        tally.sent(20);
        assert_eq!(tally.polls(), 21);
    }

    #[test]
    fn the_heartbeat_beats_after_a_quiet_minute_and_then_waits_another() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(3600);
        let mut tally = Tally::new(start);
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(!tally.heartbeat_due(at(59), deadline));
        assert!(tally.heartbeat_due(at(60), deadline));
        assert!(!tally.heartbeat_due(at(61), deadline));
        assert!(!tally.heartbeat_due(at(119), deadline));
        assert!(tally.heartbeat_due(at(120), deadline));
    }

    #[test]
    fn no_heartbeat_in_the_last_second_before_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(90);
        let mut tally = Tally::new(start);
        let just_before = deadline - Duration::from_millis(500);
        assert!(!tally.heartbeat_due(just_before, deadline));
        assert!(!tally.heartbeat_due(deadline + Duration::from_secs(5), deadline));
        assert!(tally.heartbeat_due(deadline - Duration::from_secs(2), deadline));
    }

    #[test]
    fn news_puts_the_heartbeat_off() {
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(300))
            .unwrap();
        let mut tally = Tally::new(long_ago);
        tally.news();
        let now = Instant::now();
        assert!(!tally.heartbeat_due(now, now + Duration::from_secs(3600)));
    }
}
