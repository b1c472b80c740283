//! `cargo run -p solution-01-connect -- [--namespace NS] [--context CTX]`
//!
//! Parses the flags, sets up logging (`RUST_LOG=debug` shows every request), and hands over to
//! the library. Errors become one line on stderr and a non-zero exit code, never a panic.

use std::process::ExitCode;

use clap::Parser;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let args = connect::Args::parse();
    connect::init_tracing("error");
    connect::exit_code(connect::run(&args, &mut std::io::stdout()).await)
}
// ANCHOR_END: main
