//! `cargo run -p solution-05-controller -- [--namespace NS] [--workers N] [--fail-first N]`
//!
//! The step 04 mirror on kube-runtime's Controller; runs until Ctrl-C.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = controller::Args::parse();
    connect::init_tracing("info");
    let result = async {
        let client = connect::client(args.mirror.context.clone()).await?;
        controller::start(
            client,
            args.mirror.namespace.as_deref(),
            args.mirror.workers,
            args.fail_first,
            informer::ctrl_c(),
        )
        .await;
        Ok::<_, connect::ConnectError>(())
    };
    connect::exit_code(result.await)
}
