//! End-to-end tests of `kubectl task` (src/plugin.rs), against a real API server with the
//! controller running. They call the plugin's library, exactly as the `kubectl-task` program
//! does, so they see its output and its outcome (the exit status) without starting a process.
//! Run with `scripts/check.sh 07`.

mod common;

use clap::Parser;
use common::{FINISH, Harness, containers_really_run};
use taskrun::plugin::{self, Cli, Exit};

/// Runs `kubectl task <args>` in the harness's namespace; returns the outcome and the output.
async fn kubectl_task(
    h: &Harness,
    args: &[&str],
) -> anyhow::Result<(Result<Exit, plugin::Error>, String)> {
    let argv = ["kubectl-task", "-n", h.ns.name()]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv)?;
    let mut out = Vec::new();
    let command =
        async { Ok(tokio::time::timeout(FINISH, plugin::run(cli, &mut out)).await?) };
    let outcome = h.unless_stopped(command).await?;
    let out = String::from_utf8(out)?;
    eprintln!("$ kubectl task {}\n{out}", args.join(" "));
    Ok((outcome, out))
}

// ANCHOR: e2e_plugin
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn start_follow_succeeds_or_fails_with_the_run() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-plugin").await?;
    h.task(
        "ok",
        &[
            ("hello", "echo \"Hello, $(params.who)!\""),
            ("bye", "echo bye"),
        ],
    )
    .await?;
    h.task(
        "flaky",
        &[
            ("first", "echo one"),
            ("second", "exit 3"),
            ("third", "echo three"),
        ],
    )
    .await?;

    let (outcome, out) =
        kubectl_task(&h, &["start", "ok", "-p", "who=plugin", "--follow"]).await?;
    assert_eq!(outcome?, Exit::Done, "{out}");
    assert!(out.starts_with("taskrun.workshop.io/ok-"), "{out}");
    assert!(out.contains(": Succeeded all 2 steps succeeded"), "{out}");
    assert!(out.contains("step bye"), "{out}");

    let (outcome, out) = kubectl_task(&h, &["start", "flaky", "--follow"]).await?;
    assert_eq!(outcome?, Exit::RunFailed, "{out}");
    assert!(
        out.contains("StepFailed: step second failed with exit code 3"),
        "{out}"
    );
    assert!(out.contains("did not run"), "the third step: {out}");

    // Without --follow, start only creates the run.
    let (outcome, out) = kubectl_task(&h, &["start", "ok"]).await?;
    assert_eq!(outcome?, Exit::Done);
    assert_eq!(out.lines().count(), 1, "{out}");
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_plugin

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn start_refuses_a_missing_task_or_an_unknown_parameter() -> anyhow::Result<()>
{
    let h = Harness::start("taskrun-plugin-bad").await?;
    h.task("ok", &[("hello", "echo hello")]).await?;
    let (outcome, _) = kubectl_task(&h, &["start", "nope", "--follow"]).await?;
    let message = outcome.expect_err("no such Task").to_string();
    assert!(message.contains("no Task named nope"), "{message}");
    let (outcome, _) = kubectl_task(&h, &["start", "ok", "-p", "whom=typo"]).await?;
    let message = outcome.expect_err("no such parameter").to_string();
    assert!(message.contains("\"whom\""), "{message}");
    assert!(
        h.runs.list(&Default::default()).await?.items.is_empty(),
        "no run created"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn list_shows_the_runs_and_logs_every_step() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-plugin-list").await?;
    h.task("ok", &[("hello", "echo hello"), ("bye", "echo bye")])
        .await?;
    h.task("other", &[("only", "echo other")]).await?;
    let (outcome, _) = kubectl_task(&h, &["start", "ok", "--follow"]).await?;
    assert_eq!(outcome?, Exit::Done);
    kubectl_task(&h, &["start", "other", "--follow"]).await?.0?;

    let (_, table) = kubectl_task(&h, &["list"]).await?;
    let header: Vec<_> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "TASK", "PHASE", "REASON", "DURATION"],
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        table
            .lines()
            .all(|l| l.contains("Succeeded") || l.starts_with("NAME")),
        "{table}"
    );
    let (_, only_ok) = kubectl_task(&h, &["list", "--task", "ok"]).await?;
    assert_eq!(only_ok.lines().count(), 2, "{only_ok}");
    let run = only_ok
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();

    // One section per step, in order. (What each step printed: the next test.)
    let (outcome, logs) = kubectl_task(&h, &["logs", &run]).await?;
    outcome?;
    let headers: Vec<_> = logs.lines().filter(|l| l.starts_with("==> ")).collect();
    assert_eq!(
        headers,
        ["==> step hello <==", "==> step bye <=="],
        "{logs}"
    );
    Ok(())
}

// ANCHOR: e2e_logs
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn logs_show_what_each_step_printed_and_which_never_ran() -> anyhow::Result<()>
{
    let h = Harness::start("taskrun-plugin-logs").await?;
    let real = containers_really_run(&h.admin).await?;
    h.task(
        "hello",
        &[
            ("greet", "echo \"Hello, $(params.who)!\""),
            ("count", "for i in 1 2 3; do echo $i; done"),
            ("goodbye", "echo \"Goodbye, $(params.who).\""),
        ],
    )
    .await?;
    h.task(
        "flaky",
        &[
            ("one", "echo one"),
            ("two", "echo two fails; exit 3"),
            ("three", "echo three"),
        ],
    )
    .await?;

    let (outcome, out) =
        kubectl_task(&h, &["start", "hello", "-p", "who=Ada", "--follow"]).await?;
    assert_eq!(outcome?, Exit::Done, "{out}");
    let run = out.split_whitespace().next().unwrap_or_default();
    let run = run.trim_start_matches("taskrun.workshop.io/").to_string();
    let (outcome, logs) = kubectl_task(&h, &["logs", &run]).await?;
    outcome?;
    if real {
        // The parameter reached a real shell, which expanded nothing else.
        assert_eq!(
            logs,
            "==> step greet <==\nHello, Ada!\n==> step count <==\n1\n2\n3\n\
             ==> step goodbye <==\nGoodbye, Ada.\n"
        );
    }

    let (outcome, out) = kubectl_task(&h, &["start", "flaky", "--follow"]).await?;
    assert_eq!(outcome?, Exit::RunFailed, "{out}");
    assert!(!out.contains("three is"), "the third step never ran: {out}");
    let run = out.split_whitespace().next().unwrap_or_default();
    let run = run.trim_start_matches("taskrun.workshop.io/").to_string();
    let (outcome, logs) = kubectl_task(&h, &["logs", &run]).await?;
    outcome?;
    assert!(
        logs.ends_with("==> step three <==\n(did not run)\n"),
        "{logs}"
    );
    if real {
        assert!(
            logs.starts_with("==> step one <==\none\n==> step two <==\ntwo fails\n"),
            "{logs}"
        );
    }
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_logs
