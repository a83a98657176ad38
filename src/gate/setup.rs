//! Before the first poll: listing the project's caches (`--all-caches`),
//! then triggering (see [`super::trigger`]); and how those setup requests
//! follow the retry policy ([`crate::retry`]).

use std::collections::HashSet;

use super::{CacheState, Caches, Ended, Gate, latest_time};
use crate::client::FetchError;
use crate::exit_codes::Outcome;
use crate::retry::Next;
use crate::schedule::Schedule;
use crate::text::shown;

/// How many cache ids the start line names before it says "and N more".
const LISTED_IDS: usize = 20;

impl Gate<'_> {
    /// Before polling: list the project's caches (`--all-caches`) and
    /// trigger the refreshes (`--trigger`).
    pub(super) async fn prepare(&mut self, schedule: &mut Schedule) -> Result<(), Ended> {
        if self.plan.caches == Caches::All {
            let reply = loop {
                let budget = self.budget();
                self.tally.sent(1);
                match self
                    .client
                    .project_statuses(&self.plan.project_id, budget, Vec::new())
                    .await
                {
                    Ok(reply) => {
                        self.retry.answered();
                        break reply;
                    }
                    Err(err) => {
                        let subject = format!("project {}", self.plan.project_id);
                        self.retry_or_end(
                            &err,
                            None,
                            &subject,
                            schedule,
                            "listing the project's caches",
                        )
                        .await?
                    }
                }
            };
            let latest = reply.value.iter().filter_map(latest_time).max();
            self.measure_skew(&reply, latest);
            let mut ids: Vec<String> = Vec::with_capacity(reply.value.len());
            let mut seen = HashSet::with_capacity(reply.value.len());
            for status in &reply.value {
                match &status.id {
                    // An entry without an id could be any cache: the gate
                    // cannot say that every cache is ready.
                    None => {
                        return Err((
                            Outcome::ApiError,
                            format!(
                                "project {}: the list of caches has a cache without an id (status {}); peaka-wait cannot tell which cache it is, so it cannot say that every cache is ready",
                                self.plan.project_id,
                                shown(status.status.as_str())
                            ),
                        ));
                    }
                    Some(id) if seen.insert(id.as_str()) => ids.push(id.clone()),
                    Some(_) => {}
                }
            }
            if ids.is_empty() {
                return Err((
                    Outcome::NotFound,
                    format!(
                        "project {} has no caches (check --project-id)",
                        self.plan.project_id
                    ),
                ));
            }
            let shown_ids = ids
                .iter()
                .take(LISTED_IDS)
                .map(|id| shown(id))
                .collect::<Vec<_>>()
                .join(", ");
            let more = ids.len().saturating_sub(LISTED_IDS);
            tracing::info!(
                caches = ids.len(),
                "project {} has {} caches: {shown_ids}{}",
                self.plan.project_id,
                ids.len(),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            self.awaited.set(ids);
            // Without a trigger, that list already is the first round.
            if self.plan.trigger.is_none() {
                self.awaited.keep_first_list(reply);
            }
        }
        self.resolve_names(schedule).await?;
        match self.plan.trigger {
            // --resume: the trigger was sent by the process that made the token.
            Some(_) if self.plan.resume.is_some() => {}
            Some(kind) if self.plan.no_wait => self.trigger_for_later(kind, schedule).await?,
            Some(kind) => {
                for i in 0..self.awaited.len() {
                    self.trigger(i, kind, schedule).await?;
                }
            }
            None => {}
        }
        Ok(())
    }

    /// After a failed setup request about `cache` (or the project): end as
    /// the retry policy says, else pause until the next attempt.
    pub(super) async fn retry_or_end(
        &mut self,
        err: &FetchError,
        cache: Option<usize>,
        subject: &str,
        schedule: &mut Schedule,
        doing: &str,
    ) -> Result<(), Ended> {
        if let Some(i) = cache {
            self.awaited.caches_mut()[i].last_error = Some(err.message().to_owned());
        }
        let retry_after = match self.retry.failed(err) {
            Next::End(outcome, why) => {
                if let Some(i) = cache {
                    self.awaited.caches_mut()[i].state = CacheState::of(outcome);
                }
                return Err((outcome, format!("{subject}: {why}")));
            }
            Next::Retry(retry_after) => retry_after,
        };
        tracing::warn!("{subject}: {}; retrying", err.message());
        let message = format!(
            "{subject}: timed out while {doing}; last error: {}",
            err.message()
        );
        self.pause_or_timeout(schedule, retry_after, |_| message)
            .await
    }
}
