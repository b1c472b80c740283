//! The transcripts, and what the prose says about them, checked without a cluster.
//!
//! A transcript (`book/src/transcripts/*.txt`) is exactly what a command printed:
//! `scripts/capture.sh` writes it and records its SHA-256 in `transcripts/SHA256SUMS`, and
//! nothing else may change it. The check transcripts are also compared with a fresh run by
//! `scripts/test.sh` (it needs a cluster). What this file adds, with no cluster:
//! - every transcript's sum is the one capture.sh recorded (a hand edit fails);
//! - every transcript is shown in a ```` ```text,transcript ```` block of its own, the blocks the
//!   page wraps visibly (`book/assets/transcripts.css`), and nothing else is;
//! - every check transcript lists exactly the tests its package has, and its summary line adds
//!   up; every `panicked at` a transcript shows points at a line of the workshop's code that can
//!   panic so (a `todo!()` of the exercise its message names);
//! - the counts the prose gives are those of the transcripts (see [`claims_in`] for the forms
//!   they take), and step 05's table of lines of code is the one its transcript, recomputed
//!   here, shows;
//! - what a step chapter quotes in `code` exists: in the workshop's code, manifests, scripts
//!   or transcripts (a log field the program no longer prints, a test since renamed), unless it
//!   is a command, Rust, or listed in [`QUOTED_ELSEWHERE`] with its reason;
//! - every kubectl command the book gives works in the learner's namespace (`$NS`; `book-demo`
//!   in the transcripts), or is one of the commands that concern the whole cluster
//!   ([`cluster_wide`]), as the introduction promises.

use super::*;
use sha2::{Digest, Sha256};

/// The file that holds each transcript's SHA-256, as `sha256sum` writes it.
const SUMS: &str = "transcripts/SHA256SUMS";

/// How a transcript is captured again (for the messages).
fn recapture(file: &str) -> String {
    let nn = file
        .get(..2)
        .filter(|nn| nn.chars().all(|c| c.is_ascii_digit()));
    match (nn, file) {
        (_, "08-production-deploy.txt") => "scripts/capture.sh deploy".into(),
        (_, "faults-summary.txt") => "scripts/capture.sh faults".into(),
        (_, "bench-taskrun-real.txt") => "scripts/capture.sh bench-taskrun".into(),
        (_, f) if f.starts_with("bench-") => "scripts/capture.sh bench".into(),
        (_, f) if f.starts_with("setup-") => "scripts/capture.sh setup".into(),
        (Some(nn), f) if f.contains("-check") => {
            format!("scripts/capture.sh checks {nn}")
        }
        (Some(nn), _) => format!("scripts/capture.sh {nn}"),
        _ => "scripts/capture.sh".into(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn every_transcript_is_exactly_what_capture_wrote() {
    let book = Book::load();
    let mut problems = Vec::new();
    let sums = fs::read_to_string(book.src.join(SUMS)).unwrap_or_default();
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in sums.lines().enumerate() {
        match line.split_once("  ") {
            Some((sum, file)) if sum.len() == 64 => {
                recorded.insert(file.to_string(), sum.to_string());
            }
            _ => problems.push(format!(
                "book/src/{SUMS}:{}: not a line of `sha256sum` (`<sum>  <file>`)",
                i + 1
            )),
        }
    }
    let files: Vec<String> = book
        .files_in("transcripts", "txt")
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(str::to_string))
        .collect();
    for file in &files {
        let bytes =
            fs::read(book.src.join("transcripts").join(file)).unwrap_or_default();
        let sum = sha256_hex(&bytes);
        match recorded.get(file) {
            None => problems.push(format!(
                "book/src/transcripts/{file} was not written by scripts/capture.sh (it has no \
                 sum in book/src/{SUMS}): capture it with `{}`",
                recapture(file)
            )),
            Some(expected) if *expected != sum => problems.push(format!(
                "book/src/transcripts/{file} is not what scripts/capture.sh wrote (its SHA-256 \
                 is {}..., book/src/{SUMS} says {}...): a transcript shows exactly what was \
                 printed, so it is never edited; capture it again with `{}`",
                &sum[..12],
                &expected[..12],
                recapture(file)
            )),
            Some(_) => {}
        }
    }
    for file in recorded.keys() {
        if !files.contains(file) {
            problems.push(format!(
                "book/src/{SUMS} lists {file}, which is not in book/src/transcripts/: remove \
                 its line"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with the transcripts' sums:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// The info string of the blocks that show transcripts: mdBook renders it as
/// `<code class="language-text transcript">`, which the page's transcript style selects.
const TRANSCRIPT_FENCE: &str = "```text,transcript";

#[test]
fn transcripts_are_shown_in_blocks_the_page_wraps_and_nothing_else_is() {
    let book = Book::load();
    let mut problems = Vec::new();
    let toml =
        fs::read_to_string(book.root.join("book/book.toml")).unwrap_or_default();
    for asset in ["assets/transcripts.css", "assets/transcripts.js"] {
        if !toml.contains(&format!("\"{asset}\"")) {
            problems.push(format!(
                "book/book.toml: [output.html] must load {asset} (additional-css / \
                 additional-js): it is what wraps a transcript's long lines"
            ));
        }
        if !book.root.join("book").join(asset).is_file() {
            problems.push(format!("book/{asset} does not exist"));
        }
    }
    let css = fs::read_to_string(book.root.join("book/assets/transcripts.css"))
        .unwrap_or_default();
    let selectors = Regex::new(r"(?m)^([^/*\s@:][^{]*)\{").expect("a valid regex");
    for cap in selectors.captures_iter(&css) {
        for selector in cap[1].split(',') {
            let selector = selector.trim();
            if !selector.is_empty()
                && selector.contains("code")
                && !selector.contains("code.transcript")
            {
                problems.push(format!(
                    "book/assets/transcripts.css: `{selector}` styles code that is not a \
                     transcript; Rust code and YAML keep mdBook's layout"
                ));
            }
        }
    }
    let include =
        Regex::new(r"\{\{#include [^}]*transcripts/[^}]*\}\}").expect("a regex");
    let mut files: Vec<PathBuf> = book.chapters.clone();
    files.extend(book.files_in("hints", "md"));
    files.extend(book.files_in("answers", "md"));
    for file in files {
        let text = fs::read_to_string(book.src.join(&file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim();
            let fence = trimmed == TRANSCRIPT_FENCE;
            let includes = include.is_match(trimmed);
            let before = i.checked_sub(1).map(|j| lines[j].trim());
            let after = lines.get(i + 1).map(|l| l.trim());
            if includes
                && !(include.find(trimmed).is_some_and(|m| m.as_str() == trimmed)
                    && before == Some(TRANSCRIPT_FENCE)
                    && after == Some("```"))
            {
                problems.push(format!(
                    "book/src/{}:{}: a transcript is included alone in a block of its own, \
                     fenced `{TRANSCRIPT_FENCE}` ... ```",
                    file.display(),
                    i + 1
                ));
            }
            if fence && !after.is_some_and(|l| include.is_match(l)) {
                problems.push(format!(
                    "book/src/{}:{}: a `{TRANSCRIPT_FENCE}` block holds a transcript's \
                     include, nothing else (the page wraps it as printed output)",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with how transcripts are shown:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// What `scripts/check.sh` said about one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    NotRun,
}

/// A transcript of `scripts/check.sh`: the tests it lists, in order, and its summary line's
/// counts (passed, failed, not run).
#[derive(Debug, Default)]
struct CheckRun {
    tests: Vec<(String, Status)>,
    summary: Option<(usize, usize, usize)>,
}

impl CheckRun {
    fn parse(text: &str) -> Self {
        let summary =
            Regex::new(r"^(?:step|exercise) \S+ \(\S+\): (\d+) passed, (\d+) failed, (\d+) not run$")
                .expect("a valid regex");
        let mut run = CheckRun::default();
        let mut not_run = false;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("  pass  ") {
                run.tests.push((name.to_string(), Status::Pass));
            } else if let Some(name) = line.strip_prefix("  FAIL  ") {
                run.tests.push((name.to_string(), Status::Fail));
            } else if line.starts_with("  not run (") {
                not_run = true;
            } else if not_run && line.starts_with("    ") && !line.trim().is_empty() {
                run.tests.push((line.trim().to_string(), Status::NotRun));
            } else if let Some(cap) = summary.captures(line) {
                let n = |i: usize| cap[i].parse().unwrap_or(usize::MAX);
                run.summary = Some((n(1), n(2), n(3)));
                not_run = false;
            } else if line.trim().is_empty() {
                not_run = false;
            }
        }
        run
    }

    fn count(&self, status: Status) -> usize {
        self.tests.iter().filter(|(_, s)| *s == status).count()
    }

    /// The tests a filter list selects, as `cargo test` does: a name that contains any of them.
    fn matching<'a>(
        &'a self,
        filters: &'a [String],
    ) -> impl Iterator<Item = &'a (String, Status)> {
        self.tests.iter().filter(move |(name, _)| {
            filters.iter().any(|f| name.contains(f.as_str()))
        })
    }
}

/// A doc test's name (`src/lib.rs - (line 28)`): the source does not list those by name.
fn is_doc_test(name: &str) -> bool {
    name.contains(" - (line ")
}

/// The three check transcripts of a step (scripts/lib/transcripts.sh), with the package whose
/// tests each runs: the starter's for the untouched starter and the diagnose-left code, the
/// solution's for the solution.
fn check_transcripts(step: &str) -> [(String, &'static str); 3] {
    [
        (format!("{step}-check-starter.txt"), "steps"),
        (format!("{step}-check-diagnose.txt"), "steps"),
        (format!("{step}-check.txt"), "solutions"),
    ]
}

#[test]
fn check_transcripts_list_every_test_of_their_step_and_add_up() {
    let book = Book::load();
    let suites = test_suites(&book.root.join("solutions/testkit/src"));
    let mut problems = Vec::new();
    for step in book.steps() {
        for (file, tree) in check_transcripts(&step) {
            let Ok(text) =
                fs::read_to_string(book.src.join("transcripts").join(&file))
            else {
                problems.push(format!(
                    "book/src/transcripts/{file} does not exist: capture it with `{}`",
                    recapture(&file)
                ));
                continue;
            };
            let run = CheckRun::parse(&text);
            let listed: BTreeSet<&str> = run
                .tests
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| !is_doc_test(name))
                .collect();
            let tests = package_tests(&book.root.join(tree).join(&step), &suites);
            let missing: Vec<&String> = tests
                .iter()
                .filter(|t| !listed.contains(t.as_str()))
                .collect();
            let unknown: Vec<&&str> = listed
                .iter()
                .filter(|name| !tests.contains(**name))
                .collect();
            if !missing.is_empty() || !unknown.is_empty() {
                problems.push(format!(
                    "book/src/transcripts/{file} lists {} tests, {tree}/{step} has {}: \
                     missing {missing:?}, no longer there {unknown:?}; capture it again with \
                     `{}`",
                    listed.len(),
                    tests.len(),
                    recapture(&file)
                ));
            }
            let counted = (
                run.count(Status::Pass),
                run.count(Status::Fail),
                run.count(Status::NotRun),
            );
            if run.summary != Some(counted) {
                problems.push(format!(
                    "book/src/transcripts/{file}: its summary line says {:?} (passed, failed, \
                     not run), its lines {counted:?}",
                    run.summary
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with the check transcripts:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

#[test]
fn every_panic_a_transcript_shows_points_at_code_that_panics_so() {
    let book = Book::load();
    let location =
        Regex::new(r"panicked at ((?:steps|solutions)/[^:\s]+\.rs):(\d+):(\d+):?$")
            .expect("a valid regex");
    let exercise = Regex::new(r"^not yet implemented: Exercise ([0-9]+\.[0-9]+)")
        .expect("a valid regex");
    let mut problems = Vec::new();
    for file in book.files_in("transcripts", "txt") {
        let text = fs::read_to_string(book.src.join(&file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(cap) = location.captures(line.trim()) else {
                continue;
            };
            let (source, number) = (&cap[1], cap[2].parse::<usize>().unwrap_or(0));
            let at = format!("book/src/{}:{}", file.display(), i + 1);
            let Ok(code) = fs::read_to_string(book.root.join(source)) else {
                problems.push(format!(
                    "{at}: panicked at {source}, which does not exist"
                ));
                continue;
            };
            let code: Vec<&str> = code.lines().collect();
            let Some(panicking) = number.checked_sub(1).and_then(|n| code.get(n))
            else {
                problems.push(format!(
                    "{at}: panicked at {source}:{number}, which has {} lines",
                    code.len()
                ));
                continue;
            };
            // The message is on the next line that says something.
            let message = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .unwrap_or("");
            if let Some(ex) = exercise.captures(message) {
                // todo!( and the message it holds, which may continue on the next lines.
                let todo: String =
                    code[number - 1..code.len().min(number + 3)].join(" ");
                if !panicking.contains("todo!(")
                    || !todo.contains(&format!("\"Exercise {}:", &ex[1]))
                {
                    problems.push(format!(
                        "{at}: the todo!() of exercise {} is not at {source}:{number} (that \
                         line is `{}`): the transcript is older than the code; capture it \
                         again with `{}`",
                        &ex[1],
                        panicking.trim(),
                        recapture(&file.file_name().unwrap_or_default().to_string_lossy())
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} transcript(s) show panics the code no longer has:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// A count as the prose writes it: a number, or the word for one.
fn count(word: &str) -> Option<usize> {
    const WORDS: [&str; 21] = [
        "no",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    let word = word.to_lowercase();
    word.parse()
        .ok()
        .or_else(|| WORDS.iter().position(|w| *w == word))
}

/// Which tests a kind word selects: unit tests are named by their module path
/// (`queue::tests::x`), end-to-end tests (a file of `tests/`) by their name alone.
fn of_kind(name: &str, kind: Option<&str>) -> bool {
    match kind.map(str::trim) {
        Some("unit") => name.contains("::"),
        Some("end-to-end") => !name.contains("::") && !is_doc_test(name),
        _ => true,
    }
}

/// One count the prose gives, found by [`claims_in`].
#[derive(Debug, PartialEq)]
struct Claim {
    /// The words that say it, as written (whitespace made single spaces).
    text: String,
    /// The number they give.
    said: usize,
    /// The number the transcripts (or the code) give, or why it cannot be found.
    actual: Result<usize, String>,
}

/// The counts a chapter's prose gives, in the forms this test knows, each with what the
/// transcripts say (`step`: the chapter's step, `NN-name`, if it is a step chapter):
/// - "`scripts/check.sh NN` still fails N [unit|end-to-end] tests": the failures in step NN's
///   check with only the diagnose exercise left (`NN-name-check-diagnose.txt`);
/// - "on the starter, `scripts/check.sh N.M` fails N [unit|end-to-end] tests": the failures
///   among exercise N.M's tests in the starter's check (`NN-name-check-starter.txt`);
/// - "`scripts/check.sh N.M` runs N tests": how many tests exercise N.M's `Proved by:`
///   names select in the solution's check (`NN-name-check.txt`);
/// - "the N `prefix` [unit|end-to-end] tests": how many tests of the chapter's step have
///   `prefix` in their name, in the solution's check.
fn claims_in(book: &Book, text: &str, step: Option<&str>) -> Vec<Claim> {
    let prose = Regex::new(r"\s+")
        .expect("a valid regex")
        .replace_all(text, " ");
    let mut claims = Vec::new();
    let step_of = |nn: &str| {
        book.steps().into_iter().find(|s| {
            s.starts_with(&format!("{:02}", nn.parse::<u32>().unwrap_or(0)))
        })
    };
    let transcript = |step: &str, suffix: &str| -> Result<CheckRun, String> {
        let file = format!("{step}-{suffix}.txt");
        fs::read_to_string(book.src.join("transcripts").join(&file))
            .map(|t| CheckRun::parse(&t))
            .map_err(|_| format!("book/src/transcripts/{file} does not exist"))
    };
    let still = Regex::new(
        r"`scripts/check\.sh (\d{2})` still fails (\w+) (unit |end-to-end )?tests?\b",
    )
    .expect("a valid regex");
    for cap in still.captures_iter(&prose) {
        let Some(said) = count(&cap[2]) else { continue };
        let actual = step_of(&cap[1])
            .ok_or_else(|| format!("there is no step {}", &cap[1]))
            .and_then(|s| transcript(&s, "check-diagnose"))
            .map(|run| {
                run.tests
                    .iter()
                    .filter(|(n, s)| {
                        *s == Status::Fail
                            && of_kind(n, cap.get(3).map(|m| m.as_str()))
                    })
                    .count()
            });
        claims.push(Claim {
            text: cap[0].to_string(),
            said,
            actual,
        });
    }
    // The tests an exercise names, as the workshop's model reads them.
    let workshop = Workshop::load(&book.root).ok();
    let exercise_tests = |number: &str| -> Result<(String, Vec<String>), String> {
        let workshop = workshop
            .as_ref()
            .ok_or("the exercises cannot be read (the model's own check says why)")?;
        let exercise = workshop
            .exercises
            .iter()
            .find(|e| e.number.to_string() == number.trim_start_matches('0'))
            .ok_or_else(|| format!("there is no exercise {number}"))?;
        Ok((exercise.step.clone(), exercise.proved_by.clone()))
    };
    let starter = Regex::new(
        r"on the (?:untouched )?starter, `scripts/check\.sh (\d+\.\d+)` fails (\w+) (unit |end-to-end )?tests?\b",
    )
    .expect("a valid regex");
    for cap in starter.captures_iter(&prose) {
        let Some(said) = count(&cap[2]) else { continue };
        let actual = exercise_tests(&cap[1]).and_then(|(step, filters)| {
            let run = transcript(&step, "check-starter")?;
            Ok(run
                .matching(&filters)
                .filter(|(n, s)| {
                    *s == Status::Fail && of_kind(n, cap.get(3).map(|m| m.as_str()))
                })
                .count())
        });
        claims.push(Claim {
            text: cap[0].to_string(),
            said,
            actual,
        });
    }
    let runs = Regex::new(r"`scripts/check\.sh (\d+\.\d+)` runs (\w+) tests?\b")
        .expect("a valid regex");
    for cap in runs.captures_iter(&prose) {
        let Some(said) = count(&cap[2]) else { continue };
        let actual = exercise_tests(&cap[1]).and_then(|(step, filters)| {
            Ok(transcript(&step, "check")?.matching(&filters).count())
        });
        claims.push(Claim {
            text: cap[0].to_string(),
            said,
            actual,
        });
    }
    let prefixed =
        Regex::new(r"\b[Tt]he (\w+) `([a-z0-9_]+)` (unit |end-to-end )?tests\b")
            .expect("a valid regex");
    for cap in prefixed.captures_iter(&prose) {
        let Some(said) = count(&cap[1]) else { continue };
        let actual = step
            .ok_or_else(|| "not in a step chapter".to_string())
            .and_then(|s| transcript(s, "check"))
            .map(|run| {
                run.tests
                    .iter()
                    .filter(|(n, _)| {
                        n.rsplit("::").next().unwrap_or(n).contains(&cap[2])
                            && of_kind(n, cap.get(3).map(|m| m.as_str()))
                    })
                    .count()
            });
        claims.push(Claim {
            text: cap[0].to_string(),
            said,
            actual,
        });
    }
    claims
}

/// The chapters and what they include as prose (hints, answers), with the step of each step
/// chapter.
fn prose_files(book: &Book) -> Vec<(PathBuf, Option<String>)> {
    let mut files: Vec<(PathBuf, Option<String>)> = book
        .chapters
        .iter()
        .map(|chapter| {
            let step = chapter
                .strip_prefix("steps")
                .ok()
                .and_then(|f| f.file_stem())
                .map(|s| s.to_string_lossy().into_owned());
            (chapter.clone(), step)
        })
        .collect();
    for dir in ["hints", "answers"] {
        for file in book.files_in(dir, "md") {
            // hints/N.M/k.md and answers/N.M.md belong to step N.
            let number = file
                .components()
                .nth(1)
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let nn = number.split('.').next().unwrap_or("").to_string();
            let step = book.steps().into_iter().find(|s| {
                s.starts_with(&format!("{:02}", nn.parse::<u32>().unwrap_or(99)))
            });
            files.push((file, step));
        }
    }
    files
}

#[test]
fn the_counts_the_prose_gives_are_the_transcripts() {
    let book = Book::load();
    let mut problems = Vec::new();
    let mut found = 0;
    for (file, step) in prose_files(&book) {
        let text = fs::read_to_string(book.src.join(&file)).unwrap_or_default();
        for claim in claims_in(&book, &text, step.as_deref()) {
            found += 1;
            match claim.actual {
                Ok(actual) if actual == claim.said => {}
                Ok(actual) => problems.push(format!(
                    "book/src/{}: \"{}\", but the transcripts say {actual} (the prose must \
                     follow the code: say {actual}, or, if the transcript is stale, capture it \
                     again)",
                    file.display(),
                    claim.text
                )),
                Err(why) => problems.push(format!(
                    "book/src/{}: \"{}\" cannot be checked: {why}",
                    file.display(),
                    claim.text
                )),
            }
        }
    }
    problems.extend(loc_table_problems(&book));
    assert!(
        problems.is_empty(),
        "{} count(s) in the prose differ from the transcripts ({found} checked):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
    // A check that finds nothing to check proves nothing: the chapters do give counts.
    assert!(
        found >= 5,
        "only {found} counts found in the prose: has their form changed?"
    );
}

/// Step 05's table "What the runtime took over" and the numbers around it, against the
/// transcript of the command that counts the lines (`05-controller-loc.txt`), which is run
/// again here (it only reads the solutions' sources) and must print the same.
fn loc_table_problems(book: &Book) -> Vec<String> {
    let mut problems = Vec::new();
    let file = "transcripts/05-controller-loc.txt";
    let Ok(transcript) = fs::read_to_string(book.src.join(file)) else {
        return vec![format!("book/src/{file} does not exist")];
    };
    let Some(command) = transcript.lines().next().and_then(|l| l.strip_prefix("$ "))
    else {
        return vec![format!("book/src/{file} does not start with its command")];
    };
    // The command continues on the lines of its quoted awk program, up to the output.
    let output_start = transcript
        .lines()
        .position(|l| {
            Regex::new(r"^ *\d+  solutions/")
                .expect("a regex")
                .is_match(l)
        })
        .unwrap_or(1);
    let command: String = std::iter::once(command)
        .chain(transcript.lines().skip(1).take(output_start - 1))
        .collect::<Vec<_>>()
        .join("\n");
    let printed: String = transcript
        .lines()
        .skip(output_start)
        .map(|l| format!("{l}\n"))
        .collect();
    match std::process::Command::new("bash")
        .args(["-c", &command])
        .current_dir(&book.root)
        .output()
    {
        Ok(out) if out.status.success() => {
            let now = String::from_utf8_lossy(&out.stdout);
            if now != printed {
                problems.push(format!(
                    "book/src/{file} is stale: the command now prints\n{now}(capture it again \
                     with `scripts/capture.sh 05`, and update the table and the numbers of \
                     \"What the runtime took over\")"
                ));
            }
        }
        other => problems.push(format!(
            "book/src/{file}: its command did not run: {other:?}"
        )),
    }
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for line in printed.lines() {
        if let Some((n, path)) = line.trim().split_once("  ") {
            lines.insert(path.trim().to_string(), n.trim().parse().unwrap_or(0));
        }
    }
    let n = |path: &str| lines.get(path).copied().unwrap_or(0);
    let informer = n("solutions/02-informer/src/informer.rs");
    let queue = [
        "queue.rs",
        "delaying_queue.rs",
        "rate_limiter.rs",
        "controller.rs",
    ]
    .map(|f| n(&format!("solutions/03-workqueue/src/{f}")));
    let wiring_04 = n("solutions/04-mirror/src/lib.rs");
    let wiring_05 = n("solutions/05-controller/src/lib.rs");
    // Step 05 keeps a backoff per object, which the runtime lacks (step 03's limiter, kept
    // per object and forgotten with its object).
    let backoff_05 = n("solutions/03-workqueue/src/object_backoff.rs");
    let machinery_04 = informer + queue.iter().sum::<usize>() + wiring_04;
    let machinery_05 = wiring_05 + backoff_05;
    // The mirror into another namespace, new in step 05, left out of the comparison.
    let into = n("solutions/05-controller/src/into.rs");
    let mirror = n("solutions/04-mirror/src/desired.rs")
        + n("solutions/04-mirror/src/reconcile.rs");
    let chapter = "steps/05-controller.md";
    let text = fs::read_to_string(book.src.join(chapter)).unwrap_or_default();
    let section = text
        .split("## What the runtime took over")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or("");
    let rows = [
        format!("| {informer} | (runtime) |"),
        format!(
            "| {} + {} + {} + {} | (runtime; one limiter reused) |",
            queue[0], queue[1], queue[2], queue[3]
        ),
        format!("| | {backoff_05} |"),
        format!("| {wiring_04} | {wiring_05} |"),
        format!("| **{machinery_04}** | **{machinery_05}** |"),
        format!("| {mirror} | {mirror} |"),
        format!("| | {into} |"),
    ];
    for row in rows {
        if !section.contains(&row) {
            problems.push(format!(
                "book/src/{chapter}: the table of \"What the runtime took over\" has no cell \
                 `{row}`, which the line counts of book/src/{file} give"
            ));
        }
    }
    // Every other number the section's prose gives is one of those.
    let known = [
        informer,
        wiring_04,
        wiring_05,
        backoff_05,
        machinery_04,
        machinery_05,
        mirror,
        into,
    ];
    let number = Regex::new(r"\b(\d{2,4})\b").expect("a valid regex");
    let prose: String = section
        .lines()
        .filter(|l| {
            !l.starts_with('|') && !l.starts_with("{{#") && !l.starts_with("```")
        })
        .collect::<Vec<_>>()
        .join(" ");
    for cap in number.captures_iter(&prose) {
        let said: usize = cap[1].parse().unwrap_or(0);
        if (10..=9999).contains(&said) && !known.contains(&said) {
            problems.push(format!(
                "book/src/{chapter}: \"What the runtime took over\" says {said}, which is none \
                 of the counts of book/src/{file} ({known:?})"
            ));
        }
    }
    // The instructor guide speaks of the same lines.
    let guide =
        fs::read_to_string(book.src.join("instructor-guide.md")).unwrap_or_default();
    let guide = Regex::new(r"\s+")
        .expect("a regex")
        .replace_all(&guide, " ");
    let lines_of = Regex::new(r"the (\d+) lines").expect("a valid regex");
    for cap in lines_of.captures_iter(&guide) {
        let said: usize = cap[1].parse().unwrap_or(0);
        if said != machinery_04 {
            problems.push(format!(
                "book/src/instructor-guide.md: \"{}\", but step 04's controller machinery is \
                 {machinery_04} lines (book/src/{file})",
                &cap[0]
            ));
        }
    }
    problems
}

/// A chapter's inline `code`, as the rendered page shows it (the hints and answers it includes
/// too): each span with the file and the line it is on. Other includes (code, transcripts) are
/// code blocks, which hold no inline code: they are left out.
fn code_spans(book: &Book, chapter: &Path) -> Vec<(SourceLine, String)> {
    let include =
        Regex::new(r"^\s*\{\{#include ([^}\s]+\.md)\}\}\s*$").expect("a valid regex");
    let other =
        Regex::new(r"\{\{#(rustdoc_)?include [^}]*\}\}").expect("a valid regex");
    let mut lines: Vec<SourceLine> = Vec::new();
    let add = |file: &Path, text: &str, lines: &mut Vec<SourceLine>| {
        // (`lines()` of an empty line is nothing: it must stay, it ends paragraphs and HTML.)
        for (i, line) in text.split('\n').enumerate() {
            lines.push(SourceLine {
                file: file.to_path_buf(),
                number: i + 1,
                text: other.replace_all(line, "").into_owned(),
            });
        }
    };
    let text = fs::read_to_string(book.src.join(chapter)).unwrap_or_default();
    let dir = chapter.parent().unwrap_or(Path::new(""));
    for (i, line) in text.lines().enumerate() {
        if let Some(cap) = include.captures(line) {
            let path = normalize(&dir.join(&cap[1]));
            let nested = fs::read_to_string(book.src.join(&path)).unwrap_or_default();
            add(&Path::new("book/src").join(&path), &nested, &mut lines);
        } else {
            add(&Path::new("book/src").join(chapter), line, &mut lines);
            if let Some(last) = lines.last_mut() {
                last.number = i + 1;
            }
        }
    }
    let mut joined = String::new();
    let mut starts = Vec::new();
    for line in &lines {
        starts.push(joined.len());
        joined.push_str(&line.text);
        joined.push('\n');
    }
    let spaces = Regex::new(r"\s+").expect("a valid regex");
    markdown(&joined)
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Code(code) => {
                let at = starts.partition_point(|&s| s <= range.start) - 1;
                Some((
                    lines[at].clone(),
                    spaces.replace_all(&code, " ").into_owned(),
                ))
            }
            _ => None,
        })
        .collect()
}

/// What a chapter may put in `code` without quoting the workshop: a command to type, Rust (or
/// Go) to read, a flag, a path, an environment variable. Everything else is a quote of
/// something the workshop has or prints: a name, a log field, a message.
fn not_a_quote(span: &str) -> bool {
    const COMMANDS: [&str; 17] = [
        "scripts/",
        "cargo ",
        "kubectl ",
        "curl ",
        "export ",
        "sudo ",
        "docker ",
        "kind ",
        "git ",
        "ldd ",
        "time ",
        "sleep ",
        "cd ",
        "go ",
        "RUST_LOG=",
        "LOG_FORMAT=",
        "$ ",
    ];
    let path = Regex::new(r"^[\w.~$/{}*-]+/[\w.~$/{}*-]*$").expect("a valid regex");
    let file = Regex::new(r"^[\w.-]+\.(rs|toml|yaml|md|sh|txt|json)$")
        .expect("a valid regex");
    let constant = Regex::new(r"^[A-Z][A-Z0-9_]+$").expect("a valid regex");
    COMMANDS.iter().any(|c| span.starts_with(c))
        || ["::", "(", "<", "#["].iter().any(|s| span.contains(s))
        || span.starts_with('.')
        || span.starts_with('-')
        || path.is_match(span)
        || file.is_match(span)
        || constant.is_match(span)
}

/// What step chapters quote that is deliberately not in the workshop's code or transcripts,
/// each with its reason: the chapter, the span, why.
const QUOTED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "steps/03-workqueue.md",
        "key 0 changed to version 129, but no worker started after that",
        "a message of the randomized tests (tests/random.rs), assembled from its parts",
    ),
    (
        "steps/03-workqueue.md",
        "INFO reconcile{key=ns/a}: ...",
        "the shape of a log line the test reads, abridged",
    ),
    (
        "steps/05-controller.md",
        "AddFinalizer",
        "a variant of kube-runtime's finalizer::Error",
    ),
    (
        "steps/05-controller.md",
        "kube-root-ca.crt is not managed, yet carries workshop.io/companion-cleanup",
        "a message of the mirror suite's test, assembled from its parts",
    ),
    (
        "steps/09-webhook.md",
        "ValidatingAdmissionPolicy",
        "a Kubernetes kind, the other way to admission",
    ),
    (
        "steps/09-webhook.md",
        "allowed: true",
        "a field of the AdmissionReview response, as the API server reads it",
    ),
    (
        "steps/09-webhook.md",
        "allowed: false",
        "a field of the AdmissionReview response, as the API server reads it",
    ),
    (
        "steps/09-webhook.md",
        "taskrun-webhook.workshop-system.svc.cluster.local",
        "what the API server answered to a wrong answer of 9.3, on the real node",
    ),
    (
        "steps/09-webhook.md",
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "what the API server answered with two replicas, on the real node (the Break-it)",
    ),
    (
        "steps/02-informer.md",
        "OnAdd",
        "client-go's name, for comparison",
    ),
    (
        "steps/02-informer.md",
        "OnUpdate",
        "client-go's name, for comparison",
    ),
    (
        "steps/02-informer.md",
        "OnDelete",
        "client-go's name, for comparison",
    ),
    (
        "steps/02-informer.md",
        "WaitForCacheSync",
        "client-go's name, for comparison",
    ),
    (
        "steps/03-workqueue.md",
        "try 1 at +0ms: ok",
        "output of a changed program (Run it)",
    ),
    (
        "steps/03-workqueue.md",
        "retry in 0ns",
        "output of a Break-it experiment",
    ),
    (
        "steps/03-workqueue.md",
        "seed 1: key 11 handed to two workers at once",
        "output of a Break-it experiment",
    ),
    (
        "steps/03-workqueue.md",
        "seed 1: key 0 changed to version 129, but no worker started after that",
        "output of a Break-it experiment",
    ),
    ("steps/04-mirror.md", "data: {}", "YAML for the example"),
    (
        "steps/04-mirror.md",
        "red: pink",
        "the edit shown in the transcript, as YAML",
    ),
    (
        "steps/04-mirror.md",
        "{\"a\":\"1\"}",
        "output of a Break-it experiment",
    ),
    (
        "steps/05-controller.md",
        "src-155-synced does not mirror src-155",
        "what the fault suite once printed (book: Testing)",
    ),
    (
        "steps/05-controller.md",
        "unstable-runtime-stream-control",
        "kube-runtime's feature name",
    ),
    (
        "steps/05-controller.md",
        "client_api",
        "a name for the Break-it change",
    ),
    (
        "steps/06-crds.md",
        "status.observedGeneration",
        "a field path, in words",
    ),
    (
        "steps/06-crds.md",
        "metadata.generateName",
        "a field path, in words",
    ),
    (
        "steps/06-crds.md",
        "required: [image, name]",
        "the schema, as YAML",
    ),
    (
        "steps/06-crds.md",
        "x-kubernetes-list-map-keys: [name]",
        "the schema, as YAML",
    ),
    (
        "steps/06-crds.md",
        "time.ParseDuration",
        "Go's name, for comparison",
    ),
    ("steps/06-crds.md", "tekton.dev", "Tekton's API group"),
    (
        "steps/06-crds.md",
        "left: Null, right: \"map\"",
        "output of a Break-it experiment",
    ),
    (
        "steps/07-taskrun.md",
        "Init:0/2",
        "kubectl's status column, for a Task of three steps",
    ),
    (
        "steps/07-taskrun.md",
        "Init:1/2",
        "kubectl's status column, for a Task of three steps",
    ),
    (
        "steps/07-taskrun.md",
        "kubectl-NAME",
        "kubectl's plugin convention",
    ),
    (
        "steps/08-production.md",
        "histogram_quantile",
        "a PromQL function",
    ),
    (
        "steps/08-production.md",
        "taskrun_controller_reconciles_total{result}",
        "a metric and its label, in Prometheus' notation",
    ),
    (
        "steps/05-controller.md",
        "features = [..., \"unstable-runtime\"]",
        "Cargo.toml's line, shortened",
    ),
    ("steps/08-production.md", "libc.so.6", "what ldd lists"),
    ("steps/08-production.md", "libm.so.6", "what ldd lists"),
    ("steps/08-production.md", "libgcc_s.so.1", "what ldd lists"),
];

/// The text of everything a quote may come from, whitespace made single spaces: the code,
/// manifests and scripts, the transcripts, the hints and answers.
fn quotable(book: &Book) -> String {
    let mut corpus = String::new();
    let mut stack: Vec<PathBuf> = ["solutions", "steps", "manifests", "scripts"]
        .iter()
        .map(|d| book.root.join(d))
        .collect();
    stack.push(book.src.join("transcripts"));
    stack.push(book.src.join("hints"));
    stack.push(book.src.join("answers"));
    stack.push(book.root.join("Cargo.toml"));
    // Not this test's own files: its list of exceptions would vouch for itself.
    let own = book.root.join("solutions/testkit/tests");
    while let Some(path) = stack.pop() {
        if path.starts_with(&own) && path.to_string_lossy().contains("/book") {
            continue;
        }
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            for entry in fs::read_dir(&path).into_iter().flatten().flatten() {
                stack.push(entry.path());
            }
        } else if let Ok(text) = fs::read_to_string(&path) {
            corpus.push_str(&text);
            corpus.push('\n');
        }
    }
    Regex::new(r"\s+")
        .expect("a valid regex")
        .replace_all(&corpus, " ")
        .into_owned()
}

#[test]
fn what_a_step_chapter_quotes_exists() {
    let book = Book::load();
    let corpus = quotable(&book);
    let mut problems = Vec::new();
    let mut allowed_used = BTreeSet::new();
    let chapters: Vec<PathBuf> = book
        .chapters
        .iter()
        .filter(|c| c.starts_with("steps") || c.ends_with("instructor-guide.md"))
        .cloned()
        .collect();
    let spans: Vec<(PathBuf, SourceLine, String)> = chapters
        .iter()
        .flat_map(|chapter| {
            code_spans(&book, chapter)
                .into_iter()
                .filter(|(_, span)| !not_a_quote(span))
                .map(move |(line, span)| (chapter.clone(), line, span))
        })
        .collect();
    // One pass over the corpus finds most quotes at once (a search for each, in a test built
    // without optimisation, takes a minute); a quote it misses, because a longer one matched
    // where it is, is looked for on its own.
    let unique: BTreeSet<&str> = spans.iter().map(|(_, _, s)| s.as_str()).collect();
    let mut by_length: Vec<&str> = unique.into_iter().collect();
    by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let alternation = by_length
        .iter()
        .map(|s| regex::escape(s))
        .collect::<Vec<_>>()
        .join("|");
    let finder = regex::RegexBuilder::new(&alternation)
        .size_limit(1 << 28)
        .build()
        .expect("the quotes make a valid regex");
    let mut found: HashSet<String> = finder
        .find_iter(&corpus)
        .map(|m| m.as_str().to_string())
        .collect();
    // Most quotes are one identifier: found if the corpus has it as a word.
    found.extend(
        corpus
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string),
    );
    for (chapter, line, span) in &spans {
        if found.contains(span) {
            continue;
        }
        if corpus.contains(span.as_str()) {
            found.insert(span.clone());
            continue;
        }
        let shown = chapter.to_string_lossy();
        if let Some(allowed) = QUOTED_ELSEWHERE
            .iter()
            .find(|(c, s, _)| *c == shown && s == span)
        {
            allowed_used.insert((allowed.0, allowed.1));
            continue;
        }
        problems.push(format!(
            "{}:{}: `{span}` is in no file of the workshop (code, manifests, scripts, \
             transcripts): if it quotes a program, a test or a log, the quote is stale; if \
             it deliberately names something else, list it in QUOTED_ELSEWHERE \
             (solutions/testkit/tests/book/claims.rs) with the reason",
            line.file.display(),
            line.number
        ));
    }
    for (chapter, span, _) in QUOTED_ELSEWHERE {
        if !allowed_used.contains(&(*chapter, *span)) {
            problems.push(format!(
                "QUOTED_ELSEWHERE lists `{span}` for book/src/{chapter}, which no longer \
                 quotes it, or quotes what now exists: remove it from the list"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} quote(s) in the chapters match nothing the workshop has:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// kubectl commands that concern the whole cluster rather than a namespace, and so carry none:
/// reading the kubeconfig or the API's description, the nodes, namespaces named one by one
/// (the learner's own, `$NS`, or one a test of theirs left), and installing the CRDs
/// (cluster-scoped: the chapters say why) or the deployed controller (its own namespace,
/// `workshop-system`: step 08 says why). Namespaces picked by a label are not: on a shared
/// cluster the label matches other people's too.
fn cluster_wide(args: &[&str]) -> bool {
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sub = words.first().copied().unwrap_or("");
    let object = words.get(1).copied().unwrap_or("");
    let by_label = args
        .iter()
        .any(|a| *a == "-l" || a.starts_with("--selector") || *a == "--all");
    matches!(
        sub,
        "config"
            | "version"
            | "api-resources"
            | "explain"
            | "cluster-info"
            | "plugin"
            | "help"
    ) || matches!(object, "nodes" | "node")
        || (matches!(object, "namespace" | "namespaces" | "ns")
            && (sub == "get" || !by_label))
        || args.contains(&"--raw")
        // A question about permissions changes nothing, wherever it asks.
        || (sub == "auth" && object == "can-i")
        // A cluster-scoped object named after the learner's namespace (step 09's webhook
        // registration, one per namespace).
        || (object.starts_with("validatingwebhookconfiguration")
            && words
                .iter()
                .any(|w| w.contains("$NS") || w.contains("book-demo")))
        || args.iter().any(|a| {
            a.starts_with("manifests/crds")
                || a.starts_with("manifests/deploy")
                || a.starts_with("crd/")
        })
}

/// The namespaces a kubectl command may name: the learner's own, and where the book shows the
/// deployed controller (`workshop-system`, step 08 only).
fn namespace_ok(ns: &str, file: &Path) -> bool {
    let ns = ns.trim_matches('"');
    let file = file.to_string_lossy();
    // The learner's own, or one named after it (step 05 mirrors into `$NS-copies`).
    let own = ["$NS", "${NS}", "book-demo"].iter().any(|own| {
        ns == *own
            || ns
                .strip_prefix(own)
                .is_some_and(|rest| rest.starts_with('-'))
    });
    own || (ns == "workshop-system"
        && (file.contains("08-production") || file.contains("09-webhook")))
}

/// The problem with one command line, if it has one: a kubectl command that names no
/// namespace or a shared one, or a workshop program run without `--namespace`.
fn namespace_problem(command: &str, file: &Path) -> Option<String> {
    let program = Regex::new(r"cargo run\b.*-p (step|solution)-\d{2}-[a-z-]+|target/\w+/solution-\d{2}-[a-z-]+")
        .expect("a valid regex");
    for segment in command.split(['|', ';', '&']).flat_map(|s| s.split("$(")) {
        let words: Vec<&str> = segment
            .split_whitespace()
            .skip_while(|w| *w == "time" || w.contains('='))
            .collect();
        if words.first() == Some(&"kubectl") {
            let args = &words[1..];
            if cluster_wide(args) {
                continue;
            }
            let mut named = None;
            for (i, arg) in args.iter().enumerate() {
                if *arg == "-n" || *arg == "--namespace" {
                    named = args.get(i + 1).copied();
                } else if let Some(ns) = arg
                    .strip_prefix("--namespace=")
                    .or_else(|| arg.strip_prefix("-n="))
                {
                    named = Some(ns);
                } else if *arg == "-A" || *arg == "--all-namespaces" {
                    return Some("reads every namespace".into());
                }
            }
            match named {
                None => return Some("names no namespace: add -n $NS".into()),
                Some(ns) if !namespace_ok(ns, file) => {
                    return Some(format!("works in the namespace {ns}, not in $NS"));
                }
                Some(_) => {}
            }
        } else if program.is_match(segment) && !segment.contains("--namespace") {
            return Some("runs a workshop program without --namespace $NS".into());
        }
    }
    None
}

#[test]
fn every_command_works_in_the_learners_namespace() {
    let book = Book::load();
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut report = |file: &Path,
                      number: usize,
                      command: &str,
                      problems: &mut Vec<String>| {
        checked += 1;
        if let Some(problem) = namespace_problem(command, file) {
            problems.push(format!(
                "book/src/{}:{number}: `{}` {problem} (the introduction promises that every \
                 command works in the learner's namespace, $NS)",
                file.display(),
                command.trim()
            ));
        }
    };
    // Shell blocks and inline commands of the chapters, hints and answers.
    let mut files: Vec<PathBuf> = book.chapters.clone();
    files.extend(book.files_in("hints", "md"));
    files.extend(book.files_in("answers", "md"));
    for file in &files {
        let text = fs::read_to_string(book.src.join(file)).unwrap_or_default();
        let mut shell = false;
        let mut pending = String::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if let Some(info) = trimmed.strip_prefix("```") {
                shell = !shell
                    && matches!(
                        info.split(',').next(),
                        Some("sh" | "bash" | "shell" | "console")
                    );
                continue;
            }
            if shell {
                let command = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
                let command = command.split(" # ").next().unwrap_or(command);
                if let Some(start) = command.strip_suffix('\\') {
                    pending.push_str(start);
                    continue;
                }
                pending.push_str(command);
                let whole = std::mem::take(&mut pending);
                if !whole.starts_with('#') {
                    report(file, i + 1, &whole, &mut problems);
                }
            }
        }
        if !file.starts_with("hints") && !file.starts_with("answers") {
            // An inline command with an object's name or a flag is one to type; `kubectl get
            // pods` or `kubectl task logs` only names a command.
            for (line, span) in code_spans(&book, file) {
                let words = span.split_whitespace().count();
                let runs = span.starts_with("cargo run");
                if (span.starts_with("kubectl ") && words >= 4) || runs {
                    let at = line.file.strip_prefix("book/src").unwrap_or(&line.file);
                    report(at, line.number, &span, &mut problems);
                }
            }
        }
    }
    // The transcripts' commands, run in book-demo.
    for file in book.files_in("transcripts", "txt") {
        let text = fs::read_to_string(book.src.join(&file)).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if let Some(command) = line.strip_prefix("$ ") {
                report(&file, i + 1, command, &mut problems);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} command(s) of the book do not keep to the learner's namespace ({checked} \
         checked):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
    assert!(
        checked > 100,
        "only {checked} commands found: has the book's form changed?"
    );
}

/// The lines of a chapter that name an exercise (`1.4`, `Exercise 5.3`, `diagnose 7.6`) outside
/// any `<details>` block, from the heading `from` on: the part of the instructor guide a learner
/// could read by accident must not talk about exercises in the open.
fn exercises_in_the_open(text: &str, from: &str) -> Vec<(usize, String)> {
    let number = Regex::new(r"\b[1-9]\.[1-9]\b").expect("a valid regex");
    let mut depth = 0usize;
    let mut started = false;
    let mut open = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with(from) {
            started = true;
        } else if started && line.starts_with("## ") {
            break;
        }
        depth += line.matches("<details>").count();
        depth = depth.saturating_sub(line.matches("</details>").count());
        if started && depth == 0 && number.is_match(line) && !line.starts_with('#') {
            open.push((i + 1, line.to_string()));
        }
    }
    open
}

#[test]
fn the_instructor_guide_is_apart_and_keeps_the_exercises_folded() {
    let book = Book::load();
    let mut problems = Vec::new();
    let guide = PathBuf::from("instructor-guide.md");
    let summary = fs::read_to_string(book.src.join("SUMMARY.md")).unwrap_or_default();
    // The part the guide is listed in: the last `# ` heading above its line.
    let part = summary
        .lines()
        .take_while(|l| !l.contains("(instructor-guide.md)"))
        .filter(|l| l.starts_with("# "))
        .last()
        .unwrap_or("");
    if !part.to_lowercase().contains("instructor") {
        problems.push(format!(
            "SUMMARY.md lists the instructor guide under `{part}`: it belongs in a part of its \
             own, for instructors, so that a learner does not read it as the next chapter"
        ));
    }
    let text = fs::read_to_string(book.src.join(&guide)).unwrap_or_default();
    for (number, line) in exercises_in_the_open(&text, "## Where people get stuck") {
        problems.push(format!(
            "book/src/instructor-guide.md:{number}: `{}` names an exercise outside a folded \
             <details> block",
            line.trim()
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with where the instructor guide is and what it shows:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// The checks' own pieces, on small inputs, so a change to them cannot make them vacuous.
mod checker {
    use super::*;

    #[test]
    fn check_runs_are_parsed_as_check_sh_prints_them() {
        let run = CheckRun::parse(
            "==> checking\n\n  pass  a::tests::x\n  FAIL  y\n        panicked at f.rs:1:2:\n  \
             \x20       boom\n\n  not run (they need a cluster; start one):\n    z\n\nstep 01 \
             (step-01-connect): 1 passed, 1 failed, 1 not run\n",
        );
        assert_eq!(
            run.tests,
            [
                ("a::tests::x".to_string(), Status::Pass),
                ("y".to_string(), Status::Fail),
                ("z".to_string(), Status::NotRun)
            ]
        );
        assert_eq!(run.summary, Some((1, 1, 1)));
        assert!(of_kind("a::tests::x", Some("unit ")));
        assert!(!of_kind("a::tests::x", Some("end-to-end ")));
        assert!(of_kind("y", Some("end-to-end")));
    }

    #[test]
    fn counts_are_read_in_words_and_digits() {
        assert_eq!(count("five"), Some(5));
        assert_eq!(count("Two"), Some(2));
        assert_eq!(count("35"), Some(35));
        assert_eq!(count("several"), None);
    }

    #[test]
    fn claims_are_found_in_the_forms_the_prose_uses() {
        let book = Book::load();
        let text = "With 5.1 done, `scripts/check.sh 05` still\nfails five end-to-end tests. \
                    And the five `checksum_` unit tests. Then `scripts/check.sh 8.2` runs two \
                    tests; on the starter, `scripts/check.sh 3.4` fails one test.";
        let found: Vec<String> = claims_in(&book, text, Some("04-mirror"))
            .into_iter()
            .map(|c| format!("{}={}", c.text, c.said))
            .collect();
        assert_eq!(
            found,
            [
                "`scripts/check.sh 05` still fails five end-to-end tests=5",
                "on the starter, `scripts/check.sh 3.4` fails one test=1",
                "`scripts/check.sh 8.2` runs two tests=2",
                "the five `checksum_` unit tests=5",
            ]
        );
    }

    #[test]
    fn commands_outside_the_learners_namespace_are_found() {
        let chapter = Path::new("steps/07-taskrun.md");
        let problem = |c: &str| namespace_problem(c, chapter);
        assert_eq!(problem("kubectl get pods -n $NS"), None);
        assert_eq!(problem("kubectl -n \"$NS\" get pods"), None);
        assert_eq!(problem("kubectl apply -f manifests/crds/"), None);
        assert_eq!(problem("kubectl create namespace $NS"), None);
        assert_eq!(
            problem("kubectl get namespaces -l workshop.io/test=true"),
            None
        );
        assert!(
            problem("kubectl delete namespace -l workshop.io/test=true").is_some()
        );
        assert_eq!(problem("kubectl delete namespace wt-connect-x1y2z"), None);
        assert_eq!(problem("kubectl get nodes"), None);
        assert_eq!(problem("sleep 2; kubectl get tr early -n book-demo"), None);
        assert_eq!(
            problem("cargo run -p step-07-taskrun -- --namespace $NS"),
            None
        );
        assert!(problem("kubectl get taskruns").is_some());
        assert!(problem("kubectl get pods -n default").is_some());
        assert!(problem("kubectl get pods -A").is_some());
        assert!(problem("kubectl get pods -n workshop-system").is_some());
        assert!(problem("echo | kubectl task start hello --follow").is_some());
        assert!(problem("cargo run -p solution-01-connect").is_some());
        assert_eq!(
            namespace_problem(
                "kubectl get lease x -n workshop-system",
                Path::new("transcripts/08-production-deploy.txt")
            ),
            None
        );
    }

    #[test]
    fn exercises_outside_folds_are_found() {
        let text = "## Where people get stuck\n\n- a general note\n- **Exercise 3.4.** the \
                    bug\n<details>\n<summary>s</summary>\n\n- **Exercise 5.4.** folded\n\n\
                    </details>\n\n## Next\n- 1.2 after the section\n";
        assert_eq!(
            exercises_in_the_open(text, "## Where people get stuck"),
            [(4, "- **Exercise 3.4.** the bug".to_string())]
        );
    }

    #[test]
    fn quotes_are_told_from_commands_and_code() {
        assert!(not_a_quote("scripts/check.sh 5.4"));
        assert!(not_a_quote("Api::<Task>::namespaced(client, ns)"));
        assert!(not_a_quote("--fail-first 4"));
        assert!(not_a_quote("manifests/crds/"));
        assert!(not_a_quote("KUBERNETES_SERVICE_HOST"));
        assert!(!not_a_quote("timeoutSeconds=290"));
        assert!(!not_a_quote("reconciling object"));
        assert!(!not_a_quote("a_test_since_renamed"));
    }
}
