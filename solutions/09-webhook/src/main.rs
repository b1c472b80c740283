//! `cargo run -p solution-09-webhook -- --namespace NS [--failure-policy Fail|Ignore] ...`
//!
//! The admission webhook, run on your machine: it makes its certificates, registers
//! itself for namespace NS (ValidatingWebhookConfiguration taskrun-webhook-NS), and
//! answers the API server at https://127.0.0.1:8443/validate until Ctrl-C. The
//! registration stays when it stops; `--help` lists every flag.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = webhook::Args::parse();
    connect::init_logging("info", args.log_format);
    let client = match connect::client(args.context.clone()).await {
        Ok(client) => client,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    connect::exit_code(
        webhook::run(client, args, production::shutdown::signal()).await,
    )
}
