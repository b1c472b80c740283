//! The tests an instructor relies on, run against a cluster:
//!
//! - **the core path**: with only the core exercises of a step solved (its stretch exercises as
//!   in the starter), every core exercise's check passes;
//! - **each exercise's `Needs:`**: its check passes with the exercise and its `Needs:` solved
//!   and the rest of the step as in the starter; it fails when any one of those needs is left as
//!   in the starter, and when the exercise itself is.
//!
//! A check is what `scripts/check.sh N.M` runs: the tests of the step's package that its
//! `Proved by:` filters select, end-to-end tests included. It passes when at least one test
//! ran and every one passed.
//!
//! Building a crate per combination of exercises would take hours, so each step is built once,
//! as a *switchable* solution ([`crate::switch`]) in a copy of the workspace under
//! `target/xtask/shadow` that shares the workspace's target directory (the dependencies are
//! compiled once for both). Each combination is then one run of the step's test binaries with
//! `WORKSHOP_STARTER` naming the exercises left as in the starter.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::generate::{Tree, read_tree, write_tree};
use crate::model::{Exercise, Number, Step, Track, Workshop};
use crate::switch::{STARTER_VAR, switchable};

/// How long one run of a step's tests may take before it counts as hanging.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// The copy of the workspace whose solutions are switchable.
#[derive(Debug)]
pub struct Shadow {
    pub root: PathBuf,
    target: PathBuf,
}

/// The workspace's target directory (where cargo builds: `CARGO_TARGET_DIR`, or `target/`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"))
}

impl Shadow {
    /// Writes (or brings up to date) the copy: the workspace's manifest and lock file, its
    /// manifests/ (the tests read the RBAC and CRDs from there), steps/, and every crate of
    /// solutions/, each step's Rust files switchable. Files that did not change keep their
    /// modification time, so cargo rebuilds only what changed.
    pub fn sync(workshop: &Workshop) -> Result<Shadow, String> {
        let root = &workshop.root;
        let target = target_dir(root);
        let shadow = target.join("xtask").join("shadow");
        let mut tree = Tree::new();
        for file in [
            "Cargo.toml",
            "Cargo.lock",
            "rustfmt.toml",
            ".cargo/config.toml",
        ] {
            if let Ok(bytes) = fs::read(root.join(file)) {
                tree.insert(PathBuf::from(file), bytes);
            }
        }
        // steps/ too: they are members of the workspace (never built here), so the lock file
        // stays the workspace's own.
        for dir in ["manifests", "solutions", "steps"] {
            for (rel, bytes) in read_tree(&root.join(dir))? {
                tree.insert(Path::new(dir).join(rel), bytes);
            }
        }
        for step in &workshop.steps {
            let dir = Path::new("solutions").join(&step.name);
            let files: BTreeSet<&PathBuf> =
                workshop.exercises_of(&step.name).map(|e| &e.file).collect();
            for file in files {
                let text = fs::read_to_string(root.join(file))
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let switched = switchable(&text, &workshop.exercises_in(file))?;
                tree.insert(file.clone(), switched.into_bytes());
            }
            debug_assert!(tree.keys().any(|k| k.starts_with(&dir)));
        }
        write_tree(&shadow, &tree, true)?;
        Ok(Shadow {
            root: shadow,
            target,
        })
    }

    /// Builds a step's switchable solution and its tests; returns its test executables.
    pub fn build(&self, step: &Step) -> Result<Vec<PathBuf>, String> {
        let package = crate::model::package(&step.name, true);
        let output =
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&self.root)
                .env("CARGO_TARGET_DIR", &self.target)
                .args([
                    "test",
                    "--no-run",
                    "--message-format=json-render-diagnostics",
                    "-p",
                ])
                .arg(&package)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "the switchable {package} does not build (cargo's messages are above)"
            ));
        }
        let mut executables = Vec::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if message["reason"] == "compiler-artifact"
                && message["profile"]["test"] == true
                && let Some(exe) = message["executable"].as_str()
            {
                executables.push(PathBuf::from(exe));
            }
        }
        if executables.is_empty() {
            return Err(format!("{package} has no test executables"));
        }
        Ok(executables)
    }
}

/// What one test did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Ignored,
}

/// One run of a step's tests: which exercises were left as in the starter, which tests it
/// selected, and what happened.
#[derive(Debug)]
pub struct Run {
    pub starter: BTreeSet<Number>,
    pub results: BTreeMap<String, Outcome>,
    /// Why each failed test failed: the first lines of its output.
    pub why: BTreeMap<String, String>,
    /// A test binary that ended without a verdict (it crashed, or ran out of time).
    pub broken: Vec<String>,
    pub took: Duration,
}

impl Run {
    /// The results of the tests that `exercise`'s `Proved by:` filters select.
    pub fn of<'a>(
        &'a self,
        exercise: &'a Exercise,
    ) -> impl Iterator<Item = (&'a String, &'a Outcome)> {
        self.results.iter().filter(|(name, _)| {
            exercise.proved_by.iter().any(|f| name.contains(f.as_str()))
        })
    }

    /// Whether `exercise`'s check passes in this run: at least one of its tests ran, and every
    /// one passed.
    pub fn passes(&self, exercise: &Exercise) -> bool {
        self.broken.is_empty()
            && self.of(exercise).count() > 0
            && self.of(exercise).all(|(_, o)| *o == Outcome::Ok)
    }

    /// The check's failing tests, with the first line of why, for a report.
    pub fn failures(&self, exercise: &Exercise) -> String {
        let mut out: Vec<String> = self
            .of(exercise)
            .filter(|(_, o)| **o == Outcome::Failed)
            .map(|(name, _)| match self.why.get(name) {
                Some(why) => format!("{name} ({why})"),
                None => name.clone(),
            })
            .collect();
        let more = out.len().saturating_sub(3);
        out.truncate(3);
        if more > 0 {
            out.push(format!("and {more} more"));
        }
        out.extend(self.broken.iter().cloned());
        if out.is_empty() {
            out.push("no test failed".into());
        }
        out.join("; ")
    }
}

/// Decides, from the results so far, that a run has said all it had to say (a check that is
/// expected to fail has failed): the rest of the run is skipped.
pub type Enough<'a> = &'a (dyn Fn(&BTreeMap<String, Outcome>) -> bool + Sync);

/// Runs the test executables of a step with `starter` left as in the starter, selecting the
/// tests that `filters` name (as `cargo test -- --include-ignored FILTERS` would). Each runs in
/// a process group of its own, so that whatever its tests started (a controller, replicas) ends
/// with it when it has to be stopped: on `enough`, or after [`RUN_TIMEOUT`].
pub fn run(
    shadow: &Shadow,
    step: &Step,
    executables: &[PathBuf],
    starter: &BTreeSet<Number>,
    filters: &[String],
    enough: Option<Enough<'_>>,
) -> Run {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let list: Vec<String> = starter.iter().map(Number::to_string).collect();
    let dir = shadow.root.join("solutions").join(&step.name);
    let mut results = BTreeMap::new();
    let mut why = BTreeMap::new();
    let mut broken = Vec::new();
    for exe in executables {
        if enough.is_some_and(|enough| enough(&results)) {
            break;
        }
        let name = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let child = Command::new(exe)
            .current_dir(&dir)
            .env(STARTER_VAR, list.join(","))
            .env("CARGO_MANIFEST_DIR", &dir)
            .env("RUST_BACKTRACE", "0")
            .arg("--include-ignored")
            .args(filters)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(err) => {
                broken.push(format!("{name} could not start: {err}"));
                continue;
            }
        };
        // Read both pipes while the tests run (a full pipe would stop them); stdout line by
        // line, to see each verdict as it comes.
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (lines, verdicts) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut text = String::new();
        let mut count = 0;
        let mut stopped = false;
        let status = loop {
            match verdicts.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some((test, outcome)) = verdict(&line) {
                        count += 1;
                        results.insert(test, outcome);
                        if enough.is_some_and(|enough| enough(&results)) {
                            stopped = true;
                            kill_group(&mut child);
                        }
                    }
                    text.push_str(&line);
                    text.push('\n');
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break child.wait().ok();
                }
            }
            if start.elapsed() > RUN_TIMEOUT {
                kill_group(&mut child);
                break None;
            }
        };
        let _ = err.join();
        for (test, reason) in failure_reasons(&text) {
            why.insert(test, reason);
        }
        match status {
            _ if stopped => {}
            None => broken.push(format!(
                "{name} did not finish within {}s",
                RUN_TIMEOUT.as_secs()
            )),
            Some(status)
                if !status.success() && !text.contains("test result: FAILED") =>
            {
                broken.push(format!(
                    "{name} ended with {status} after {count} test results"
                ))
            }
            Some(_) => {}
        }
    }
    Run {
        starter: starter.clone(),
        results,
        why,
        broken,
        took: start.elapsed(),
    }
}

/// A libtest result line, `test NAME ... ok`.
fn verdict(line: &str) -> Option<(String, Outcome)> {
    let (test, verdict) = line.strip_prefix("test ")?.rsplit_once(" ... ")?;
    let outcome = match verdict {
        "ok" => Outcome::Ok,
        "FAILED" => Outcome::Failed,
        v if v.starts_with("ignored") => Outcome::Ignored,
        _ => return None,
    };
    Some((test.to_string(), outcome))
}

/// Stops a test executable and every process its tests started (its process group).
fn kill_group(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The first line of each failed test's panic message, from libtest's "---- NAME stdout ----"
/// sections.
fn failure_reasons(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            current = Some(name.to_string());
            continue;
        }
        let Some(name) = current.as_ref() else {
            continue;
        };
        let reason = if let Some(at) = line.find("panicked at ") {
            // The message is on the next line.
            let _ = &line[at..];
            lines.peek().map(|l| l.to_string())
        } else {
            line.strip_prefix("Error: ").map(str::to_string)
        };
        if let Some(reason) = reason {
            let short: String = reason.chars().take(160).collect();
            found.push((name.clone(), short));
            current = None;
        }
    }
    found
}

/// One expectation of the suite, and whether it held.
#[derive(Debug)]
pub struct Verdict {
    /// The exercise whose check it judges.
    pub exercise: Number,
    pub held: bool,
    pub what: String,
}

/// The configurations that test the core path of a step and the `Needs:` of its exercises
/// (only those of `only`, when given), each with the exercises it leaves as in the starter,
/// what it expects, and of which exercise.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Every core exercise's check passes with the stretch ones left.
    CorePasses,
    /// The exercise's check passes with it and its needs solved, the rest left.
    Passes(Number),
    /// The exercise's check fails with `left` (one of its needs, or itself) left as well.
    FailsWithout(Number, Number),
}

pub fn plan(
    workshop: &Workshop,
    step: &Step,
    core: bool,
    needs: bool,
    only: &BTreeSet<Number>,
) -> Vec<(BTreeSet<Number>, Expect)> {
    let all: BTreeSet<Number> = workshop
        .exercises_of(&step.name)
        .map(|e| e.number)
        .collect();
    let mut out = Vec::new();
    let stretch: BTreeSet<Number> = workshop
        .exercises_of(&step.name)
        .filter(|e| e.track == Track::Stretch)
        .map(|e| e.number)
        .collect();
    if core && stretch.len() < all.len() {
        out.push((stretch, Expect::CorePasses));
    }
    if needs {
        for exercise in workshop.exercises_of(&step.name) {
            if !only.is_empty() && !only.contains(&exercise.number) {
                continue;
            }
            // What it sometimes needs is solved too, and never left out on its own: a race
            // cannot be made to fail on demand.
            let mut solved: BTreeSet<Number> = exercise
                .needs
                .iter()
                .chain(&exercise.sometimes)
                .copied()
                .collect();
            solved.insert(exercise.number);
            let left: BTreeSet<Number> = all.difference(&solved).copied().collect();
            out.push((left.clone(), Expect::Passes(exercise.number)));
            for &need in exercise.needs.iter().chain([&exercise.number]) {
                let mut more = left.clone();
                more.insert(need);
                out.push((more, Expect::FailsWithout(exercise.number, need)));
            }
        }
    }
    out
}

/// Judges one run against its expectation.
pub fn judge(
    workshop: &Workshop,
    step: &Step,
    expect: &Expect,
    run: &Run,
) -> Vec<Verdict> {
    let left: Vec<String> = run.starter.iter().map(Number::to_string).collect();
    let left = if left.is_empty() {
        "nothing".to_string()
    } else {
        left.join(", ")
    };
    let secs = run.took.as_secs_f64();
    match expect {
        Expect::CorePasses => workshop
            .exercises_of(&step.name)
            .filter(|e| e.track == Track::Core)
            .map(|e| {
                let held = run.passes(e);
                Verdict {
                    exercise: e.number,
                    held,
                    what: if held {
                        format!(
                            "core path: {} passes with the stretch exercises ({left}) left \
                             as in the starter ({secs:.1}s)",
                            e.number
                        )
                    } else {
                        format!(
                            "core path: {} is core, but its check fails with the stretch \
                             exercises ({left}) left as in the starter: {}. Its check needs one \
                             of them: say so in its `Needs:` and make that one core, or make {} \
                             stretch",
                            e.number,
                            run.failures(e),
                            e.number
                        )
                    },
                }
            })
            .collect(),
        Expect::Passes(number) => {
            let e = workshop.exercise(*number).expect("planned from the model");
            let held = run.passes(e);
            let needs = shown_needs(e);
            vec![Verdict {
                exercise: *number,
                held,
                what: if held {
                    format!(
                        "{number} passes with {needs} and {left} left as in the starter \
                         ({secs:.1}s)"
                    )
                } else {
                    format!(
                        "{number} fails with {needs} and {left} left as in the starter: \
                         {}. Its check needs more than its `Needs:` says (`cargo xtask needs \
                         {number}` finds what)",
                        run.failures(e)
                    )
                },
            }]
        }
        Expect::FailsWithout(number, missing) => {
            let e = workshop.exercise(*number).expect("planned from the model");
            let held = !run.passes(e) && run.of(e).count() > 0;
            let what = if number == missing {
                if held {
                    format!(
                        "{number} fails when it is left as in the starter, its needs \
                         solved ({secs:.1}s)"
                    )
                } else {
                    format!(
                        "{number}'s check passes with {number} itself left as in the starter \
                         ({left} left): it does not test {number}"
                    )
                }
            } else if held {
                format!(
                    "{number} fails when its need {missing} is left as in the starter \
                     ({secs:.1}s)"
                )
            } else {
                format!(
                    "{number} says `Needs: {missing}`, but its check passes with {missing} \
                     left as in the starter ({left} left): remove {missing} from its \
                     `Needs:`"
                )
            };
            vec![Verdict {
                exercise: *number,
                held,
                what,
            }]
        }
    }
}

fn shown_needs(e: &Exercise) -> String {
    if e.needs.is_empty() && e.sometimes.is_empty() {
        return "no other exercise solved".to_string();
    }
    let list: Vec<String> = e.needs.iter().map(Number::to_string).collect();
    let racy: Vec<String> = e.sometimes.iter().map(Number::to_string).collect();
    match (list.is_empty(), racy.is_empty()) {
        (_, true) => format!("its needs ({}) solved", list.join(", ")),
        (true, false) => {
            format!("what it sometimes needs ({}) solved", racy.join(", "))
        }
        (false, false) => format!(
            "its needs ({}; sometimes {}) solved",
            list.join(", "),
            racy.join(", ")
        ),
    }
}

/// Whether an expectation is that a check fails.
fn fails(expect: &Expect) -> bool {
    matches!(expect, Expect::FailsWithout(..))
}

/// The exercises whose checks an expectation judges.
fn judged(workshop: &Workshop, step: &Step, expect: &Expect) -> Vec<Number> {
    match expect {
        Expect::CorePasses => workshop
            .exercises_of(&step.name)
            .filter(|e| e.track == Track::Core)
            .map(|e| e.number)
            .collect(),
        Expect::Passes(n) | Expect::FailsWithout(n, _) => vec![*n],
    }
}

/// One combination of exercises left as in the starter, the expectations it is judged on being
/// all failures or all passes, and the tests they judge.
#[derive(Debug)]
struct Configuration {
    starter: BTreeSet<Number>,
    failing: bool,
    filters: Vec<String>,
}

impl Configuration {
    fn tries(&self) -> usize {
        if self.failing { FAIL_TRIES } else { PASS_TRIES }
    }
}

/// How many times a configuration is run before its expectations count as broken. A check
/// expected to pass gets a second try, alone: on a loaded machine an end-to-end test loses a
/// race now and then (the report says so, with what the first try said). A check expected to fail gets three: a need whose absence shows
/// only when a race goes one way is still a need: each exercise's check has to fail on one of
/// the tries, not all of them on the same one.
const PASS_TRIES: usize = 2;
const FAIL_TRIES: usize = 3;

/// Runs the configurations `jobs` at a time, each as often as [`PASS_TRIES`] and
/// [`FAIL_TRIES`] allow until its expectations hold; reports each verdict once it is final and
/// returns them all.
pub fn execute(
    workshop: &Workshop,
    shadow: &Shadow,
    step: &Step,
    executables: &[PathBuf],
    planned: Vec<(BTreeSet<Number>, Expect)>,
    jobs: usize,
    report: &(dyn Fn(&Verdict) + Sync),
) -> Vec<Verdict> {
    // A configuration that several expectations share runs once, with the tests of every
    // exercise they judge; those that expect failures apart from those that expect passes, so
    // that the first can stop at the first failure.
    let mut configurations: Vec<Configuration> = Vec::new();
    for (starter, expect) in &planned {
        let failing = fails(expect);
        let filters = judged(workshop, step, expect)
            .into_iter()
            .filter_map(|n| workshop.exercise(n))
            .flat_map(|e| e.proved_by.iter().cloned());
        match configurations
            .iter_mut()
            .find(|c| c.starter == *starter && c.failing == failing)
        {
            Some(c) => c.filters.extend(filters),
            None => configurations.push(Configuration {
                starter: starter.clone(),
                failing,
                filters: filters.collect(),
            }),
        }
    }
    for c in &mut configurations {
        c.filters.sort();
        c.filters.dedup();
    }
    // The final verdicts of each configuration, once it has them.
    let finished: Mutex<BTreeMap<usize, Vec<Verdict>>> = Mutex::new(BTreeMap::new());
    // What went wrong on each configuration's first try, for the report of a later one.
    let first_try: Mutex<BTreeMap<(usize, Number), String>> =
        Mutex::new(BTreeMap::new());
    // For a run expected to fail: each exercise whose check failed on some try.
    let failed_once: Mutex<BTreeMap<(usize, Number), String>> =
        Mutex::new(BTreeMap::new());
    for attempt in 1..=FAIL_TRIES {
        let left: Vec<usize> = (0..configurations.len())
            .filter(|i| !finished.lock().expect("not poisoned").contains_key(i))
            .filter(|i| attempt <= configurations[*i].tries())
            .collect();
        let queue = Mutex::new(left);
        // Later tries run one at a time: a run that lost a race on a busy machine gets a
        // quiet one.
        let workers = if attempt == 1 { jobs.max(1) } else { 1 };
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().expect("not poisoned").pop();
                        let Some(i) = next else { break };
                        let Configuration {
                            starter,
                            failing,
                            filters,
                        } = &configurations[i];
                        let expects: Vec<&Expect> = planned
                            .iter()
                            .filter(|(s, e)| s == starter && fails(e) == *failing)
                            .map(|(_, e)| e)
                            .collect();
                        let run = try_once(
                            workshop,
                            shadow,
                            step,
                            executables,
                            starter,
                            filters,
                            &expects,
                        );
                        let mut verdicts: Vec<Verdict> = expects
                            .iter()
                            .flat_map(|e| judge(workshop, step, e, &run))
                            .collect();
                        if *failing {
                            // A check that failed once without its need needs it, even if
                            // a later try of the same run passes.
                            let mut proven =
                                failed_once.lock().expect("not poisoned");
                            for v in &mut verdicts {
                                match proven.get(&(i, v.exercise)) {
                                    Some(earlier) if !v.held => {
                                        v.held = true;
                                        v.what = earlier.clone();
                                    }
                                    _ if v.held => {
                                        proven
                                            .insert((i, v.exercise), v.what.clone());
                                    }
                                    _ => {}
                                }
                            }
                        }
                        let tries = configurations[i].tries();
                        let held = verdicts.iter().all(|v| v.held);
                        if !held && attempt < tries {
                            let wrong: Vec<&str> = verdicts
                                .iter()
                                .filter(|v| !v.held)
                                .map(|v| v.what.as_str())
                                .collect();
                            eprintln!(
                                "  again {} (try {attempt} of {tries})",
                                wrong.join("; ")
                            );
                            let mut first = first_try.lock().expect("not poisoned");
                            for v in verdicts.iter().filter(|v| !v.held) {
                                first
                                    .entry((i, v.exercise))
                                    .or_insert_with(|| v.what.clone());
                            }
                            continue;
                        }
                        let first = first_try.lock().expect("not poisoned").clone();
                        let verdicts: Vec<Verdict> = verdicts
                            .into_iter()
                            .map(|mut v| {
                                if let (true, Some(earlier)) =
                                    (v.held, first.get(&(i, v.exercise)))
                                {
                                    v.what = format!(
                                        "{} (on try {attempt}; try 1: {earlier})",
                                        v.what
                                    );
                                }
                                v
                            })
                            .collect();
                        for verdict in &verdicts {
                            report(verdict);
                        }
                        finished.lock().expect("not poisoned").insert(i, verdicts);
                    }
                });
            }
        });
    }
    finished
        .into_inner()
        .expect("not poisoned")
        .into_values()
        .flatten()
        .collect()
}

/// One run of a configuration. When every expectation is a failure, it stops once each
/// exercise it judges has a failed test.
fn try_once(
    workshop: &Workshop,
    shadow: &Shadow,
    step: &Step,
    executables: &[PathBuf],
    starter: &BTreeSet<Number>,
    filters: &[String],
    expects: &[&Expect],
) -> Run {
    let expected_to_fail: Option<Vec<&Exercise>> = expects
        .iter()
        .map(|e| match e {
            Expect::FailsWithout(n, _) => workshop.exercise(*n),
            _ => None,
        })
        .collect();
    let enough = |results: &BTreeMap<String, Outcome>| {
        expected_to_fail.as_ref().is_some_and(|exercises| {
            exercises.iter().all(|e| {
                results.iter().any(|(name, o)| {
                    *o == Outcome::Failed
                        && e.proved_by.iter().any(|f| name.contains(f.as_str()))
                })
            })
        })
    };
    run(shadow, step, executables, starter, filters, Some(&enough))
}

/// The smallest set of other exercises of its step that `number`'s check needs: starting from
/// the whole solution, each other exercise in turn is left as in the starter, and stays left
/// when the check still passes `tries` times. Returns the needs, or why they cannot be found.
pub fn discover(
    workshop: &Workshop,
    shadow: &Shadow,
    executables: &[PathBuf],
    number: Number,
    tries: usize,
    say: &dyn Fn(&str),
) -> Result<Vec<Number>, String> {
    let exercise = workshop
        .exercise(number)
        .ok_or(format!("no exercise {number}"))?;
    let step = workshop
        .steps
        .iter()
        .find(|s| s.name == exercise.step)
        .expect("its step");
    let filters = exercise.proved_by.clone();
    let first = run(shadow, step, executables, &BTreeSet::new(), &filters, None);
    if !first.passes(exercise) {
        return Err(format!(
            "{number}'s check fails on the solution itself: {}",
            first.failures(exercise)
        ));
    }
    let mut left = BTreeSet::new();
    let mut needs = Vec::new();
    // Once one of its tests failed, the exercise left out is needed: no need to wait for more.
    let failed = |results: &BTreeMap<String, Outcome>| {
        results.iter().any(|(name, o)| {
            *o == Outcome::Failed
                && exercise.proved_by.iter().any(|f| name.contains(f.as_str()))
        })
    };
    for other in workshop.exercises_of(&step.name) {
        if other.number == number {
            continue;
        }
        let mut trying = left.clone();
        trying.insert(other.number);
        // A need can show only when a race goes one way: it is one if any try fails.
        let mut needed = None;
        for _ in 0..tries.max(1) {
            let run =
                run(shadow, step, executables, &trying, &filters, Some(&failed));
            if !run.passes(exercise) {
                needed = Some(run.failures(exercise));
                break;
            }
        }
        match needed {
            None => {
                say(&format!(
                    "{number}: passes with {} left too ({tries} tries)",
                    other.number
                ));
                left = trying;
            }
            Some(why) => {
                say(&format!("{number}: needs {} ({why})", other.number));
                needs.push(other.number);
            }
        }
    }
    Ok(needs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(index: u32, track: Track, needs: &[u32], tests: &[&str]) -> Exercise {
        Exercise {
            file: PathBuf::from("solutions/04-mirror/src/lib.rs"),
            proved_by: tests.iter().map(|t| t.to_string()).collect(),
            needs: needs
                .iter()
                .map(|&i| Number { step: 4, index: i })
                .collect(),
            track,
            ..Exercise::sample("04-mirror", index)
        }
    }

    fn workshop() -> Workshop {
        Workshop {
            root: PathBuf::from("."),
            steps: vec![Step {
                number: 4,
                name: "04-mirror".into(),
            }],
            exercises: vec![
                exercise(1, Track::Core, &[], &["checksum_"]),
                exercise(2, Track::Core, &[1], &["companion_"]),
                exercise(3, Track::Stretch, &[], &["plan_"]),
            ],
        }
    }

    fn n(index: u32) -> Number {
        Number { step: 4, index }
    }

    fn run(starter: &[u32], results: &[(&str, Outcome)]) -> Run {
        Run {
            starter: starter.iter().map(|&i| n(i)).collect(),
            results: results
                .iter()
                .map(|(t, o)| (t.to_string(), o.clone()))
                .collect(),
            why: BTreeMap::new(),
            broken: vec![],
            took: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_plan_leaves_each_need_out_in_turn() {
        let w = workshop();
        let planned: Vec<(Vec<u32>, String)> =
            plan(&w, &w.steps[0], true, true, &BTreeSet::new())
                .into_iter()
                .map(|(s, e)| (s.iter().map(|n| n.index).collect(), format!("{e:?}")))
                .collect();
        let expect = |s: &[u32], e: &str| (s.to_vec(), e.to_string());
        assert_eq!(
            planned,
            [
                expect(&[3], "CorePasses"),
                expect(&[2, 3], "Passes(Number { step: 4, index: 1 })"),
                expect(
                    &[1, 2, 3],
                    "FailsWithout(Number { step: 4, index: 1 }, Number { step: 4, index: 1 })"
                ),
                expect(&[3], "Passes(Number { step: 4, index: 2 })"),
                expect(
                    &[1, 3],
                    "FailsWithout(Number { step: 4, index: 2 }, Number { step: 4, index: 1 })"
                ),
                expect(
                    &[2, 3],
                    "FailsWithout(Number { step: 4, index: 2 }, Number { step: 4, index: 2 })"
                ),
                expect(&[1, 2], "Passes(Number { step: 4, index: 3 })"),
                expect(
                    &[1, 2, 3],
                    "FailsWithout(Number { step: 4, index: 3 }, Number { step: 4, index: 3 })"
                ),
            ]
        );
    }

    #[test]
    fn what_a_check_needs_only_sometimes_is_solved_and_never_left_out_alone() {
        let mut w = workshop();
        w.exercises[1].sometimes = vec![n(3)];
        let planned: Vec<(Vec<u32>, String)> =
            plan(&w, &w.steps[0], false, true, &BTreeSet::from([n(2)]))
                .into_iter()
                .map(|(s, e)| (s.iter().map(|n| n.index).collect(), format!("{e:?}")))
                .collect();
        assert_eq!(
            planned,
            [
                (vec![], "Passes(Number { step: 4, index: 2 })".to_string()),
                (vec![1], "FailsWithout(Number { step: 4, index: 2 }, Number { step: 4, index: 1 })".to_string()),
                (vec![2], "FailsWithout(Number { step: 4, index: 2 }, Number { step: 4, index: 2 })".to_string()),
            ]
        );
    }

    #[test]
    fn a_check_passes_only_when_its_tests_ran_and_all_passed() {
        let w = workshop();
        let e = w.exercise(n(2)).expect("4.2");
        assert!(run(&[], &[("companion_a", Outcome::Ok)]).passes(e));
        assert!(
            !run(
                &[],
                &[
                    ("companion_a", Outcome::Ok),
                    ("companion_b", Outcome::Failed)
                ]
            )
            .passes(e)
        );
        assert!(
            !run(&[], &[("plan_a", Outcome::Ok)]).passes(e),
            "no test of its ran"
        );
        let mut crashed = run(&[], &[("companion_a", Outcome::Ok)]);
        crashed.broken.push("e2e ended with signal 9".into());
        assert!(!crashed.passes(e));
    }

    #[test]
    fn a_need_that_is_not_needed_and_a_core_check_that_needs_stretch_are_reported() {
        let w = workshop();
        let step = &w.steps[0];
        // 4.2's check passes without 4.1: its `Needs: 4.1` is wrong.
        let verdicts = judge(
            &w,
            step,
            &Expect::FailsWithout(n(2), n(1)),
            &run(&[1, 3], &[("companion_a", Outcome::Ok)]),
        );
        assert!(!verdicts[0].held);
        assert_eq!(
            verdicts[0].what,
            "4.2 says `Needs: 4.1`, but its check passes with 4.1 left as in the starter (4.1, 4.3 left): remove 4.1 from its `Needs:`"
        );
        // 4.2's check fails on the core path.
        let verdicts = judge(
            &w,
            step,
            &Expect::CorePasses,
            &run(
                &[3],
                &[
                    ("checksum_a", Outcome::Ok),
                    ("companion_a", Outcome::Failed),
                ],
            ),
        );
        assert_eq!(
            verdicts.iter().map(|v| v.held).collect::<Vec<_>>(),
            [true, false]
        );
        assert!(verdicts[1].what.starts_with("core path: 4.2 is core, but its check fails with the stretch exercises (4.3) left as in the starter: companion_a."), "{}", verdicts[1].what);
    }

    #[test]
    fn why_a_test_failed_is_read_from_its_output() {
        let text = "running 2 tests\ntest a ... FAILED\ntest b ... FAILED\n\nfailures:\n\n\
                    ---- a stdout ----\n\nthread 'a' panicked at src/lib.rs:1:2:\nleft 1 right 2\n\
                    note: run with `RUST_BACKTRACE=1`\n---- b stdout ----\nError: no cluster\n";
        assert_eq!(
            failure_reasons(text),
            [
                ("a".to_string(), "left 1 right 2".to_string()),
                ("b".to_string(), "no cluster".to_string())
            ]
        );
    }
}
