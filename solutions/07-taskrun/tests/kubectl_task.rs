//! The `kubectl-task` program itself, run the way users run it: through kubectl, which finds
//! `kubectl-task` on the PATH. Checks the exit statuses: 0 when a followed run succeeds, 1 when
//! it fails, 2 when the command itself fails. Run with `scripts/check.sh 07 --solution`.

// gen-steps: solution only (the program is built from src/bin/kubectl-task.rs, which only the
// solution has; the starter's tests/plugin.rs covers the same commands through the library)

mod common;

use std::path::Path;

use common::Harness;

/// Runs `kubectl task <args>` in the harness's namespace, with our program first on the PATH.
async fn kubectl_task(
    h: &Harness,
    args: &[&str],
) -> anyhow::Result<(Option<i32>, String)> {
    let program = Path::new(env!("CARGO_BIN_EXE_kubectl-task"));
    let dir = program.parent().unwrap_or(Path::new("."));
    let path = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let output = tokio::process::Command::new("kubectl")
        .arg("task")
        .args(args)
        .args(["-n", h.ns.name()])
        .env("PATH", path)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    eprintln!("$ kubectl task {}\n{text}", args.join(" "));
    Ok((output.status.code(), text))
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn kubectl_task_exits_0_on_success_1_on_failure_2_on_error()
-> anyhow::Result<()> {
    let h = Harness::start("taskrun-kubectl").await?;
    h.task("ok", &[("hello", "echo hello")]).await?;
    h.task("flaky", &[("first", "echo one"), ("second", "exit 3")])
        .await?;

    let (code, out) = kubectl_task(&h, &["start", "ok", "--follow"]).await?;
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = kubectl_task(&h, &["start", "flaky", "--follow"]).await?;
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = kubectl_task(&h, &["start", "nope"]).await?;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("error: no Task named nope"), "{out}");
    let (code, out) = kubectl_task(&h, &["list"]).await?;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    Ok(())
}
