//! What is generated from the solutions: every learner's starting point (`steps/NN-name`) and
//! the book's includes that describe the exercises (`book/src/generated/`).
//!
//! A step is its solution with each exercise region replaced ([`crate::starter`]), the package
//! renamed `solution-NN-x` -> `step-NN-x`, and without the files that carry a line
//! `// gen-steps: solution only` (or `# gen-steps: ...` where comments start with `#`):
//! maintainers' tools like crdgen, and step 08's Dockerfile, which builds either package.
//! rustfmt then formats the step with the workspace's rustfmt.toml.
//!
//! `--check` writes everything into a scratch directory instead and fails, saying which file
//! differs and where, when the committed files are not what would be written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::book;
use crate::model::{Workshop, files};

/// The files of one generated tree, by path relative to its directory.
pub type Tree = BTreeMap<PathBuf, Vec<u8>>;

/// The starter of every step, by directory name (`04-mirror`), each formatted by rustfmt.
pub fn steps(
    workshop: &Workshop,
    scratch: &Path,
) -> Result<BTreeMap<String, Tree>, String> {
    let mut out = BTreeMap::new();
    for step in &workshop.steps {
        let src = workshop.root.join("solutions").join(&step.name);
        let mut tree = Tree::new();
        for file in files(&src) {
            let rel = file
                .strip_prefix(&src)
                .expect("under the step")
                .to_path_buf();
            let bytes =
                fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            if text.lines().any(|l| {
                l.starts_with("// gen-steps: solution only")
                    || l.starts_with("# gen-steps: solution only")
            }) {
                continue;
            }
            let generated = if rel == Path::new("Cargo.toml") {
                cargo_toml(&step.name, &text)?.into_bytes()
            } else if rel.extension().is_some_and(|e| e == "rs") {
                let shown = Path::new("solutions").join(&step.name).join(&rel);
                let exercises = workshop.exercises_in(&shown);
                crate::starter::starter(&text, &exercises).into_bytes()
            } else {
                bytes
            };
            tree.insert(rel, generated);
        }
        let dir = scratch.join(&step.name);
        write_tree(&dir, &tree, true)?;
        rustfmt(&workshop.root, &dir)?;
        out.insert(step.name.clone(), read_tree(&dir)?);
    }
    Ok(out)
}

/// The step's Cargo.toml: the solution's, with the package renamed and a first line that says
/// where it comes from.
fn cargo_toml(step: &str, text: &str) -> Result<String, String> {
    let from = format!("\"solution-{step}\"");
    let to = format!("\"step-{step}\"");
    let mut out = format!(
        "# Generated from solutions/{step} by scripts/gen-steps.sh: edit the solution and \
         regenerate.\n"
    );
    for line in text.lines() {
        out.push_str(&line.replacen(&from, &to, 1));
        out.push('\n');
    }
    if !out.lines().any(|l| l == format!("name = {to}")) {
        return Err(format!(
            "solutions/{step}/Cargo.toml must name its package solution-{step}"
        ));
    }
    Ok(out)
}

/// Reads a tree back (after rustfmt rewrote its Rust files).
pub fn read_tree(dir: &Path) -> Result<Tree, String> {
    let mut tree = Tree::new();
    for file in files(dir) {
        let bytes =
            fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        tree.insert(
            file.strip_prefix(dir).expect("under dir").to_path_buf(),
            bytes,
        );
    }
    Ok(tree)
}

/// Writes `tree` into `dir`, leaving a file alone when it holds those bytes already (so its
/// modification time, which cargo's rebuild check reads, does not change). With `clean`, files
/// under `dir` that are not in the tree are removed (`target/` is kept).
pub fn write_tree(dir: &Path, tree: &Tree, clean: bool) -> Result<(), String> {
    let err = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    if clean {
        for file in files(dir) {
            let rel = file.strip_prefix(dir).expect("under dir");
            if !tree.contains_key(rel) {
                fs::remove_file(&file).map_err(|e| err(&file, e))?;
            }
        }
    }
    for (rel, bytes) in tree {
        let path = dir.join(rel);
        if fs::read(&path).is_ok_and(|old| &old == bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        }
        fs::write(&path, bytes).map_err(|e| err(&path, e))?;
    }
    Ok(())
}

/// Formats every Rust file under `dir` with the workspace's rustfmt.toml.
fn rustfmt(root: &Path, dir: &Path) -> Result<(), String> {
    let rust: Vec<PathBuf> = files(dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .collect();
    if rust.is_empty() {
        return Ok(());
    }
    let status = Command::new("rustfmt")
        .arg("--config-path")
        .arg(root.join("rustfmt.toml"))
        .args(&rust)
        .status()
        .map_err(|e| {
            format!("cannot run rustfmt ({e}): install it with `rustup component add rustfmt`")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "rustfmt failed on the starter of {} (its messages are above)",
            dir.display()
        ))
    }
}

/// How two trees differ, one line per file (for a file in both, the first line that differs).
pub fn differences(label: &str, wanted: &Tree, found: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, bytes) in wanted {
        let shown = Path::new(label).join(rel);
        match found.get(rel) {
            None => out.push(format!(
                "{}: missing (it would be generated)",
                shown.display()
            )),
            Some(have) if have != bytes => {
                let (a, b) = (
                    String::from_utf8_lossy(bytes),
                    String::from_utf8_lossy(have),
                );
                let (mut wanted_lines, mut found_lines) = (a.lines(), b.lines());
                let mut n = 1;
                let detail = loop {
                    match (wanted_lines.next(), found_lines.next()) {
                        (Some(x), Some(y)) if x == y => n += 1,
                        (x, y) => {
                            break format!(
                                "line {n} is\n      {}\n    and would be\n      {}",
                                y.unwrap_or("(the end of the file)"),
                                x.unwrap_or("(the end of the file)")
                            );
                        }
                    }
                };
                out.push(format!("{}: {detail}", shown.display()));
            }
            Some(_) => {}
        }
    }
    for rel in found.keys() {
        if !wanted.contains_key(rel) {
            out.push(format!(
                "{}: is not generated (edit solutions/ instead)",
                Path::new(label).join(rel).display()
            ));
        }
    }
    out
}

/// `scripts/gen-steps.sh [--check]`: writes (or checks) steps/ and the book's generated
/// includes. Returns what it did, or every difference found.
pub fn run(workshop: &Workshop, check: bool) -> Result<String, String> {
    let root = &workshop.root;
    let scratch = scratch_dir(root)?;
    let starters = steps(workshop, &scratch.join("steps"));
    let book = book::generated(workshop);
    let _ = fs::remove_dir_all(&scratch);
    let (starters, book) = (starters?, book?);
    if check {
        let mut problems = Vec::new();
        for (name, tree) in &starters {
            let dir = root.join("steps").join(name);
            let found = read_tree(&dir)?;
            problems.extend(differences(&format!("steps/{name}"), tree, &found));
        }
        for (name, _) in stale(root, &starters) {
            problems.push(format!(
                "steps/{name}: no solutions/{name} generates it (remove it)"
            ));
        }
        let dir = root.join(book::GENERATED);
        problems.extend(differences(book::GENERATED, &book, &read_tree(&dir)?));
        if problems.is_empty() {
            Ok("steps/ and the book's generated files match solutions/".into())
        } else {
            Err(format!(
                "{}\nsteps/ or {} differ from what solutions/ generate: run scripts/gen-steps.sh \
                 and commit the result",
                problems.join("\n"),
                book::GENERATED
            ))
        }
    } else {
        let mut said = Vec::new();
        for (name, tree) in &starters {
            write_tree(&root.join("steps").join(name), tree, true)?;
        }
        for (name, dir) in stale(root, &starters) {
            said.push(format!("removing stale steps/{name}"));
            fs::remove_dir_all(dir).map_err(|e| format!("steps/{name}: {e}"))?;
        }
        write_tree(&root.join(book::GENERATED), &book, true)?;
        said.push(format!(
            "generated steps/ and {} from solutions/",
            book::GENERATED
        ));
        Ok(said.join("\n"))
    }
}

/// The directories under `steps/` that no solution generates (a step renamed or removed),
/// by name: `--check` reports them, a run removes them.
fn stale(root: &Path, starters: &BTreeMap<String, Tree>) -> Vec<(String, PathBuf)> {
    fs::read_dir(root.join("steps"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|dir| (dir.file_name().to_string_lossy().into_owned(), dir.path()))
        .filter(|(name, _)| !starters.contains_key(name))
        .collect()
}

/// A scratch directory of our own under target/, emptied.
fn scratch_dir(root: &Path) -> Result<PathBuf, String> {
    let dir = root
        .join("target")
        .join("xtask")
        .join(format!("gen-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
