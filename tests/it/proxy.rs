//! The built binary behind a real proxy: Debian's `tinyproxy`, started by
//! each test on a loopback port with its own configuration and log file,
//! and killed when the test ends. The fake API is reached through it over
//! plain HTTP (the proxy forwards the request) and over HTTPS (a CONNECT
//! tunnel to a TLS front whose CA the gate trusts via `SSL_CERT_FILE`).
//!
//! Without `tinyproxy` the tests are skipped with a loud message, except
//! under `CI`, where its absence is a failure (`.ci/run` installs it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::{BIN, run, serve_forever, start_fake};

/// A tinyproxy process, killed on drop.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Starts tinyproxy, or returns `None` (after saying so loudly) when it is
/// not installed and this is not CI.
fn tinyproxy() -> Option<Tinyproxy> {
    let Some(binary) = find_binary("tinyproxy") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "tinyproxy is not installed, and CI is set: install it (apt-get install tinyproxy-bin)"
            );
        }
        eprintln!(
            "\n!!! SKIPPED: tinyproxy is not installed; the proxy tests did not run (apt-get install tinyproxy-bin) !!!\n"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("tinyproxy.log");
    let conf = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 50\nAllow 127.0.0.1\n",
            log.display()
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tinyproxy");
    let proxy = Tinyproxy {
        child,
        port,
        log,
        _dir: dir,
    };
    wait_until_listening(port);
    Some(proxy)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_listening(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "tinyproxy did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A one-check gate against `base` for `cache`, with a clean environment
/// plus `env`.
fn gate(base: &str, cache: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .env("PEAKA_BASE_URL", base)
        .envs(env.iter().copied())
        .args(["--project-id", "p", "--cache-id", cache, "--timeout", "0"])
        .args(args);
    command
}

fn write_ca(dir: &Path, pem: &str) -> PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn every_proxy_variable_routes_plain_http_through_the_proxy() {
    let Some(proxy) = tinyproxy() else { return };
    let fake = start_fake(fake_peaka::Options::default());
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        let cache = format!("finished-ago-1m~via-{var}");
        let (code, stdout, stderr) = run(gate(&fake.base_url, &cache, &[(var, &proxy.url())], &[]));
        assert_eq!(code, 0, "{var}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("through the proxy {} (from {var})", proxy.url())),
            "{var}: the log does not say which proxy: {stderr}"
        );
        assert!(
            proxy.log().contains(&format!("GET {}", fake.base_url)) && proxy.log().contains(&cache),
            "{var}: the proxy did not see the request:\n{}",
            proxy.log()
        );
    }
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let Some(proxy) = tinyproxy() else { return };
    let fake = start_fake(fake_peaka::Options::default());
    for (var, list) in [
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "example.com, 127.0.0.0/8"),
    ] {
        let cache = format!("finished-ago-1m~bypass-{var}");
        let env = [("HTTP_PROXY", proxy.url()), (var, list.to_owned())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, stdout, stderr) = run(gate(&fake.base_url, &cache, &env, &[]));
        assert_eq!(code, 0, "{var}: {stdout}{stderr}");
        assert_eq!(fake.requests_for(&cache), 1, "{var}");
        assert!(
            !proxy.log().contains(&cache),
            "{var}={list}: the request went through the proxy anyway:\n{}",
            proxy.log()
        );
    }
}

#[test]
fn the_flag_and_peaka_proxy_override_the_variables() {
    let Some(proxy) = tinyproxy() else { return };
    let fake = start_fake(fake_peaka::Options::default());
    // The variables point at a port nobody listens on: only the tool's
    // own setting can make the run succeed.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let env_vars = [("HTTP_PROXY", dead.as_str()), ("ALL_PROXY", dead.as_str())];
    let cache = "finished-ago-1m~flag";
    let (code, stdout, stderr) = run(gate(
        &fake.base_url,
        cache,
        &env_vars,
        &["--proxy", &proxy.url()],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("(from --proxy)"), "{stderr}");
    assert!(proxy.log().contains(cache), "{}", proxy.log());
    let cache = "finished-ago-1m~env";
    let mut env = env_vars.to_vec();
    let url = proxy.url();
    env.push(("PEAKA_PROXY", &url));
    let (code, stdout, stderr) = run(gate(&fake.base_url, cache, &env, &[]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(proxy.log().contains(cache), "{}", proxy.log());
}

#[test]
fn a_proxy_that_refuses_is_a_retried_error_naming_it_and_the_gate_times_out() {
    // No tinyproxy needed: nothing listens on the proxy's port.
    let fake = start_fake(fake_peaka::Options::default());
    let port = free_port();
    let proxy = format!("http://user:hunter2@127.0.0.1:{port}");
    let started = Instant::now();
    let (code, stdout, stderr) = run(gate(
        &fake.base_url,
        "completes-after-1s~refused",
        &[("HTTP_PROXY", &proxy)],
        &[
            "--timeout",
            "2s",
            "--initial-interval",
            "200ms",
            "--max-interval",
            "300ms",
        ],
    ));
    let took = started.elapsed();
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let named =
        format!("cannot connect through the proxy http://127.0.0.1:{port} (from HTTP_PROXY)");
    let retries = stderr
        .lines()
        .filter(|l| l.contains(&named) && l.contains("retrying"))
        .count();
    assert!(
        retries >= 2,
        "expected retried errors naming the proxy: {stderr}"
    );
    assert!(
        stdout.contains(&named),
        "the summary must name the proxy: {stdout}"
    );
    assert!(
        !format!("{stdout}{stderr}").contains("hunter2"),
        "the proxy password leaked: {stdout}{stderr}"
    );
    assert_eq!(fake.requests_for("completes-after-1s~refused"), 0);
}

#[test]
fn https_goes_through_a_connect_tunnel_and_the_key_never_reaches_the_proxy() {
    let Some(proxy) = tinyproxy() else { return };
    let fake = start_fake(fake_peaka::Options::default());
    let target = fake.addr;
    let front = serve_forever(move || fake_peaka::tls::start(target, "/api/v1"));
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &front.ca_pem);
    let ca = ca.to_str().unwrap();
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let cache = format!("finished-ago-1m~tls-{var}");
        let (code, stdout, stderr) = run(gate(
            &front.base_url,
            &cache,
            &[(var, &proxy.url()), ("SSL_CERT_FILE", ca)],
            &[],
        ));
        assert_eq!(code, 0, "{var}: {stdout}{stderr}");
        assert_eq!(fake.requests_for(&cache), 1, "{var}");
    }
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", front.addr.port())),
        "the proxy did not tunnel: {log}"
    );
    assert!(
        !log.contains(fake_peaka::DEMO_KEY) && !log.contains("Bearer") && !log.contains("tls-"),
        "the proxy saw inside the tunnel: {log}"
    );
    // The front is really verified: without its CA the handshake fails.
    let (code, stdout, _) = run(gate(
        &front.base_url,
        "finished-ago-1m~untrusted",
        &[("HTTPS_PROXY", &proxy.url())],
        &[],
    ));
    // Not retried: exit 6 at once, naming the base URL and the proxy.
    assert_eq!(code, 6, "{stdout}");
    assert!(stdout.contains("certificate"), "{stdout}");
    assert!(
        stdout.contains("--base-url")
            && stdout.contains(&format!("the proxy {}", proxy.url()))
            && stdout.contains("HTTPS_PROXY"),
        "{stdout}"
    );
}

#[test]
fn bad_proxy_settings_are_usage_errors_naming_the_setting() {
    let cases: [(&str, &str, &str); 3] = [
        ("HTTPS_PROXY", "socks5://me:hunter2@127.0.0.1:1080", "SOCKS"),
        ("PEAKA_PROXY", "ftp://127.0.0.1:21", "--proxy"),
        (
            "https_proxy",
            "http://me:hunter2@127.0.0.1:1/some/path",
            "https_proxy",
        ),
    ];
    for (var, value, hint) in cases {
        let (code, stdout, stderr) = run(gate(
            "https://partner.peaka.studio/api/v1",
            "c",
            &[(var, value)],
            &[],
        ));
        assert_eq!(code, 2, "{var}={value}: {stdout}{stderr}");
        assert!(stderr.contains(hint), "{var}={value}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{var}: {stderr}");
    }
}
