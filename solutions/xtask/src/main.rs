//! `cargo xtask COMMAND`: the command line of the workshop's tool. The scripts call it; so can
//! you (`cargo xtask help`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use workshop_xtask::model::{Exercise, Kind, Number, Workshop};
use workshop_xtask::{generate, starter, verify};

const USAGE: &str = "\
usage: cargo xtask COMMAND

  exercises [--json] [NN|N.M ...]
      The exercises (of these steps, or these exercises), in the workshop's order. One line
      each, tab-separated: number, kind (exercise|diagnose), step (04-mirror), file, tests (the
      `Proved by:` filters, comma-separated), needs (comma-separated, then ;sometimes and those
      needed only when a race goes one way, or -), path (core|stretch),
      minutes, title. --json: every field of the model, the book section and region included.
      An exercise or step that does not exist is an error (exit 2).
  steps
      The steps: number (04) and directory name (04-mirror), tab-separated.
  regions NN
      Step NN's exercise regions, for scripts/mutants.sh: FILE FIRST LAST NUMBER, FIRST..LAST
      the lines between BEGIN SOLUTION and END SOLUTION.
  diagnose-left FILE
      The solution file FILE (solutions/NN-name/...) as a learner has it who did every exercise
      and has not found the bug yet: its diagnose regions as in the starter, its exercise
      regions solved (scripts/lib/transcripts.sh, for the book's diagnose-left transcripts).
  gen [--check]
      Writes steps/ and book/src/generated/ from solutions/ (scripts/gen-steps.sh); --check
      writes nothing and fails when they differ from what would be written.
  verify [--core] [--needs] [--jobs N] [NN|N.M ...]
      Against the cluster of your kubeconfig: the core path (every core exercise's check passes
      with only the core exercises solved) and each exercise's `Needs:` (its check passes with it
      and its needs solved, and fails when it or any one need is left as in the starter). Both
      without --core or --needs; every step, or these steps or exercises. N runs at once
      (default 2).
  needs [--tries N] N.M ...
      Against the cluster: finds what each exercise's check really needs, one exercise of its
      step left as in the starter at a time, each tried N times (default 2: a need may show
      only when a race goes one way), for writing `Needs:`.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(command.as_str(), "help" | "-h" | "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let root = root();
    let workshop = match Workshop::load(&root) {
        Ok(w) => w,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::from(2);
        }
    };
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let result = match command.as_str() {
        "exercises" => exercises(&workshop, &rest),
        "steps" => {
            for step in &workshop.steps {
                println!("{}\t{}", step.nn(), step.name);
            }
            Ok(())
        }
        "regions" => regions(&workshop, &rest),
        "diagnose-left" => diagnose_left(&workshop, &rest),
        "gen" => match rest.as_slice() {
            [] | ["--check"] => generate::run(&workshop, !rest.is_empty())
                .map(|said| eprintln!("==> {said}"))
                .map_err(Failure::Failed),
            _ => Err(Failure::Usage),
        },
        "verify" => run_verify(&workshop, &rest),
        "needs" => needs(&workshop, &rest),
        _ => Err(Failure::Usage),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage) => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::NotFound(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command did not succeed.
enum Failure {
    /// The command line is wrong: the usage is shown (exit 2).
    Usage,
    /// An exercise or step that does not exist (exit 2).
    NotFound(String),
    /// The command ran and found problems (exit 1).
    Failed(String),
}

/// The repository root: two levels above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The exercises that `selectors` (`NN`, `N.M`) name, in the workshop's order; all of them
/// when there are none.
fn select<'a>(
    workshop: &'a Workshop,
    selectors: &[&str],
) -> Result<Vec<&'a Exercise>, Failure> {
    if selectors.is_empty() {
        return Ok(workshop.exercises.iter().collect());
    }
    let mut chosen = BTreeSet::new();
    for selector in selectors {
        if selector.starts_with('-') {
            return Err(Failure::Usage);
        }
        if selector.contains('.') {
            let number: Number = selector.parse().map_err(Failure::NotFound)?;
            if workshop.exercise(number).is_none() {
                let all: Vec<String> = workshop
                    .exercises
                    .iter()
                    .map(|e| e.number.to_string())
                    .collect();
                return Err(Failure::NotFound(format!(
                    "there is no exercise {number} (exercises: {})",
                    all.join(" ")
                )));
            }
            chosen.insert(number);
        } else {
            let step = selector
                .parse::<u32>()
                .ok()
                .and_then(|n| workshop.step(n))
                .ok_or_else(|| {
                    let all: Vec<&str> =
                        workshop.steps.iter().map(|s| s.nn()).collect();
                    Failure::NotFound(format!(
                        "there is no step {selector} (steps: {})",
                        all.join(" ")
                    ))
                })?;
            chosen.extend(workshop.exercises_of(&step.name).map(|e| e.number));
        }
    }
    Ok(workshop
        .exercises
        .iter()
        .filter(|e| chosen.contains(&e.number))
        .collect())
}

fn exercises(workshop: &Workshop, args: &[&str]) -> Result<(), Failure> {
    let json = args.contains(&"--json");
    let selectors: Vec<&str> =
        args.iter().copied().filter(|a| *a != "--json").collect();
    let chosen = select(workshop, &selectors)?;
    if json {
        let all: Vec<serde_json::Value> = chosen.iter().map(|e| to_json(e)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("JSON values serialize")
        );
        return Ok(());
    }
    for e in chosen {
        let needs = shown_needs(e);
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.number,
            e.kind.as_str(),
            e.step,
            e.file.display(),
            e.proved_by.join(","),
            needs,
            e.track.as_str(),
            e.minutes,
            e.title
        );
    }
    Ok(())
}

/// `4.1,4.2`, `4.1,4.2;sometimes 4.5`, or `-` for none (an empty field would vanish: `read`
/// merges adjacent tabs).
fn shown_needs(e: &Exercise) -> String {
    let list = |l: &[Number]| {
        l.iter()
            .map(Number::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    match (e.needs.is_empty(), e.sometimes.is_empty()) {
        (true, true) => "-".into(),
        (false, true) => list(&e.needs),
        (true, false) => format!("sometimes {}", list(&e.sometimes)),
        (false, false) => {
            format!("{};sometimes {}", list(&e.needs), list(&e.sometimes))
        }
    }
}

fn to_json(e: &Exercise) -> serde_json::Value {
    serde_json::json!({
        "number": e.number.to_string(),
        "kind": e.kind.as_str(),
        "title": e.title,
        "step": e.step,
        "package": e.package(false),
        "solution_package": e.package(true),
        "file": e.file.display().to_string(),
        "line": e.line,
        "tests": e.proved_by,
        "needs": e.needs.iter().map(Number::to_string).collect::<Vec<_>>(),
        "needs_sometimes": e.sometimes.iter().map(Number::to_string).collect::<Vec<_>>(),
        "path": e.track.as_str(),
        "minutes": e.minutes,
        "book": { "step": e.book.step, "section": e.book.section },
        "region": {
            "begin": e.region.begin,
            "starter": e.region.starter,
            "end": e.region.end,
        },
        "hints": (1..=3).map(|l| format!("book/src/hints/{}/{l}.md", e.number)).collect::<Vec<_>>(),
        "answer": matches!(e.kind, workshop_xtask::model::Kind::Diagnose)
            .then(|| format!("book/src/answers/{}.md", e.number)),
    })
}

fn regions(workshop: &Workshop, args: &[&str]) -> Result<(), Failure> {
    let [selector] = args else {
        return Err(Failure::Usage);
    };
    if selector.contains('.') {
        return Err(Failure::Usage);
    }
    let mut chosen = select(workshop, &[selector])?;
    chosen.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for e in chosen {
        println!(
            "{} {} {} {}",
            e.file.display(),
            e.region.begin + 1,
            e.region.end - 1,
            e.number
        );
    }
    Ok(())
}

fn diagnose_left(workshop: &Workshop, args: &[&str]) -> Result<(), Failure> {
    let [file] = args else {
        return Err(Failure::Usage);
    };
    let file = Path::new(file);
    let text = std::fs::read_to_string(workshop.root.join(file)).map_err(|err| {
        Failure::NotFound(format!("cannot read {}: {err}", file.display()))
    })?;
    let diagnoses: Vec<&Exercise> = workshop
        .exercises_in(file)
        .into_iter()
        .filter(|e| e.kind == Kind::Diagnose)
        .collect();
    print!("{}", starter::starter(&text, &diagnoses));
    Ok(())
}

fn run_verify(workshop: &Workshop, args: &[&str]) -> Result<(), Failure> {
    let (mut core, mut needs, mut jobs) = (false, false, 2);
    let mut selectors = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--core" => core = true,
            "--needs" => needs = true,
            "--jobs" => {
                jobs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or(Failure::Usage)?
            }
            other => selectors.push(other),
        }
    }
    if !core && !needs {
        (core, needs) = (true, true);
    }
    let chosen = select(workshop, &selectors)?;
    // Exercises named one by one are tested alone; a step named whole, with its core path.
    let only: BTreeSet<Number> =
        if selectors.iter().all(|s| s.contains('.')) && !selectors.is_empty() {
            chosen.iter().map(|e| e.number).collect()
        } else {
            BTreeSet::new()
        };
    let core = core && only.is_empty();
    cluster_answers()?;
    let start = Instant::now();
    let shadow = verify::Shadow::sync(workshop).map_err(Failure::Failed)?;
    let steps: Vec<_> = workshop
        .steps
        .iter()
        .filter(|s| chosen.iter().any(|e| e.step == s.name))
        .collect();
    let (mut held, mut failed) = (0, Vec::new());
    for step in steps {
        let planned = verify::plan(workshop, step, core, needs, &only);
        if planned.is_empty() {
            continue;
        }
        eprintln!("==> step {}: building its switchable solution", step.nn());
        let built = Instant::now();
        let executables = shadow.build(step).map_err(Failure::Failed)?;
        eprintln!(
            "==> step {}: {} runs of its tests, {jobs} at a time (built in {:.0}s)",
            step.nn(),
            planned.len(),
            built.elapsed().as_secs_f64()
        );
        let report = |v: &verify::Verdict| {
            eprintln!("  {}  {}", if v.held { "ok  " } else { "FAIL" }, v.what);
        };
        for verdict in verify::execute(
            workshop,
            &shadow,
            step,
            &executables,
            planned,
            jobs,
            &report,
        ) {
            if verdict.held {
                held += 1;
            } else {
                failed.push(verdict.what);
            }
        }
    }
    eprintln!(
        "==> {held} held, {} failed, in {:.0}s",
        failed.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "{} of the instructor's expectations do not hold:\n  - {}",
            failed.len(),
            failed.join("\n  - ")
        )))
    }
}

fn needs(workshop: &Workshop, args: &[&str]) -> Result<(), Failure> {
    let mut tries = 2;
    let mut numbers = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--tries" => {
                tries = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or(Failure::Usage)?
            }
            n if n.contains('.') => numbers.push(n),
            _ => return Err(Failure::Usage),
        }
    }
    if numbers.is_empty() {
        return Err(Failure::Usage);
    }
    let chosen = select(workshop, &numbers)?;
    cluster_answers()?;
    let shadow = verify::Shadow::sync(workshop).map_err(Failure::Failed)?;
    let mut built: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for exercise in chosen {
        let step = workshop
            .steps
            .iter()
            .find(|s| s.name == exercise.step)
            .expect("its step");
        if !built.iter().any(|(name, _)| *name == step.name) {
            let executables = shadow.build(step).map_err(Failure::Failed)?;
            built.push((step.name.clone(), executables));
        }
        let executables = &built
            .iter()
            .find(|(n, _)| *n == step.name)
            .expect("built")
            .1;
        let say = |line: &str| eprintln!("    {line}");
        let found = verify::discover(
            workshop,
            &shadow,
            executables,
            exercise.number,
            tries,
            &say,
        )
        .map_err(Failure::Failed)?;
        let found: Vec<String> = found.iter().map(Number::to_string).collect();
        println!(
            "{}\tneeds: {}\t(written: {})",
            exercise.number,
            if found.is_empty() {
                "-".into()
            } else {
                found.join(", ")
            },
            shown_needs(exercise)
        );
    }
    Ok(())
}

/// End-to-end tests need a cluster: fail at once, and say so, when none answers.
fn cluster_answers() -> Result<(), Failure> {
    let ok = std::process::Command::new("kubectl")
        .args(["get", "--raw", "/readyz"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(Failure::Failed(
            "no cluster answers for your kubeconfig's current context: the checks' end-to-end \
             tests need one (scripts/cluster-up.sh starts one)"
                .into(),
        ))
    }
}
