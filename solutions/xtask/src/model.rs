//! The model: every exercise of the workshop, read once from the solutions' comments.
//!
//! In a solution's Rust file an exercise looks like this:
//!
//! ```text
//!     // EXERCISE 4.2: Title of the exercise, a sentence
//!     //     (a long title goes on in lines indented four more spaces)
//!     // What must become true, in a few lines.
//!     // Proved by: test_name_a, test_name_b,
//!     //   test_name_c
//!     // Needs: 4.1                (optional; or `4.1; sometimes 4.5`)
//!     // Path: core, 15 min
//!     // Book: "Step 04 > Exercise 4.2: ..."
//!     // BEGIN SOLUTION
//!     ...the reference code...
//!     // END SOLUTION
//! ```
//!
//! - `EXERCISE` (the starter gets `todo!()` instead of the code, so the region is a whole
//!   function body and the line after `END SOLUTION` closes it) or `DIAGNOSE` (the starter gets
//!   a realistic bug: the region holds the correct code, then `// STARTER`, then the buggy code
//!   with every line commented out, `//` alone for an empty line).
//! - The number is `N.M`, exercise M of step N, and the file is in `solutions/NN-name`.
//! - The comment is the run of `//` lines that starts with the marker; code may stand between
//!   it and `BEGIN SOLUTION` (a comment above a function whose body is the region).
//! - Its keys, each once, anywhere in that comment:
//!   `Proved by:` the tests `scripts/check.sh N.M` runs (cargo test filters; a list that ends
//!   with a comma goes on in the next comment line); `Needs:` (optional) the exercises of the
//!   same step whose solutions this check also needs (then, after `; sometimes`, those it
//!   needs only when a race goes one way: `Needs: 7.1; sometimes 7.5`); `Path:` `core` or
//!   `stretch`, and about how many minutes a learner takes; `Book:` the section that explains
//!   it, `"Step NN > Heading"`.
//!
//! [`Workshop::load`] reads every step and returns the exercises in the workshop's order, or
//! every problem it found, each as `file:line: what is wrong`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// An exercise's number, `N.M`: exercise `index` of step `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number {
    pub step: u32,
    pub index: u32,
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.step, self.index)
    }
}

impl FromStr for Number {
    type Err = String;

    /// `4.3`, or as a learner may type it, `04.3`.
    fn from_str(text: &str) -> Result<Self, String> {
        let wrong = || format!("`{text}` is not an exercise number (N.M, like 4.3)");
        let (step, index) = text.split_once('.').ok_or_else(wrong)?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(step) || !digits(index) {
            return Err(wrong());
        }
        Ok(Number {
            step: step.parse().map_err(|_| wrong())?,
            index: index.parse().map_err(|_| wrong())?,
        })
    }
}

/// What the learner does: write the code, or find the bug in code that is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `// EXERCISE`: the starter has `todo!()` where the solution's code is.
    Exercise,
    /// `// DIAGNOSE`: the starter has a realistic bug where the solution's code is.
    Diagnose,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exercise => "exercise",
            Kind::Diagnose => "diagnose",
        }
    }
}

/// Which path an exercise is on (`Path:`): the core path of the instructor guide, which a
/// short session follows, or the stretch exercises, for a longer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    Core,
    Stretch,
}

impl Track {
    pub fn as_str(self) -> &'static str {
        match self {
            Track::Core => "core",
            Track::Stretch => "stretch",
        }
    }
}

/// The book section an exercise points to (`Book: "Step 04 > Heading"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookRef {
    /// The step whose chapter holds the section, `04`.
    pub step: String,
    /// The heading's text, as written in the chapter.
    pub section: String,
}

/// Where an exercise's code is, by line number (from 1) in its file: the marker lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// `// BEGIN SOLUTION`.
    pub begin: usize,
    /// `// STARTER` (diagnose exercises only).
    pub starter: Option<usize>,
    /// `// END SOLUTION`.
    pub end: usize,
}

/// One exercise, as its solution's comment declares it.
#[derive(Clone, Debug)]
pub struct Exercise {
    pub number: Number,
    pub kind: Kind,
    /// The title, its continuation lines joined with single spaces.
    pub title: String,
    /// The step directory's name, `04-mirror`.
    pub step: String,
    /// The solution file, relative to the repository root.
    pub file: PathBuf,
    /// The marker's line (from 1), and how many lines the title takes.
    pub line: usize,
    pub title_lines: usize,
    /// The marker's indentation.
    pub indent: String,
    /// `Proved by:`: cargo test filters, each matching the tests whose path contains it.
    pub proved_by: Vec<String>,
    /// `Needs:`: other exercises of the step whose solutions this exercise's check needs.
    pub needs: Vec<Number>,
    /// `Needs: ...; sometimes 7.5`: those it needs only when a race goes one way (a test that
    /// passes without them as often as not). A learner does them first all the same.
    pub sometimes: Vec<Number>,
    /// `Path:`.
    pub track: Track,
    pub minutes: u32,
    /// `Book:`.
    pub book: BookRef,
    pub region: Region,
}

impl Exercise {
    /// The package its starter is in, `step-04-mirror`, or its solution, `solution-04-mirror`.
    pub fn package(&self, solution: bool) -> String {
        package(&self.step, solution)
    }
}

#[cfg(test)]
impl Exercise {
    /// Exercise `index` of step `step` (`04-mirror`), as the unit tests of the tools that read
    /// exercises make one: a core exercise of 5 minutes in `x.rs`, its marker on line 1 and its
    /// region on lines 2 to 3. A test sets what it is about with `Exercise { .., ..sample }`.
    pub(crate) fn sample(step: &str, index: u32) -> Exercise {
        Exercise {
            number: Number {
                step: step[..2].parse().expect("a step named NN-name"),
                index,
            },
            kind: Kind::Exercise,
            title: "T.".into(),
            step: step.into(),
            file: PathBuf::from("x.rs"),
            line: 1,
            title_lines: 1,
            indent: String::new(),
            proved_by: vec!["t".into()],
            needs: vec![],
            sometimes: vec![],
            track: Track::Core,
            minutes: 5,
            book: BookRef {
                step: step[..2].into(),
                section: "X".into(),
            },
            region: Region {
                begin: 2,
                starter: None,
                end: 3,
            },
        }
    }
}

/// The package of step `step` (`04-mirror`): its starter's, or its solution's.
pub fn package(step: &str, solution: bool) -> String {
    let kind = if solution { "solution" } else { "step" };
    format!("{kind}-{step}")
}

/// One step: its number and its directory's name under `solutions/` and `steps/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub number: u32,
    /// `04-mirror`.
    pub name: String,
}

impl Step {
    /// `04`.
    pub fn nn(&self) -> &str {
        &self.name[..2]
    }
}

/// A problem with the exercises, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every problem found, in the order of the files and lines.
#[derive(Debug)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// The workshop: its steps and their exercises, in order.
#[derive(Debug)]
pub struct Workshop {
    pub root: PathBuf,
    pub steps: Vec<Step>,
    pub exercises: Vec<Exercise>,
}

impl Workshop {
    /// Reads every step under `root/solutions` and the exercises in its Rust files.
    pub fn load(root: &Path) -> Result<Workshop, Problems> {
        let steps = steps(root).map_err(|message| {
            Problems(vec![Problem {
                file: PathBuf::from("solutions"),
                line: 0,
                message,
            }])
        })?;
        let mut exercises = Vec::new();
        let mut problems = Vec::new();
        for step in &steps {
            for file in rust_files(&root.join("solutions").join(&step.name)) {
                let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
                match fs::read_to_string(&file) {
                    Ok(text) => {
                        let (found, mut wrong) = parse_file(&rel, step, &text);
                        exercises.extend(found);
                        problems.append(&mut wrong);
                    }
                    Err(err) => problems.push(Problem {
                        file: rel,
                        line: 0,
                        message: format!("cannot be read: {err}"),
                    }),
                }
            }
        }
        exercises.sort_by_key(|e| e.number);
        // The rules between exercises only once every exercise reads well: an exercise with
        // a mistake is missing from the list, and every `Needs:` of it would say so too.
        if problems.is_empty() {
            problems.extend(cross_check(&steps, &exercises));
        }
        if problems.is_empty() {
            Ok(Workshop {
                root: root.to_path_buf(),
                steps,
                exercises,
            })
        } else {
            Err(Problems(problems))
        }
    }

    pub fn exercise(&self, number: Number) -> Option<&Exercise> {
        self.exercises.iter().find(|e| e.number == number)
    }

    pub fn step(&self, number: u32) -> Option<&Step> {
        self.steps.iter().find(|s| s.number == number)
    }

    /// The exercises of step `name` (`04-mirror`), in order.
    pub fn exercises_of<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Exercise> {
        self.exercises.iter().filter(move |e| e.step == name)
    }

    /// The exercises in `file` (relative to the root), in the order of their lines.
    pub fn exercises_in(&self, file: &Path) -> Vec<&Exercise> {
        let mut found: Vec<&Exercise> =
            self.exercises.iter().filter(|e| e.file == file).collect();
        found.sort_by_key(|e| e.line);
        found
    }
}

/// The steps: every `solutions/NN-name` directory, in order.
fn steps(root: &Path) -> Result<Vec<Step>, String> {
    let dir = root.join("solutions");
    let entries =
        fs::read_dir(&dir).map_err(|err| format!("cannot be read: {err}"))?;
    let mut steps = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let bytes = name.as_bytes();
        let numbered = bytes.len() > 3
            && bytes[0].is_ascii_digit()
            && bytes[1].is_ascii_digit()
            && bytes[2] == b'-';
        if numbered && entry.path().is_dir() {
            steps.push(Step {
                number: name[..2].parse().expect("two digits"),
                name,
            });
        }
    }
    steps.sort_by_key(|s| s.number);
    Ok(steps)
}

/// Every file under `dir`, sorted, without build output (`target/`).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The `.rs` files under `dir`, sorted, without build output (`target/`).
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut rust = files(dir);
    rust.retain(|path| path.extension().is_some_and(|e| e == "rs"));
    rust
}

/// The keys of an exercise's comment.
const PROVED_BY: &str = "Proved by:";
const NEEDS: &str = "Needs:";
const PATH: &str = "Path:";
const BOOK: &str = "Book:";
const KEYS: [&str; 4] = [PROVED_BY, NEEDS, PATH, BOOK];

/// The text of a comment line after `//` and one space, or `None` for a line that is not a
/// `//` comment (doc comments, `///` and `//!`, are not ours).
fn comment(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("//")?;
    if rest.starts_with('/') || rest.starts_with('!') {
        return None;
    }
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// A marker line, `// EXERCISE 4.2: Title` or `// DIAGNOSE 4.4: Title`: its kind and the rest.
fn marker(line: &str) -> Option<(Kind, &str)> {
    let text = comment(line)?;
    if let Some(rest) = text.strip_prefix("EXERCISE ") {
        Some((Kind::Exercise, rest))
    } else {
        text.strip_prefix("DIAGNOSE ")
            .map(|rest| (Kind::Diagnose, rest))
    }
}

/// The region marker a line is, if any (`BEGIN SOLUTION`, `STARTER`, `END SOLUTION`).
fn region_marker(line: &str) -> Option<&'static str> {
    let trimmed = line.trim();
    ["// BEGIN SOLUTION", "// STARTER", "// END SOLUTION"]
        .into_iter()
        .find(|m| trimmed == *m)
}

/// The key a comment line starts with, and its value.
fn key(line: &str) -> Option<(&'static str, &str)> {
    let text = comment(line)?;
    KEYS.into_iter()
        .find_map(|k| text.strip_prefix(k).map(|value| (k, value.trim())))
}

/// An exercise whose comment is being read.
struct Draft {
    number: Option<Number>,
    kind: Kind,
    title: String,
    line: usize,
    title_lines: usize,
    indent: String,
    /// Still in the comment (the run of `//` lines from the marker on).
    in_comment: bool,
    /// The `Proved by:` list goes on in the next line (it ended with a comma).
    continues: bool,
    keys: BTreeMap<&'static str, (usize, String)>,
}

/// Reads the exercises of one file. Every problem is reported, not only the first.
fn parse_file(file: &Path, step: &Step, text: &str) -> (Vec<Exercise>, Vec<Problem>) {
    let mut exercises = Vec::new();
    let mut problems = Vec::new();
    let problem = |line: usize, message: String| Problem {
        file: file.to_path_buf(),
        line,
        message,
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut draft: Option<Draft> = None;
    // Inside a region: the draft it belongs to, with its BEGIN and STARTER lines.
    let mut region: Option<(Draft, usize, Option<usize>)> = None;
    // The exercise region just ended at this line, and must be followed by `}`.
    let mut closing: Option<(usize, Number)> = None;
    for (i, &line) in lines.iter().enumerate() {
        let n = i + 1;
        if let Some((end, number)) = closing.take()
            && !line.trim_start().starts_with('}')
        {
            problems.push(problem(
                n,
                format!(
                    "exercise {number}: END SOLUTION (line {end}) must be followed by the \
                     closing brace of the function body (the starter puts todo!() in place of \
                     the whole body)"
                ),
            ));
        }
        if let Some((open, begin, starter)) = region.as_mut() {
            match region_marker(line) {
                Some("// BEGIN SOLUTION") => {
                    problems.push(problem(n, format!(
                            "BEGIN SOLUTION inside the region of {} (line {begin}): the \
                             region needs its END SOLUTION first",
                            shown(open)
                        )));
                }
                Some("// STARTER") => {
                    if open.kind == Kind::Exercise {
                        problems.push(problem(n, format!(
                            "STARTER belongs in a DIAGNOSE region: {} starts from todo!()",
                            shown(open)
                        )));
                    } else if let Some(first) = starter {
                        problems.push(problem(
                            n,
                            format!(
                                "a second STARTER in one region (the first is at line \
                                 {first})"
                            ),
                        ));
                    } else {
                        *starter = Some(n);
                    }
                }
                Some(_) => {
                    let (open, begin, starter) =
                        region.take().expect("inside a region");
                    if open.kind == Kind::Diagnose {
                        match starter {
                            None => problems.push(problem(
                                n,
                                format!(
                                    "diagnose {} has no `// STARTER` before END SOLUTION: the \
                                     buggy code the starter gets goes after it, commented out",
                                    shown(&open)
                                ),
                            )),
                            Some(s) if s + 1 == n => problems.push(problem(
                                n,
                                format!(
                                    "diagnose {}: nothing between STARTER (line {s}) and END \
                                     SOLUTION: the buggy code goes there, commented out",
                                    shown(&open)
                                ),
                            )),
                            Some(_) => {}
                        }
                    }
                    if open.kind == Kind::Exercise
                        && let Some(number) = open.number
                    {
                        closing = Some((n, number));
                    }
                    if let Some(exercise) =
                        finish(open, begin, starter, n, file, step, &mut problems)
                    {
                        exercises.push(exercise);
                    }
                }
                None => {
                    if marker(line).is_some() {
                        problems.push(problem(
                            n,
                            format!(
                                "EXERCISE or DIAGNOSE inside the region of {} (BEGIN SOLUTION at \
                                 line {begin}, no END SOLUTION yet)",
                                shown(open)
                            ),
                        ));
                    } else if starter.is_some() {
                        // The buggy code: every line commented out.
                        let t = line.trim_start();
                        if t != "//" && !t.starts_with("// ") {
                            problems.push(problem(n, "after // STARTER every line is commented out with \"// \" (an empty \
                                 line as \"//\"): the starter gets the lines back without it"
                                .into()));
                        }
                    }
                }
            }
            continue;
        }

        if let Some((kind, rest)) = marker(line) {
            if let Some(open) = draft.take() {
                problems.push(problem(
                    open.line,
                    format!(
                        "{} has no region: `// BEGIN SOLUTION` must come before the next \
                         exercise (line {n})",
                        shown(&open)
                    ),
                ));
            }
            let indent = line[..line.len() - line.trim_start().len()].to_string();
            let (number, title) = match rest.split_once(": ") {
                Some((number, title)) => (number, title.trim()),
                None => (rest.trim_end_matches(':'), ""),
            };
            let parsed = match number.parse::<Number>() {
                Ok(number) if number.step != step.number => {
                    problems.push(problem(
                        n,
                        format!(
                            "{} {number} is in solutions/{}: an exercise of step {} is \
                             numbered {}.M",
                            kind.as_str(),
                            step.name,
                            step.nn(),
                            step.number
                        ),
                    ));
                    None
                }
                Ok(parsed) if parsed.to_string() != number => {
                    problems.push(problem(
                        n,
                        format!("write the number as {parsed}, not {number}"),
                    ));
                    None
                }
                Ok(parsed) if parsed.index == 0 => {
                    problems.push(problem(
                        n,
                        format!(
                            "{number}: exercises are numbered from {}.1",
                            parsed.step
                        ),
                    ));
                    None
                }
                Ok(parsed) => Some(parsed),
                Err(message) => {
                    problems.push(problem(
                        n,
                        format!(
                            "{message}: a marker reads `// {} N.M: Title`",
                            kind.as_str().to_uppercase()
                        ),
                    ));
                    None
                }
            };
            if title.is_empty() && parsed.is_some() {
                problems.push(problem(
                    n,
                    format!(
                        "{} {number} has no title: `// {} {number}: What must become true.`",
                        kind.as_str(),
                        kind.as_str().to_uppercase()
                    ),
                ));
            }
            draft = Some(Draft {
                number: parsed,
                kind,
                title: title.to_string(),
                line: n,
                title_lines: 1,
                indent,
                in_comment: true,
                continues: false,
                keys: BTreeMap::new(),
            });
            continue;
        }

        if let Some(open) = draft.as_mut() {
            // A long title goes on right below, at the marker's indentation plus four spaces.
            let continuation = format!("{}//     ", open.indent);
            if open.title_lines == n - open.line
                && open.keys.is_empty()
                && let Some(more) = line.strip_prefix(&continuation)
                && !more.starts_with(' ')
                && !more.is_empty()
            {
                open.title.push(' ');
                open.title.push_str(more.trim_end());
                open.title_lines += 1;
                continue;
            }
            if region_marker(line) == Some("// BEGIN SOLUTION") {
                let open = draft.take().expect("a draft");
                if open.continues {
                    problems.push(problem(n, format!(
                            "{}: the `Proved by:` list ends with a comma, but the comment \
                             ends there",
                            shown(&open)
                        )));
                }
                region = Some((open, n, None));
                continue;
            }
            if open.in_comment && comment(line).is_none() {
                open.in_comment = false;
            }
            if open.in_comment {
                if open.continues {
                    if let Some((k, _)) = key(line) {
                        problems.push(problem(n, format!(
                            "the `Proved by:` list above ends with a comma, so this line \
                             should go on with it, not start `{k}`"
                        )));
                        open.continues = false;
                        if let Some(entry) = open.keys.get_mut(PROVED_BY) {
                            entry.1 = entry.1.trim_end_matches(',').to_string();
                        }
                    } else {
                        let more = comment(line).unwrap_or("").trim();
                        let entry =
                            open.keys.get_mut(PROVED_BY).expect("a Proved by list");
                        entry.1.push(' ');
                        entry.1.push_str(more);
                        open.continues = more.ends_with(',');
                        continue;
                    }
                }
                if let Some((k, value)) = key(line) {
                    if let Some((first, _)) = open.keys.get(k) {
                        problems.push(problem(
                            n,
                            format!(
                                "a second `{k}` line (the first is at line {first})"
                            ),
                        ));
                    } else {
                        open.keys.insert(k, (n, value.to_string()));
                        open.continues = k == PROVED_BY && value.ends_with(',');
                    }
                }
                continue;
            }
            if let Some((k, _)) = key(line) {
                problems.push(problem(
                    n,
                    format!(
                        "`{k}` after the comment of {} ended (line {}): its keys belong in \
                         that comment",
                        shown(open),
                        n - 1
                    ),
                ));
            }
            if let Some(m) = region_marker(line) {
                problems.push(problem(
                    n,
                    format!("{m} before the BEGIN SOLUTION of {}", shown(open)),
                ));
            }
            continue;
        }

        // Outside every exercise.
        if let Some(m) = region_marker(line) {
            problems.push(problem(
                n,
                format!("{m} without an EXERCISE or DIAGNOSE comment above it"),
            ));
        } else if let Some((k, _)) = key(line) {
            problems.push(problem(
                n,
                format!(
                    "`{k}` outside an exercise's comment (it belongs right under an \
                     EXERCISE or DIAGNOSE line)"
                ),
            ));
        }
    }
    if let Some((open, begin, _)) = region {
        problems.push(problem(
            begin,
            format!(
                "{}: BEGIN SOLUTION never ends (no END SOLUTION)",
                shown(&open)
            ),
        ));
    }
    if let Some(open) = draft {
        problems.push(problem(
            open.line,
            format!(
                "{} has no region: `// BEGIN SOLUTION` ... `// END SOLUTION` must follow \
                 its comment",
                shown(&open)
            ),
        ));
    }
    if let Some((end, number)) = closing {
        problems.push(problem(end, format!(
                "exercise {number}: END SOLUTION must be followed by the closing brace of \
                 the function body"
            )));
    }
    (exercises, problems)
}

/// "exercise 4.2" or "diagnose 4.4", for messages.
fn shown(draft: &Draft) -> String {
    match draft.number {
        Some(number) => format!("{} {number}", draft.kind.as_str()),
        None => format!("the {} at line {}", draft.kind.as_str(), draft.line),
    }
}

/// Turns a draft whose region is complete into an exercise, reading its keys.
fn finish(
    draft: Draft,
    begin: usize,
    starter: Option<usize>,
    end: usize,
    file: &Path,
    step: &Step,
    problems: &mut Vec<Problem>,
) -> Option<Exercise> {
    let before = problems.len();
    let problem = |line: usize, message: String| Problem {
        file: file.to_path_buf(),
        line,
        message,
    };
    let name = shown(&draft);
    let required = |k: &str, example: &str, problems: &mut Vec<Problem>| {
        if !draft.keys.contains_key(k) {
            problems.push(problem(
                draft.line,
                format!(
                    "{name} has no `{k}` line in its comment (`// {k} {example}`)"
                ),
            ));
        }
    };
    required(PROVED_BY, "test_a, test_b", problems);
    required(PATH, "core, 10 min", problems);
    required(BOOK, "\"Step NN > Heading\"", problems);

    let mut proved_by = Vec::new();
    if let Some((line, value)) = draft.keys.get(PROVED_BY) {
        for name in value.split(',').map(str::trim) {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            if valid {
                proved_by.push(name.to_string());
            } else if name.is_empty() {
                problems.push(problem(
                    *line,
                    format!(
                        "`Proved by:` has an empty name (`{value}`): name the tests, \
                         separated by commas"
                    ),
                ));
            } else {
                problems.push(problem(*line, format!(
                        "`{name}` in `Proved by:` is not a test name or a path of one \
                         (letters, digits, `_`, `::`)"
                    )));
            }
        }
    }

    let mut needs = Vec::new();
    let mut sometimes = Vec::new();
    if let Some((line, value)) = draft.keys.get(NEEDS) {
        // `4.1, 4.2`, or `4.1, 4.2; sometimes 4.5`, or `sometimes 4.5`.
        let (always, racy) = match value.split_once(';') {
            Some((always, racy)) => (always.trim(), Some(racy.trim())),
            None if value.starts_with("sometimes ") => ("", Some(value.as_str())),
            None => (value.as_str(), None),
        };
        let racy = match racy.map(|r| r.strip_prefix("sometimes ")) {
            Some(Some(list)) => list.trim(),
            Some(None) => {
                problems.push(problem(
                    *line,
                    format!(
                        "`Needs: {value}`: after `;` comes `sometimes` and the exercises a \
                         check needs only when a race goes one way"
                    ),
                ));
                ""
            }
            None => "",
        };
        if value.is_empty() {
            problems.push(problem(
                *line,
                "`Needs:` lists no exercise: leave the line out when the check needs no \
                 other exercise"
                    .into(),
            ));
        }
        for (list, into) in [(always, &mut needs), (racy, &mut sometimes)] {
            for item in list.split(',').map(str::trim).filter(|_| !list.is_empty()) {
                match item.parse::<Number>() {
                    Ok(number) if Some(number) == draft.number => {
                        problems.push(problem(*line, format!("{name} needs itself")));
                    }
                    Ok(number) if number.step != step.number => problems.push(problem(
                        *line,
                        format!(
                            "`Needs: {number}`: only exercises of step {} can be needed (each \
                             step builds on the reference solutions of the steps before it)",
                            step.nn()
                        ),
                    )),
                    Ok(number) if into.contains(&number) => {
                        problems.push(problem(*line, format!("`Needs:` lists {number} twice")));
                    }
                    Ok(number) => into.push(number),
                    Err(message) => {
                        problems.push(problem(*line, format!("`Needs:` {message}")))
                    }
                }
            }
        }
        if let Some(both) = needs.iter().find(|n| sometimes.contains(n)) {
            problems.push(problem(
                *line,
                format!("`Needs:` lists {both} twice (always and sometimes)"),
            ));
        }
        needs.sort();
        sometimes.sort();
    }

    let mut track = Track::Stretch;
    let mut minutes = 0;
    if let Some((line, value)) = draft.keys.get(PATH) {
        let parsed = value.split_once(',').and_then(|(t, m)| {
            let track = match t.trim() {
                "core" => Track::Core,
                "stretch" => Track::Stretch,
                _ => return None,
            };
            let minutes =
                m.trim().strip_suffix(" min")?.trim().parse::<u32>().ok()?;
            Some((track, minutes))
        });
        match parsed {
            Some((_, 0)) => problems.push(problem(*line, "`Path:` gives 0 minutes".into())),
            Some((t, m)) => (track, minutes) = (t, m),
            None => problems.push(problem(
                *line,
                format!(
                    "`Path: {value}` should read `Path: core, N min` or `Path: stretch, N min`"
                ),
            )),
        }
    }

    let mut book = BookRef {
        step: String::new(),
        section: String::new(),
    };
    if let Some((line, value)) = draft.keys.get(BOOK) {
        let parsed = value
            .strip_prefix("\"Step ")
            .and_then(|v| v.strip_suffix('"'))
            .and_then(|v| v.split_once(" > "))
            .filter(|(nn, section)| {
                nn.len() == 2
                    && nn.bytes().all(|b| b.is_ascii_digit())
                    && !section.trim().is_empty()
            });
        match parsed {
            Some((nn, section)) => {
                book = BookRef {
                    step: nn.to_string(),
                    section: section.to_string(),
                }
            }
            None => problems.push(problem(
                *line,
                format!("`Book: {value}` should read `Book: \"Step NN > Heading\"`"),
            )),
        }
    }

    let number = draft.number?;
    (problems.len() == before).then(|| Exercise {
        number,
        kind: draft.kind,
        title: draft.title,
        step: step.name.clone(),
        file: file.to_path_buf(),
        line: draft.line,
        title_lines: draft.title_lines,
        indent: draft.indent,
        proved_by,
        needs,
        sometimes,
        track,
        minutes,
        book,
        region: Region {
            begin,
            starter,
            end,
        },
    })
}

/// The rules between exercises: numbers are unique, what `Needs:` names exists, `Book:` names
/// a step, and a core exercise needs only core exercises (the core path must be passable).
fn cross_check(steps: &[Step], exercises: &[Exercise]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<Number, &Exercise> = BTreeMap::new();
    for exercise in exercises {
        if let Some(first) = seen.get(&exercise.number) {
            problems.push(Problem {
                file: exercise.file.clone(),
                line: exercise.line,
                message: format!(
                    "a second exercise {} (the first is at {}:{})",
                    exercise.number,
                    first.file.display(),
                    first.line
                ),
            });
        } else {
            seen.insert(exercise.number, exercise);
        }
    }
    let step_numbers: BTreeSet<String> =
        steps.iter().map(|s| s.nn().to_string()).collect();
    for exercise in exercises {
        let at = |message: String| Problem {
            file: exercise.file.clone(),
            line: exercise.line,
            message,
        };
        for need in exercise.needs.iter().chain(&exercise.sometimes) {
            match seen.get(need) {
                None => problems.push(at(format!(
                    "{} {} needs {need}, which does not exist",
                    exercise.kind.as_str(),
                    exercise.number
                ))),
                Some(needed)
                    if exercise.track == Track::Core && needed.track == Track::Stretch =>
                {
                    problems.push(at(format!(
                        "{} {} is core, but needs {need}, which is stretch: a learner on the \
                         core path could not pass its check (make {need} core, or {} \
                         stretch)",
                        exercise.kind.as_str(),
                        exercise.number,
                        exercise.number
                    )))
                }
                Some(_) => {}
            }
        }
        if !step_numbers.contains(&exercise.book.step) {
            problems.push(at(format!(
                "{} {} points to the book's \"Step {}\", but there is no such step",
                exercise.kind.as_str(),
                exercise.number,
                exercise.book.step
            )));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> Step {
        Step {
            number: 4,
            name: "04-mirror".into(),
        }
    }

    fn parse(text: &str) -> (Vec<Exercise>, Vec<String>) {
        let (found, problems) = parse_file(Path::new("x.rs"), &step(), text);
        (found, problems.iter().map(|p| p.to_string()).collect())
    }

    const GOOD: &str = "\
fn a() -> u32 {
    // EXERCISE 4.2: Build the companion that `source` should have,
    //     and nothing else.
    // What must become true.
    // Proved by: test_a, test_b,
    //   mod_x::test_c
    // Needs: 4.1, 4.3
    // Path: core, 15 min
    // Book: \"Step 04 > Ownership\"
    // BEGIN SOLUTION
    1
    // END SOLUTION
}
";

    #[test]
    fn an_exercise_is_read_whole() {
        let (found, problems) = parse(GOOD);
        assert_eq!(problems, Vec::<String>::new());
        let e = &found[0];
        assert_eq!(e.number, Number { step: 4, index: 2 });
        assert_eq!(e.kind, Kind::Exercise);
        assert_eq!(
            e.title,
            "Build the companion that `source` should have, and nothing else."
        );
        assert_eq!((e.line, e.title_lines), (2, 2));
        assert_eq!(e.proved_by, ["test_a", "test_b", "mod_x::test_c"]);
        assert_eq!(
            e.needs.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            ["4.1", "4.3"]
        );
        assert_eq!((e.track, e.minutes), (Track::Core, 15));
        assert_eq!(
            e.book,
            BookRef {
                step: "04".into(),
                section: "Ownership".into()
            }
        );
        assert_eq!(
            e.region,
            Region {
                begin: 10,
                starter: None,
                end: 12
            }
        );
    }

    #[test]
    fn a_comment_above_the_function_may_leave_code_before_the_region() {
        let text = "// EXERCISE 4.1: T.\n// Proved by: t\n// Path: stretch, 5 min\n\
                    // Book: \"Step 04 > X\"\npub fn f() -> u32 {\n    // BEGIN SOLUTION\n    1\n    \
                    // END SOLUTION\n}\n";
        let (found, problems) = parse(text);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(found[0].region.begin, 6);
    }

    #[test]
    fn a_diagnose_region_has_its_commented_starter() {
        let text = "    // DIAGNOSE 4.4: T.\n    // Proved by: t\n    // Path: stretch, 5 min\n    \
                    // Book: \"Step 04 > X\"\n    // BEGIN SOLUTION\n    let a = 1;\n    \
                    // STARTER\n    // let a = 2;\n    //\n    // END SOLUTION\n    a\n";
        let (found, problems) = parse(text);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(found[0].region.starter, Some(7));
        let (_, problems) =
            parse(&text.replace("    // let a = 2;\n", "    let a = 2;\n"));
        assert_eq!(
            problems,
            [
                "x.rs:8: after // STARTER every line is commented out with \"// \" (an empty line as \"//\"): the starter gets the lines back without it"
            ]
        );
    }

    /// Each mistake is reported where it is, with what is wrong.
    #[test]
    fn mistakes_are_reported_with_file_and_line() {
        let cases: [(&str, &str, &str); 14] = [
            (
                "// Needs: 4.1, 4.3",
                "// Needs: 4.1, 3.3",
                "x.rs:7: `Needs: 3.3`: only exercises of step 04 can be needed (each step builds on the reference solutions of the steps before it)",
            ),
            (
                "// Needs: 4.1, 4.3",
                "// Needs: 4.2",
                "x.rs:7: exercise 4.2 needs itself",
            ),
            (
                "// Needs: 4.1, 4.3",
                "// Needs: four",
                "x.rs:7: `Needs:` `four` is not an exercise number (N.M, like 4.3)",
            ),
            (
                "// Needs: 4.1, 4.3",
                "// Needs:",
                "x.rs:7: `Needs:` lists no exercise: leave the line out when the check needs no other exercise",
            ),
            (
                "// Path: core, 15 min",
                "// Path: core, 15 minutes",
                "x.rs:8: `Path: core, 15 minutes` should read `Path: core, N min` or `Path: stretch, N min`",
            ),
            (
                "// Path: core, 15 min",
                "// Path: main, 15 min",
                "x.rs:8: `Path: main, 15 min` should read `Path: core, N min` or `Path: stretch, N min`",
            ),
            (
                "    // Path: core, 15 min\n",
                "",
                "x.rs:2: exercise 4.2 has no `Path:` line in its comment (`// Path: core, 10 min`)",
            ),
            (
                "// Book: \"Step 04 > Ownership\"",
                "// Book: Step 04 > Ownership",
                "x.rs:9: `Book: Step 04 > Ownership` should read `Book: \"Step NN > Heading\"`",
            ),
            (
                "EXERCISE 4.2:",
                "EXERCISE 5.2:",
                "x.rs:2: exercise 5.2 is in solutions/04-mirror: an exercise of step 04 is numbered 4.M",
            ),
            (
                "EXERCISE 4.2:",
                "EXERCISE 4.2",
                "x.rs:2: `4.2 Build the companion that `source` should have,` is not an exercise number (N.M, like 4.3)",
            ),
            (
                "//   mod_x::test_c\n",
                "",
                "x.rs:6: the `Proved by:` list above ends with a comma, so this line should go on with it, not start `Needs:`",
            ),
            (
                "test_b,",
                "test b,",
                "x.rs:5: `test b` in `Proved by:` is not a test name or a path of one (letters, digits, `_`, `::`)",
            ),
            (
                "    // END SOLUTION\n}",
                "    // END SOLUTION\n    2\n}",
                "x.rs:13: exercise 4.2: END SOLUTION (line 12) must be followed by the closing brace of the function body (the starter puts todo!() in place of the whole body)",
            ),
            (
                "    // Path: core, 15 min\n",
                "    // Path: core, 15 min\n    // Path: core, 5 min\n",
                "x.rs:9: a second `Path:` line (the first is at line 8)",
            ),
        ];
        for (from, to, wanted) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let (_, problems) = parse(&text);
            assert!(
                problems.iter().any(|p| p.starts_with(wanted)),
                "{to}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_need_that_shows_only_in_a_race_is_read_apart() {
        let (found, problems) = parse(
            &GOOD.replace("// Needs: 4.1, 4.3", "// Needs: 4.1; sometimes 4.3, 4.5"),
        );
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(found[0].needs, [Number { step: 4, index: 1 }]);
        assert_eq!(
            found[0].sometimes,
            [Number { step: 4, index: 3 }, Number { step: 4, index: 5 }]
        );
        let (found, _) =
            parse(&GOOD.replace("// Needs: 4.1, 4.3", "// Needs: sometimes 4.5"));
        assert_eq!((found[0].needs.len(), found[0].sometimes.len()), (0, 1));
        let (_, problems) =
            parse(&GOOD.replace("// Needs: 4.1, 4.3", "// Needs: 4.1; often 4.5"));
        assert_eq!(
            problems,
            [
                "x.rs:7: `Needs: 4.1; often 4.5`: after `;` comes `sometimes` and the exercises a check needs only when a race goes one way"
            ]
        );
        let (_, problems) = parse(
            &GOOD.replace("// Needs: 4.1, 4.3", "// Needs: 4.1; sometimes 4.1"),
        );
        assert_eq!(
            problems,
            ["x.rs:7: `Needs:` lists 4.1 twice (always and sometimes)"]
        );
    }

    #[test]
    fn markers_out_of_place_are_reported() {
        let (_, problems) =
            parse("// BEGIN SOLUTION\n// END SOLUTION\n// Proved by: x\n");
        assert_eq!(
            problems,
            [
                "x.rs:1: // BEGIN SOLUTION without an EXERCISE or DIAGNOSE comment above it",
                "x.rs:2: // END SOLUTION without an EXERCISE or DIAGNOSE comment above it",
                "x.rs:3: `Proved by:` outside an exercise's comment (it belongs right under an EXERCISE or DIAGNOSE line)"
            ]
        );
        let (_, problems) = parse(&GOOD.replace("    // END SOLUTION\n", ""));
        assert_eq!(
            problems,
            ["x.rs:10: exercise 4.2: BEGIN SOLUTION never ends (no END SOLUTION)"]
        );
        let (_, problems) = parse(&format!(
            "{}{}",
            GOOD.replace("    // BEGIN SOLUTION\n    1\n    // END SOLUTION\n", ""),
            GOOD
        ));
        assert_eq!(
            problems,
            [
                "x.rs:2: exercise 4.2 has no region: `// BEGIN SOLUTION` must come before the next exercise (line 12)"
            ]
        );
        let (_, problems) =
            parse(&GOOD.replace("    1\n", "    // STARTER\n    // 2\n"));
        assert_eq!(
            problems,
            [
                "x.rs:11: STARTER belongs in a DIAGNOSE region: exercise 4.2 starts from todo!()"
            ]
        );
    }

    #[test]
    fn numbers_parse_as_learners_type_them() {
        assert_eq!("04.3".parse::<Number>(), Ok(Number { step: 4, index: 3 }));
        assert_eq!(
            "4.3".parse::<Number>().map(|n| n.to_string()),
            Ok("4.3".into())
        );
        assert!("4".parse::<Number>().is_err());
        assert!("4.3.1".parse::<Number>().is_err());
        assert!("4.x".parse::<Number>().is_err());
    }

    #[test]
    fn a_core_exercise_that_needs_a_stretch_one_is_refused() {
        let (mut found, problems) = parse(GOOD);
        assert!(problems.is_empty());
        let mut needed = found[0].clone();
        needed.number = Number { step: 4, index: 1 };
        needed.track = Track::Stretch;
        needed.needs.clear();
        found[0].needs = vec![needed.number];
        found.push(needed);
        let problems: Vec<String> = cross_check(&[step()], &found)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            problems,
            [
                "x.rs:2: exercise 4.2 is core, but needs 4.1, which is stretch: a learner on the core path could not pass its check (make 4.1 core, or 4.2 stretch)"
            ]
        );
    }
}
