//! `cargo run -p solution-04-mirror -- [--namespace NS] [--workers N] [--context CTX]`
//!
//! Runs the mirror until Ctrl-C. Try `kubectl apply -f manifests/samples/colors.yaml`, then
//! delete `colors-synced` and watch it come back.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = mirror::Args::parse();
    connect::init_tracing("info");
    let result = async {
        let client = connect::client(args.context.clone()).await?;
        mirror::start(
            client,
            args.namespace.as_deref(),
            args.workers,
            informer::ctrl_c(),
        )
        .await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    connect::exit_code(result.await)
}
