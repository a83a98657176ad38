//! BENCHMARKS.md's cheap figures against what the gate does today: the
//! requests per poll round for 1, 10, 20 and 100 caches (the `rounds` block
//! that `scripts/benchmarks.py` writes), rerun here with the built binary,
//! the same scenario (`completes-after-5s`, `--max-interval 2s`,
//! `--all-caches`) and fake-peaka without `--seed`. When the gate's pacing
//! changes, this fails until the block is regenerated
//! (`python3 scripts/benchmarks.py --section rounds`).

use std::process::Command;

use crate::common::{BIN, json_summary, run, start_fake};

/// The `rounds` block's rows: (caches, lowest and highest requests measured).
fn written() -> Vec<(u32, u64, u64)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md"))
        .expect("BENCHMARKS.md");
    let start = text
        .find("<!-- section: rounds -->")
        .expect("BENCHMARKS.md has a rounds block");
    let end = text[start..]
        .find("<!-- end section: rounds -->")
        .expect("the rounds block ends")
        + start;
    text[start..end]
        .lines()
        .filter_map(|line| {
            // | caches | how | n | rounds | requests | requests (range) | … |
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let caches = cells.get(1)?.parse().ok()?;
            let (low, high) = cells.get(6)?.split_once('–')?;
            Some((caches, low.parse().ok()?, high.parse().ok()?))
        })
        .collect()
}

#[test]
fn requests_per_round_match_benchmarks() {
    let rows = written();
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 10, 20, 100],
        "the rounds block lists 1, 10, 20 and 100 caches"
    );
    let fake = start_fake(fake_peaka::Options::default());
    let handles: Vec<_> = rows
        .into_iter()
        .map(|(caches, low, high)| {
            let base_url = fake.base_url.clone();
            std::thread::spawn(move || {
                let (project, args) = if caches == 1 {
                    (
                        "bench".to_owned(),
                        vec!["--cache-id", "completes-after-5s~benchmarks"],
                    )
                } else {
                    (
                        format!("many-{caches}-completes-after-5s~benchmarks"),
                        vec!["--all-caches"],
                    )
                };
                let mut command = Command::new(BIN);
                command
                    .env_clear()
                    .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
                    .env("PEAKA_BASE_URL", &base_url)
                    .args(["--project-id", &project, "--output", "json"])
                    .args(["--log-level", "error", "--max-interval", "2s"])
                    .args(args);
                let (code, stdout, stderr) = run(command);
                assert_eq!(code, 0, "{caches} caches: {stderr}");
                let polls = json_summary(&stdout)["polls"].as_u64().expect("polls");
                assert!(
                    (low..=high).contains(&polls),
                    "{caches} caches: the gate sent {polls} requests, BENCHMARKS.md says {low}–{high}: \
                     rerun python3 scripts/benchmarks.py --section rounds"
                );
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a gate's check failed");
    }
}
