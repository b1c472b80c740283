//! The book's generated includes: what the chapters say about the exercises (which ones a step
//! has, which are on the core path, how long they take), written from the model so that the book
//! cannot drift from the solutions. `scripts/gen-steps.sh` writes them into [`GENERATED`];
//! the chapters include them; the book's test fails when one is stale or unused.
//!
//! - `NN-name-your-code.md`, for each step chapter's "Your code" line: the files and exercises;
//! - `timing.md`, `day-plan.md`, `core-path.md`, for the instructor guide: the minutes of each
//!   step and of the day, and the core path, from each exercise's `Path:` and the teaching
//!   minutes and day layout of [`PLAN`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::generate::Tree;
use crate::model::{
    Exercise, Kind, Number, Problem, Problems, Step, Track, Workshop,
};

/// Where the generated includes go, relative to the repository root.
pub const GENERATED: &str = "book/src/generated";

/// The instructor's plan of the day, relative to the repository root.
pub const PLAN: &str = "book/instructor-plan.txt";

/// Every generated include, by file name.
pub fn generated(workshop: &Workshop) -> Result<Tree, String> {
    let plan = Plan::load(&workshop.root).map_err(|p| p.to_string())?;
    let wrong = plan.check(workshop);
    if !wrong.is_empty() {
        return Err(wrong.join("\n"));
    }
    let mut tree = Tree::new();
    for step in &workshop.steps {
        tree.insert(
            PathBuf::from(format!("{}-your-code.md", step.name)),
            your_code(workshop, step).into_bytes(),
        );
    }
    tree.insert(
        PathBuf::from("timing.md"),
        timing(workshop, &plan).into_bytes(),
    );
    tree.insert(
        PathBuf::from("day-plan.md"),
        day_plan(workshop, &plan).into_bytes(),
    );
    tree.insert(
        PathBuf::from("core-path.md"),
        core_path(workshop, &plan).into_bytes(),
    );
    Ok(tree)
}

/// The plan of the day ([`PLAN`]).
#[derive(Debug, Default)]
pub struct Plan {
    /// Minutes of teaching before each step's exercises, by step number.
    pub teach: BTreeMap<u32, u32>,
    /// What comes before the core path's exercises: minutes and what.
    pub core: Vec<(u32, String)>,
    /// The short teaching before each step on the core path, in minutes (`core-teach NN M`):
    /// the core path is a slot with an instructor, not exercises alone.
    pub core_teach: BTreeMap<u32, u32>,
    pub days: Vec<Day>,
}

/// One day of the plan.
#[derive(Debug)]
pub struct Day {
    pub title: String,
    pub items: Vec<Item>,
}

/// One slot of a day.
#[derive(Debug)]
pub enum Item {
    /// A step: its teaching and all of its exercises, and a note (`and the line counts`).
    Step(u32, String),
    /// Anything else: the demo, a break, questions.
    Other(u32, String),
}

impl Plan {
    pub fn load(root: &Path) -> Result<Plan, Problems> {
        let text = fs::read_to_string(root.join(PLAN)).map_err(|err| {
            Problems(vec![Problem {
                file: PathBuf::from(PLAN),
                line: 0,
                message: format!("cannot be read: {err}"),
            }])
        })?;
        Plan::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Plan, Problems> {
        let mut plan = Plan::default();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let problem = |message: String| Problem {
                file: PathBuf::from(PLAN),
                line: i + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            let rest = rest.trim();
            let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
            let after = after.trim().to_string();
            let step = || first.parse::<u32>().ok().filter(|_| first.len() == 2);
            let minutes = || first.parse::<u32>().ok().filter(|m| *m > 0);
            match word {
                "teach" => match (step(), after.parse::<u32>()) {
                    (Some(nn), Ok(m)) if m > 0 => {
                        if plan.teach.insert(nn, m).is_some() {
                            problems
                                .push(problem(format!("a second `teach {first}`")));
                        }
                    }
                    _ => problems.push(problem(format!(
                        "`{line}` should read `teach NN MINUTES`"
                    ))),
                },
                "core-teach" => match (step(), after.parse::<u32>()) {
                    (Some(nn), Ok(m)) if m > 0 => {
                        if plan.core_teach.insert(nn, m).is_some() {
                            problems.push(problem(format!(
                                "a second `core-teach {first}`"
                            )));
                        }
                    }
                    _ => problems.push(problem(format!(
                        "`{line}` should read `core-teach NN MINUTES`"
                    ))),
                },
                "core" | "other" => match minutes() {
                    Some(m) if !after.is_empty() => {
                        if word == "core" {
                            plan.core.push((m, after));
                        } else if let Some(day) = plan.days.last_mut() {
                            day.items.push(Item::Other(m, after));
                        } else {
                            problems.push(problem(
                                "`other` before the first `day`".into(),
                            ));
                        }
                    }
                    _ => problems.push(problem(format!(
                        "`{line}` should read `{word} MINUTES WHAT`"
                    ))),
                },
                "step" => match step() {
                    Some(nn) => {
                        if let Some(day) = plan.days.last_mut() {
                            day.items.push(Item::Step(nn, after));
                        } else {
                            problems.push(problem(
                                "`step` before the first `day`".into(),
                            ));
                        }
                    }
                    None => problems.push(problem(format!(
                        "`{line}` should read `step NN [WHAT]`"
                    ))),
                },
                "day" if !rest.is_empty() => plan.days.push(Day {
                    title: rest.to_string(),
                    items: Vec::new(),
                }),
                _ => problems.push(problem(format!(
                    "`{line}`: a line starts with teach, core-teach, core, day, step or other"
                ))),
            }
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(Problems(problems))
        }
    }

    /// The steps of the plan that are not in the workshop, and the workshop's steps that the
    /// plan leaves out (no teaching time, or in no day).
    pub fn check(&self, workshop: &Workshop) -> Vec<String> {
        let mut out = Vec::new();
        let planned: Vec<u32> = self
            .days
            .iter()
            .flat_map(|d| &d.items)
            .filter_map(|i| match i {
                Item::Step(n, _) => Some(*n),
                Item::Other(..) => None,
            })
            .collect();
        for step in &workshop.steps {
            if !self.teach.contains_key(&step.number) {
                out.push(format!(
                    "{PLAN}: no `teach {} MINUTES` for step {}",
                    step.nn(),
                    step.nn()
                ));
            }
            match planned.iter().filter(|n| **n == step.number).count() {
                0 => out.push(format!("{PLAN}: step {} is in no day", step.nn())),
                1 => {}
                _ => out.push(format!(
                    "{PLAN}: step {} is in the day plan twice",
                    step.nn()
                )),
            }
        }
        // Every step up to the last one with a core exercise is taught on the core path.
        let last_core = workshop.steps.iter().rposition(|s| {
            workshop
                .exercises_of(&s.name)
                .any(|e| e.track == Track::Core)
        });
        for step in workshop.steps.iter().take(last_core.map_or(0, |l| l + 1)) {
            if !self.core_teach.contains_key(&step.number) {
                out.push(format!(
                    "{PLAN}: no `core-teach {} MINUTES` for step {}, which is on the core path",
                    step.nn(),
                    step.nn()
                ));
            }
        }
        for n in self
            .teach
            .keys()
            .chain(planned.iter())
            .chain(self.core_teach.keys())
        {
            if workshop.step(*n).is_none() {
                out.push(format!("{PLAN}: there is no step {n:02}"));
            }
        }
        out
    }
}

/// `4.1 to 4.3, 4.5 and 4.7`: runs of three or more consecutive exercises as ranges.
pub fn numbers(list: &[Number]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let mut j = i;
        while j + 1 < list.len()
            && list[j + 1].step == list[j].step
            && list[j + 1].index == list[j].index + 1
        {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{} to {}", list[i], list[j]));
            i = j + 1;
        } else {
            parts.push(list[i].to_string());
            i += 1;
        }
    }
    and(&parts)
}

/// `a`, `a and b`, `a, b and c`.
fn and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `40 min`, `1 h`, `1 h 35 min`.
pub fn duration(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// `1:05`: a time of the day, from its start.
fn clock(minutes: u32) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

fn minutes<'a>(exercises: impl IntoIterator<Item = &'a Exercise>) -> u32 {
    exercises.into_iter().map(|e| e.minutes).sum()
}

/// `04 mirror`.
fn step_label(step: &Step) -> String {
    step.name.replacen('-', " ", 1)
}

/// The "Your code" line of a step chapter: the files, the exercises, and which are core.
pub fn your_code(workshop: &Workshop, step: &Step) -> String {
    let exercises: Vec<&Exercise> = workshop.exercises_of(&step.name).collect();
    // The files in the order of their first exercise; after the first, those in the same
    // directory by their name alone.
    let mut files: Vec<&Path> = Vec::new();
    for e in &exercises {
        if !files.contains(&e.file.as_path()) {
            files.push(&e.file);
        }
    }
    let starter =
        |f: &Path| Path::new("steps").join(f.strip_prefix("solutions").unwrap_or(f));
    let first_dir = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf);
    let shown: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i > 0 && f.parent().map(Path::to_path_buf) == first_dir {
                format!("`{}`", f.file_name().unwrap_or_default().to_string_lossy())
            } else {
                format!("`{}`", starter(f).display())
            }
        })
        .collect();
    let of = |kind: Kind| -> Vec<Number> {
        exercises
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.number)
            .collect()
    };
    let mut text = format!("{}: ", and(&shown));
    let (written, diagnosed) = (of(Kind::Exercise), of(Kind::Diagnose));
    let mut parts = Vec::new();
    if !written.is_empty() {
        let word = if written.len() == 1 {
            "exercise"
        } else {
            "exercises"
        };
        parts.push(format!("{word} {}", numbers(&written)));
    }
    if !diagnosed.is_empty() {
        let what = if diagnosed.len() == 1 {
            "a bug to find"
        } else {
            "bugs to find"
        };
        parts.push(format!("diagnose {} ({what})", numbers(&diagnosed)));
    }
    text.push_str(&parts.join(", "));
    let core: Vec<Number> = exercises
        .iter()
        .filter(|e| e.track == Track::Core)
        .map(|e| e.number)
        .collect();
    if core.is_empty() {
        text.push_str("; none is on the core path");
    } else if core.len() == exercises.len() {
        text.push_str("; all on the core path");
    } else {
        let _ = write!(text, "; the core path: {}", numbers(&core));
    }
    text
}

/// The instructor guide's timing table, and what it adds up to.
pub fn timing(workshop: &Workshop, plan: &Plan) -> String {
    let mut out = String::from(
        "| step | teaching | core exercises | stretch exercises | total |\n\
         |------|---------:|----------------|-------------------|------:|\n",
    );
    for step in &workshop.steps {
        let teach = plan.teach.get(&step.number).copied().unwrap_or(0);
        let (core, stretch): (Vec<&Exercise>, Vec<&Exercise>) = workshop
            .exercises_of(&step.name)
            .partition(|e| e.track == Track::Core);
        let cell = |list: &[&Exercise]| {
            if list.is_empty() {
                "none".to_string()
            } else {
                let listed: Vec<Number> = list.iter().map(|e| e.number).collect();
                format!(
                    "{}: {}",
                    numbers(&listed),
                    duration(minutes(list.iter().copied()))
                )
            }
        };
        let total = teach + minutes(workshop.exercises_of(&step.name));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            step_label(step),
            duration(teach),
            cell(&core),
            cell(&stretch),
            duration(total)
        );
    }
    let mut sums = Vec::new();
    for day in &plan.days {
        let steps: Vec<&Step> = day
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Step(n, _) => workshop.step(*n),
                Item::Other(..) => None,
            })
            .collect();
        let teach: u32 = steps.iter().filter_map(|s| plan.teach.get(&s.number)).sum();
        let work: u32 = steps
            .iter()
            .map(|s| minutes(workshop.exercises_of(&s.name)))
            .sum();
        let range = match (steps.first(), steps.last()) {
            (Some(a), Some(b)) if a != b => format!("steps {} to {}", a.nn(), b.nn()),
            (Some(a), _) => format!("step {}", a.nn()),
            _ => continue,
        };
        sums.push(format!(
            "{range} take {} ({} of teaching, {} of exercises)",
            duration(teach + work),
            duration(teach),
            duration(work)
        ));
    }
    let _ = write!(
        out,
        "\nAdded up, {}; the core path below takes {}.\n",
        and(&sums),
        duration(core_minutes(workshop, plan))
    );
    out
}

/// How long the core path takes: what comes before it, and every core exercise.
pub fn core_minutes(workshop: &Workshop, plan: &Plan) -> u32 {
    let before: u32 = plan.core.iter().map(|(m, _)| m).sum();
    let last_core = workshop.steps.iter().rposition(|s| {
        workshop
            .exercises_of(&s.name)
            .any(|e| e.track == Track::Core)
    });
    let teaching: u32 = workshop
        .steps
        .iter()
        .take(last_core.map_or(0, |l| l + 1))
        .map(|s| plan.core_teach.get(&s.number).copied().unwrap_or(0))
        .sum();
    before
        + teaching
        + minutes(workshop.exercises.iter().filter(|e| e.track == Track::Core))
}

/// The instructor guide's day plan: one table per day, every step as long as the timing table
/// says.
pub fn day_plan(workshop: &Workshop, plan: &Plan) -> String {
    let mut out = String::new();
    for (i, day) in plan.days.iter().enumerate() {
        let mut rows = String::new();
        let mut at = 0;
        for item in &day.items {
            let (what, length) = match item {
                Item::Step(n, note) => {
                    let Some(step) = workshop.step(*n) else {
                        continue;
                    };
                    let teach = plan.teach.get(n).copied().unwrap_or(0);
                    let work = minutes(workshop.exercises_of(&step.name));
                    let mut what = format!(
                        "step {}: {} of teaching, {} of exercises",
                        step.nn(),
                        duration(teach),
                        duration(work)
                    );
                    if !note.is_empty() {
                        let _ = write!(what, "; {note}");
                    }
                    (what, teach + work)
                }
                Item::Other(m, what) => (what.clone(), *m),
            };
            let _ = writeln!(rows, "| {} | {what} |", clock(at));
            at += length;
        }
        let _ = writeln!(rows, "| {} | the end of the day |", clock(at));
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(
            out,
            "**Day {}: {}** ({} in all)\n\n| time | |\n|-----:|---|\n{rows}",
            i + 1,
            day.title,
            duration(at)
        );
    }
    out
}

/// The instructor guide's core path: when each step's core exercises start, which exercises
/// are core and which stretch, and how long the whole path takes.
pub fn core_path(workshop: &Workshop, plan: &Plan) -> String {
    let mut out = String::from(
        "| minutes | step | teaching | core | stretch |\n\
         |---------|------|---------:|------|---------|\n",
    );
    let mut at = 0;
    for (m, what) in &plan.core {
        let _ = writeln!(out, "| {}–{} | {what} | | | |", at, at + m);
        at += m;
    }
    // Steps after the last one with core exercises are for later; one before it without any
    // is read, not done (its exercises are all stretch).
    let last_core = workshop.steps.iter().rposition(|s| {
        workshop
            .exercises_of(&s.name)
            .any(|e| e.track == Track::Core)
    });
    let list = |l: &[&Exercise]| {
        let n: Vec<Number> = l.iter().map(|e| e.number).collect();
        numbers(&n)
    };
    let mut later = Vec::new();
    for (i, step) in workshop.steps.iter().enumerate() {
        let (core, stretch): (Vec<&Exercise>, Vec<&Exercise>) = workshop
            .exercises_of(&step.name)
            .partition(|e| e.track == Track::Core);
        if last_core.is_none_or(|last| i > last) {
            later.push(step);
            continue;
        }
        let teach = plan.core_teach.get(&step.number).copied().unwrap_or(0);
        if core.is_empty() {
            let _ = writeln!(
                out,
                "| {}–{} | {} | {teach} min | none: read, not done | {} |",
                at,
                at + teach,
                step_label(step),
                list(&stretch)
            );
            at += teach;
            continue;
        }
        let m = teach + minutes(core.iter().copied());
        let _ = writeln!(
            out,
            "| {}–{} | {} | {teach} min | {} | {} |",
            at,
            at + m,
            step_label(step),
            list(&core),
            if stretch.is_empty() {
                "none".to_string()
            } else {
                list(&stretch)
            }
        );
        at += m;
    }
    match later.as_slice() {
        [] => {}
        [one] => {
            let _ =
                writeln!(out, "| later | {} | | | every exercise |", step_label(one));
        }
        [first, .., last] => {
            let _ = writeln!(
                out,
                "| later | steps {} to {} | | | every exercise |",
                first.nn(),
                last.nn()
            );
        }
    }
    let _ = write!(
        out,
        "\nThe core path takes {} in all, {} of it teaching (the short version of each step's, \
         in the table above), and every core exercise's check passes with only the core \
         exercises done: CI checks it (`scripts/test-paths.sh`).\n",
        duration(at),
        duration(
            workshop
                .steps
                .iter()
                .filter_map(|s| plan.core_teach.get(&s.number))
                .sum()
        )
    );
    debug_assert_eq!(at, core_minutes(workshop, plan));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(step: u32, index: u32) -> Number {
        Number { step, index }
    }

    #[test]
    fn numbers_read_as_ranges_where_they_run() {
        assert_eq!(numbers(&[n(4, 1), n(4, 2), n(4, 3)]), "4.1 to 4.3");
        assert_eq!(numbers(&[n(4, 1), n(4, 2)]), "4.1 and 4.2");
        assert_eq!(
            numbers(&[n(4, 1), n(4, 2), n(4, 3), n(4, 5), n(4, 7)]),
            "4.1 to 4.3, 4.5 and 4.7"
        );
        assert_eq!(numbers(&[n(6, 1)]), "6.1");
    }

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(duration(40), "40 min");
        assert_eq!(duration(60), "1 h");
        assert_eq!(duration(95), "1 h 35 min");
        assert_eq!(clock(95), "1:35");
    }

    #[test]
    fn the_plan_is_read_with_its_mistakes_located() {
        let plan = Plan::parse(
            "# c\nteach 01 10\ncore 5 demo\nday 1: by hand\nother 5 the demo\nstep 01 and more\n",
        )
        .expect("a plan");
        assert_eq!(plan.teach.get(&1), Some(&10));
        assert_eq!(plan.core, [(5, "demo".to_string())]);
        assert_eq!(plan.days[0].title, "1: by hand");
        assert!(
            matches!(&plan.days[0].items[1], Item::Step(1, note) if note == "and more")
        );
        let wrong = Plan::parse("teach 1 10\nstep 01\nother five x\n")
            .expect_err("mistakes")
            .to_string();
        assert_eq!(
            wrong,
            "error: book/instructor-plan.txt:1: `teach 1 10` should read `teach NN MINUTES`\n\
             error: book/instructor-plan.txt:2: `step` before the first `day`\n\
             error: book/instructor-plan.txt:3: `other five x` should read `other MINUTES WHAT`"
        );
    }
}
