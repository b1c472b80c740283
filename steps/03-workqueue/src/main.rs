//! `cargo run -p solution-03-workqueue -- [--fail-first N] [--workers N] [--namespace NS]`
//!
//! Runs the controller loop and prints a timeline of every reconcile: with `--fail-first 4`,
//! change a ConfigMap and watch its key back off 5 ms, 10 ms, 20 ms, 40 ms, then succeed.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = workqueue::Args::parse();
    connect::init_tracing("warn,workqueue::controller=error");
    let result = async {
        let client = connect::client(args.watch.context.clone()).await?;
        let controller = workqueue::controller(client, &args);
        let mut outcomes = controller.outcomes();
        // The timeline: when each try of a key happened, counted from its first try.
        tokio::spawn(async move {
            let mut first_try = HashMap::new();
            while let Ok(o) = outcomes.recv().await {
                if o.attempt == 1 {
                    first_try.insert(o.key.clone(), o.started);
                }
                let at = first_try
                    .get(&o.key)
                    .map_or(0, |t| (o.started - *t).as_millis());
                match (&o.error, o.retry_in) {
                    (Some(error), Some(wait)) => {
                        println!(
                            "{:<28}try {} at +{at}ms: {error}; retry in {wait:?}",
                            o.key, o.attempt
                        )
                    }
                    _ => println!("{:<28}try {} at +{at}ms: ok", o.key, o.attempt),
                }
            }
        });
        println!(
            "watching ConfigMaps with {} workers (Ctrl-C stops)",
            args.workers
        );
        workqueue::run(controller, args.workers, informer::ctrl_c()).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    connect::exit_code(result.await)
}
