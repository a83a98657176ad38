//! `--trigger`: note each slot's record (the baseline the triggered
//! execution must supersede), then ask Peaka to start the refresh, sending
//! it again only when it provably never reached the server.

use jiff::Timestamp;

use super::{CacheState, Ended, Gate, MAX_SKEW, SKEW_TOLERANCE, latest_time};
use crate::api::{CacheStatus, ExecutionKind};
use crate::client::{FetchError, Reply};
use crate::decision::Baseline;
use crate::exit_codes::Outcome;
use crate::retry::Next;
use crate::schedule::Schedule;

impl Gate<'_> {
    /// Notes the slot's record, then triggers. The trigger is repeated only
    /// when it provably never reached the server.
    pub(super) async fn trigger(
        &mut self,
        i: usize,
        kind: ExecutionKind,
        schedule: &mut Schedule,
    ) -> Result<(), Ended> {
        let baseline = self.read_baseline(i, kind, schedule).await?;
        self.send_trigger(i, kind, baseline, schedule).await
    }

    /// Reads the slot's record before the trigger: the baseline, with the
    /// trigger time.
    pub(super) async fn read_baseline(
        &mut self,
        i: usize,
        kind: ExecutionKind,
        schedule: &mut Schedule,
    ) -> Result<Baseline, Ended> {
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        loop {
            let budget = self.budget();
            self.tally.sent(1);
            match self
                .client
                .cache_status(&self.plan.project_id, &cache_id, budget)
                .await
            {
                Ok(reply) => {
                    self.retry.answered();
                    self.measure_skew(&reply, latest_time(&reply.value));
                    self.awaited.note_first_sight(i, &reply.value);
                    self.remember_slots(i, &reply.value);
                    return Ok(Baseline::of(
                        &reply.value,
                        kind,
                        self.trigger_time(&reply),
                        SKEW_TOLERANCE,
                    ));
                }
                Err(err) => {
                    let subject = format!("cache {cache_id}");
                    self.retry_or_end(
                        &err,
                        Some(i),
                        &subject,
                        schedule,
                        "reading the cache before the trigger",
                    )
                    .await?
                }
            }
        }
    }

    /// Sends the trigger for cache `i`, whose slot showed `baseline`.
    pub(super) async fn send_trigger(
        &mut self,
        i: usize,
        kind: ExecutionKind,
        mut baseline: Baseline,
        schedule: &mut Schedule,
    ) -> Result<(), Ended> {
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        loop {
            // Peaka takes seconds to answer a trigger: a short
            // --request-timeout must not cut it off.
            let budget = self.retry.trigger_budget();
            self.tally.sent(1);
            // The trigger's time is when it is sent, not when the slot was
            // read: a run created while it could not be sent (a restart
            // refusing connections) is not the one it starts.
            let sending = Timestamp::now();
            baseline.triggered_at = self.server_now(sending);
            self.awaited.watches_mut()[i].trigger_sent = Some(sending);
            match self
                .client
                .trigger(&self.plan.project_id, &cache_id, kind, budget)
                .await
            {
                Ok(_) => {
                    self.retry.answered();
                    self.note_trigger_sent(i, None);
                    tracing::info!(cache_id = %cache_id, kind = kind.as_str(), "cache {cache_id}: triggered {} (the slot showed {})", kind.a_label(), baseline.id.as_deref().unwrap_or("no execution"));
                    break;
                }
                // It never reached a server: sending it again is safe, for
                // as long as the retry policy allows.
                Err(err @ (FetchError::Unreached(_) | FetchError::NoSuchHost(_))) => {
                    let cause = err.message();
                    if let Next::End(outcome, why) = self.retry.failed(&err) {
                        self.awaited.caches_mut()[i].state = CacheState::of(outcome);
                        return Err((outcome, format!("cache {cache_id}: {why}")));
                    }
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the trigger could not be sent ({cause}); sending it again");
                    let message = format!(
                        "cache {cache_id}: the {} could not be triggered: {cause}",
                        kind.label()
                    );
                    self.pause_or_timeout(schedule, None, |_| message).await?;
                }
                Err(err) if err.outcome().is_none() && self.plan.no_wait => {
                    // No token can promise a run that may not exist.
                    self.awaited.caches_mut()[i].last_error =
                        Some(format!("trigger: {}", err.message()));
                    return Err((
                        Outcome::ApiError,
                        format!(
                            "cache {cache_id}: {} ({}), so Peaka may or may not have started {}; it is not sent again, and with --no-wait there is no run that is provably this one to resume: look at the cache, then trigger again or wait without --resume",
                            doubt(&err),
                            err.message(),
                            kind.a_label()
                        ),
                    ));
                }
                Err(err) if err.outcome().is_none() => {
                    self.note_trigger_sent(i, Some(doubt(&err)));
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the trigger may or may not have reached Peaka ({}); not sending it again, waiting for a new {}", err.message(), kind.label());
                    self.awaited.caches_mut()[i].last_error =
                        Some(format!("trigger: {}", err.message()));
                    break;
                }
                Err(err) => {
                    let outcome = err.outcome().unwrap_or(Outcome::ApiError);
                    self.awaited.caches_mut()[i].state = CacheState::of(outcome);
                    self.awaited.caches_mut()[i].last_error = Some(err.message().to_owned());
                    return Err((
                        outcome,
                        format!(
                            "cache {cache_id}: triggering {} failed: {}",
                            kind.a_label(),
                            err.message()
                        ),
                    ));
                }
            }
        }
        self.awaited.watches_mut()[i].baseline = Some(Box::new(baseline));
        Ok(())
    }

    /// The server's time just before the trigger, as a `--no-wait` token
    /// records it (a gate that waits re-reads it from when the trigger
    /// was sent: [`Self::reread_trigger_time`]): the triggered execution
    /// is created after it (less the baseline's tolerance). The earlier of
    /// the server's own `Date` (when it is not absurd) and our clock read
    /// on the server's, so that a clock correction not yet trusted cannot
    /// reject the triggered execution, while the bound on the `Date` keeps
    /// a lying header from admitting a record from long before.
    fn trigger_time(&self, reply: &Reply<CacheStatus>) -> Timestamp {
        let ours = self.server_now(reply.received_at);
        let date = reply
            .server_date
            .filter(|date| date.duration_since(reply.received_at).abs() <= MAX_SKEW);
        date.map_or(ours, |date| date.min(ours))
    }

    /// Reads the trigger's time again on the server's clock as now known.
    /// A correction towards the past needs several `Date` readings that
    /// agree (see [`super::skew`]), so one lying `Date` before the trigger
    /// cannot admit a record from long before it, while a server whose
    /// clock is really behind sees its triggered execution count as soon
    /// as the correction is trusted.
    pub(super) fn reread_trigger_time(&mut self, i: usize) {
        let Some(sent) = self.awaited.watches()[i].trigger_sent else {
            return;
        };
        let at = self.server_now(sent);
        if let Some(baseline) = self.awaited.watches_mut()[i].baseline.as_mut() {
            baseline.triggered_at = at;
        }
    }
}

/// Why a trigger that got an error, or no answer, may not have started
/// anything: a 500 may mean Peaka never started a refresh, and the one
/// that runs may be a scheduled one.
fn doubt(err: &FetchError) -> String {
    match err {
        FetchError::Transient {
            status: Some(code), ..
        } => format!("the trigger's answer was HTTP {code}"),
        FetchError::NotTheApi(_) => "the trigger's answer was a web page, not Peaka's".to_owned(),
        _ => format!("the trigger got no answer ({})", err.message()),
    }
}
