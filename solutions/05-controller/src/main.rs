//! `cargo run -p solution-05-controller -- [--namespace NS [--into NS2]] [--workers N]
//! [--fail-first N]`
//!
//! The step 04 mirror on kube-runtime's Controller, or with `--into` a mirror into
//! another namespace, whose sources carry a finalizer; runs until Ctrl-C.

use std::process::ExitCode;

use clap::error::ErrorKind::ArgumentConflict;
use clap::{CommandFactory, Parser};

#[tokio::main]
async fn main() -> ExitCode {
    let args = controller::Args::parse();
    if args.into.is_some() && args.into == args.mirror.namespace {
        let message = "--into must name another namespace than --namespace";
        controller::Args::command()
            .error(ArgumentConflict, message)
            .exit();
    }
    connect::init_tracing("info");
    let result = async {
        let client = connect::client(args.mirror.context.clone()).await?;
        let (namespace, workers) =
            (args.mirror.namespace.as_deref(), args.mirror.workers);
        let shutdown = informer::ctrl_c();
        match (namespace, args.into.as_deref()) {
            (Some(namespace), Some(into)) => {
                controller::into::start(client, namespace, into, workers, shutdown)
                    .await
            }
            _ => {
                controller::start(
                    client,
                    namespace,
                    workers,
                    args.fail_first,
                    shutdown,
                )
                .await;
            }
        }
        Ok::<_, connect::ConnectError>(())
    };
    connect::exit_code(result.await)
}
