//! The decision: one cache status + the user's criteria → waiting, ready,
//! failed or deleted.
//!
//! This is the heart of the gate and deliberately a pure function: no
//! clock, no I/O, no logging. Every rule of "when is a cache ready?" lives
//! here and nowhere else, and the table-driven tests below are the
//! executable form of the README's rules.
//!
//! What the gate feeds it, and where: the criteria with `--since` and
//! `--started-after` read on the server's clock (`gate/mod.rs`,
//! `Gate::criteria`; the clock is `gate/skew.rs`'s); an execution that
//! ended between two polls, read from the history (`gate/missed.rs`,
//! which holds a decision the missed execution could overturn); the
//! triggered run's baseline (`gate/trigger.rs`); a running execution that
//! stopped moving (`gate/stall.rs`, `--stall-timeout`) or was never
//! picked up (`gate/pickup.rs`). Each round applies the decision in
//! `gate/round.rs`.

use jiff::{SignedDuration, Timestamp};

use crate::api::{CacheStatus, Execution, ExecutionKind, Status};

pub mod query;

/// Which execution slots the gate looks at (`--execution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutionFilter {
    /// Either kind: the first counting execution to end decides.
    Any,
    /// Only incremental syncs.
    Incremental,
    /// Only full refreshes.
    Full,
    /// Both kinds: each slot needs a counting `COMPLETED` execution.
    Both,
}

impl ExecutionFilter {
    /// The slots this filter looks at.
    pub fn slots(self) -> &'static [ExecutionKind] {
        match self {
            ExecutionFilter::Any | ExecutionFilter::Both => {
                &[ExecutionKind::Incremental, ExecutionKind::Full]
            }
            ExecutionFilter::Incremental => &[ExecutionKind::Incremental],
            ExecutionFilter::Full => &[ExecutionKind::Full],
        }
    }

    /// The name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionFilter::Any => "any",
            ExecutionFilter::Incremental => "incremental",
            ExecutionFilter::Full => "full",
            ExecutionFilter::Both => "both",
        }
    }
}

/// What a `--trigger` is proven against: the record its slot showed just
/// before the trigger, and when the trigger was sent. Plain data (no
/// clock, no reply), so that the gate that triggered and one that resumes
/// its wait later decide alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The triggered slot.
    pub kind: ExecutionKind,
    /// The id of the record it showed, if any.
    pub id: Option<String>,
    /// When that record was created, if known.
    pub created_at: Option<Timestamp>,
    /// When the trigger was sent, by the server's clock (the clock that
    /// stamps `createdAt`).
    pub triggered_at: Timestamp,
    /// How much earlier than `triggered_at` the triggered execution's
    /// `createdAt` may read: the `Date` header counts whole seconds, and
    /// the two clocks agree only that well.
    pub tolerance: SignedDuration,
}

/// Whether an execution in the triggered slot is provably the one the
/// trigger started, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Another id than the baseline's, created at or after the trigger
    /// (less the tolerance) and after the baseline's record: the
    /// triggered execution.
    Triggered,
    /// No id, or the baseline's: the record from before the trigger, or
    /// one that cannot be told from it.
    NotNew,
    /// Another id, but its `createdAt` is missing or unreadable: nothing
    /// shows when it started, so it may predate the trigger.
    Undated,
    /// Another id, created before the trigger by its own time.
    BeforeTrigger,
    /// Another id, created no later than the baseline's record.
    NotAfterBaseline,
}

impl Baseline {
    /// The slot's record before a trigger sent at `triggered_at`.
    pub fn of(
        status: &CacheStatus,
        kind: ExecutionKind,
        triggered_at: Timestamp,
        tolerance: SignedDuration,
    ) -> Baseline {
        let execution = status.execution(kind);
        Baseline {
            kind,
            id: execution.and_then(|e| e.id.clone()),
            created_at: execution.and_then(|e| e.created_at),
            triggered_at,
            tolerance,
        }
    }

    /// The one rule of "is this the triggered execution?", for ready,
    /// cancel and `-- COMMAND` alike: another id, and a readable
    /// `createdAt` not earlier than the trigger, whatever the baseline
    /// showed. The server's ids and clock decide, never the client's.
    pub fn proof(&self, execution: &Execution) -> Proof {
        let new_id = match (&self.id, &execution.id) {
            (_, None) => false,
            (Some(old), Some(new)) => old != new,
            (None, Some(_)) => true,
        };
        if !new_id {
            return Proof::NotNew;
        }
        let Some(created) = execution.created_at else {
            return Proof::Undated;
        };
        if created < self.floor() {
            return Proof::BeforeTrigger;
        }
        if self.created_at.is_some_and(|old| created <= old) {
            return Proof::NotAfterBaseline;
        }
        Proof::Triggered
    }

    /// The earliest `createdAt` the triggered execution can carry.
    pub fn floor(&self) -> Timestamp {
        self.triggered_at
            .checked_sub(self.tolerance)
            .unwrap_or(self.triggered_at)
    }

    /// Whether `execution` is provably the triggered one.
    pub fn is_superseded_by(&self, execution: &Execution) -> bool {
        self.proof(execution) == Proof::Triggered
    }
}

/// What makes an execution count, pinned to instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    /// Which slots are looked at.
    pub execution: ExecutionFilter,
    /// `--since`: it must have reached its terminal state after this.
    pub since: Option<Timestamp>,
    /// `--started-after`: it must have started at or after this.
    pub started_after: Option<Timestamp>,
    /// `--trigger`: it must be proven the triggered one ([`Baseline::proof`]).
    pub newer_than: Option<Baseline>,
    /// The cache has shown `RUNNING` with no running record for
    /// [`STARTING_GRACE`]: a single-slot or `both` gate then concludes that
    /// the starting execution is of a kind it does not wait for.
    pub starting_grace_over: bool,
}

/// How long a gate that looks at one slot (or `both`) waits for the record
/// of a starting execution (top-level `RUNNING`, no running record yet) to
/// appear before it concludes that the execution is of the other kind. The
/// live API shows a new record a few seconds after the cache turns RUNNING.
pub const STARTING_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl Criteria {
    /// Criteria with no bounds: "wait for the current sync".
    pub fn current(execution: ExecutionFilter) -> Criteria {
        Criteria {
            execution,
            since: None,
            started_after: None,
            newer_than: None,
            starting_grace_over: false,
        }
    }

    fn has_bounds(&self) -> bool {
        self.since.is_some() || self.started_after.is_some() || self.newer_than.is_some()
    }

    /// Whether the execution satisfies the time bounds, or still may: a
    /// running execution has not finished yet, so `--since` cannot rule it
    /// out, while `--started-after` can.
    fn may_count(&self, execution: &Execution) -> bool {
        let started_ok = match self.started_after {
            None => true,
            Some(bound) => execution.created_at.is_some_and(|created| created >= bound),
        };
        let finished_ok = match (self.since, execution.is_terminal()) {
            (None, _) | (Some(_), false) => true,
            (Some(bound), true) => execution.terminal_at().is_some_and(|at| at > bound),
        };
        let newer_ok = self
            .newer_than
            .as_ref()
            .is_none_or(|baseline| baseline.is_superseded_by(execution));
        started_ok && finished_ok && newer_ok
    }
}

/// What must change for a running execution to count as moving under
/// `--stall-timeout`: its id, its `updatedAt`, or a progress counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Motion {
    id: Option<String>,
    updated_at: Option<Timestamp>,
    progress: Option<crate::api::Progress>,
}

impl Motion {
    /// The parts of an execution that show it moving.
    pub fn of(execution: &Execution) -> Motion {
        Motion {
            id: execution.id.clone(),
            updated_at: execution.updated_at,
            progress: execution.progress.clone(),
        }
    }
}

/// How long a running execution has been still: the longer of how long
/// the gate has watched it unchanged and how long ago (by the server's
/// clock) it last reported anything, so that an execution stuck for hours
/// before the gate started is recognised at once.
pub fn still_for(
    watched_unchanged: std::time::Duration,
    last_update: Option<Timestamp>,
    server_now: Timestamp,
) -> std::time::Duration {
    let since_update = last_update
        .and_then(|at| std::time::Duration::try_from(server_now.duration_since(at)).ok())
        .unwrap_or_default();
    watched_unchanged.max(since_update)
}

/// Where a cache stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet: poll again.
    Waiting,
    /// A counting execution `COMPLETED` (for `both`: one in each slot).
    Ready,
    /// A counting execution ended `FAILED` or `CANCELLED`.
    Failed,
    /// The cache itself is `DELETED`.
    Deleted,
}

/// The verdict on one cache, with the execution it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where the cache stands.
    pub verdict: Verdict,
    /// The slot of the execution that decided, or that is awaited.
    pub focus: Option<ExecutionKind>,
    /// One sentence for logs and the summary.
    pub detail: String,
    /// A status of a looked-at execution that this version does not know.
    pub unknown_status: Option<String>,
    /// The cache is `RUNNING` but no running record is visible yet: a new
    /// execution is starting (the loop times [`STARTING_GRACE`] from this).
    pub starting: bool,
    /// The id of the execution that ended and decided, when it has one: it
    /// may be a missed one, no longer in its slot.
    pub execution_id: Option<String>,
}

/// Decides where one cache stands against the criteria.
///
/// `missed` are executions the status no longer shows because a newer one
/// took their slot between two polls (read from the execution history by
/// the loop). They were current while the gate watched, so they count as
/// the current one does.
pub fn decide(
    status: &CacheStatus,
    criteria: &Criteria,
    missed: &[(ExecutionKind, Execution)],
) -> Decision {
    if status.status == Status::Deleted {
        return Decision {
            verdict: Verdict::Deleted,
            focus: None,
            detail: "the cache is DELETED".into(),
            unknown_status: None,
            starting: false,
            execution_id: None,
        };
    }
    let slots = criteria.execution.slots();
    let present: Vec<(ExecutionKind, &Execution)> = slots
        .iter()
        .filter_map(|&kind| status.execution(kind).map(|e| (kind, e)))
        .collect();
    let missed: Vec<(ExecutionKind, &Execution)> = missed
        .iter()
        .filter(|(kind, _)| slots.contains(kind))
        .map(|(kind, e)| (*kind, e))
        .collect();
    // Without bounds, only the newest execution counts ("wait for the
    // current sync"); for `both`, the newest of each slot, i.e. all of them.
    let counting: Vec<(ExecutionKind, &Execution)> = if criteria.has_bounds() {
        present
            .iter()
            .chain(&missed)
            .copied()
            .filter(|(_, e)| criteria.may_count(e))
            .collect()
    } else if criteria.execution == ExecutionFilter::Both {
        present.iter().chain(&missed).copied().collect()
    } else {
        newest(&present)
            .into_iter()
            .chain(missed.iter().copied())
            .collect()
    };
    let unknown_status = counting.iter().find_map(|(_, e)| match &e.status {
        Some(Status::Other(text)) => Some(text.clone()),
        None => Some("(none)".to_owned()),
        _ => None,
    });
    // The top-level status turns RUNNING before the new execution's record
    // exists. Without bounds the gate means "wait for the current sync", so
    // a cache that is RUNNING with no running record visible is starting an
    // execution that may be the one awaited. `any` waits for it whatever its
    // kind; a gate on one slot (or both) waits STARTING_GRACE for the record
    // before it concludes the other kind started.
    let no_running_record = ExecutionFilter::Both
        .slots()
        .iter()
        .filter_map(|&kind| status.execution(kind))
        .all(Execution::is_terminal);
    let starting = !criteria.has_bounds()
        && status.status == Status::Running
        && no_running_record
        && missed.is_empty();
    if starting && criteria.execution != ExecutionFilter::Any && !criteria.starting_grace_over {
        let mut decision = waiting(
            None,
            "the cache is RUNNING but no running execution is visible yet: a refresh is starting"
                .into(),
        );
        decision.starting = true;
        return decision;
    }
    let mut decision = if criteria.execution == ExecutionFilter::Both {
        decide_both(&counting)
    } else {
        decide_first_to_end(status, criteria, &present, &counting, &missed)
    };
    decision.unknown_status = unknown_status;
    decision.starting = starting;
    decision
}

/// `any`, `incremental`, `full`: the counting execution that ended decides;
/// if several have ended, the one that ended last.
fn decide_first_to_end(
    status: &CacheStatus,
    criteria: &Criteria,
    present: &[(ExecutionKind, &Execution)],
    counting: &[(ExecutionKind, &Execution)],
    missed: &[(ExecutionKind, &Execution)],
) -> Decision {
    let ended = counting
        .iter()
        .filter(|(_, e)| e.is_terminal())
        .max_by_key(|(_, e)| e.terminal_at());
    if let Some(&(kind, execution)) = ended {
        // The top-level status turns RUNNING before the new execution's
        // record exists. Without bounds the gate means "wait for the
        // current sync", so a finished record under a RUNNING cache is the
        // previous sync, not the current one — unless the gate watched it
        // run (a missed execution).
        let watched = missed.iter().any(|(_, e)| std::ptr::eq(*e, execution));
        let starting = !criteria.has_bounds()
            && criteria.execution == ExecutionFilter::Any
            && status.status == Status::Running
            && !watched;
        if starting {
            let mut decision = waiting(
                None,
                "the cache is RUNNING but no running execution is visible yet: a refresh is starting".into(),
            );
            decision.starting = true;
            return decision;
        }
        return ended_decision(kind, execution);
    }
    if let Some(&(kind, execution)) = counting.first() {
        return waiting(Some(kind), describe_running(kind, execution));
    }
    let wanted = slots_label(criteria.execution);
    if let Some(baseline) = &criteria.newer_than {
        return waiting(None, describe_unproven(baseline, status, criteria));
    }
    match newest(present) {
        None => waiting(
            None,
            format!(
                "no {wanted} has run yet (cache status {})",
                status.status.as_str()
            ),
        ),
        // The focus stays empty: the last execution is not the one awaited,
        // so its id and records must not be reported as if it were.
        Some((kind, execution)) => waiting(
            None,
            format!(
                "waiting for {} {}; the last one, {}, does not count",
                a_slots_label(criteria.execution),
                bounds_label(criteria),
                describe_against(kind, execution, criteria)
            ),
        ),
    }
}

/// `both`: every slot needs a counting `COMPLETED` execution; a counting
/// failure in either slot fails the cache. Within a slot, the counting
/// execution that ended last speaks for it.
fn decide_both(counting: &[(ExecutionKind, &Execution)]) -> Decision {
    let last_ended = |kind: ExecutionKind| {
        counting
            .iter()
            .filter(|(k, e)| *k == kind && e.is_terminal())
            .max_by_key(|(_, e)| e.terminal_at())
    };
    let slots = ExecutionFilter::Both.slots();
    let failed = slots
        .iter()
        .filter_map(|&kind| last_ended(kind))
        .find(|(_, e)| matches!(e.status, Some(Status::Failed | Status::Cancelled)));
    if let Some(&(kind, execution)) = failed {
        return ended_decision(kind, execution);
    }
    let completed =
        |kind: ExecutionKind| last_ended(kind).filter(|(_, e)| e.status == Some(Status::Completed));
    let mut last_completed = None;
    for &kind in slots {
        match completed(kind) {
            Some(&(_, execution)) => {
                if last_completed.is_none_or(|(_, last): (ExecutionKind, &Execution)| {
                    execution.terminal_at() >= last.terminal_at()
                }) {
                    last_completed = Some((kind, execution));
                }
            }
            None => {
                let detail = match counting.iter().find(|(k, _)| *k == kind) {
                    Some(&(_, execution)) => describe_running(kind, execution),
                    None => format!("no counting {} yet", kind.label()),
                };
                return waiting(Some(kind), detail);
            }
        }
    }
    match last_completed {
        Some((kind, execution)) => {
            let mut decision = ended_decision(kind, execution);
            decision.detail = slots
                .iter()
                .filter_map(|&k| completed(k).map(|&(k, e)| describe(k, e)))
                .collect::<Vec<_>>()
                .join("; ");
            decision
        }
        // Unreachable with two slots; waiting is the safe answer anyway.
        None => waiting(None, "no execution yet".into()),
    }
}

fn ended_decision(kind: ExecutionKind, execution: &Execution) -> Decision {
    let verdict = match execution.status {
        Some(Status::Completed) => Verdict::Ready,
        _ => Verdict::Failed,
    };
    let mut detail = describe(kind, execution);
    if verdict == Verdict::Failed {
        if let Some(error) = execution.error_text() {
            detail.push_str(": ");
            detail.push_str(&error);
        }
    }
    Decision {
        verdict,
        focus: Some(kind),
        detail,
        unknown_status: None,
        starting: false,
        execution_id: execution.id.clone(),
    }
}

fn waiting(focus: Option<ExecutionKind>, detail: String) -> Decision {
    Decision {
        verdict: Verdict::Waiting,
        focus,
        detail,
        unknown_status: None,
        starting: false,
        execution_id: None,
    }
}

/// The newest execution by `createdAt`; on a tie the one still running,
/// since it is the one a user means by "the current sync". A running
/// execution whose start is unknown is the newest of all: it is running
/// now, so it cannot be older than one that already finished.
fn newest<'a>(
    present: &[(ExecutionKind, &'a Execution)],
) -> Option<(ExecutionKind, &'a Execution)> {
    let running_unknown_start = |e: &Execution| !e.is_terminal() && e.created_at.is_none();
    present.iter().copied().max_by(|(_, a), (_, b)| {
        running_unknown_start(a)
            .cmp(&running_unknown_start(b))
            .then(a.created_at.cmp(&b.created_at))
            .then(b.is_terminal().cmp(&a.is_terminal()))
    })
}

/// An instant as messages show it: to the millisecond, in UTC.
pub fn show_time(at: Timestamp) -> String {
    format!("{at:.3}")
}

fn describe(kind: ExecutionKind, execution: &Execution) -> String {
    let id = execution.id.as_deref().unwrap_or("(no id)");
    let status = execution
        .status
        .as_ref()
        .map_or("(no status)", Status::as_str);
    match execution.terminal_at() {
        Some(at) => format!("{} {id} {status} at {}", kind.label(), show_time(at)),
        None => format!("{} {id} {status}", kind.label()),
    }
}

/// [`describe`], plus the start time when `--started-after` is what rules
/// the execution out: the message then shows the field the bound checks.
fn describe_against(kind: ExecutionKind, execution: &Execution, criteria: &Criteria) -> String {
    let text = describe(kind, execution);
    match (criteria.started_after, execution.created_at) {
        (Some(_), Some(created)) => format!("{text}, started at {}", show_time(created)),
        (Some(_), None) => format!("{text}, start unknown"),
        (None, _) => text,
    }
}

fn describe_running(kind: ExecutionKind, execution: &Execution) -> String {
    let id = execution.id.as_deref().unwrap_or("(no id)");
    match &execution.status {
        Some(Status::Running) => format!("{} {id} is RUNNING", kind.label()),
        Some(status) => format!(
            "{} {id} is {} (a status peaka-wait does not know; waiting)",
            kind.label(),
            status.as_str()
        ),
        None => format!("{} {id} has no status yet", kind.label()),
    }
}

/// Why the triggered slot's record is not (yet) the triggered execution,
/// for the heartbeat and the timeout message.
fn describe_unproven(baseline: &Baseline, status: &CacheStatus, criteria: &Criteria) -> String {
    let kind = baseline.kind.label();
    let trigger = show_time(baseline.triggered_at);
    let Some(execution) = status.execution(baseline.kind) else {
        return format!(
            "waiting for the triggered {kind} to appear (the slot still shows no execution)"
        );
    };
    let id = execution.id.as_deref().unwrap_or("(no id)");
    let created = || execution.created_at.map_or_else(String::new, show_time);
    match baseline.proof(execution) {
        Proof::Undated => format!(
            "waiting for the triggered {kind}: the slot shows {id}, whose createdAt is missing or unreadable, so nothing shows it was created after the trigger at {trigger}"
        ),
        Proof::BeforeTrigger => format!(
            "waiting for the triggered {kind}: the slot shows {id}, created at {}, before the trigger at {trigger}",
            created()
        ),
        Proof::NotAfterBaseline => format!(
            "waiting for the triggered {kind}: the slot shows {id}, created at {}, no later than the {} it showed before the trigger",
            created(),
            baseline.id.as_deref().unwrap_or("record")
        ),
        // The triggered one, ruled out by --since or --started-after.
        Proof::Triggered => format!(
            "waiting for the triggered {kind}; {}, does not count",
            describe_against(baseline.kind, execution, criteria)
        ),
        Proof::NotNew => {
            format!("waiting for the triggered {kind} to appear (the slot still shows {id})")
        }
    }
}

fn slots_label(filter: ExecutionFilter) -> &'static str {
    match filter {
        ExecutionFilter::Any | ExecutionFilter::Both => "incremental sync or full refresh",
        ExecutionFilter::Incremental => "incremental sync",
        ExecutionFilter::Full => "full refresh",
    }
}

fn a_slots_label(filter: ExecutionFilter) -> &'static str {
    match filter {
        ExecutionFilter::Any | ExecutionFilter::Both => "an incremental sync or full refresh",
        ExecutionFilter::Incremental => "an incremental sync",
        ExecutionFilter::Full => "a full refresh",
    }
}

fn bounds_label(criteria: &Criteria) -> String {
    let (since, after) = (
        criteria.since.map(show_time),
        criteria.started_after.map(show_time),
    );
    match (since, after) {
        (Some(since), Some(after)) => {
            format!("started at or after {after} and finished after {since}")
        }
        (Some(since), None) => format!("finished after {since}"),
        (None, Some(after)) => format!("started at or after {after}"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests;
