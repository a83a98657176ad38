//! When the machine's CA store is read, seen from outside with `strace`:
//! never for an `http://` (loopback) base reached directly or through a
//! plain proxy, once for an `https://` base or an `https://` proxy, and
//! `SSL_CERT_FILE` still names the store that is read.
//!
//! Without `strace` the tests are skipped with a loud message, except
//! under `CI`, where its absence is a failure (`.ci/run` installs it).

use std::path::Path;
use std::process::Command;

use crate::common;
use common::{BIN, serve_forever, start_fake};

/// Runs the gate under `strace -f -e trace=openat,open`; returns its exit
/// code and how often `cert_file` was opened. `None` when strace is absent.
fn opens_of(cert_file: &Path, base: &str, args: &[&str]) -> Option<(u8, usize, String)> {
    let strace = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| Path::new(p).is_file());
    let Some(strace) = strace else {
        if std::env::var_os("CI").is_some() {
            panic!("strace is not installed, and CI is set: install it (apt-get install strace)");
        }
        eprintln!("\n!!! SKIPPED: strace is not installed; the CA-store tests did not run !!!\n");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let output = Command::new(strace)
        .args(["-f", "-qq", "-e", "trace=openat,open", "-o"])
        .arg(&trace)
        .arg(BIN)
        .env_clear()
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .env("PEAKA_BASE_URL", base)
        .env("SSL_CERT_FILE", cert_file)
        .args(["--project-id", "p", "--timeout", "0"])
        .args(args)
        .output()
        .expect("run strace");
    let trace = std::fs::read_to_string(&trace).unwrap_or_default();
    let needle = cert_file.to_string_lossy().into_owned();
    let opens = trace.lines().filter(|l| l.contains(&needle)).count();
    let code = output.status.code().map_or(255, |c| c as u8);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((code, opens, text))
}

#[test]
fn the_store_is_not_read_for_a_plain_http_base() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not read").unwrap();
    let Some((code, opens, text)) = opens_of(
        &ca,
        &fake.base_url,
        &["--cache-id", "finished-ago-1m~plain"],
    ) else {
        return;
    };
    assert_eq!(code, 0, "{text}");
    assert_eq!(opens, 0, "the CA store was read for an http:// base");
}

#[test]
fn the_store_named_by_ssl_cert_file_is_read_once_for_https() {
    let fake = start_fake(fake_peaka::Options::default());
    let target = fake.addr;
    let front = serve_forever(move || fake_peaka::tls::start(target, "/api/v1"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    let Some((code, opens, text)) =
        opens_of(&ca, &front.base_url, &["--cache-id", "finished-ago-1m~tls"])
    else {
        return;
    };
    assert_eq!(code, 0, "SSL_CERT_FILE must make the front trusted: {text}");
    assert_eq!(opens, 1, "the CA store must be read exactly once");
}

#[test]
fn an_https_proxy_needs_the_store_even_for_an_http_base() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "").unwrap();
    // Nothing listens on port 9 of loopback: the run fails, but only
    // after the client was built with its roots.
    let Some((code, opens, text)) = opens_of(
        &ca,
        &fake.base_url,
        &[
            "--cache-id",
            "finished-ago-1m~https-proxy",
            "--proxy",
            "https://127.0.0.1:9",
        ],
    ) else {
        return;
    };
    assert_eq!(code, 3, "{text}");
    assert_eq!(opens, 1, "an https:// proxy is verified with the store");
}
