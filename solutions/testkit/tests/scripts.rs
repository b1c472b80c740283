//! The workshop's own shell scripts, tested where they can be without a cluster and without
//! changing the machine: each test runs a function of `scripts/lib/` in bash, in a sandbox of
//! its own (empty state and cache directories), with the commands that would change the machine
//! (the package manager, `id`) replaced by stubs on `PATH` that record how they were called.
//!
//! They exist because a script that writes into a directory it did not make passes wherever an
//! earlier run left that directory, and fails on the learner's fresh machine.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (this file is `solutions/testkit/tests/scripts.rs`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// A fresh machine, as far as the scripts can tell: a home, a cache and a node directory that do
/// not exist yet, and a `bin/` of stubs put first on `PATH`.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        fs::create_dir(sandbox.bin()).expect("the stubs' directory");
        sandbox
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// Where the stubs write down their arguments, one call per line.
    fn calls(&self) -> PathBuf {
        self.dir.path().join("calls")
    }

    /// The directories the scripts are pointed at, none of which exists before the script runs.
    fn node_dir(&self) -> PathBuf {
        self.dir.path().join("state/node")
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("state/cache")
    }

    /// A command `name` that records `name ARGS...` in [`Sandbox::calls`], then runs `body`.
    fn stub(&self, name: &str, body: &str) {
        let path = self.bin().join(name);
        let script = format!(
            "#!/usr/bin/env bash\necho \"{name} $*\" >>'{}'\n{body}\n",
            self.calls().display()
        );
        fs::write(&path, script).expect("writing a stub");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .expect("chmod a stub");
    }

    /// Runs `script` in bash, after sourcing the given libraries of `scripts/lib/`, with the
    /// sandbox's stubs first on PATH and its directories as the workshop's state.
    fn bash(&self, libs: &[&str], script: &str) -> Output {
        let root = repo_root();
        let mut source = String::from("set -euo pipefail\n");
        for lib in libs {
            source.push_str(&format!(
                "source '{}'\n",
                root.join("scripts/lib").join(lib).display()
            ));
        }
        source.push_str(script);
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg("-c")
            .arg(&source)
            .env("PATH", path)
            .env("HOME", self.dir.path().join("state/home"))
            .env("WORKSHOP_CACHE", self.cache_dir())
            .env("WORKSHOP_NODE_DIR", self.node_dir())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("KWOK_WORKDIR")
            .output()
            .expect("bash runs")
    }

    fn recorded_calls(&self) -> String {
        fs::read_to_string(self.calls()).unwrap_or_default()
    }
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The first thing `scripts/cluster-up.sh --real-node` does on a machine that never had a real
/// node: check the host, which installs the missing packages. It once wrote the package
/// manager's log into the node's log directory before anything had made it, so it failed on
/// every fresh machine (`.../logs/apt-update.log: No such file or directory`) and passed on
/// every machine where an earlier run had left the directory.
#[test]
fn a_fresh_machine_gets_past_installing_the_real_nodes_packages() {
    let sandbox = Sandbox::new();
    // Root, on Debian: the stubs answer for `id -u` and the package manager.
    sandbox.stub(
        "id",
        "[ \"${1:-}\" = -u ] && echo 0 || exec /usr/bin/id \"$@\"",
    );
    sandbox.stub("apt-get", "echo \"apt-get: pretending to $1\"");
    let missing = sandbox.dir.path().join("not-installed");

    let output = sandbox.bash(
        &["common.sh", "cluster.sh", "node.sh"],
        &format!(
            // One package whose file is missing, so it has to be installed; the others are
            // taken as present (their files exist), whatever this machine really has.
            "for p in \"${{NODE_PACKAGES[@]}}\"; do NODE_PACKAGE_FILE[$p]=/bin/sh; done\n\
             NODE_PACKAGE_FILE[runc]='{}'\n\
             node_install_packages\n\
             echo installed",
            missing.display()
        ),
    );

    assert!(
        output.status.success(),
        "installing the real node's packages on a fresh machine failed:\n{}",
        describe(&output)
    );
    let calls = sandbox.recorded_calls();
    assert!(
        calls.lines().any(|l| l.starts_with("apt-get update")),
        "the package lists were never updated; calls:\n{calls}"
    );
    assert!(
        calls
            .lines()
            .any(|l| l.starts_with("apt-get install")
                && l.split(' ').any(|w| w == "runc")),
        "the missing package (runc) was never installed; calls:\n{calls}\n{}",
        describe(&output)
    );
    assert!(
        !calls.lines().any(|l| l.contains("containerd")),
        "a package that is present was installed again; calls:\n{calls}"
    );
}

/// Without root or without apt-get, nothing is installed: one line says what to install.
#[test]
fn without_root_the_missing_packages_are_named_not_installed() {
    let sandbox = Sandbox::new();
    sandbox.stub(
        "id",
        "[ \"${1:-}\" = -u ] && echo 1000 || exec /usr/bin/id \"$@\"",
    );
    sandbox.stub("apt-get", "echo \"apt-get must not run\"; exit 1");
    let missing = sandbox.dir.path().join("not-installed");

    let output = sandbox.bash(
        &["common.sh", "cluster.sh", "node.sh"],
        &format!(
            "for p in \"${{NODE_PACKAGES[@]}}\"; do NODE_PACKAGE_FILE[$p]=/bin/sh; done\n\
             NODE_PACKAGE_FILE[iptables]='{}'\n\
             node_install_packages",
            missing.display()
        ),
    );

    assert!(
        !output.status.success(),
        "a non-root user was not told to install the missing package:\n{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("apt-get install iptables"),
        "the message does not say what to install:\n{}",
        describe(&output)
    );
    assert!(
        !sandbox.recorded_calls().contains("apt-get"),
        "the package manager ran without root"
    );
}

/// Every file of the workshop that a learner reads or runs.
fn workshop_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    for dir in ["scripts", "solutions", "steps", "manifests", "book/src"] {
        walk(&root.join(dir), &mut files);
    }
    files
}

/// One way to apply, everywhere: `kubectl apply` client-side, as people type it. An object
/// applied server-side by one of the scripts or tests and then client-side by a learner following
/// the book (or the other way round) made kubectl warn that it lacks the
/// `last-applied-configuration` annotation; the warning reached learners and the demo had to
/// filter it out.
#[test]
fn kubectl_apply_has_one_mode_everywhere() {
    let this_file = Path::new(file!()).file_name().expect("a file name");
    let server_side = ["--server", "-side"].concat();
    let mut found = Vec::new();
    for file in workshop_files() {
        if file.file_name() == Some(this_file) {
            continue;
        }
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains(&server_side) {
                let shown = file
                    .strip_prefix(repo_root())
                    .unwrap_or(&file)
                    .to_path_buf();
                found.push(format!("{}:{}: {}", shown.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines apply server-side, while the book applies client-side (plain `kubectl \
         apply`); pick one mode, the book's:\n{}",
        found.join("\n")
    );
}

/// What `compare_check_transcript` says about the book's transcript `book` (its first line is the
/// command) and a fresh run's `run`: `(same, diff)`.
fn compare_transcripts(book: &str, run: &str) -> (bool, String) {
    let sandbox = Sandbox::new();
    let book_file = sandbox.dir.path().join("book.txt");
    let run_file = sandbox.dir.path().join("run.txt");
    fs::write(&book_file, format!("$ scripts/check.sh 07\n{book}"))
        .expect("writing a transcript");
    fs::write(&run_file, run).expect("writing a run");
    let output = sandbox.bash(
        &["common.sh", "transcripts.sh"],
        &format!(
            "compare_check_transcript '{}' '{}' diagnose",
            book_file.display(),
            run_file.display()
        ),
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// A failing test's reasons as the book shows them (step 05's, 07's and 09's diagnose-left
/// symptoms), with everything in them that changes from run to run although the code does not.
const SYMPTOMS: &str = "\
  FAIL  a_failed_run_stays_failed_when_its_pod_is_deleted
        panicked at steps/07-taskrun/tests/e2e.rs:674:5:
            left: ((\"PodDeleted\", \"Pod broken-1-pod was deleted\"), Some(\"14104\"))
           right: ((\"StepFailed\", \"step only failed with exit code 3\"), Some(\"14066\"))
          WARN controller: reconcile failed key=\"wt-into-gone-abw5kb4q-15/colors\"
          1: timed out after 15s waiting for wt-into-gone-copies-adijb84q-16/colors-synced
          Error: labelling run build-45hsn was refused: Post \"https://127.0.0.1:41234/validate\"
step 07 (step-07-taskrun): 65 passed, 3 failed, 0 not run
";

/// The book's check transcripts are compared with every run of the suites (scripts/test.sh,
/// scripts/test-exercises.sh). A transcript holding a namespace of the test kit, a name the API
/// server generated or a resourceVersion once failed CI although nothing had changed but the
/// run: those are masked.
#[test]
fn a_transcript_matches_a_run_that_differs_only_in_what_every_run_changes() {
    let run = SYMPTOMS
        .replace("14104", "17408")
        .replace("14066", "17370")
        .replace("abw5kb4q-15", "s0m2j8kn-3")
        .replace("adijb84q-16", "s1sf1okn-4")
        .replace("build-45hsn", "build-87kmm")
        .replace("41234", "36001");
    let (same, diff) = compare_transcripts(SYMPTOMS, &run);
    assert!(
        same,
        "a run that only differs in generated names and versions was called stale:\n{diff}"
    );
}

/// And the masks hide nothing else: a transcript is stale when a run differs in what the code
/// decides (a reason, a name the test chose, a count, a test's verdict).
#[test]
fn a_transcript_is_stale_when_a_run_differs_in_what_the_code_decides() {
    for (from, to) in [
        ("\"PodDeleted\"", "\"StepFailed\""),
        ("broken-1-pod", "broken-2-pod"),
        ("wt-into-gone-abw5kb4q", "wt-into-kept-abw5kb4q"),
        ("colors-synced", "colors-copied"),
        ("build-45hsn", "built-45hsn"),
        ("exit code 3", "exit code 4"),
        ("e2e.rs:674", "e2e.rs:675"),
        ("65 passed, 3 failed", "66 passed, 2 failed"),
        ("FAIL  a_failed", "pass  a_failed"),
    ] {
        let run = SYMPTOMS.replacen(from, to, 1);
        assert_ne!(run, SYMPTOMS, "{from} is in the symptoms");
        let (same, _) = compare_transcripts(SYMPTOMS, &run);
        assert!(
            !same,
            "a run with {to} instead of {from} was taken to match the book"
        );
    }
}

/// A script's `--help` is its header comment (after the `#!` line), printed by `sed -n '2,Np'`:
/// every line of it, and not the code after it. The range is a number written by hand, and a
/// header that grows by a line cut its last line off (scripts/capture.sh, scripts/cluster-up.sh)
/// while others printed their `set -euo pipefail`.
#[test]
fn every_scripts_help_is_its_whole_header() {
    let scripts = repo_root().join("scripts");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for entry in fs::read_dir(&scripts).expect("scripts/ lists") {
        let path = entry.expect("an entry of scripts/").path();
        if path.extension().is_none_or(|e| e != "sh") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("a script reads");
        let Some(at) = text.find("sed -n '2,") else {
            continue;
        };
        let end: usize = text[at + "sed -n '2,".len()..]
            .split('p')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a line number after sed -n '2,");
        let lines: Vec<&str> = text.lines().collect();
        // The header: the comment lines from line 2 on, up to the first line that is not one.
        let header = 1 + lines[1..].iter().take_while(|l| l.starts_with('#')).count();
        checked += 1;
        if end != header {
            wrong.push(format!(
                "{}: --help prints lines 2-{end}, its header is lines 2-{header}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(checked >= 15, "only {checked} scripts with a --help found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
