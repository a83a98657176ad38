//! The README's cron example, run as written against the fake API: the
//! wrapper runs the job only on a ready cache, and tells "stale, try
//! later" (75) from "broken" (the gate's code).

use std::process::Command;
use std::sync::OnceLock;

use crate::common;
use common::{BIN, run, start_fake};

fn fake() -> &'static fake_peaka::Running {
    static FAKE: OnceLock<fake_peaka::Running> = OnceLock::new();
    FAKE.get_or_init(|| start_fake(fake_peaka::Options::default()))
}

/// Runs `examples/cron/gated-job.sh touch MARKER` for a cache; returns the
/// exit code, whether the job ran, and stderr.
fn gated_job(cache: &str, timeout: &str) -> (u8, bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("job-ran");
    let mut command = Command::new("bash");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/cron/gated-job.sh"
        ))
        .arg("touch")
        .arg(&marker)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PEAKA_WAIT", BIN)
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .env("PEAKA_BASE_URL", &fake().base_url)
        .env("PEAKA_PROJECT_ID", "demo")
        .env("PEAKA_CACHE_ID", cache)
        .env("PEAKA_INITIAL_INTERVAL", "100ms")
        .env("PEAKA_MAX_INTERVAL", "200ms")
        .env("PEAKA_TIMEOUT", timeout);
    let (code, _, stderr) = run(command);
    (code, marker.exists(), stderr)
}

#[test]
fn the_job_runs_when_the_cache_is_ready() {
    let (code, ran, stderr) = gated_job("completes-after-300ms~cron", "30s");
    assert_eq!((code, ran), (0, true), "{stderr}");
}

#[test]
fn a_stale_cache_skips_the_job_with_ex_tempfail() {
    let (code, ran, stderr) = gated_job("stuck~cron", "1s");
    assert_eq!((code, ran), (75, false), "{stderr}");
    assert!(stderr.contains("not refreshed within 1s"), "{stderr}");
}

#[test]
fn a_broken_refresh_or_gate_keeps_its_code() {
    for (cache, want) in [
        ("fails-after-200ms~cron", 1),
        ("unauthorized", 4),
        ("no-such-cache", 5),
        ("bad-request", 6),
    ] {
        let (code, ran, stderr) = gated_job(cache, "30s");
        assert_eq!((code, ran), (want, false), "{cache}: {stderr}");
        assert!(stderr.contains("did not run"), "{stderr}");
    }
}

#[test]
fn a_job_that_exits_3_keeps_its_code_and_is_not_taken_for_a_stale_cache() {
    // The wrapper runs the job through `peaka-wait -- COMMAND`, so the
    // job's code and the gate's share one exit status: the wrapper must
    // still tell them apart.
    let mut command = Command::new("bash");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/cron/gated-job.sh"
        ))
        .args(["sh", "-c", "echo job-ran; exit 3"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PEAKA_WAIT", BIN)
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .env("PEAKA_BASE_URL", &fake().base_url)
        .env("PEAKA_PROJECT_ID", "demo")
        .env("PEAKA_CACHE_ID", "completes-after-300ms~cron-exit-3")
        .env("PEAKA_INITIAL_INTERVAL", "100ms")
        .env("PEAKA_MAX_INTERVAL", "200ms")
        .env("PEAKA_TIMEOUT", "30s");
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("job-ran"), "{stdout}");
    assert!(!stderr.contains("not refreshed"), "{stderr}");
}

#[test]
fn without_a_command_nothing_is_waited_for_and_the_exit_is_2() {
    for args in [&[][..], &[""][..]] {
        let mut command = Command::new("bash");
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/cron/gated-job.sh"
            ))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // A gate that would be ready: the script must not even start it.
            .env("PEAKA_WAIT", "/bin/false");
        let (code, _, stderr) = run(command);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("no command to run"), "{stderr}");
        assert!(!stderr.contains("unbound variable"), "{stderr}");
    }
}

#[test]
fn the_cronjob_fails_at_once_on_a_permanent_failure_but_retries_a_timeout() {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/kubernetes/cronjob.yaml"
    ))
    .unwrap();
    assert!(
        yaml.contains("restartPolicy: Never"),
        "podFailurePolicy needs it"
    );
    let rule = yaml
        .split("podFailurePolicy:")
        .nth(1)
        .expect("the CronJob has a podFailurePolicy");
    assert!(rule.contains("action: FailJob") && rule.contains("containerName: wait-for-cache"));
    let values = rule
        .lines()
        .find(|l| l.trim_start().starts_with("values:"))
        .expect("exit codes");
    for code in ["1", "2", "4", "5", "6", "7"] {
        assert!(values.contains(code), "{code} not in {values}");
    }
    assert!(!values.contains('3'), "a timeout must be retried: {values}");
    let deployment = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/kubernetes/deployment.yaml"
    ))
    .unwrap();
    assert!(
        !deployment.contains("name: PEAKA_SINCE"),
        "a time bound keeps rescheduled pods of a Deployment from starting"
    );
}

#[test]
fn the_demo_says_what_it_does_before_it_compiles() {
    // A stand-in cargo that records that it ran and stops the demo there.
    let dir = tempfile::tempdir().unwrap();
    let cargo = dir.path().join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\necho CARGO-RAN\nexit 9\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh"))
        .env("PATH", path);
    let (code, stdout, _) = run(command);
    assert_eq!(code, 9, "{stdout}");
    let said = stdout
        .find("demo: building")
        .expect("the demo says it builds");
    let built = stdout.find("CARGO-RAN").expect("cargo ran");
    assert!(said < built, "{stdout}");
}
