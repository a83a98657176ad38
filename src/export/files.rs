//! Appending to the GitHub files (`$GITHUB_OUTPUT`,
//! `$GITHUB_STEP_SUMMARY`) within a time budget.

use std::io::Write;

use crate::text::one_line;
use crate::timespec::format_duration;

/// How long writing one GitHub file may take before it is given up.
pub const GITHUB_FILE_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

/// Appends each text to its file, all within [`GITHUB_FILE_BUDGET`]. The
/// writes run on a thread of their own: a path that blocks (a FIFO with no
/// reader, a hung network mount) costs a warning, never the deadline, and
/// the thread dies with the process.
pub(super) fn append_all(files: Vec<(&'static str, String, String)>) {
    if files.is_empty() {
        return;
    }
    let names: Vec<(&'static str, String)> = files
        .iter()
        .map(|(name, path, _)| (*name, path.clone()))
        .collect();
    let (done, finished) = std::sync::mpsc::channel();
    // One thread a file: a file that blocks must not hold up the other.
    for (name, path, text) in files {
        let done = done.clone();
        let spawned = std::thread::Builder::new()
            .name("github-files".into())
            .spawn(move || {
                let _ = done.send((name, append(&path, &text)));
            });
        if let Err(err) = spawned {
            tracing::warn!("cannot write {name}: {err}");
        }
    }
    drop(done);
    let until = std::time::Instant::now() + GITHUB_FILE_BUDGET;
    let mut written = std::collections::HashSet::new();
    while written.len() < names.len() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match finished.recv_timeout(left) {
            Ok((name, result)) => {
                written.insert(name);
                if let Err(err) = result {
                    let path = names
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or("", |(_, p)| p);
                    tracing::warn!("cannot write {name} ({}): {err}", one_line(path));
                }
            }
            // Timed out, or every thread that could answer has.
            Err(_) => break,
        }
    }
    for (name, path) in names.iter().filter(|(name, _)| !written.contains(name)) {
        tracing::warn!(
            "cannot write {name} ({}): not done within {}; is it a FIFO or a hung mount?",
            one_line(path),
            format_duration(GITHUB_FILE_BUDGET)
        );
    }
}

fn append(path: &str, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
}
