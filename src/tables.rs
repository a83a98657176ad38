//! Caches named by what users know: `--table SCHEMA.TABLE` (or
//! `CATALOG_ID.SCHEMA.TABLE`), and `--catalog-id ID` with an optional
//! `--schema NAME`. This module owns the names and their resolution
//! against a list of cache statuses; it asks nothing of the network.

use crate::api::CacheStatus;
use crate::exit_codes::Outcome;
use crate::text::shown;

/// How many near names a "no such table" message offers.
const NEAREST: usize = 3;

/// A table as given to `--table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The catalog id, when the name was given with one.
    pub catalog: Option<String>,
    /// The schema name.
    pub schema: String,
    /// The table name.
    pub table: String,
}

impl TableRef {
    /// Reads `SCHEMA.TABLE` or `CATALOG_ID.SCHEMA.TABLE`; no part may be
    /// empty, and there is no quoting (a name with a dot cannot be given).
    pub fn parse(text: &str) -> Result<TableRef, String> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').map(str::trim).collect();
        let bad = |why: &str| {
            format!(
                "--table '{}' {why}: give SCHEMA.TABLE, or CATALOG_ID.SCHEMA.TABLE when the name is in several catalogs",
                shown(text)
            )
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("has an empty part"));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("contains a control character"));
        }
        match parts.as_slice() {
            [schema, table] => Ok(TableRef {
                catalog: None,
                schema: schema.to_string(),
                table: table.to_string(),
            }),
            [catalog, schema, table] => Ok(TableRef {
                catalog: Some(catalog.to_string()),
                schema: schema.to_string(),
                table: table.to_string(),
            }),
            _ => Err(bad("is not a table name")),
        }
    }

    /// The name as given.
    pub fn name(&self) -> String {
        match &self.catalog {
            Some(catalog) => format!("{catalog}.{}.{}", self.schema, self.table),
            None => format!("{}.{}", self.schema, self.table),
        }
    }

    fn matches(&self, status: &CacheStatus, exact: bool) -> bool {
        let same = |want: &str, got: &Option<String>| {
            got.as_deref().is_some_and(|got| {
                if exact {
                    got == want
                } else {
                    got.eq_ignore_ascii_case(want)
                }
            })
        };
        same(&self.schema, &status.schema_name)
            && same(&self.table, &status.table_name)
            && self
                .catalog
                .as_ref()
                .is_none_or(|catalog| status.catalog_id.as_deref() == Some(catalog.as_str()))
    }
}

/// `--catalog-id ID`, optionally narrowed by `--schema NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogScope {
    /// The catalog id.
    pub catalog_id: String,
    /// The schema name, if only one schema's caches are awaited.
    pub schema: Option<String>,
}

impl CatalogScope {
    /// Whether the cache of `status` belongs to the scope, by the names
    /// the server gave it.
    pub fn holds(&self, status: &CacheStatus) -> bool {
        status.catalog_id.as_deref() == Some(self.catalog_id.as_str())
            && self
                .schema
                .as_ref()
                .is_none_or(|schema| status.schema_name.as_deref() == Some(schema.as_str()))
    }

    /// "catalog C" or "schema S of catalog C", for messages.
    pub fn describe(&self) -> String {
        match &self.schema {
            Some(schema) => format!(
                "schema {} of catalog {}",
                shown(schema),
                shown(&self.catalog_id)
            ),
            None => format!("catalog {}", shown(&self.catalog_id)),
        }
    }
}

/// `catalogId.schema.table` of a status, when the server named all three.
pub fn table_of(status: &CacheStatus) -> Option<String> {
    match (&status.catalog_id, &status.schema_name, &status.table_name) {
        (Some(c), Some(s), Some(t)) => Some(format!("{c}.{s}.{t}")),
        _ => None,
    }
}

/// Finds the one cache of `statuses` that holds `table`: an exact match,
/// else a match ignoring ASCII case. None is exit 5 naming the nearest
/// names; several is exit 2 listing them with their catalog ids.
pub fn resolve(
    table: &TableRef,
    statuses: &[CacheStatus],
    project_id: &str,
) -> Result<String, (Outcome, String)> {
    let mut found: Vec<&CacheStatus> = statuses.iter().filter(|s| table.matches(s, true)).collect();
    if found.is_empty() {
        found = statuses
            .iter()
            .filter(|s| table.matches(s, false))
            .collect();
    }
    match found.as_slice() {
        [one] => one.id.clone().ok_or_else(|| {
            (
                Outcome::ApiError,
                format!(
                    "--table {}: the project's list names the table but not its cache id",
                    shown(&table.name())
                ),
            )
        }),
        [] => Err((Outcome::NotFound, not_found(table, statuses, project_id))),
        several => {
            let candidates: Vec<String> = several
                .iter()
                .map(|s| {
                    format!(
                        "{} (cache {})",
                        shown(&table_of(s).unwrap_or_else(|| table.name())),
                        shown(s.id.as_deref().unwrap_or("?"))
                    )
                })
                .collect();
            Err((
                Outcome::Usage,
                format!(
                    "--table {} is in {} catalogs: {}; name one as CATALOG_ID.{}.{}",
                    shown(&table.name()),
                    several.len(),
                    candidates.join(", "),
                    shown(&table.schema),
                    shown(&table.table)
                ),
            ))
        }
    }
}

fn not_found(table: &TableRef, statuses: &[CacheStatus], project_id: &str) -> String {
    let wanted = format!("{}.{}", table.schema, table.table).to_ascii_lowercase();
    let mut names: Vec<(usize, String)> = statuses
        .iter()
        .filter_map(|s| {
            let name = format!("{}.{}", s.schema_name.as_deref()?, s.table_name.as_deref()?);
            Some((edit_distance(&wanted, &name.to_ascii_lowercase()), name))
        })
        .collect();
    names.sort();
    names.dedup_by(|a, b| a.1 == b.1);
    let nearest: Vec<String> = names
        .into_iter()
        .take(NEAREST)
        .map(|(_, name)| shown(&name))
        .collect();
    let hint = if nearest.is_empty() {
        "the project has no cached tables".to_owned()
    } else {
        format!("the nearest names are {}", nearest.join(", "))
    };
    format!(
        "--table {}: no cache of project {} holds that table; {hint}",
        shown(&table.name()),
        shown(project_id)
    )
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;

    fn status(id: &str, catalog: &str, schema: &str, table: &str) -> CacheStatus {
        CacheStatus {
            id: Some(id.into()),
            status: Status::Completed,
            catalog_id: Some(catalog.into()),
            schema_name: Some(schema.into()),
            table_name: Some(table.into()),
            last_incremental_cache_execution: None,
            last_full_refresh_cache_execution: None,
        }
    }

    fn project() -> Vec<CacheStatus> {
        vec![
            status("c1", "cat-a", "sales", "orders"),
            status("c2", "cat-a", "sales", "order_items"),
            status("c3", "cat-a", "public", "customers"),
            status("c4", "cat-b", "public", "customers"),
            status("c5", "cat-b", "Sales", "Refunds"),
        ]
    }

    #[test]
    fn names_parse_with_or_without_a_catalog() {
        assert_eq!(
            TableRef::parse(" sales.orders ").unwrap(),
            TableRef {
                catalog: None,
                schema: "sales".into(),
                table: "orders".into()
            }
        );
        assert_eq!(
            TableRef::parse("cat-a.sales.orders")
                .unwrap()
                .catalog
                .as_deref(),
            Some("cat-a")
        );
        for bad in ["orders", "a..b", ".b", "a.b.c.d", "a.b\u{1b}"] {
            assert!(TableRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_match_is_its_cache_id_exact_case_first() {
        let statuses = project();
        let find = |name: &str| resolve(&TableRef::parse(name).unwrap(), &statuses, "p");
        assert_eq!(find("sales.orders"), Ok("c1".into()));
        assert_eq!(find("cat-b.public.customers"), Ok("c4".into()));
        assert_eq!(find("sales.refunds"), Ok("c5".into()));
        assert_eq!(find("SALES.ORDERS"), Ok("c1".into()));
    }

    #[test]
    fn no_match_is_not_found_with_the_nearest_names() {
        let (outcome, message) =
            resolve(&TableRef::parse("sales.ordrs").unwrap(), &project(), "p").unwrap_err();
        assert_eq!(outcome, Outcome::NotFound);
        assert!(
            message
                .contains("the nearest names are sales.orders, Sales.Refunds, sales.order_items"),
            "{message}"
        );
        let (outcome, _) = resolve(
            &TableRef::parse("cat-c.sales.orders").unwrap(),
            &project(),
            "p",
        )
        .unwrap_err();
        assert_eq!(outcome, Outcome::NotFound);
        let (_, message) = resolve(&TableRef::parse("a.b").unwrap(), &[], "p").unwrap_err();
        assert!(message.contains("no cached tables"), "{message}");
    }

    #[test]
    fn an_ambiguous_name_is_a_usage_error_listing_the_catalogs() {
        let (outcome, message) = resolve(
            &TableRef::parse("public.customers").unwrap(),
            &project(),
            "p",
        )
        .unwrap_err();
        assert_eq!(outcome, Outcome::Usage);
        assert!(
            message.contains("cat-a.public.customers (cache c3)"),
            "{message}"
        );
        assert!(
            message.contains("cat-b.public.customers (cache c4)"),
            "{message}"
        );
        assert!(message.contains("CATALOG_ID.public.customers"), "{message}");
    }

    #[test]
    fn server_names_cannot_rewrite_the_terminal() {
        let statuses = vec![status("c\u{1b}[2J", "x", "s", "t\u{7}")];
        let (_, message) = resolve(&TableRef::parse("s.u").unwrap(), &statuses, "p").unwrap_err();
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("orders", "orders"), 0);
        assert_eq!(edit_distance("ordrs", "orders"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
