//! Bytes → cache status → decision, for every kind of criteria: nothing may
//! panic, whatever the API sends.
#![no_main]

use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use peaka_wait::api::{self, ExecutionKind};
use peaka_wait::decision::{Baseline, Criteria, ExecutionFilter, decide};

fuzz_target!(|data: &[u8]| {
    let _ = api::error_message(data);
    let history = api::decode_history(data, 50).unwrap_or_default();
    let missed: Vec<(ExecutionKind, api::Execution)> = history
        .into_iter()
        .map(|e| (ExecutionKind::Incremental, e))
        .collect();
    let Ok(status) = api::decode_status(data) else {
        return;
    };
    let bound = Some(Timestamp::UNIX_EPOCH);
    for execution in [
        ExecutionFilter::Any,
        ExecutionFilter::Incremental,
        ExecutionFilter::Full,
        ExecutionFilter::Both,
    ] {
        let _ = decide(&status, &Criteria::current(execution), &missed);
        let bounded = Criteria {
            execution,
            since: bound,
            started_after: bound,
            newer_than: Some(Baseline::of(
                &status,
                ExecutionKind::Full,
                Timestamp::UNIX_EPOCH,
                SignedDuration::from_secs(5),
            )),
            starting_grace_over: true,
        };
        let _ = decide(&status, &bounded, &missed);
    }
});
