//! `kubectl task start <task> [-p NAME=VALUE]... [--timeout 5m] [--follow]`,
//! `kubectl task list [--task T]`, `kubectl task logs <run>`; with `-n`, `--context`,
//! `--kubeconfig` as in kubectl.
//!
//! Build: `cargo build -p solution-07-taskrun --bin kubectl-task` (seconds, after `cargo run`),
//! then put `target/debug` on your PATH; kubectl finds it there as `kubectl task`. (`cargo install
//! --path solutions/07-taskrun --bin kubectl-task` is a release build of minutes.) Exit status: 0 when done (for `start --follow`, the run
//! succeeded), 1 when the followed run failed, 2 when the command itself failed.

// gen-steps: solution only (the plugin's code is the library's src/plugin.rs, which the starter
// has; one package in the workspace builds the program, so its name never collides)

use std::process::ExitCode;

use clap::Parser;
use taskrun::plugin::{self, Cli, Exit};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match plugin::run(cli, &mut std::io::stdout()).await {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(Exit::RunFailed) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
