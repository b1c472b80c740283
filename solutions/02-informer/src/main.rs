//! `cargo run -p solution-02-informer -- [--namespace NS] [--selector LABELS] [--context CTX]`
//!
//! Prints every ConfigMap change until Ctrl-C. Try it in one terminal while you
//! `kubectl create configmap demo --from-literal=a=1` and edit or delete it in another.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = informer::Args::parse();
    connect::init_tracing("warn");
    // ANCHOR: ctrl_c
    let result =
        informer::run(&args, &mut std::io::stdout(), informer::ctrl_c()).await;
    connect::exit_code(result)
    // ANCHOR_END: ctrl_c
}
