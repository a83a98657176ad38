//! `scripts/action-install.sh`, the GitHub Action's install step, run with
//! bash as the runner runs it: nothing found in the tool cache runs
//! unverified. A build is kept under a digest of the source it was built
//! from, with its sha256 recorded beside it; a release archive under the
//! release's published sha256. A planted, tampered, loosely permitted or
//! stale binary is never the one handed to the gate.
//!
//! `cargo` and `gh` are stand-ins on `PATH`, and what they hand over is a
//! small stand-in for the binary (the script never looks inside it; a
//! 100 MB debug build copied a dozen times would only cost disk): what is
//! tested is which file the script hands to the gate.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const ASSET: &str = "peaka-wait-x86_64-unknown-linux-musl.tar.gz";

/// A runner: its tool cache, its temp dir, the action's source, and
/// stand-ins for `cargo` (installs the built binary, logs each build) and
/// `gh` (serves a release from a directory, logs each download).
struct Runner {
    dir: tempfile::TempDir,
}

struct Installed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    bin: Option<PathBuf>,
}

fn write_exe(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

impl Runner {
    fn new() -> Runner {
        let runner = Runner {
            dir: tempfile::tempdir().unwrap(),
        };
        let root = env!("CARGO_MANIFEST_DIR");
        let action = runner.path("action");
        fs::create_dir_all(action.join("src")).unwrap();
        fs::copy(format!("{root}/Cargo.toml"), action.join("Cargo.toml")).unwrap();
        fs::copy(format!("{root}/Cargo.lock"), action.join("Cargo.lock")).unwrap();
        fs::write(action.join("src/main.rs"), "fn main() {}\n").unwrap();
        fs::copy(
            format!("{root}/scripts/action-install.sh"),
            runner.path("action-install.sh"),
        )
        .unwrap();
        write_exe(
            &runner.path("fake-bin/cargo"),
            r#"#!/bin/sh
# cargo install ... --root DIR ...: installs the binary under test.
while [ $# -gt 0 ]; do [ "$1" = --root ] && root=$2; shift; done
echo build >>"$LOGS/cargo"
mkdir -p "$root/bin" && cp "$BUILT" "$root/bin/peaka-wait"
"#,
        );
        write_exe(
            &runner.path("fake-bin/gh"),
            r#"#!/bin/sh
# gh release download REF --repo R --dir D --pattern P...: copies P from $RELEASE.
while [ $# -gt 0 ]; do
  case $1 in --dir) dir=$2; shift ;; --pattern) echo "$2" >>"$LOGS/gh"; cp "$RELEASE/$2" "$dir/" || exit 1; shift ;; esac
  shift
done
"#,
        );
        write_exe(
            &runner.built(),
            "#!/bin/sh\necho 'peaka-wait 0.0.0 (the genuine stand-in)'\n",
        );
        fs::create_dir_all(runner.path("logs")).unwrap();
        runner
    }

    /// What the stand-in `cargo install` builds, and releases hold.
    fn built(&self) -> PathBuf {
        self.path("built/peaka-wait")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn log(&self, name: &str) -> Vec<String> {
        fs::read_to_string(self.path("logs").join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Publishes a release whose archive holds `binary`, with its sha256.
    fn publish(&self, binary: &Path) {
        let stage = self.path("stage");
        fs::create_dir_all(&stage).unwrap();
        fs::copy(binary, stage.join("peaka-wait")).unwrap();
        let release = self.path("release");
        fs::create_dir_all(&release).unwrap();
        let tarred = Command::new("tar")
            .arg("-czf")
            .arg(release.join(ASSET))
            .arg("-C")
            .arg(&stage)
            .arg("peaka-wait")
            .status()
            .unwrap();
        assert!(tarred.success());
        let sum = sha256(&release.join(ASSET));
        fs::write(
            release.join(format!("{ASSET}.sha256")),
            format!("{sum}  {ASSET}\n"),
        )
        .unwrap();
    }

    /// Runs the install step at `action_ref`.
    fn install(&self, action_ref: &str) -> Installed {
        let output_file = self.path("github-output");
        let _ = fs::remove_file(&output_file);
        fs::create_dir_all(self.path("runner-temp")).unwrap();
        let out = Command::new("bash")
            .arg(self.path("action-install.sh"))
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("fake-bin").display()),
            )
            .env("ACTION_PATH", self.path("action"))
            .env("ACTION_REF", action_ref)
            .env("ACTION_REPOSITORY", "owner/peaka-wait")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", self.path("tool-cache"))
            .env("RUNNER_TEMP", self.path("runner-temp"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("LOGS", self.path("logs"))
            .env("BUILT", self.built())
            .env("RELEASE", self.path("release"))
            .output()
            .unwrap();
        let bin = fs::read_to_string(&output_file)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("bin=").map(PathBuf::from));
        Installed {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            bin,
        }
    }
}

impl Installed {
    /// The binary handed to the gate, checked to be the genuine build.
    #[track_caller]
    fn genuine(&self, runner: &Runner) -> PathBuf {
        assert_eq!(self.code, Some(0), "{self:?}");
        let bin = self
            .bin
            .clone()
            .unwrap_or_else(|| panic!("no bin output: {self:?}"));
        assert_eq!(sha256(&bin), sha256(&runner.built()), "{self:?}");
        let version = Command::new(&bin).arg("--version").output().unwrap();
        assert!(
            String::from_utf8_lossy(&version.stdout).contains("the genuine stand-in"),
            "{version:?}"
        );
        bin
    }
}

impl std::fmt::Debug for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}, bin {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.bin, self.stdout, self.stderr
        )
    }
}

/// A binary that leaves a mark when run, as a planted one would.
fn planted(runner: &Runner) -> (String, PathBuf) {
    let marker = runner.path("planted-binary-ran");
    (format!("#!/bin/sh\ntouch '{}'\n", marker.display()), marker)
}

#[test]
fn a_build_is_reused_only_while_it_matches_its_record_and_its_source() {
    let runner = Runner::new();
    let first = runner.install("main");
    let bin = first.genuine(&runner);
    assert!(first.stdout.contains("built from source"), "{first:?}");
    assert_eq!(runner.log("cargo").len(), 1);

    let again = runner.install("main");
    assert_eq!(again.genuine(&runner), bin);
    assert!(
        again
            .stdout
            .contains("from the tool cache, sha256 verified"),
        "{again:?}"
    );
    assert_eq!(runner.log("cargo").len(), 1, "the verified build is reused");

    // A binary swapped in place, its record left as it was: never run.
    let (script, marker) = planted(&runner);
    write_exe(&bin, &script);
    let swapped = runner.install("main");
    swapped.genuine(&runner);
    assert!(
        swapped
            .stdout
            .contains("does not match the sha256 recorded beside it"),
        "{swapped:?}"
    );
    assert_eq!(runner.log("cargo").len(), 2, "built again");
    assert!(!marker.exists());

    // Writable by other accounts: another account could swap it, and its record.
    let bin = runner.install("main").genuine(&runner);
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o775)).unwrap();
    let loose = runner.install("main");
    loose.genuine(&runner);
    assert!(
        loose.stdout.contains("is writable by other accounts"),
        "{loose:?}"
    );
    assert_eq!(runner.log("cargo").len(), 3);

    // The source changed (@main moved on): the old build is stale.
    fs::write(
        runner.path("action/src/main.rs"),
        "fn main() { /* changed */ }\n",
    )
    .unwrap();
    let moved = runner.install("main");
    assert_ne!(moved.genuine(&runner), bin, "a new key for new source");
    assert!(moved.stdout.contains("built from source"), "{moved:?}");
    assert_eq!(runner.log("cargo").len(), 4);
}

#[test]
fn a_binary_planted_where_the_version_alone_was_the_key_is_never_used() {
    let runner = Runner::new();
    let (script, marker) = planted(&runner);
    let version = fs::read_to_string(runner.path("action/Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .unwrap();
    let old_place = runner.path(&format!(
        "tool-cache/peaka-wait/{version}/X64/bin/peaka-wait"
    ));
    write_exe(&old_place, &script);
    let installed = runner.install("main");
    assert_ne!(installed.genuine(&runner), old_place);
    assert_eq!(runner.log("cargo").len(), 1, "{installed:?}");
    assert!(!marker.exists());
}

#[test]
fn a_release_archive_is_verified_against_the_published_sha256_on_every_use() {
    let runner = Runner::new();
    runner.publish(&runner.built());
    let first = runner.install("v1.2.3");
    let bin = first.genuine(&runner);
    assert!(
        first
            .stdout
            .contains("release binary for x86_64-unknown-linux-musl, sha256 verified"),
        "{first:?}"
    );
    assert!(
        bin.starts_with(runner.path("runner-temp")),
        "unpacked for this job alone: {first:?}"
    );
    assert_eq!(
        runner.log("gh"),
        [format!("{ASSET}.sha256"), ASSET.to_owned()]
    );
    assert!(runner.log("cargo").is_empty());

    let again = runner.install("v1.2.3");
    again.genuine(&runner);
    assert!(
        again
            .stdout
            .contains("from the tool cache, sha256 verified"),
        "{again:?}"
    );
    assert_eq!(
        runner.log("gh").len(),
        3,
        "only the sha256 is fetched again"
    );

    // The kept archive swapped for one holding a planted binary.
    let (script, marker) = planted(&runner);
    let fake = runner.path("fake-peaka-wait");
    write_exe(&fake, &script);
    let sum = fs::read_to_string(runner.path(&format!("release/{ASSET}.sha256"))).unwrap();
    let kept = runner.path(&format!(
        "tool-cache/peaka-wait/sha256-{}/{ASSET}",
        &sum[..64]
    ));
    assert!(kept.exists(), "the archive is kept under its sha256");
    let good = runner.path("good-release");
    fs::rename(runner.path("release"), &good).unwrap();
    runner.publish(&fake);
    fs::copy(runner.path(&format!("release/{ASSET}")), &kept).unwrap();
    fs::remove_dir_all(runner.path("release")).unwrap();
    fs::rename(&good, runner.path("release")).unwrap();
    let tampered = runner.install("v1.2.3");
    tampered.genuine(&runner);
    assert!(
        tampered
            .stdout
            .contains("does not match the release's sha256; downloading it again"),
        "{tampered:?}"
    );
    assert!(!marker.exists());

    // A release archive that does not match its own published sha256 is refused.
    runner.publish(&fake);
    fs::write(
        runner.path(&format!("release/{ASSET}.sha256")),
        format!("{}  {ASSET}\n", "0".repeat(64)),
    )
    .unwrap();
    let refused = runner.install("v1.2.3");
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.bin.is_none(), "{refused:?}");
    assert!(refused.stdout.contains("not the published"), "{refused:?}");
    assert!(!marker.exists());
}
