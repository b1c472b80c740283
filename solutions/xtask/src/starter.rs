//! A solution's Rust file turned into its starter: what `steps/NN-name` holds.
//!
//! The exercise's marker and title become a `TODO(exercise N.M)` header, the rest of its comment
//! stays, and the region becomes `todo!("Exercise N.M: <title>")` (an exercise) or the buggy
//! code after `// STARTER`, uncommented (a diagnose exercise). The book includes the starters,
//! so every line written here fits its page ([`WIDTH`] columns): the TODO title is wrapped, and
//! a long `todo!()` message goes on in the next line (a `\` at a line's end inside a Rust string
//! skips the line break and the next line's indentation). rustfmt formats the result afterwards.

use crate::model::{Exercise, Kind};

/// The book's page width in columns of code (rustfmt.toml's `max_width`).
pub const WIDTH: usize = 86;

/// The starter form of a solution file whose exercises (in the order of their lines) are
/// `exercises`, all of them read from `text` by the model.
pub fn starter(text: &str, exercises: &[&Exercise]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    for exercise in exercises {
        let marker = exercise.line - 1;
        out.extend(lines[i..marker].iter().map(|l| l.to_string()));
        let header = format!(
            "{}// TODO({} {}): ",
            exercise.indent,
            exercise.kind.as_str(),
            exercise.number
        );
        let rest = format!("{}//     ", exercise.indent);
        let last = wrap(&exercise.title, &header, &rest, "", WIDTH, &mut out);
        out.push(last);
        // The comment and any code up to the region, as they are.
        let begin = exercise.region.begin - 1;
        out.extend(
            lines[marker + exercise.title_lines..begin]
                .iter()
                .map(|l| l.to_string()),
        );
        let indent = indentation(lines[begin]);
        let end = exercise.region.end - 1;
        match (exercise.kind, exercise.region.starter) {
            (Kind::Diagnose, Some(starter)) => {
                for line in &lines[starter..end] {
                    // "    // code" -> "    code"; "    //" -> "".
                    if line.trim_start() == "//" {
                        out.push(String::new());
                    } else {
                        out.push(line.replacen("// ", "", 1));
                    }
                }
            }
            _ => todo_call(exercise, indent, &mut out),
        }
        i = end + 1;
    }
    out.extend(lines[i..].iter().map(|l| l.to_string()));
    let mut text = out.join("\n");
    text.push('\n');
    if out.iter().any(|l| l.trim_start().starts_with("todo!(")) {
        text = allow_unused(&text);
    }
    text
}

/// `todo!("Exercise N.M: <title>")`, on one line when it fits, else on several.
fn todo_call(exercise: &Exercise, indent: &str, out: &mut Vec<String>) {
    let title = exercise.title.replace('\\', "\\\\").replace('"', "\\\"");
    let message = format!("Exercise {}: {title}", exercise.number);
    let one_line = format!("{indent}todo!(\"{message}\")");
    if one_line.chars().count() <= WIDTH {
        out.push(one_line);
        return;
    }
    out.push(format!("{indent}todo!("));
    let first = format!("{indent}    \"");
    let rest = format!("{indent}     ");
    let last = wrap(&message, &first, &rest, " \\", WIDTH - 1, out);
    out.push(format!("{last}\""));
    out.push(format!("{indent})"));
}

/// Lays out the words of `text` in lines at most `room` columns wide: the first starts with
/// `first`, the others with `rest`, and every line but the last ends with `more`. Pushes the
/// full lines to `out` and returns the last one.
fn wrap(
    text: &str,
    first: &str,
    rest: &str,
    more: &str,
    room: usize,
    out: &mut Vec<String>,
) -> String {
    let width = |s: &str| s.chars().count();
    let mut line = first.to_string();
    let mut started = false;
    for word in text.split_whitespace() {
        if started && width(&line) + 1 + width(word) + width(more) > room {
            out.push(format!("{line}{more}"));
            line = format!("{rest}{word}");
        } else if !started && width(&line) + width(word) + width(more) > room {
            // Not even the first word fits after `first`: it starts the next line.
            out.push(line.trim_end_matches(' ').to_string());
            line = format!("{rest}{word}");
        } else {
            if started {
                line.push(' ');
            }
            line.push_str(word);
        }
        started = true;
    }
    line
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Until the TODOs are written, their imports and parameters are unused: the starter says so
/// once, at the top of the file (after its `//!` docs), instead of letting warnings bury the
/// real messages. Only those three lints: everything else still warns, a forgotten `.await`
/// (unused_must_use) first.
fn allow_unused(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 300);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if !done && !line.starts_with("//!") {
            out.push_str(
                "// Starter code: the imports, parameters and helpers that the TODOs below need are\n\
                 // unused until you write them. Once they are done, delete the `allow` below: the\n\
                 // compiler then checks that you left none.\n\
                 #![allow(unused_imports, unused_variables, dead_code)]\n",
            );
            done = true;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;

    fn exercise(kind: Kind, title: &str, line: usize, region: Region) -> Exercise {
        Exercise {
            kind,
            title: title.into(),
            line,
            indent: "    ".into(),
            region,
            ..Exercise::sample("03-workqueue", 6)
        }
    }

    #[test]
    fn an_exercise_becomes_a_todo() {
        let text = "//! Docs.\nfn f() -> u32 {\n    // EXERCISE 3.6: Say \"hi\".\n    // Goal.\n    \
                    // BEGIN SOLUTION\n    1\n    // END SOLUTION\n}\n";
        let e = exercise(
            Kind::Exercise,
            "Say \"hi\".",
            3,
            Region {
                begin: 5,
                starter: None,
                end: 7,
            },
        );
        assert_eq!(
            starter(text, &[&e]),
            "//! Docs.\n// Starter code: the imports, parameters and helpers that the TODOs below need are\n\
             // unused until you write them. Once they are done, delete the `allow` below: the\n\
             // compiler then checks that you left none.\n\
             #![allow(unused_imports, unused_variables, dead_code)]\n\
             fn f() -> u32 {\n    // TODO(exercise 3.6): Say \"hi\".\n    // Goal.\n    \
             todo!(\"Exercise 3.6: Say \\\"hi\\\".\")\n}\n"
        );
    }

    #[test]
    fn a_diagnose_exercise_gets_its_bug_back() {
        let text = "fn f() -> u32 {\n    // DIAGNOSE 3.6: Find it.\n    // BEGIN SOLUTION\n    1\n    \
                    // STARTER\n    // let x = 2;\n    //\n    // x\n    // END SOLUTION\n}\n";
        let e = exercise(
            Kind::Diagnose,
            "Find it.",
            2,
            Region {
                begin: 3,
                starter: Some(5),
                end: 9,
            },
        );
        assert_eq!(
            starter(text, &[&e]),
            "fn f() -> u32 {\n    // TODO(diagnose 3.6): Find it.\n    let x = 2;\n\n    x\n}\n"
        );
    }

    #[test]
    fn long_titles_and_messages_wrap_to_the_page() {
        let title = "Record that `key` needs processing, keeping both of the queue's promises \
                     and a few more words to make it long.";
        let text = format!(
            "fn f() {{\n    // EXERCISE 3.6: {title}\n    // BEGIN SOLUTION\n    // END SOLUTION\n}}\n"
        );
        let e = exercise(
            Kind::Exercise,
            title,
            2,
            Region {
                begin: 3,
                starter: None,
                end: 4,
            },
        );
        let out = starter(&text, &[&e]);
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
        assert!(
            out.contains("    // TODO(exercise 3.6): Record that"),
            "{out}"
        );
        assert!(out.contains("\n    //     "), "{out}");
        assert!(
            out.contains("    todo!(\n        \"Exercise 3.6: Record"),
            "{out}"
        );
        assert!(out.contains(" \\\n         "), "{out}");
    }
}
