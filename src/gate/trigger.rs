//! `--trigger`: note each slot's record (the baseline the triggered
//! execution must supersede), then ask Peaka to start the refresh, sending
//! it again only when it provably never reached the server.

use jiff::Timestamp;

use super::{CacheState, Ended, Gate, SKEW_TOLERANCE, latest_time};
use crate::api::ExecutionKind;
use crate::client::FetchError;
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
        let cache_id = self.caches[i].cache_id.clone();
        let mut baseline = loop {
            let budget = self.budget();
            self.polls += 1;
            match self
                .client
                .cache_status(&self.plan.project_id, &cache_id, budget)
                .await
            {
                Ok(reply) => {
                    self.retry.answered();
                    self.measure_skew(&reply, latest_time(&reply.value));
                    self.note_first_sight(i, &reply.value);
                    self.remember_slots(i, &reply.value);
                    break Baseline::of(
                        &reply.value,
                        kind,
                        self.server_now(reply.received_at),
                        SKEW_TOLERANCE,
                    );
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
        };
        loop {
            // Peaka takes seconds to answer a trigger: a short
            // --request-timeout must not cut it off.
            let budget = self.retry.trigger_budget();
            self.polls += 1;
            // The trigger's time is when it is sent, not when the slot was
            // read: a run created while it could not be sent (a restart
            // refusing connections) is not the one it starts.
            let sending = Timestamp::now();
            baseline.triggered_at = self.server_now(sending);
            self.watches[i].trigger_sent = Some(sending);
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
                        self.caches[i].state = CacheState::of(outcome);
                        return Err((outcome, format!("cache {cache_id}: {why}")));
                    }
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the trigger could not be sent ({cause}); sending it again");
                    let message = format!(
                        "cache {cache_id}: the {} could not be triggered: {cause}",
                        kind.label()
                    );
                    self.pause_or_timeout(schedule, None, |_| message).await?;
                }
                Err(err) if err.outcome().is_none() => {
                    self.note_trigger_sent(i, Some(doubt(&err)));
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the trigger may or may not have reached Peaka ({}); not sending it again, waiting for a new {}", err.message(), kind.label());
                    self.caches[i].last_error = Some(format!("trigger: {}", err.message()));
                    break;
                }
                Err(err) => {
                    let outcome = err.outcome().unwrap_or(Outcome::ApiError);
                    self.caches[i].state = CacheState::of(outcome);
                    self.caches[i].last_error = Some(err.message().to_owned());
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
        self.watches[i].baseline = Some(baseline);
        Ok(())
    }

    /// Reads the trigger's time again on the server's clock as now known.
    /// A correction towards the past needs several `Date` readings that
    /// agree (see [`super::skew`]), so one lying `Date` before the trigger
    /// cannot admit a record from long before it, while a server whose
    /// clock is really behind sees its triggered execution count as soon
    /// as the correction is trusted.
    pub(super) fn reread_trigger_time(&mut self, i: usize) {
        let Some(sent) = self.watches[i].trigger_sent else {
            return;
        };
        let at = self.server_now(sent);
        if let Some(baseline) = self.watches[i].baseline.as_mut() {
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
