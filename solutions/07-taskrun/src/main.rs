//! `cargo run -p solution-07-taskrun -- [--namespace NS] [--context CTX] [--workers N]`
//!
//! The Mini Task Runner; runs until Ctrl-C. Install the CRDs first (`kubectl apply -f
//! manifests/crds/`), then start a run: `kubectl create -f manifests/samples/hello-taskrun.yaml`,
//! or with the plugin, `kubectl task start hello --follow`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = taskrun::Args::parse();
    connect::init_tracing("info");
    let result = async {
        let client = connect::client(args.context.clone()).await?;
        taskrun::start(
            client,
            args.namespace.as_deref(),
            args.workers,
            informer::ctrl_c(),
        )
        .await;
        Ok::<_, connect::ConnectError>(())
    };
    connect::exit_code(result.await)
}
