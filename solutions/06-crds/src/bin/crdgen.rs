//! `cargo run -p solution-06-crds --bin crdgen`
//!
//! Writes the CustomResourceDefinitions of `Task` and `TaskRun` to
//! `manifests/crds/`, generated from the Rust types in src/task.rs and
//! src/taskrun.rs. Change a type, run this, and apply the result
//! (`kubectl apply -f manifests/crds/`). A unit test fails when the committed files
//! are not what this would write, so the types and the YAML cannot drift apart.

// gen-steps: solution only (a maintainer's tool; the starter needs no copy of it)

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crds::{Task, TaskRun};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

// ANCHOR: crds
/// The files this program writes, under the repository's
/// `manifests/crds/`, and their CRDs.
fn crds() -> [(&'static str, CustomResourceDefinition); 2] {
    [("task.yaml", Task::crd()), ("taskrun.yaml", TaskRun::crd())]
}
// ANCHOR_END: crds

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/crds")
}

// ANCHOR: render
/// One CRD as the YAML file we commit: a header saying where it
/// comes from, then the CRD.
fn render(
    crd: &CustomResourceDefinition,
) -> Result<String, Box<dyn std::error::Error>> {
    let kind = &crd.spec.names.kind;
    // The header names the solution's package, whichever package runs this:
    // the committed files come from the reference types, and must not
    // change with who generated them.
    let header = format!(
        "# Generated from the Rust type `{kind}` in solutions/06-crds by\n\
         # `cargo run -p solution-06-crds --bin crdgen`.\n\
         # Do not edit: change the type and regenerate.\n\
         # Install with `kubectl apply -f manifests/crds/`.\n"
    );
    let mut crd = serde_json::to_value(crd)?;
    unwrap_descriptions(&mut crd);
    Ok(header + &fold_long_lines(&serde_yaml::to_string(&crd)?))
}
// ANCHOR_END: render

/// Doc comments are wrapped to fit the source file, and schemars keeps their line
/// breaks in the `description`s. `kubectl explain` wraps text to the terminal again,
/// so a kept break shows as a ragged short line. Join the lines of each paragraph; a
/// blank line still separates paragraphs.
fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|paragraph| {
                                paragraph.lines().collect::<Vec<_>>().join(" ")
                            })
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    value => unwrap_descriptions(value),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(unwrap_descriptions)
        }
        _ => {}
    }
}

/// How wide a line of the file may be: the book shows it on a page that fits 86
/// columns of code (the book's test checks every line it shows).
const PAGE_COLUMNS: usize = 86;

/// serde_yaml writes each string on one line, however long. A `key: text` line wider
/// than the page becomes a folded block scalar (`key: >-` and the text on lines of
/// its own), which YAML reads back as the very same one-line text.
fn fold_long_lines(yaml: &str) -> String {
    let mut out = String::new();
    for line in yaml.lines() {
        out.push_str(&fold(line).unwrap_or_else(|| line.to_string()));
        out.push('\n');
    }
    out
}

/// `line` as a folded block scalar, or `None` when it fits or is not a plain or
/// single-quoted text that folds back unchanged.
fn fold(line: &str) -> Option<String> {
    if line.chars().count() <= PAGE_COLUMNS {
        return None;
    }
    let (key, value) = line.split_once(": ")?;
    let name = key.trim_start().trim_start_matches("- ");
    let simple = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(simple) {
        return None;
    }
    let text = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(quoted) => quoted.replace("''", "'"),
        None if value.starts_with(['"', '\'', '|', '>', '[', '{', '&', '*', '!']) => {
            return None;
        }
        None => value.to_string(),
    };
    // Folding joins lines with one space: only text whose words are one space
    // apart comes back the same.
    if text.is_empty()
        || text.contains("  ")
        || text != text.trim()
        || text.contains('\n')
    {
        return None;
    }
    let indent = " ".repeat(key.len() - name.len() + 2);
    let mut folded = format!("{key}: >-");
    let mut room = 0;
    for word in text.split(' ') {
        if room > 0 && room + 1 + word.chars().count() <= PAGE_COLUMNS {
            folded.push(' ');
            room += 1;
        } else {
            folded.push('\n');
            folded.push_str(&indent);
            room = indent.len();
        }
        folded.push_str(word);
        room += word.chars().count();
    }
    Some(folded)
}

fn main() -> ExitCode {
    let dir = crds_dir();
    for (file, crd) in crds() {
        let path = dir.join(file);
        let written = render(&crd)
            .map_err(|err| err.to_string())
            .and_then(|yaml| {
                std::fs::write(&path, yaml).map_err(|err| err.to_string())
            });
        match written {
            Ok(()) => println!("wrote {}", path.display()),
            Err(err) => {
                eprintln!("error: cannot write {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_paragraphs_but_not_line_wraps() {
        let mut schema = serde_json::json!({
            "description": "one\ntwo\n\nthree",
            "properties": { "x": { "description": "a\nb", "type": "string" } },
            "items": [{ "description": "c\nd" }]
        });
        unwrap_descriptions(&mut schema);
        assert_eq!(
            schema,
            serde_json::json!({
                "description": "one two\n\nthree",
                "properties": { "x": { "description": "a b", "type": "string" } },
                "items": [{ "description": "c d" }]
            })
        );
    }

    #[test]
    fn long_lines_fold_into_the_same_yaml() {
        let long = "word ".repeat(30);
        let long = long.trim();
        let yaml = format!(
            "a:\n  description: {long}\n  items:\n  - rule: '!has(x) || it''s {long}'\n  \
             - keep: \"{long}\"\nshort: text\n"
        );
        let folded = fold_long_lines(&yaml);
        assert!(
            folded.contains("description: >-\n    word word"),
            "{folded}"
        );
        assert!(
            folded.contains("- rule: >-\n      !has(x) || it's word"),
            "{folded}"
        );
        assert!(folded.contains(&format!("- keep: \"{long}\"")), "{folded}");
        assert!(
            folded
                .lines()
                .filter(|l| !l.contains("keep"))
                .all(|l| l.len() <= 86)
        );
        let read = |text: &str| {
            serde_yaml::from_str::<serde_yaml::Value>(text).expect("YAML")
        };
        assert_eq!(read(&folded), read(&yaml));
        for (_, crd) in crds() {
            let plain = serde_yaml::to_string(&crd).expect("a CRD renders as YAML");
            let rendered = render(&crd).expect("a CRD renders as YAML");
            let value = |text: &str| {
                serde_yaml::from_str::<CustomResourceDefinition>(text).expect("a CRD")
            };
            let mut unwrapped = serde_json::to_value(value(&plain)).expect("JSON");
            unwrap_descriptions(&mut unwrapped);
            assert_eq!(
                serde_json::to_value(value(&rendered)).expect("JSON"),
                unwrapped
            );
        }
    }

    // ANCHOR: drift_test
    #[test]
    fn the_committed_crds_are_what_crdgen_writes() {
        for (file, crd) in crds() {
            let path = crds_dir().join(file);
            let expected = render(&crd).expect("a CRD renders as YAML");
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == expected,
                "manifests/crds/{file} is not what the Rust types generate: run \
                 `cargo run -p {} --bin crdgen` (and \
                 `kubectl apply -f manifests/crds/`)",
                env!("CARGO_PKG_NAME")
            );
        }
    }
    // ANCHOR_END: drift_test
}
