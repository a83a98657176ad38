//! The server's clock against ours, from its `Date` header, so that
//! `now` and durations in TIME are read on the clock that stamps executions.

use std::time::Duration;

use jiff::SignedDuration;

use super::{Gate, SKEW_TOLERANCE};
use crate::client::Reply;
use crate::timespec::format_duration;

impl Gate<'_> {
    /// Measures the server's clock against ours from the first `Date`.
    pub(super) fn measure_skew<T>(&mut self, reply: &Reply<T>) {
        if self.skew.is_some() {
            return;
        }
        let Some(server) = reply.server_date else {
            return;
        };
        // `Date` is truncated to the second: on average half a second early.
        let skew = server.duration_since(reply.received_at) + SignedDuration::from_millis(500);
        if skew.abs() > SKEW_TOLERANCE {
            let direction = if skew.is_negative() {
                "behind"
            } else {
                "ahead of"
            };
            tracing::warn!(
                skew_ms = skew.as_millis() as i64,
                "the server's clock is {} {direction} this machine's; reading --since / --started-after given as `now` or a duration on the server's clock",
                format_duration(Duration::from_secs(
                    skew.abs()
                        .round(jiff::Unit::Second)
                        .map_or(0, |d| d.as_secs().unsigned_abs())
                ))
            );
            self.skew = Some(skew);
        } else {
            self.skew = Some(SignedDuration::ZERO);
        }
    }
}
