//! Solutions whose every exercise can be switched back to its starter at run time, so that one
//! build per step answers "does this check pass with exactly these exercises done?" for any
//! combination of exercises.
//!
//! Each region becomes
//!
//! ```text
//! if <exercise N.M is not listed in WORKSHOP_STARTER> {
//!     <the solution's code>
//!     <the rest of the enclosing block>
//! } else {
//!     <the starter's code: todo!(...), or the diagnose exercise's bug>
//!     <the rest of the enclosing block>
//! }
//! ```
//!
//! The rest of the block goes into both branches, so a diagnose region may bind names that the
//! code after it uses (`let events = ...`), and each branch is exactly the code of the solution
//! or of the starter. `WORKSHOP_STARTER` is read when the code runs, in the test process and in
//! every program it starts: `WORKSHOP_STARTER=4.1,4.3` runs step 04 with exercises 4.1 and 4.3
//! as in the starter and every other exercise solved.

use crate::model::{Exercise, Kind};

/// The environment variable that lists the exercises left as in the starter.
pub const STARTER_VAR: &str = "WORKSHOP_STARTER";

/// The switchable form of a solution file whose exercises are `exercises` (any order).
pub fn switchable(text: &str, exercises: &[&Exercise]) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut ordered: Vec<&&Exercise> = exercises.iter().collect();
    // From the last region up, so that the line numbers of the ones above stay right and a
    // region's rest of block already holds the switched form of any region below it.
    ordered.sort_by_key(|e| std::cmp::Reverse(e.region.begin));
    for exercise in ordered {
        let (begin, end) = (exercise.region.begin - 1, exercise.region.end - 1);
        let indent = indentation(&lines[begin]).to_string();
        let solution_end = exercise.region.starter.map_or(end, |s| s - 1);
        let solution: Vec<String> = lines[begin + 1..solution_end].to_vec();
        let starter: Vec<String> = match (exercise.kind, exercise.region.starter) {
            (Kind::Diagnose, Some(s)) => lines[s..end]
                .iter()
                .map(|l| {
                    if l.trim_start() == "//" {
                        String::new()
                    } else {
                        l.replacen("// ", "", 1)
                    }
                })
                .collect(),
            _ => vec![format!(
                "{indent}todo!({:?})",
                format!("Exercise {}: {}", exercise.number, exercise.title)
            )],
        };
        // The rest of the enclosing block: up to the first line indented less than the region.
        let mut close = end + 1;
        while close < lines.len()
            && (lines[close].trim().is_empty()
                || indentation(&lines[close]).len() >= indent.len())
        {
            close += 1;
        }
        if close == lines.len() {
            return Err(format!(
                "{}:{}: cannot find the end of the block that holds {} {}",
                exercise.file.display(),
                exercise.region.end,
                exercise.kind.as_str(),
                exercise.number
            ));
        }
        let rest: Vec<String> = lines[end + 1..close].to_vec();
        let mut switched = vec![format!(
            "{indent}if ::std::env::var({STARTER_VAR:?}).map_or(true, |starter| \
             !starter.split(',').any(|n| n.trim() == \"{}\")) {{",
            exercise.number
        )];
        switched.extend(solution);
        switched.extend(rest.iter().cloned());
        switched.push(format!("{indent}}} else {{"));
        switched.extend(starter);
        switched.extend(rest);
        switched.push(format!("{indent}}}"));
        lines.splice(begin..close, switched);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;

    fn exercise(kind: Kind, line: usize, region: Region) -> Exercise {
        Exercise {
            kind,
            title: "Fix \"it\".".into(),
            line,
            indent: "    ".into(),
            region,
            ..Exercise::sample("05-controller", 4)
        }
    }

    #[test]
    fn a_region_in_the_middle_of_a_body_takes_the_rest_of_it_into_both_branches() {
        let text = "fn f() -> u32 {\n    let a = 1;\n    // DIAGNOSE 5.4: Fix it.\n    \
                    // BEGIN SOLUTION\n    let b = a + 1;\n    // STARTER\n    // let b = a;\n    \
                    // END SOLUTION\n\n    b * 2\n}\n";
        let e = exercise(
            Kind::Diagnose,
            3,
            Region {
                begin: 4,
                starter: Some(6),
                end: 8,
            },
        );
        let out = switchable(text, &[&e]).expect("switchable");
        let wanted = "fn f() -> u32 {\n    let a = 1;\n    // DIAGNOSE 5.4: Fix it.\n    \
                      if ::std::env::var(\"WORKSHOP_STARTER\").map_or(true, |starter| !starter.split(',').any(|n| n.trim() == \"5.4\")) {\n    \
                      let b = a + 1;\n\n    b * 2\n    } else {\n    let b = a;\n\n    b * 2\n    }\n}\n";
        assert_eq!(out, wanted);
    }

    #[test]
    fn an_exercise_region_gets_its_todo_in_the_other_branch() {
        let text = "fn f() -> u32 {\n    // EXERCISE 5.4: T\n    // BEGIN SOLUTION\n    1\n    \
                    // END SOLUTION\n}\n";
        let e = exercise(
            Kind::Exercise,
            2,
            Region {
                begin: 3,
                starter: None,
                end: 5,
            },
        );
        let out = switchable(text, &[&e]).expect("switchable");
        assert!(out.contains("    1\n    } else {\n    todo!(\"Exercise 5.4: Fix \\\"it\\\".\")\n    }\n}\n"), "{out}");
    }
}
