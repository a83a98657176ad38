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
    // The rollout's deadline outlasts the gate's: a pod that is still
    // waiting is not a stuck rollout.
    let deadline: u64 = deployment
        .lines()
        .find_map(|l| l.split_once("progressDeadlineSeconds:"))
        .map(|(_, v)| v.trim().parse().unwrap())
        .expect("progressDeadlineSeconds");
    let timeout = deployment
        .lines()
        .skip_while(|l| !l.contains("name: PEAKA_TIMEOUT"))
        .nth(1)
        .and_then(|l| l.split_once("value:"))
        .map(|(_, v)| v.trim().to_owned())
        .expect("PEAKA_TIMEOUT's value");
    let timeout = peaka_wait::timespec::parse_duration(&timeout).unwrap();
    assert!(
        deadline > timeout.as_secs() + 60,
        "progressDeadlineSeconds {deadline} does not outlast PEAKA_TIMEOUT {timeout:?}"
    );
}

#[test]
fn the_crontab_logs_where_its_user_can_write() {
    let crontab = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/cron/crontab"
    ))
    .unwrap();
    let job = crontab
        .lines()
        .find(|l| l.contains("gated-job.sh") && !l.starts_with('#'))
        .expect("the job line");
    let log = job
        .split(">>")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the job logs to a file");
    // The key file is in etl's home: the job runs as etl.
    assert!(crontab.contains("/home/etl/"), "{crontab}");
    assert!(log.starts_with("/home/etl/"), "etl cannot write {log}");
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

#[test]
fn the_demo_runs_the_binaries_where_cargo_target_dir_says() {
    // A stand-in cargo that builds nothing, and stand-in binaries in a
    // target directory of its own: the demo must run these.
    let dir = tempfile::tempdir().unwrap();
    let script = |path: std::path::PathBuf, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(dir.path().join("cargo"), "#!/bin/sh\nexit 0\n");
    let debug = dir.path().join("elsewhere/debug");
    std::fs::create_dir_all(&debug).unwrap();
    script(
        debug.join("fake-peaka"),
        "#!/bin/sh\necho http://127.0.0.1:9/api/v1\nexec sleep 30\n",
    );
    script(
        debug.join("peaka-wait"),
        "#!/bin/sh\necho \"STAND-IN $*\"\ncase \"$*\" in *fails*) exit 1 ;; esac\n",
    );
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh"))
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", dir.path().join("elsewhere"));
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("STAND-IN --cache-id completes-after-4s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("STAND-IN --cache-id fails-after-2s"),
        "{stdout}"
    );
}

#[test]
fn architecture_names_every_module_and_no_other() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap();
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    for file in &files {
        assert!(
            map.contains(&format!("- `{file}` — ")),
            "ARCHITECTURE.md has no line for {file}: add one (what it owns)"
        );
    }
    // And no line for a module that is gone.
    for listed in map.lines().filter_map(|l| {
        l.strip_prefix("- `src/")
            .and_then(|rest| rest.split_once('`'))
            .map(|(path, _)| format!("src/{path}"))
    }) {
        assert!(
            files.contains(&listed),
            "ARCHITECTURE.md names {listed}, which is gone"
        );
    }
}
