//! The recorded mutation-testing result (`evidence/mutants.txt`) is about
//! the decision core as it is now: the files listed in
//! `.cargo/mutants.toml`, with the hashes they had when
//! `scripts/mutants.sh` ran, and no missed mutant. A change to one of them
//! fails here until the run is repeated, so the score in the README cannot
//! silently go stale. (The run itself takes about an hour, too long for
//! every `cargo test`.)

use std::collections::BTreeMap;
use std::path::Path;

const REFRESH: &str = "run scripts/mutants.sh and commit evidence/mutants.txt";

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The files cargo-mutants examines: the `examine_globs` line, which lists
/// plain paths (the same parsing as in scripts/mutants.sh).
fn configured_files() -> Vec<String> {
    let config = read(".cargo/mutants.toml");
    let list = config
        .lines()
        .find_map(|line| line.strip_prefix("examine_globs = ["))
        .and_then(|rest| rest.strip_suffix(']'))
        .expect("an `examine_globs = [...]` line on one line in .cargo/mutants.toml");
    list.split(',')
        .map(|path| path.trim().trim_matches('"').to_owned())
        .filter(|path| !path.is_empty())
        .collect()
}

/// `file: <sha256>  <path>` lines of the record.
fn recorded_hashes(record: &str) -> BTreeMap<String, String> {
    record
        .lines()
        .filter_map(|line| line.strip_prefix("file: "))
        .filter_map(|rest| rest.split_once("  "))
        .map(|(hash, path)| (path.to_owned(), hash.to_owned()))
        .collect()
}

fn sha256_hex(path: &str) -> String {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_mutation_result_is_about_the_current_decision_core() {
    let record = read("evidence/mutants.txt");
    let recorded = recorded_hashes(&record);
    let files = configured_files();
    assert!(!files.is_empty(), "no file in .cargo/mutants.toml");
    assert_eq!(
        recorded.keys().cloned().collect::<Vec<_>>(),
        {
            let mut sorted = files.clone();
            sorted.sort();
            sorted
        },
        "evidence/mutants.txt covers other files than .cargo/mutants.toml lists: {REFRESH}"
    );
    for path in &files {
        assert_eq!(
            sha256_hex(path),
            recorded[path],
            "{path} changed since the last mutation run: {REFRESH}"
        );
    }
}

#[test]
fn the_recorded_run_missed_no_mutant() {
    let record = read("evidence/mutants.txt");
    let missed = record
        .lines()
        .find_map(|line| line.strip_prefix("missed: "))
        .expect("a `missed: N` line in evidence/mutants.txt");
    assert_eq!(
        missed, "0",
        "the last mutation run missed mutants; kill them with tests:\n{record}"
    );
}

#[test]
fn the_hash_is_the_one_sha256sum_prints() {
    // The script records `sha256sum` output; this pins the Rust side to
    // the same digest and hex form (SHA-256 of "abc", FIPS 180-2).
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("abc");
    std::fs::write(&file, "abc").expect("write");
    assert_eq!(
        sha256_hex(file.to_str().expect("a UTF-8 temp path")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
