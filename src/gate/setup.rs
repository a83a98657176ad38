//! Before the first poll: listing the project's caches (`--all-caches`),
//! then triggering (see [`super::trigger`]); and the retry rule for those
//! setup requests.

use super::{CacheState, Caches, Ended, Gate};
use crate::client::FetchError;
use crate::exit_codes::Outcome;
use crate::schedule::Schedule;

impl Gate<'_> {
    /// Before polling: list the project's caches (`--all-caches`) and
    /// trigger the refreshes (`--trigger`).
    pub(super) async fn prepare(&mut self, schedule: &mut Schedule) -> Result<(), Ended> {
        if self.plan.caches == Caches::All {
            let ids = loop {
                let budget = self.budget();
                self.polls += 1;
                match self
                    .client
                    .project_statuses(&self.plan.project_id, budget)
                    .await
                {
                    Ok(reply) => {
                        self.measure_skew(&reply);
                        break reply
                            .value
                            .into_iter()
                            .filter_map(|status| status.id)
                            .collect::<Vec<_>>();
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
            if ids.is_empty() {
                return Err((
                    Outcome::NotFound,
                    format!(
                        "project {} has no caches (check --project-id)",
                        self.plan.project_id
                    ),
                ));
            }
            tracing::info!(
                caches = ids.len(),
                "project {} has {} caches: {}",
                self.plan.project_id,
                ids.len(),
                ids.join(", ")
            );
            self.set_caches(ids);
        }
        self.resolve_names(schedule).await?;
        if let Some(kind) = self.plan.trigger {
            for i in 0..self.caches.len() {
                self.trigger(i, kind, schedule).await?;
            }
        }
        Ok(())
    }

    /// After a failed setup request about `cache` (or the project): end on
    /// a final error, else pause until the next attempt.
    pub(super) async fn retry_or_end(
        &mut self,
        err: &FetchError,
        cache: Option<usize>,
        subject: &str,
        schedule: &mut Schedule,
        doing: &str,
    ) -> Result<(), Ended> {
        if let Some(i) = cache {
            self.caches[i].last_error = Some(err.message().to_owned());
        }
        if let Some(outcome) = err.outcome() {
            if let Some(i) = cache {
                self.caches[i].state = CacheState::of(outcome);
            }
            return Err((outcome, format!("{subject}: {}", err.message())));
        }
        tracing::warn!("{subject}: {}; retrying", err.message());
        let retry_after = match err {
            FetchError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        };
        let message = format!(
            "{subject}: timed out while {doing}; last error: {}",
            err.message()
        );
        self.pause_or_timeout(schedule, retry_after, |_| message)
            .await
    }
}
