//! Which caches and materialized queries a run is about: `--project-id`,
//! `--cache-id`, `--table`, `--catalog-id`, `--schema`, `--all-caches`,
//! the two listings, `--resume`'s caches, `--materialized-query` and
//! `--refresh-query`; that exactly one way of naming caches was used, and
//! what does not go with materialized queries. The other groups of
//! settings, and the order all are checked in, are `check.rs`'s.

use super::Args;
use super::check::check_id;
use super::names::Names;
use super::token as resume;
use crate::tables::{CatalogScope, TableRef};

/// Which caches the gate waits for (or lists), as checked.
pub(super) struct Selection {
    pub(super) project_id: String,
    pub(super) cache_ids: Vec<String>,
    pub(super) tables: Vec<TableRef>,
    pub(super) catalog: Option<CatalogScope>,
    pub(super) all_caches: bool,
    pub(super) list_caches: bool,
    pub(super) resume: Option<crate::resume::Token>,
    /// Said once the run starts (a selection the resume token overrides).
    pub(super) warnings: Vec<String>,
    /// `--materialized-query`, `--refresh-query`, `--list-materialized-queries`.
    pub(super) queries: Queries,
}

/// `--project-id`, `--cache-id`, `--table`, `--catalog-id`, `--schema`,
/// `--all-caches`, `--list-caches` and `--resume`: which caches, and that
/// exactly one way of naming them was used.
pub(super) fn check_selection(
    args: &Args,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Selection, String> {
    let Some(project_id) = args.project_id.as_deref() else {
        return Err("no project: pass --project-id ID (or set PEAKA_PROJECT_ID), the project as Peaka shows it; peaka-wait --help lists every flag".into());
    };
    let project_id = check_id(&names.of("project_id"), project_id)?;
    let mut warnings: Vec<String> = Vec::new();
    let all_caches = names.flag_or_env(args.all_caches, "PEAKA_ALL_CACHES", "all-caches", env)?;
    let queries = check_queries(args, names)?;
    // Either listing needs only the project and the key.
    let list_caches = args.list_caches || queries.list;
    let mut cache_ids: Vec<String> = Vec::new();
    for id in &args.cache_ids {
        // "a,b," and "a, b" are common in env vars: skip empties, trim.
        if id.trim().is_empty() {
            continue;
        }
        let id = check_id(&names.of("cache_ids"), id)?;
        if !cache_ids.contains(&id) {
            cache_ids.push(id);
        }
    }
    let mut tables: Vec<TableRef> = Vec::new();
    for name in &args.tables {
        if name.trim().is_empty() {
            continue;
        }
        let table = TableRef::parse(name)?;
        if !tables.contains(&table) {
            tables.push(table);
        }
    }
    if args.schema.is_some() && args.catalog_id.is_none() {
        return Err(format!(
            "{} narrows a catalog to one schema: add --catalog-id ID (or PEAKA_CATALOG_ID)",
            names.of("schema")
        ));
    }
    let catalog = match &args.catalog_id {
        Some(id) => Some(CatalogScope {
            catalog_id: check_id(&names.of("catalog_id"), id)?,
            schema: args
                .schema
                .as_deref()
                .map(|s| check_id(&names.of("schema"), s))
                .transpose()?,
        }),
        None => None,
    };
    // A PEAKA_RESUME left in the environment must not stop a listing.
    let resume = match (&args.resume, list_caches) {
        (Some(text), false) => Some(resume::read(text, names, &project_id, &cache_ids)?),
        _ => None,
    };
    let (mut all_caches, mut catalog) = (all_caches, catalog);
    if let Some(token) = &resume {
        // The token names the caches found at the first start: a job that
        // keeps its command line must not have them looked up again.
        if all_caches || !tables.is_empty() || catalog.is_some() {
            resume::note_ignored_selection(&mut warnings);
        }
        all_caches = false;
        tables.clear();
        catalog = None;
        cache_ids = token.cache_ids();
    }
    let named = !tables.is_empty() || catalog.is_some();
    if list_caches {
        // A PEAKA_CACHE_ID left in the environment must not stop a listing.
        cache_ids.clear();
        tables.clear();
    } else if all_caches && named {
        return Err("--all-caches (or PEAKA_ALL_CACHES) already waits for every cache: leave out --table and --catalog-id, or --all-caches".into());
    } else if named {
        // Caches named by table or catalog, with or without --cache-id.
    } else if all_caches && !cache_ids.is_empty() {
        return Err(format!(
            "both {} and --all-caches (or PEAKA_ALL_CACHES) are set: use one",
            names.of("cache_ids")
        ));
    } else if cache_ids.is_empty() && !all_caches && !queries.awaited() {
        return Err(if args.cache_ids.is_empty() {
            "no cache: pass --cache-id ID (or set PEAKA_CACHE_ID, comma-separated for several), --table SCHEMA.TABLE, --catalog-id ID, or --all-caches \
(or a materialized query: --materialized-query ID, --refresh-query ID); \
peaka-wait --list-caches --project-id ID lists the project's caches"
                .to_owned()
        } else {
            format!(
                "{} is empty: give at least one cache id (PEAKA_CACHE_ID takes a comma-separated list)",
                names.of("cache_ids")
            )
        });
    }
    Ok(Selection {
        project_id,
        cache_ids,
        tables,
        catalog,
        all_caches,
        list_caches,
        resume,
        warnings,
        queries,
    })
}

/// The materialized-query settings, checked.
pub(super) struct Queries {
    pub(super) wait: Vec<String>,
    pub(super) refresh: Vec<String>,
    pub(super) list: bool,
}

impl Queries {
    fn awaited(&self) -> bool {
        !self.wait.is_empty() || !self.refresh.is_empty()
    }

    /// What does not go with materialized queries: `--trigger` with no
    /// cache to trigger, `--no-wait`/`--resume` (a token names cache runs
    /// only), and checking once after a refresh that cannot have run yet.
    pub(super) fn check_modes(
        &self,
        trigger_without_cache: bool,
        token: bool,
        once: bool,
    ) -> Result<(), String> {
        if !self.awaited() {
            return Ok(());
        }
        if trigger_without_cache {
            return Err("--trigger refreshes caches, and none is given: to refresh a materialized query use --refresh-query ID (PEAKA_REFRESH_QUERY)".into());
        }
        if token {
            return Err("--no-wait and --resume work with caches only: leave out --materialized-query and --refresh-query, or --no-wait and --resume".into());
        }
        if once && !self.refresh.is_empty() {
            return Err("--timeout 0 checks once without waiting, but --refresh-query starts a run that cannot have finished by then: give a --timeout long enough for the refresh, like 30m".into());
        }
        Ok(())
    }
}

/// `--materialized-query`, `--refresh-query` and
/// `--list-materialized-queries`: ids trimmed, empties (a trailing comma)
/// skipped, duplicates dropped; a query both awaited and refreshed is
/// refreshed.
fn check_queries(args: &Args, names: &Names<'_>) -> Result<Queries, String> {
    let ids = |id: &str, given: &[String]| -> Result<Vec<String>, String> {
        let mut ids: Vec<String> = Vec::new();
        for text in given.iter().filter(|t| !t.trim().is_empty()) {
            let checked = check_id(&names.of(id), text)?;
            if !ids.contains(&checked) {
                ids.push(checked);
            }
        }
        if ids.is_empty() && !given.is_empty() {
            return Err(format!(
                "{} is empty: give at least one materialized query id (comma-separated for several)",
                names.of(id)
            ));
        }
        Ok(ids)
    };
    let refresh = ids("refresh_queries", &args.refresh_queries)?;
    let wait = ids("materialized_queries", &args.materialized_queries)?
        .into_iter()
        .filter(|id| !refresh.contains(id))
        .collect();
    if args.list_caches && args.list_materialized_queries {
        return Err(
            "--list-caches and --list-materialized-queries each list one thing: use one".into(),
        );
    }
    Ok(Queries {
        wait,
        refresh,
        list: args.list_materialized_queries,
    })
}
