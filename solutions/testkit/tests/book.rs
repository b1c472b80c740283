//! The workshop book's structure, checked without a cluster. `scripts/book.sh build` runs this
//! test before it renders the book, and fails when it fails.
//!
//! mdBook renders what it can and only logs most mistakes: an include of a missing file becomes an
//! error line in its log, an include of a missing anchor silently includes nothing, and a link to a
//! missing chapter or heading renders as a dead link. This test turns each of those into a failure,
//! and adds the workshop's own rules:
//! - every step in `solutions/NN-name` has its chapter, `book/src/steps/NN-name.md`, listed in
//!   `SUMMARY.md`, and there is no chapter for a step that does not exist;
//! - a step chapter has a section for each exercise of the step (`Exercise N.M`), and every
//!   section an exercise points to (`Book: "Step 01 > Configuration"`) exists;
//! - every transcript and picture in the book is used by a chapter (a stale one is a mistake);
//! - the exercises are read by the workshop's model (`workshop_xtask::model`, the one reader of
//!   the `// EXERCISE N.M:` grammar), and each test name of an exercise's `// Proved by:`
//!   (which `scripts/check.sh N.M` runs) matches a test of its step's package: a check that
//!   runs no test proves nothing;
//! - every exercise has its three hints, `book/src/hints/N.M/{1,2,3}.md`, which its chapter
//!   includes; every hint belongs to an exercise; hints are wrapped to fit a terminal
//!   (`scripts/hint.sh` prints them);
//! - what the book says about the exercises (which a step has, the core path, the minutes of the
//!   instructor's day) is generated from the model into `book/src/generated/`
//!   (`scripts/gen-steps.sh`): each generated file is up to date and included by a chapter, a
//!   step's "Your code" line by the step's own chapter;
//! - every diagnose exercise (`// DIAGNOSE N.M:`) has its answer, `book/src/answers/N.M.md`,
//!   which its chapter includes once, alone in a "What was wrong" `<details>` block, so the
//!   chapter's source shows the include line and not the answer; every answer belongs to a
//!   diagnose exercise;
//! - no line of a code block is wider than the page ([`PAGE_COLUMNS`]): not code
//!   written in the book itself (hints included), not code included from the crates
//!   (`solutions/`, `steps/`) or the manifests. A wider line is cut off at the page's
//!   edge, and the reader has to scroll sideways to see what matters. rustfmt formats
//!   the crates to the page (`rustfmt.toml`); comments, strings and YAML are wrapped by
//!   hand. Transcripts are the exception: they are exactly what a command printed, and
//!   the page wraps their long lines, marked as wrapped (`book/assets/transcripts.css`);
//!   the rules for transcripts, and for what the prose says about them, are in
//!   `book/claims.rs`.
//!
//! Each test collects every problem it finds and fails once, listing them all.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use regex::Regex;
use workshop_xtask::model::{Kind, Workshop, files, rust_files};

/// What the book says about the programs' output, and the transcripts themselves.
#[path = "book/claims.rs"]
mod claims;

/// The repository root (this file is `solutions/testkit/tests/book.rs`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The Markdown dialect mdBook 0.5 renders (mdbook-markdown's `new_cmark_parser` defaults), so
/// headings, links and their ids come out as they do in the rendered book.
fn markdown(text: &str) -> Parser<'_> {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    options.insert(Options::ENABLE_HEADING_ATTRIBUTES);
    options.insert(Options::ENABLE_SMART_PUNCTUATION);
    options.insert(Options::ENABLE_DEFINITION_LIST);
    options.insert(Options::ENABLE_GFM);
    Parser::new_ext(text, options)
}

/// A heading's id as mdBook writes it (mdbook-html's `id_from_content`).
fn id_from_content(content: &str) -> String {
    content
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|ch| {
            if ch.is_alphanumeric() || ch == '_' || ch == '-' {
                Some(ch)
            } else if ch.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// A chapter's headings: their text and the ids mdBook gives them (a repeated id gets `-1`,
/// `-2`... as in mdbook-html's `unique_id`; definition-list terms take ids too).
#[derive(Debug, Default)]
struct Headings {
    texts: Vec<(HeadingLevel, String)>,
    ids: HashSet<String>,
}

/// What one chapter contains that can break: links, images, raw-HTML references, headings.
#[derive(Debug, Default)]
struct Parsed {
    headings: Headings,
    /// Link and image destinations, with the text shown for the error message.
    targets: Vec<String>,
}

fn parse_chapter(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut in_heading: Option<(HeadingLevel, Option<String>)> = None;
    let mut in_term = false;
    let mut heading_text = String::new();
    // Raw HTML can reference files too (`<img src=...>`, `<a href=...>`).
    let html_ref =
        Regex::new(r#"(?i)\b(?:src|href)\s*=\s*"([^"]*)""#).expect("a valid regex");
    for event in markdown(text) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                in_heading = Some((level, id.map(|id| id.to_string())));
                heading_text.clear();
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, explicit)) = in_heading.take() {
                    let id =
                        explicit.unwrap_or_else(|| id_from_content(&heading_text));
                    parsed.headings.add_id(&id);
                    parsed
                        .headings
                        .texts
                        .push((level, heading_text.trim().to_string()));
                }
            }
            Event::Start(Tag::DefinitionListTitle) => {
                in_term = true;
                heading_text.clear();
            }
            Event::End(TagEnd::DefinitionListTitle) => {
                in_term = false;
                parsed.headings.add_id(&id_from_content(&heading_text));
            }
            Event::Text(t) | Event::Code(t) if in_heading.is_some() || in_term => {
                heading_text.push_str(&t)
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                parsed.targets.push(dest_url.to_string())
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                for cap in html_ref.captures_iter(&html) {
                    parsed.targets.push(cap[1].to_string());
                }
            }
            _ => {}
        }
    }
    parsed
}

impl Headings {
    fn add_id(&mut self, id: &str) {
        if self.ids.insert(id.to_string()) {
            return;
        }
        let mut n = 1;
        while !self.ids.insert(format!("{id}-{n}")) {
            n += 1;
        }
    }

    fn has_text(&self, text: &str) -> bool {
        self.texts.iter().any(|(_, t)| t == text)
    }
}

/// `a/b/../c` -> `a/c`, without touching the file system (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                // `..` cancels the last name, unless there is none to cancel.
                if matches!(
                    out.components().next_back(),
                    None | Some(Component::ParentDir)
                ) {
                    out.push("..");
                } else {
                    out.pop();
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The book: its source directory, and its chapters in `SUMMARY.md` order (paths relative to
/// `book/src`).
struct Book {
    root: PathBuf,
    src: PathBuf,
    chapters: Vec<PathBuf>,
    problems: Vec<String>,
}

impl Book {
    fn load() -> Self {
        let root = repo_root();
        let src = root.join("book/src");
        let mut book = Book {
            root,
            src,
            chapters: Vec::new(),
            problems: Vec::new(),
        };
        let summary = match fs::read_to_string(book.src.join("SUMMARY.md")) {
            Ok(summary) => summary,
            Err(err) => {
                book.problem(format!("book/src/SUMMARY.md cannot be read: {err}"));
                return book;
            }
        };
        for target in parse_chapter(&summary).targets {
            if target.is_empty() {
                book.problem(
                    "SUMMARY.md has a draft chapter (a link with no file): write the chapter or \
                     leave it out"
                        .into(),
                );
                continue;
            }
            let path = normalize(Path::new(&target));
            if !book.src.join(&path).is_file() {
                book.problem(format!(
                    "SUMMARY.md lists {target}, but book/src/{target} does not exist"
                ));
            } else if book.chapters.contains(&path) {
                book.problem(format!("SUMMARY.md lists {target} twice"));
            } else {
                book.chapters.push(path);
            }
        }
        book
    }

    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    /// Every file under `book/src/<dir>` with extension `ext`, relative to `book/src`.
    fn files_in(&self, dir: &str, ext: &str) -> Vec<PathBuf> {
        files(&self.src.join(dir))
            .into_iter()
            .filter(|path| path.extension().is_some_and(|e| e == ext))
            .map(|path| {
                path.strip_prefix(&self.src)
                    .expect("found under book/src")
                    .to_path_buf()
            })
            .collect()
    }

    /// The steps that exist: `NN-name` for every `solutions/NN-name` directory.
    fn steps(&self) -> BTreeSet<String> {
        let step = Regex::new(r"^[0-9]{2}-[a-z0-9-]+$").expect("a valid regex");
        fs::read_dir(self.root.join("solutions"))
            .expect("solutions/ exists")
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| step.is_match(name))
            .collect()
    }
}

/// `{{#include path}}`, `{{#include path:anchor}}`, `{{#include path:2:10}}` and
/// `{{#rustdoc_include ...}}`, as mdBook's links preprocessor finds them. Returns the kind and
/// its argument (path plus selector) for every directive that is not escaped with `\`.
fn directives(text: &str) -> Vec<(String, String)> {
    let re = Regex::new(r"\\\{\{#.*\}\}|\{\{\s*#([a-zA-Z0-9_]+)\s+([^}]+)\}\}")
        .expect("a valid regex");
    re.captures_iter(text)
        .filter_map(|cap| {
            let kind = cap.get(1)?.as_str().to_string();
            let arg = cap.get(2)?.as_str().split_whitespace().next()?.to_string();
            Some((kind, arg))
        })
        .collect()
}

/// Checks one include: the file exists, and the anchor or line range is in it.
fn check_include(book: &mut Book, chapter: &Path, arg: &str) -> Option<PathBuf> {
    let (file, selector) = match arg.split_once(':') {
        Some((file, selector)) => (file, Some(selector)),
        None => (arg, None),
    };
    let dir = chapter.parent().unwrap_or(Path::new(""));
    let path = normalize(&book.src.join(dir).join(file));
    let shown = path
        .strip_prefix(&book.root)
        .unwrap_or(&path)
        .display()
        .to_string();
    let Ok(text) = fs::read_to_string(&path) else {
        let hint = if file.contains("transcripts/") {
            " (transcripts are made by scripts/capture.sh)"
        } else {
            ""
        };
        book.problem(format!(
            "{}: includes {file}, but {shown} does not exist{hint}",
            chapter.display()
        ));
        return None;
    };
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return Some(path);
    };
    let first = selector.split(':').next().unwrap_or("");
    if first.is_empty() || first.parse::<usize>().is_ok() {
        // A line range: its start must be a line of the file.
        let start: usize = first.parse().unwrap_or(1);
        let lines = text.lines().count();
        if start > lines {
            book.problem(format!(
                "{}: includes {arg}, but {shown} has only {lines} lines",
                chapter.display()
            ));
        }
        return Some(path);
    }
    let anchor = first;
    // mdBook's own patterns: the name is compared whole (`run` does not match `run_all`).
    let start = Regex::new(r"ANCHOR:\s*([\w_-]+)").expect("a valid regex");
    let end = Regex::new(r"ANCHOR_END:\s*([\w_-]+)").expect("a valid regex");
    let names =
        |re: &Regex, line: &str| re.captures(line).is_some_and(|c| &c[1] == anchor);
    let starts = text.lines().position(|l| names(&start, l));
    let ends = text.lines().position(|l| names(&end, l));
    match (starts, ends) {
        (Some(s), Some(e)) if s < e => {
            if text
                .lines()
                .skip(s + 1)
                .take(e - s - 1)
                .all(|l| l.trim().is_empty())
            {
                book.problem(format!(
                    "{}: anchor `{anchor}` in {shown} is empty",
                    chapter.display()
                ));
            }
        }
        (Some(_), Some(_)) => book.problem(format!(
            "{}: in {shown}, ANCHOR_END: {anchor} comes before ANCHOR: {anchor}",
            chapter.display()
        )),
        _ => book.problem(format!(
            "{}: includes anchor `{anchor}` of {shown}, which has no `ANCHOR: {anchor}` / \
             `ANCHOR_END: {anchor}` pair",
            chapter.display()
        )),
    }
    Some(path)
}

#[test]
fn the_book_is_consistent_with_itself_and_with_the_steps() {
    let mut book = Book::load();
    let chapters = book.chapters.clone();

    // Parse every chapter once: links are checked against the headings of other chapters.
    let mut parsed: BTreeMap<PathBuf, Parsed> = BTreeMap::new();
    let mut texts: BTreeMap<PathBuf, String> = BTreeMap::new();
    for chapter in &chapters {
        let text = fs::read_to_string(book.src.join(chapter)).unwrap_or_default();
        parsed.insert(chapter.clone(), parse_chapter(&text));
        texts.insert(chapter.clone(), text);
    }

    // A Markdown file that SUMMARY.md does not list is never rendered.
    for file in book.files_in("", "md") {
        // Hints and answers are not chapters: chapters include them (mdBook neither renders
        // nor copies a Markdown file SUMMARY.md does not list), and scripts/hint.sh prints
        // the hints.
        if file != Path::new("SUMMARY.md")
            && !file.starts_with("hints")
            && !file.starts_with("answers")
            && !file.starts_with("generated")
            && !chapters.contains(&file)
        {
            book.problem(format!(
                "book/src/{} is not listed in SUMMARY.md (so it is not part of the book)",
                file.display()
            ));
        }
    }

    // Includes: the file, and the anchor or lines in it. Remember what was used. An
    // included Markdown file (an answer) has includes of its own, relative to where it is.
    let mut used: HashSet<PathBuf> = HashSet::new();
    let mut pending: Vec<(PathBuf, String)> = chapters
        .iter()
        .map(|chapter| (chapter.clone(), texts[chapter].clone()))
        .collect();
    while let Some((file, text)) = pending.pop() {
        for (kind, arg) in directives(&text) {
            match kind.as_str() {
                "include" | "rustdoc_include" => {
                    if let Some(path) = check_include(&mut book, &file, &arg) {
                        if path.extension().is_some_and(|e| e == "md")
                            && !used.contains(&path)
                            && let Ok(rel) = path.strip_prefix(&book.src)
                        {
                            let nested =
                                fs::read_to_string(&path).unwrap_or_default();
                            pending.push((rel.to_path_buf(), nested));
                        }
                        used.insert(path);
                    }
                }
                other => book.problem(format!(
                    "{}: unknown or unwanted directive {{{{#{other} ...}}}}",
                    file.display()
                )),
            }
        }
    }

    // Links and images: internal ones must point at a file of the book, and a fragment at a
    // heading of that chapter.
    let scheme = Regex::new(r"^[a-zA-Z][a-zA-Z0-9+.-]*:").expect("a valid regex");
    for chapter in &chapters {
        let dir = chapter.parent().unwrap_or(Path::new("")).to_path_buf();
        for target in parsed[chapter].targets.clone() {
            if scheme.is_match(&target) || target.starts_with("//") {
                continue; // an external link: not ours to check offline
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                chapter.clone()
            } else {
                normalize(&dir.join(file))
            };
            if resolved.starts_with("..") {
                book.problem(format!(
                    "{}: links to {target}, outside book/src (the rendered book has no such page)",
                    chapter.display()
                ));
                continue;
            }
            // mdBook renders chapter.md as chapter.html; links may name either.
            let as_md = if resolved.extension().is_some_and(|e| e == "html") {
                resolved.with_extension("md")
            } else {
                resolved.clone()
            };
            if as_md.extension().is_some_and(|e| e == "md") {
                let Some(target_chapter) = parsed.get(&as_md) else {
                    book.problem(format!(
                        "{}: links to {target}, but {} is not a chapter of the book",
                        chapter.display(),
                        as_md.display()
                    ));
                    continue;
                };
                if let Some(fragment) = fragment
                    && !target_chapter.headings.ids.contains(fragment)
                {
                    book.problem(format!(
                        "{}: links to {target}, but {} has no heading with id `{fragment}`",
                        chapter.display(),
                        as_md.display()
                    ));
                }
            } else if !book.src.join(&resolved).is_file() {
                book.problem(format!(
                    "{}: links to {target}, but book/src/{} does not exist",
                    chapter.display(),
                    resolved.display()
                ));
            } else {
                used.insert(normalize(&book.src.join(&resolved)));
            }
        }
    }

    // One chapter per step, and no chapter for a step that does not exist.
    let steps = book.steps();
    let step_file =
        Regex::new(r"^steps/([0-9]{2})-[a-z0-9-]+\.md$").expect("a valid regex");
    for chapter in book.files_in("steps", "md") {
        let name = chapter.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if !step_file.is_match(&chapter.to_string_lossy()) {
            book.problem(format!(
                "book/src/{}: a chapter in steps/ must be named NN-name.md after solutions/NN-name",
                chapter.display()
            ));
        } else if !steps.contains(name) {
            book.problem(format!(
                "book/src/{} is a chapter for step {name}, but there is no solutions/{name}",
                chapter.display()
            ));
        }
    }
    // The exercises, as the workshop's model reads them (one reader of the grammar for every
    // script and this test). A mistake in their comments is a problem of the book too.
    let workshop = match Workshop::load(&book.root) {
        Ok(workshop) => Some(workshop),
        Err(problems) => {
            for problem in problems.0 {
                book.problem(problem.to_string());
            }
            None
        }
    };
    let exercises = workshop.as_ref().map_or(&[][..], |w| &w.exercises[..]);
    let numbers: BTreeSet<String> =
        exercises.iter().map(|e| e.number.to_string()).collect();
    let diagnosed: BTreeSet<String> = exercises
        .iter()
        .filter(|e| e.kind == Kind::Diagnose)
        .map(|e| e.number.to_string())
        .collect();
    let suites = test_suites(&book.root.join("solutions/testkit/src"));
    for step in &steps {
        let chapter = PathBuf::from(format!("steps/{step}.md"));
        let Some(chapter_parsed) = parsed.get(&chapter) else {
            book.problem(format!(
                "solutions/{step} has no chapter: write book/src/{} and list it in SUMMARY.md",
                chapter.display()
            ));
            continue;
        };
        let nn = &step[..2];
        if !texts[&chapter].contains(&format!("scripts/check.sh {nn}")) {
            book.problem(format!(
                "book/src/{}: a step chapter tells the learner to run `scripts/check.sh {nn}`",
                chapter.display()
            ));
        }
        // The step's "Your code" line: its generated include, in its own chapter.
        let your_code = format!("generated/{step}-your-code.md");
        if !texts[&chapter].contains(&format!("{{{{#include ../{your_code}}}}}")) {
            book.problem(format!(
                "book/src/{}: says which files and exercises are the learner's with                  `{{{{#include ../{your_code}}}}}` (generated from the exercises' comments)",
                chapter.display()
            ));
        }
        // Every exercise of the step, and every book section it points to.
        let tests = package_tests(&book.root.join("solutions").join(step), &suites);
        for exercise in exercises.iter().filter(|e| &e.step == step) {
            let number = exercise.number.to_string();
            if exercise.kind == Kind::Diagnose {
                check_answer(&mut book, &number, &chapter, &texts);
            }
            check_proved_by(
                &mut book,
                &number,
                &exercise.proved_by,
                &exercise.file,
                &format!("solution-{step}"),
                &tests,
            );
            check_hints(&mut book, &number, &chapter, &used);
            let wanted = format!("Exercise {number}");
            let found = chapter_parsed.headings.texts.iter().any(|(_, t)| {
                t == &wanted
                    || t.starts_with(&format!("{wanted}:"))
                    || t.starts_with(&format!("{wanted} "))
            });
            if !found {
                book.problem(format!(
                    "book/src/{}: no heading for {wanted} (from {})",
                    chapter.display(),
                    exercise.file.display()
                ));
            }
            let (ref_step, section) = (&exercise.book.step, &exercise.book.section);
            let target = steps
                .iter()
                .find(|s| s.starts_with(ref_step.as_str()))
                .map(|s| PathBuf::from(format!("steps/{s}.md")));
            let ok = target
                .as_ref()
                .and_then(|t| parsed.get(t))
                .is_some_and(|p| p.headings.has_text(section));
            if !ok {
                book.problem(format!(
                    "{}:{}: {} {number} points to the book section \"Step {ref_step} > \
                     {section}\", which does not exist",
                    exercise.file.display(),
                    exercise.line,
                    exercise.kind.as_str()
                ));
            }
        }
    }

    // The generated includes: each is what the model generates now, and a chapter uses it.
    if let Some(workshop) = &workshop {
        match workshop_xtask::book::generated(workshop) {
            Ok(wanted) => {
                let dir = book.src.join("generated");
                for (name, bytes) in &wanted {
                    let path = dir.join(name);
                    let shown = format!("book/src/generated/{}", name.display());
                    match fs::read(&path) {
                        Ok(found) if &found == bytes => {}
                        Ok(_) => book.problem(format!(
                            "{shown} is stale: the exercises' comments or \
                             book/instructor-plan.txt changed since it was generated (run \
                             scripts/gen-steps.sh)"
                        )),
                        Err(_) => book.problem(format!(
                            "{shown} is missing (run scripts/gen-steps.sh)"
                        )),
                    }
                    if !used.contains(&path) {
                        book.problem(format!("{shown} is included by no chapter"));
                    }
                }
                for file in book.files_in("generated", "md") {
                    if !wanted
                        .contains_key(file.strip_prefix("generated").unwrap_or(&file))
                    {
                        book.problem(format!(
                            "book/src/{} is not generated any more: remove it",
                            file.display()
                        ));
                    }
                }
            }
            Err(err) => book.problem(err),
        }
    }

    // Every hint belongs to an exercise.
    for dir in fs::read_dir(book.src.join("hints"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !numbers.contains(&name) {
            book.problem(format!(
                "book/src/hints/{name}/ belongs to no exercise (no `// EXERCISE {name}:` or \
                 `// DIAGNOSE {name}:` in solutions/)"
            ));
        }
    }

    // Every answer belongs to a diagnose exercise.
    for file in book.files_in("answers", "md") {
        let number = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if !diagnosed.contains(number) {
            book.problem(format!(
                "book/src/{} belongs to no diagnose exercise (no `// DIAGNOSE {number}:` in \
                 solutions/)",
                file.display()
            ));
        }
    }

    // Transcripts and pictures that no chapter uses are stale.
    for file in book
        .files_in("transcripts", "txt")
        .into_iter()
        .chain(book.files_in("img", "svg"))
    {
        if !used.contains(&normalize(&book.src.join(&file))) {
            book.problem(format!(
                "book/src/{} is not used by any chapter",
                file.display()
            ));
        }
    }

    assert!(
        book.problems.is_empty(),
        "the book has {} problem(s):\n  - {}",
        book.problems.len(),
        book.problems.join("\n  - ")
    );
}

/// The summary of the block that holds a diagnose exercise's answer.
const ANSWER_SUMMARY: &str =
    "<summary>What was wrong (open it once your fix passes)</summary>";

/// The answer of diagnose exercise `number`: `answers/N.M.md` exists and says something, and
/// the only include of it is in `chapter`, once, alone in a `<details>` block whose summary is
/// [`ANSWER_SUMMARY`]. A learner who reads the chapter's source sees the include line; the
/// answer is one file away, and the rendered page shows it folded.
fn check_answer(
    book: &mut Book,
    number: &str,
    chapter: &Path,
    texts: &BTreeMap<PathBuf, String>,
) {
    let shown = format!("book/src/answers/{number}.md");
    match fs::read_to_string(book.src.join("answers").join(format!("{number}.md"))) {
        Ok(text) if !text.trim().is_empty() => {}
        Ok(_) => book.problem(format!("{shown} is empty")),
        Err(_) => book.problem(format!(
            "diagnose exercise {number} has no answer: write {shown} (what was wrong, and \
             the fix)"
        )),
    }
    let include = format!("{{{{#include ../answers/{number}.md}}}}");
    let mut found = 0;
    for (file, text) in texts {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains(&format!("answers/{number}.md")) {
                continue;
            }
            if file != chapter {
                book.problem(format!(
                    "book/src/{}:{}: {shown} belongs to book/src/{} only",
                    file.display(),
                    i + 1,
                    chapter.display()
                ));
                continue;
            }
            found += 1;
            let before = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            let after = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            if line.trim() != include
                || before.map(|l| l.trim()) != Some(ANSWER_SUMMARY)
                || after.map(|l| l.trim()) != Some("</details>")
            {
                book.problem(format!(
                    "book/src/{}:{}: the answer must be reached only as `{include}`, alone \
                     in a <details> block with `{ANSWER_SUMMARY}`",
                    chapter.display(),
                    i + 1
                ));
            }
        }
    }
    if found != 1 {
        book.problem(format!(
            "book/src/{}: includes {shown} {found} times; include it once, in a \
             \"What was wrong\" <details> block",
            chapter.display()
        ));
    }
}

/// Longest line of a hint: `scripts/hint.sh` prints them in a terminal.
const HINT_WIDTH: usize = 92;

/// The hints of exercise `number`: `hints/N.M/{1,2,3}.md`, each included by its step's
/// chapter and wrapped to [`HINT_WIDTH`].
fn check_hints(
    book: &mut Book,
    number: &str,
    chapter: &Path,
    used: &HashSet<PathBuf>,
) {
    let dir = book.src.join("hints").join(number);
    for level in 1..=3 {
        let file = dir.join(format!("{level}.md"));
        let shown = format!("book/src/hints/{number}/{level}.md");
        let Ok(text) = fs::read_to_string(&file) else {
            book.problem(format!(
                "exercise {number} has no hint {level}: write {shown} (1: the idea, 2: the \
                 APIs, 3: nearly the code)"
            ));
            continue;
        };
        if text.trim().is_empty() {
            book.problem(format!("{shown} is empty"));
        }
        for (i, line) in text.lines().enumerate() {
            if line.chars().count() > HINT_WIDTH {
                book.problem(format!(
                    "{shown}:{}: longer than {HINT_WIDTH} characters (wrap it)",
                    i + 1
                ));
            }
        }
        if !used.contains(&normalize(&file)) {
            book.problem(format!(
                "book/src/{}: does not include {shown} in a hint block",
                chapter.display()
            ));
        }
    }
}

/// Checks that each test name of exercise `number`'s `Proved by:` line selects at least one
/// test of `package` (a `cargo test` filter matches every test whose path contains it).
fn check_proved_by(
    book: &mut Book,
    number: &str,
    names: &[String],
    source: &Path,
    package: &str,
    tests: &BTreeSet<String>,
) {
    for name in names {
        if !tests.iter().any(|test| test.contains(name.as_str())) {
            book.problem(format!(
                "{}: exercise {number} is `Proved by: {name}`, but no test of {package} has \
                 `{name}` in its name (`scripts/check.sh {number}` would not run it)",
                source.display()
            ));
        }
    }
}

/// The test-suite macros of the test kit (`mirror_suite!`): each macro's name, and the names
/// of the tests it expands to (the identifiers it lists, one a line, as `name,`).
fn test_suites(testkit_src: &Path) -> BTreeMap<String, Vec<String>> {
    let start = Regex::new(r"^\s*macro_rules!\s+(\w+)").expect("a valid regex");
    let listed = Regex::new(r"^\s+([a-z][a-z0-9_]*),\s*$").expect("a valid regex");
    let mut suites = BTreeMap::new();
    for file in rust_files(testkit_src) {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let mut current: Option<(String, Vec<String>)> = None;
        for line in text.lines() {
            if let Some(cap) = start.captures(line) {
                current = Some((cap[1].to_string(), Vec::new()));
            } else if line == "}" {
                if let Some((name, tests)) = current.take() {
                    suites.insert(name, tests);
                }
            } else if let (Some((_, tests)), Some(cap)) =
                (&mut current, listed.captures(line))
            {
                tests.push(cap[1].to_string());
            }
        }
    }
    suites
}

/// The tests of the package in `dir`, by the paths `cargo test` matches its filters against.
fn package_tests(
    dir: &Path,
    suites: &BTreeMap<String, Vec<String>>,
) -> BTreeSet<String> {
    let mut tests = BTreeSet::new();
    for file in rust_files(dir) {
        let rel = file.strip_prefix(dir).unwrap_or(&file);
        let text = fs::read_to_string(&file).unwrap_or_default();
        tests.extend(tests_in(&module_of(rel), &text, suites));
    }
    tests
}

/// The module path of a crate file, as it prefixes its tests' names: `src/queue.rs` ->
/// `queue::`, `src/lib.rs` -> ``; a test file (`tests/e2e.rs`) is a crate of its own.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // `a/mod.rs` is the module `a`; a file right under `tests/` is the root of its crate, as
    // `lib.rs` and `main.rs` are under `src/`.
    let is_mod = parts.last().is_some_and(|last| last == "mod");
    if is_mod {
        parts.pop();
    }
    let root = match parts.as_slice() {
        [src, file] if src == "src" => file == "lib" || file == "main",
        // `src/bin/x.rs` is the root of a binary crate of its own.
        [src, bin, _] if src == "src" && bin == "bin" => !is_mod,
        [tests, _] if tests == "tests" => !is_mod,
        _ => false,
    };
    if root || parts.len() < 2 {
        return String::new();
    }
    parts[1..].iter().map(|part| format!("{part}::")).collect()
}

/// The tests one file defines, their paths starting with `prefix`: every function marked
/// `#[test]` or `#[tokio::test]` (in inline modules too, found by rustfmt's indentation), and
/// the tests of every test-suite macro it invokes.
fn tests_in(
    prefix: &str,
    text: &str,
    suites: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let module = Regex::new(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{")
        .expect("a regex");
    let function =
        Regex::new(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+(\w+)")
            .expect("a valid regex");
    let invocation = Regex::new(r"(\w+)!\s*[(\[{]").expect("a valid regex");
    let mut modules: Vec<(String, String)> = Vec::new();
    let mut marked = false;
    let mut found = Vec::new();
    let path = |modules: &[(String, String)], name: &str| {
        let inner: String = modules.iter().map(|(_, m)| format!("{m}::")).collect();
        format!("{prefix}{inner}{name}")
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(cap) = module.captures(line) {
            modules.push((cap[1].to_string(), cap[2].to_string()));
        } else if modules
            .last()
            .is_some_and(|(indent, _)| line == format!("{indent}}}"))
        {
            modules.pop();
        } else if trimmed.starts_with("#[test]")
            || trimmed.starts_with("#[tokio::test")
        {
            marked = true;
        } else if let Some(cap) = function.captures(line) {
            if marked {
                found.push(path(&modules, &cap[1]));
            }
            marked = false;
        } else {
            for cap in invocation.captures_iter(line) {
                for name in suites.get(&cap[1]).into_iter().flatten() {
                    found.push(path(&modules, name));
                }
            }
        }
    }
    found
}

/// The checker's own pieces, on small inputs, so a change to them cannot make the check vacuous.
mod checker {
    use super::*;

    #[test]
    fn heading_ids_follow_mdbook() {
        assert_eq!(
            id_from_content("Step 01 > The client"),
            "step-01--the-client"
        );
        assert_eq!(
            id_from_content("Exercise 1.1: load it"),
            "exercise-11-load-it"
        );
        assert_eq!(id_from_content("`Api<K>` and `list`"), "apik-and-list");
        let parsed = parse_chapter("# Run it\n\n## Run it\n\n## Custom {#here}\n");
        for id in ["run-it", "run-it-1", "here"] {
            assert!(
                parsed.headings.ids.contains(id),
                "{id}: {:?}",
                parsed.headings.ids
            );
        }
    }

    #[test]
    fn links_images_and_html_references_are_found_but_not_in_code() {
        let parsed = parse_chapter(
            "[a](x.md#y) ![b](img/c.svg)\n\n<img src=\"img/d.svg\">\n\n```text\n[no](z.md)\n```\n",
        );
        assert_eq!(parsed.targets, ["x.md#y", "img/c.svg", "img/d.svg"]);
    }

    #[test]
    fn include_directives_are_found_unless_escaped() {
        // As in mdBook, an escaped directive hides the rest of its line.
        let found = directives(
            "{{#include a.rs:anchor}}\n\\{{#include b.rs}}\n{{ #include c.txt }}",
        );
        assert_eq!(
            found,
            [
                ("include".to_string(), "a.rs:anchor".to_string()),
                ("include".to_string(), "c.txt".to_string())
            ]
        );
    }

    #[test]
    fn wide_lines_are_found_in_code_blocks_only_as_rendered() {
        let wide = "x".repeat(PAGE_COLUMNS + 1);
        let fits = "y".repeat(PAGE_COLUMNS);
        let text = [
            format!("{wide} (prose wraps)"),
            "```text".into(),
            fits.clone(),
            wide.clone(),
            "```".into(),
            "```rust".into(),
            format!("# {wide} (a line mdBook hides)"),
            "```".into(),
            "- a list item".into(),
            "".into(),
            "  ```text".into(),
            format!("  {fits}"),
            "  ```".into(),
        ];
        let lines: Vec<SourceLine> = text
            .iter()
            .enumerate()
            .map(|(i, t)| SourceLine {
                file: PathBuf::from("chapter.md"),
                number: i + 1,
                text: t.clone(),
            })
            .collect();
        let found: Vec<(usize, usize)> = too_wide(&lines)
            .into_iter()
            .map(|(line, columns)| (line.number, columns))
            .collect();
        assert_eq!(found, [(4, PAGE_COLUMNS + 1)]);
    }

    #[test]
    fn includes_select_lines_as_mdbook_does() {
        let text = "a\n// ANCHOR: x\nb\n// ANCHOR: y\nc\n// ANCHOR_END: y\n// ANCHOR_END: x\nd\n\
                    // ANCHOR: x-y\ne\n// ANCHOR_END: x-y";
        let texts = |selector, rustdoc| -> Vec<String> {
            included_lines(text, selector, rustdoc)
                .into_iter()
                .map(|(n, l)| format!("{n}:{l}"))
                .collect()
        };
        assert_eq!(texts("x", false), ["3:b", "5:c"]);
        assert_eq!(texts("y", false), ["5:c"]);
        assert_eq!(texts("x-y", false), ["10:e"]);
        assert_eq!(texts("nowhere", false), Vec::<String>::new());
        assert_eq!(texts("7:", false)[..2], ["7:// ANCHOR_END: x", "8:d"]);
        assert_eq!(texts("7:", false).len(), 5);
        assert_eq!(texts("7:8", false), ["7:// ANCHOR_END: x", "8:d"]);
        assert_eq!(texts(":1", false), ["1:a"]);
        assert_eq!(texts(":2", false), ["1:a", "2:// ANCHOR: x"]);
        assert_eq!(texts("8", false), ["8:d"]);
        assert_eq!(texts("", false).len(), 11);
        assert_eq!(
            texts("y", true),
            ["1:# a", "3:# b", "5:c", "8:# d", "10:# e"]
        );
        assert_eq!(texts("2:3", true)[..3], ["1:# a", "2:// ANCHOR: x", "3:b"]);
    }

    #[test]
    fn includes_are_expanded_in_place_from_every_file() {
        let dir =
            std::env::temp_dir().join(format!("book-expand-{}", std::process::id()));
        fs::create_dir_all(dir.join("src")).expect("a temporary directory");
        fs::write(
            dir.join("src/a.rs"),
            "// ANCHOR: f\nfn f() {}\n// ANCHOR_END: f\n",
        )
        .expect("written");
        fs::write(dir.join("b.md"), "x{{#include src/a.rs:f}}y\n").expect("written");
        let chapter = "1\n{{ #include b.md }}\n\\{{#include src/a.rs}}\n";
        let lines = chapter
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        let found: Vec<String> = expand(&dir, &dir.join("c.md"), lines, 0)
            .into_iter()
            .map(|l| format!("{}:{}:{}", l.file.display(), l.number, l.text))
            .collect();
        fs::remove_dir_all(&dir).expect("removed");
        assert_eq!(
            found,
            [
                "c.md:1:1",
                "src/a.rs:2:xfn f() {}y",
                "c.md:3:\\{{#include src/a.rs}}"
            ]
        );
    }

    #[test]
    fn tests_are_found_with_their_module_paths() {
        let suites =
            BTreeMap::from([("suite".to_string(), vec!["from_suite".to_string()])]);
        let text = "fn helper() {}\n#[test]\nfn top() {}\nmod tests {\n    use super::*;\n\n    \
                    #[tokio::test]\n    #[ignore = \"e2e\"]\n    async fn inner() {}\n\n    \
                    fn not_a_test() {}\n}\n#[test]\nfn after() {}\nsuite!(start);\n";
        assert_eq!(
            tests_in("queue::", text, &suites),
            [
                "queue::top",
                "queue::tests::inner",
                "queue::after",
                "queue::from_suite"
            ]
        );
        assert_eq!(module_of(Path::new("src/lib.rs")), "");
        assert_eq!(module_of(Path::new("src/queue.rs")), "queue::");
        assert_eq!(module_of(Path::new("src/a/mod.rs")), "a::");
        assert_eq!(module_of(Path::new("tests/e2e.rs")), "");
        assert_eq!(module_of(Path::new("tests/common/mod.rs")), "common::");
        assert_eq!(module_of(Path::new("src/bin/crdgen.rs")), "");
    }

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(
            normalize(Path::new("steps/../img/x.svg")),
            Path::new("img/x.svg")
        );
        assert_eq!(normalize(Path::new("../../a")), Path::new("../../a"));
    }
}

/// How many columns of code fit on a page of the rendered book. mdBook's default theme shows a
/// chapter at most `--content-max-width: 750px` wide; a code block (`pre > code`) has `1rem`
/// (10px) of padding on each side, which leaves 730px; code is set in the bundled Source Code Pro
/// at `--code-font-size: 0.875em` of the 16px body, 14px, and each of its characters is 0.6em
/// (8.4px) wide. 730 / 8.4 = 86.9: 86 characters fit, the 87th is cut off (checked in Chromium:
/// a line of 86 characters fits, one of 87 makes the block scroll).
const PAGE_COLUMNS: usize = 86;

/// One line of the book as mdBook renders it, and where it comes from.
#[derive(Debug, Clone)]
struct SourceLine {
    /// The file the line is in, relative to the repository root.
    file: PathBuf,
    /// Its line number in that file (1-based).
    number: usize,
    text: String,
}

/// A chapter's lines with every `{{#include}}` and `{{#rustdoc_include}}` replaced by
/// the lines it includes, as mdBook's links preprocessor does (recursively, a nested
/// include's path relative to the file that holds it). Problems with the includes
/// themselves are reported by the other test.
fn expand(
    root: &Path,
    file: &Path,
    lines: Vec<(usize, String)>,
    depth: usize,
) -> Vec<SourceLine> {
    let directive = Regex::new(
        r"^(.*?)\{\{\s*#(include|rustdoc_include)\s+([^}\s]+)[^}]*\}\}(.*)$",
    )
    .expect("a valid regex");
    let shown = file.strip_prefix(root).unwrap_or(file).to_path_buf();
    let mut out = Vec::new();
    for (number, line) in lines {
        let Some(cap) = directive.captures(&line).filter(|_| depth < 10) else {
            out.push(SourceLine {
                file: shown.clone(),
                number,
                text: line,
            });
            continue;
        };
        let (before, kind, arg, after) = (&cap[1], &cap[2], &cap[3], &cap[4]);
        if before.ends_with('\\') {
            out.push(SourceLine {
                file: shown.clone(),
                number,
                text: line,
            });
            continue;
        }
        let (target, selector) = arg.split_once(':').unwrap_or((arg, ""));
        let path = normalize(&file.parent().unwrap_or(Path::new("")).join(target));
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let mut included = included_lines(&text, selector, kind == "rustdoc_include");
        // The directive's line keeps what stood before and after it.
        if let Some(first) = included.first_mut() {
            first.1.insert_str(0, before);
        }
        if let Some(last) = included.last_mut() {
            last.1.push_str(after);
        }
        out.extend(expand(root, &path, included, depth + 1));
    }
    out
}

/// Which lines of a file an include selects, parsed as mdBook's
/// `parse_range_or_anchor` does.
#[derive(Debug, PartialEq)]
enum Selection {
    /// Lines `first..=last`, numbered from 1: the whole file (``), one line (`5`), a
    /// range (`2:10`), from a line on (`2:`), up to a line (`:10`).
    Lines(usize, usize),
    /// The lines between `ANCHOR: name` and `ANCHOR_END: name`.
    Anchor(String),
}

fn selection(selector: &str) -> Selection {
    let mut parts = selector.splitn(3, ':');
    let first = parts.next().unwrap_or("");
    let start = match first.parse::<usize>() {
        Ok(line) => Some(line.max(1)),
        Err(_) if first.is_empty() => None,
        Err(_) => return Selection::Anchor(first.to_string()),
    };
    let end = parts.next().map(|s| s.parse::<usize>());
    match (start, end) {
        (Some(start), Some(Ok(end))) => Selection::Lines(start, end),
        (Some(start), Some(Err(_))) => Selection::Lines(start, usize::MAX),
        (Some(start), None) => Selection::Lines(start, start),
        (None, Some(Ok(end))) => Selection::Lines(1, end),
        (None, _) => Selection::Lines(1, usize::MAX),
    }
}

/// The lines of `text` an include shows, with their numbers in the file (from 1), as
/// mdBook's `take_lines` and `take_anchored_lines` select them: a line range as it
/// is, an anchor's lines up to its first end without any line that marks an anchor.
/// `rustdoc_include` keeps the other lines too, hidden behind `# ` (mdBook hides them
/// in a Rust block), and every section of the anchor.
fn included_lines(text: &str, selector: &str, rustdoc: bool) -> Vec<(usize, String)> {
    let numbered = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let hidden = |l: &str| format!("# {l}");
    match selection(selector) {
        Selection::Lines(first, last) => numbered
            .filter_map(|(n, l)| match (first..=last).contains(&n) {
                true => Some((n, l.to_string())),
                false => rustdoc.then(|| (n, hidden(l))),
            })
            .collect(),
        Selection::Anchor(name) => {
            // mdBook's own patterns: the name is compared whole
            // (`run` does not end `run_all`).
            let start = Regex::new(r"ANCHOR:\s*([\w_-]+)").expect("a valid regex");
            let end = Regex::new(r"ANCHOR_END:\s*([\w_-]+)").expect("a valid regex");
            let marks = |re: &Regex, l: &str| re.captures(l).map(|c| c[1] == *name);
            let mut inside = false;
            let mut out = Vec::new();
            for (n, l) in numbered {
                match (inside, marks(&start, l), marks(&end, l)) {
                    (true, _, Some(true)) if rustdoc => inside = false,
                    (true, _, Some(true)) => break,
                    (true, None, None) => out.push((n, l.to_string())),
                    (false, Some(true), _) => inside = true,
                    (false, None, None) if rustdoc => out.push((n, hidden(l))),
                    _ => {}
                }
            }
            out
        }
    }
}

/// The lines of a chapter's code blocks (transcripts and included code among them) that are
/// wider than the page, as mdBook shows them: the indentation of a block in a list item removed,
/// a tab as four spaces, and the lines of a Rust block that mdBook hides (`# ` at the start)
/// left out.
fn too_wide(lines: &[SourceLine]) -> Vec<(SourceLine, usize)> {
    let mut text = String::new();
    let mut starts = Vec::new();
    for line in lines {
        starts.push(text.len());
        text.push_str(&line.text);
        text.push('\n');
    }
    let line_at = |offset: usize| starts.partition_point(|&s| s <= offset) - 1;
    let mut wide = Vec::new();
    let mut rust = None;
    for (event, range) in markdown(&text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                rust = Some(match kind {
                    pulldown_cmark::CodeBlockKind::Fenced(info) => {
                        let lang = info.split([',', ' ']).next().unwrap_or("");
                        lang == "rust"
                    }
                    pulldown_cmark::CodeBlockKind::Indented => false,
                });
            }
            Event::End(TagEnd::CodeBlock) => rust = None,
            Event::Text(code) => {
                let Some(is_rust) = rust else { continue };
                let first = line_at(range.start);
                for (i, shown) in code.lines().enumerate() {
                    // A transcript's lines are what was printed: the page wraps them.
                    if lines[first + i].file.starts_with("book/src/transcripts") {
                        continue;
                    }
                    let trimmed = shown.trim_start();
                    if is_rust && (trimmed == "#" || trimmed.starts_with("# ")) {
                        continue;
                    }
                    let columns = shown.replace('\t', "    ").chars().count();
                    if columns > PAGE_COLUMNS {
                        wide.push((lines[first + i].clone(), columns));
                    }
                }
            }
            _ => {}
        }
    }
    wide
}

#[test]
fn no_code_line_in_the_book_is_wider_than_the_page() {
    let book = Book::load();
    let mut problems = Vec::new();
    // rustfmt keeps the code it formats inside the page; the rest is wrapped by hand.
    let rustfmt =
        fs::read_to_string(book.root.join("rustfmt.toml")).unwrap_or_default();
    if !rustfmt.contains(&format!("max_width = {PAGE_COLUMNS}\n")) {
        problems.push(format!(
            "rustfmt.toml: max_width must be {PAGE_COLUMNS}, the page's width"
        ));
    }
    let mut wide_lines = BTreeSet::new();
    for chapter in &book.chapters {
        let path = book.src.join(chapter);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        for (line, columns) in too_wide(&expand(&book.root, &path, lines, 0)) {
            wide_lines.insert((line.file.clone(), line.number));
            let start: String = line.text.trim().chars().take(50).collect();
            problems.push(format!(
                "{}:{}: {columns} columns (shown in book/src/{}): {start}...",
                line.file.display(),
                line.number,
                chapter.display()
            ));
        }
    }
    problems.dedup();
    let mut files: BTreeMap<&Path, usize> = BTreeMap::new();
    for (file, _) in &wide_lines {
        *files.entry(file.as_path()).or_default() += 1;
    }
    let per_file: Vec<String> = files
        .iter()
        .map(|(file, n)| format!("{n} in {}", file.display()))
        .collect();
    assert!(
        problems.is_empty(),
        "{} line(s) of {} file(s) in the book's code blocks are wider than the page's \
         {PAGE_COLUMNS} columns and are cut off when rendered ({}). Wrap them: Rust code with \
         cargo fmt, its comments and strings by hand; a starter in steps/ by fixing its \
         solution (or scripts/gen-steps.sh) and regenerating:\n  - {}",
        wide_lines.len(),
        files.len(),
        per_file.join(", "),
        problems.join("\n  - ")
    );
}
