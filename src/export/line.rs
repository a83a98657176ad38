//! The summary as one readable line (`--output text`).

use crate::gate::Report;
use crate::text::one_line;
use crate::timespec::format_duration;

/// The summary as one readable line.
pub fn summary_line(report: &Report) -> String {
    let polls = if report.polls == 1 {
        "1 poll".to_owned()
    } else {
        format!("{} polls", report.polls)
    };
    format!(
        "{}: {} ({}, {polls})",
        report.outcome.name(),
        one_line(&report.message),
        format_duration(report.elapsed)
    )
}
