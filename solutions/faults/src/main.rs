//! `faults`: the workshop's controllers under the faults of real clusters. Run it with
//! `scripts/test-faults.sh`, which builds the controllers and gives it a throwaway cluster.
//!
//! Each scenario starts the controllers it needs as real processes (with the permissions of
//! their ServiceAccounts), changes the cluster as users do, injects its fault (an API server or
//! etcd restarted, a controller killed, a forced re-list, a network partition, a rival writer,
//! bad input), waits for the controllers to put everything right, and then lets the independent
//! checker (`check.rs`) list the cluster and assert the invariants. It prints its figures:
//! objects churned, faults injected, time to converge, requests sent.
//!
//! The last line is `N passed, M failed`; the exit status is 0 only when every scenario that
//! was asked for ran and passed.

mod check;
mod churn;
mod cluster;
mod process;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    about = "Run the fault scenarios against the cluster in $KUBECONFIG (a throwaway one: \
                   some scenarios restart its API server and etcd)"
)]
struct Args {
    /// Where the controllers' binaries are (solution-04-mirror, solution-05-controller,
    /// solution-07-taskrun, solution-08-production).
    #[arg(long)]
    bin_dir: PathBuf,
    /// The kwokctl cluster whose API server and etcd the restart scenarios restart.
    #[arg(long)]
    cluster: String,
    /// Where the controllers' logs go.
    #[arg(long, default_value = "faults-logs")]
    log_dir: PathBuf,
    /// Run only these scenarios (default: all). `--list` shows their names.
    #[arg(long = "only", value_delimiter = ',')]
    only: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

/// What a scenario measured.
#[derive(Debug, Default)]
pub struct Figures {
    /// Objects created, changed or deleted by the scenario's users.
    pub churned: u64,
    /// Faults injected (restarts, kills, re-lists, cuts, rival writes, bad objects).
    pub faults: u64,
    /// From the end of the churn until the checker found nothing wrong.
    pub converge: Duration,
    /// Requests the controllers sent (the API server's count, less the churn's own).
    pub requests: u64,
    /// Anything else worth saying, in a few words.
    pub note: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for (name, about) in scenarios::ALL {
            println!("{name:<16} {about}");
        }
        return ExitCode::SUCCESS;
    }
    if let Some(unknown) = args
        .only
        .iter()
        .find(|name| !scenarios::ALL.iter().any(|(known, _)| known == name))
    {
        eprintln!("error: no scenario named {unknown:?} (--list shows them)");
        return ExitCode::FAILURE;
    }
    if let Err(err) = std::fs::create_dir_all(&args.log_dir) {
        eprintln!("error: cannot create {}: {err}", args.log_dir.display());
        return ExitCode::FAILURE;
    }
    let ctx = match scenarios::Ctx::new(&args.bin_dir, &args.cluster, &args.log_dir)
        .await
    {
        Ok(ctx) => ctx,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };

    let mut results = Vec::new();
    for (name, about) in scenarios::ALL {
        if !args.only.is_empty() && !args.only.iter().any(|only| only == name) {
            continue;
        }
        println!("==> {name}: {about}");
        let outcome = scenarios::run(name, &ctx).await;
        match &outcome {
            Ok(f) => println!(
                "    PASS  churned {}, faults {}, converged in {:.1} s, requests {}; {}",
                f.churned,
                f.faults,
                f.converge.as_secs_f64(),
                f.requests,
                f.note
            ),
            Err(err) => println!("    FAIL  {err:#}"),
        }
        results.push((name, outcome));
    }

    println!();
    println!(
        "{:<16} {:>8} {:>7} {:>10} {:>9}  note",
        "scenario", "churned", "faults", "converge", "requests"
    );
    for (name, outcome) in &results {
        match outcome {
            Ok(f) => println!(
                "{name:<16} {:>8} {:>7} {:>8.1} s {:>9}  {}",
                f.churned,
                f.faults,
                f.converge.as_secs_f64(),
                f.requests,
                f.note
            ),
            Err(_) => println!(
                "{name:<16} {:>8} {:>7} {:>10} {:>9}  FAILED",
                "-", "-", "-", "-"
            ),
        }
    }
    let passed = results.iter().filter(|(_, o)| o.is_ok()).count();
    let failed = results.len() - passed;
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
