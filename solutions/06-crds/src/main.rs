//! `cargo run -p solution-06-crds -- [--namespace NS] [--context CTX]`
//!
//! Install the CRDs first (`kubectl apply -f manifests/crds/`). The program creates the `hello`
//! Task (once) and a new TaskRun of it each time it runs, then shows that the run's status stays
//! empty. `kubectl get workshop` lists what it made.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = crds::Args::parse();
    connect::init_tracing("error");
    let result = async {
        let client = connect::client(args.cluster.context.clone()).await?;
        crds::run(client, &args.cluster.namespace, &mut std::io::stdout()).await
    };
    connect::exit_code(result.await)
}
