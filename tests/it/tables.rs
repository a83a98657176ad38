//! Waiting by table, catalog or schema, run as built against the fake API:
//! `--table` is resolved once from the project's list (no match: exit 5
//! with the nearest names; ambiguous: exit 2 with the catalogs),
//! `--catalog-id` / `--schema` poll the catalog's or schema's list once
//! per round, names mix with `--cache-id`, and the summary names each
//! cache by id and table.

use std::collections::HashMap;

use crate::common;
use common::{gate_at, gate_json, run, start_fake};

/// A project `shop` with tables in two catalogs.
fn shop() -> fake_peaka::Running {
    let table = |c: &str, s: &str, t: &str| [c.to_owned(), s.to_owned(), t.to_owned()];
    let caches = [
        (
            "completes-after-1s~orders",
            table("cat-a", "sales", "orders"),
        ),
        (
            "completes-after-1s~items",
            table("cat-a", "sales", "order_items"),
        ),
        (
            "completes-after-1s~customers-a",
            table("cat-a", "crm", "customers"),
        ),
        (
            "completes-after-1s~customers-b",
            table("cat-b", "crm", "customers"),
        ),
        ("stuck~refunds", table("cat-b", "sales", "refunds")),
    ];
    start_fake(fake_peaka::Options {
        projects: HashMap::from([(
            "shop".to_owned(),
            caches.iter().map(|(id, _)| id.to_string()).collect(),
        )]),
        tables: caches
            .iter()
            .map(|(id, t)| (id.to_string(), t.clone()))
            .collect(),
        ..Default::default()
    })
}

#[test]
fn a_table_is_its_cache_and_the_summary_names_both() {
    let fake = shop();
    let (summary, stderr) = gate_json(
        &fake,
        "shop",
        &["--table", "sales.orders", "--timeout", "20s"],
        0,
    );
    let caches = summary["caches"].as_array().unwrap();
    assert_eq!(caches.len(), 1, "{summary}");
    assert_eq!(caches[0]["cacheId"], "completes-after-1s~orders");
    assert_eq!(caches[0]["table"], "cat-a.sales.orders");
    assert!(
        stderr.contains("table sales.orders is cache completes-after-1s~orders"),
        "{stderr}"
    );
}

#[test]
fn tables_mix_with_cache_ids_and_a_catalog_qualifies_an_ambiguous_name() {
    let fake = shop();
    let (summary, _) = gate_json(
        &fake,
        "shop",
        &[
            "--cache-id",
            "completes-after-1s~items",
            "--table",
            "cat-b.crm.customers,sales.orders",
            "--table",
            "sales.order_items",
            "--timeout",
            "20s",
        ],
        0,
    );
    let ids: Vec<&str> = summary["caches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cacheId"].as_str().unwrap())
        .collect();
    // The table that is also a --cache-id is awaited once.
    assert_eq!(
        ids,
        [
            "completes-after-1s~items",
            "completes-after-1s~customers-b",
            "completes-after-1s~orders"
        ]
    );
}

#[test]
fn an_unknown_table_is_not_found_naming_the_nearest() {
    let fake = shop();
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "shop",
        &["--table", "sales.ordrs", "--timeout", "20s"],
    ));
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(
        stdout.contains("--table sales.ordrs: no cache of project shop holds that table; the nearest names are sales.orders, sales.order_items"),
        "{stdout}"
    );
    assert_eq!(fake.requests(), 1, "resolved once, then nothing");
}

#[test]
fn an_ambiguous_table_is_a_usage_error_listing_the_catalogs() {
    let fake = shop();
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "shop",
        &["--table", "crm.customers", "--timeout", "20s"],
    ));
    assert_eq!(code, 2, "{stdout}{stderr}");
    for candidate in [
        "cat-a.crm.customers (cache completes-after-1s~customers-a)",
        "cat-b.crm.customers (cache completes-after-1s~customers-b)",
        "CATALOG_ID.crm.customers",
    ] {
        assert!(stdout.contains(candidate), "{candidate}: {stdout}");
    }
}

#[test]
fn a_catalog_or_schema_is_polled_with_one_list_request_per_round() {
    let fake = shop();
    let (summary, stderr) = gate_json(
        &fake,
        "shop",
        &[
            "--catalog-id",
            "cat-a",
            "--timeout",
            "20s",
            "--log-level",
            "debug",
            // Every request must be the catalog's list: no forecast reads.
            "--schedule",
            "exponential",
        ],
        0,
    );
    let tables: Vec<&str> = summary["caches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        [
            "cat-a.sales.orders",
            "cat-a.sales.order_items",
            "cat-a.crm.customers"
        ]
    );
    let polls = summary["polls"].as_u64().unwrap();
    let rounds = stderr
        .lines()
        .filter(|l| l.contains("poll cache completes-after-1s~orders:"))
        .count() as u64;
    assert!(rounds >= 2, "{stderr}");
    assert_eq!(
        polls,
        rounds + 1,
        "one list at the start, then one request per round"
    );
    assert_eq!(fake.requests(), polls);
    assert_eq!(
        fake.catalog_lists(),
        polls,
        "every request was the catalog's list"
    );

    // A schema narrows it; the stuck refund in another catalog is not awaited.
    let (summary, _) = gate_json(
        &fake,
        "shop",
        &[
            "--catalog-id",
            "cat-a",
            "--schema",
            "sales",
            "--timeout",
            "20s",
        ],
        0,
    );
    assert_eq!(summary["caches"].as_array().unwrap().len(), 2);
}

#[test]
fn an_empty_catalog_is_not_found_and_schema_needs_a_catalog() {
    let fake = shop();
    let (code, stdout, _) = run(gate_at(
        &fake,
        "shop",
        &["--catalog-id", "cat-z", "--timeout", "5s"],
    ));
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains("catalog cat-z of project shop has no caches"),
        "{stdout}"
    );
    let (code, _, stderr) = run(gate_at(&fake, "shop", &["--schema", "sales"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--catalog-id"), "{stderr}");
}

#[test]
fn the_start_line_names_the_tables_and_the_catalog_it_waits_for() {
    let fake = shop();
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "shop",
        &[
            "--table",
            "sales.orders",
            "--catalog-id",
            "cat-a",
            "--schema",
            "crm",
            "--timeout",
            "20s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let start = stderr
        .lines()
        .find(|l| l.contains("waiting for"))
        .unwrap_or_else(|| panic!("no start line: {stderr}"));
    assert!(!start.contains("0 caches"), "{start}");
    assert!(
        start.contains(
            "of the cache of table sales.orders and every cache of schema crm of catalog cat-a in project shop"
        ),
        "{start}"
    );
}
