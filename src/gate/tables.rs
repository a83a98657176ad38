//! `--table` and `--catalog-id` / `--schema` in the loop: turning names
//! into cache ids once at the start, and asking the catalog's list each
//! round when it covers every awaited cache.
//!
//! One schema's caches are read from the catalog's list, filtered by
//! `schemaName`: Peaka's schema-level list answered 500 for live catalogs
//! (see the reference, "More of the live API"), the catalog's worked.

use std::collections::HashSet;
use std::time::Duration;

use super::{Ended, Gate, latest_time};
use crate::api::CacheStatus;
use crate::client::{FetchError, Reply};
use crate::exit_codes::Outcome;
use crate::schedule::Schedule;
use crate::stream::Filter;
use crate::tables::{CatalogScope, resolve};

impl Gate<'_> {
    /// Finds the caches of `--table` in the project's list, and lists the
    /// caches of `--catalog-id` (`--schema`); adds them to the awaited ones.
    pub(super) async fn resolve_names(&mut self, schedule: &mut Schedule) -> Result<(), Ended> {
        if !self.plan.tables.is_empty() {
            let statuses = self
                .list_for_setup(None, schedule, "listing the project's caches")
                .await?;
            let mut found = Vec::new();
            for table in &self.plan.tables {
                let id = resolve(table, &statuses, &self.plan.project_id)?;
                tracing::info!(cache_id = %id, table = %table.name(), "table {} is cache {id}", table.name());
                found.push(id);
            }
            self.awaited.add(found, &statuses);
        }
        if let Some(scope) = self.plan.catalog.clone() {
            let statuses = self
                .list_for_setup(Some(&scope), schedule, "listing the catalog's caches")
                .await?;
            // The catalog's list holds every schema: the names pick the
            // scope's caches (and a list that ignored the path cannot add
            // foreign ones).
            let ids: Vec<String> = statuses
                .iter()
                .filter(|s| scope.holds(s))
                .filter_map(|s| s.id.clone())
                .collect();
            if ids.is_empty() {
                return Err((
                    Outcome::NotFound,
                    format!(
                        "{} of project {} has no caches (check --catalog-id and --schema)",
                        scope.describe(),
                        self.plan.project_id
                    ),
                ));
            }
            tracing::info!(
                caches = ids.len(),
                "{} has {} caches: {}",
                scope.describe(),
                ids.len(),
                ids.join(", ")
            );
            self.awaited.add(ids, &statuses);
        }
        Ok(())
    }

    /// One list for the setup, retried on the schedule like the other
    /// setup requests.
    async fn list_for_setup(
        &mut self,
        scope: Option<&CatalogScope>,
        schedule: &mut Schedule,
        doing: &str,
    ) -> Result<Vec<CacheStatus>, Ended> {
        loop {
            let budget = self.budget();
            self.tally.sent(1);
            let reply = match scope {
                // Only the caches of the catalog (or schema) are kept.
                Some(scope) => {
                    self.client
                        .catalog_statuses(
                            &self.plan.project_id,
                            &scope.catalog_id,
                            budget,
                            Filter::new(|s: &CacheStatus| scope.holds(s)),
                        )
                        .await
                }
                // Table names are resolved against the whole project.
                None => {
                    self.client
                        .project_statuses(&self.plan.project_id, budget, Vec::new())
                        .await
                }
            };
            match reply {
                Ok(reply) => {
                    self.retry.answered();
                    let latest = reply.value.iter().filter_map(latest_time).max();
                    self.measure_skew(&reply, latest);
                    return Ok(reply.value);
                }
                Err(err) => {
                    let subject = match scope {
                        Some(scope) => scope.describe(),
                        None => format!("project {}", self.plan.project_id),
                    };
                    self.retry_or_end(&err, None, &subject, schedule, doing)
                        .await?
                }
            }
        }
    }

    /// The round's one list request: the catalog's list when every awaited
    /// cache is known to be in it, else the project's. Only the entries of
    /// awaited caches are kept (every one of them, for a cache listed
    /// twice), and the first entry without an id, which could be any
    /// cache: a list of 480,000 caches costs what its awaited entries cost.
    pub(super) async fn list_statuses(
        &self,
        budget: Duration,
    ) -> Result<Reply<Vec<CacheStatus>>, FetchError> {
        let awaited: HashSet<&str> = self
            .awaited
            .caches()
            .iter()
            .map(|c| c.cache_id.as_str())
            .collect();
        let mut without_id = false;
        let keep = Filter::new(move |s: &CacheStatus| match s.id.as_deref() {
            Some(id) => awaited.contains(id),
            None => !std::mem::replace(&mut without_id, true),
        });
        if let Some(scope) = &self.plan.catalog {
            let covered = self
                .awaited
                .caches()
                .iter()
                .all(|c| c.status.as_ref().is_some_and(|s| scope.holds(s)));
            if covered {
                return self
                    .client
                    .catalog_statuses(&self.plan.project_id, &scope.catalog_id, budget, keep)
                    .await;
            }
        }
        self.client
            .project_statuses(&self.plan.project_id, budget, keep)
            .await
    }
}
