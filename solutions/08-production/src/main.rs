//! `cargo run -p solution-08-production -- [--namespace NS] [--listen ADDR] [--log-format json] ...`
//!
//! The Mini Task Runner, run like production. Start two in two terminals, with different
//! `--listen` ports: one leads (`curl localhost:8080/metrics | grep leader`), the other stands
//! by. Stop the leader and watch the other take over. `--help` lists every flag.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = production::Args::parse();
    connect::init_logging("info", args.log_format);
    let client = match connect::client(args.controller.context.clone()).await {
        Ok(client) => client,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match production::run(client, args, production::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "stopped");
            ExitCode::FAILURE
        }
    }
}
