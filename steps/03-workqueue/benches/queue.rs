//! How fast is the hand-built queue? `cargo bench -p solution-03-workqueue`
//!
//! One "element" is one full cycle, `add` + `get` + `done`, or one `add` of a key that is already
//! waiting for the dedup case. A controller does a few such cycles per object change and then an
//! API call that takes a millisecond, so anything near a million cycles a second means the queue
//! is never what slows a controller down.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::{Builder, Runtime};
use workqueue::WorkQueue;

fn runtime(worker_threads: usize) -> Runtime {
    let mut builder = if worker_threads == 1 {
        Builder::new_current_thread()
    } else {
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(worker_threads);
        builder
    };
    builder.build().expect("cannot start a Tokio runtime")
}

/// `iterations` cycles on one queue, by `workers` tasks sharing it, each on its own keys.
async fn cycles(iterations: u64, workers: u64) -> Duration {
    let queue = WorkQueue::<u64>::new();
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let queue = queue.clone();
            tokio::spawn(async move {
                for i in 0..iterations / workers {
                    queue.add((worker << 32) | i);
                    // Each worker adds before it gets, so there is always a key to get (though
                    // not always its own: the other worker may take it first).
                    let key = queue.get().await.expect("the queue is open");
                    queue.done(black_box(&key));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a benchmark worker panicked");
    }
    start.elapsed()
}

fn workqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("workqueue");
    group.throughput(Throughput::Elements(1));

    let single = runtime(1);
    group.bench_function("add+get+done, 1 worker", |b| {
        b.iter_custom(|iterations| single.block_on(cycles(iterations, 1)));
    });

    let pair = runtime(2);
    group.bench_function("add+get+done, 2 workers", |b| {
        b.iter_custom(|iterations| pair.block_on(cycles(iterations, 2)));
    });

    group.bench_function("add of a waiting key (dedup)", |b| {
        let queue = WorkQueue::<u64>::new();
        queue.add(7);
        b.iter(|| queue.add(black_box(7)));
    });

    group.finish();
}

criterion_group!(benches, workqueue);
criterion_main!(benches);
