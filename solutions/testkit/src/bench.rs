//! What the benchmarks (`src/bin/bench-mirror.rs`, `src/bin/bench-taskrun.rs`, run by
//! `scripts/bench.sh`) share: the controller under test as a child process and its memory, the
//! report of figures against their targets, and the small formatting helpers.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use std::fmt::Debug;

use anyhow::{Context, bail};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The controller under test, a child process that is killed when the benchmark ends.
#[derive(Debug)]
pub struct ControllerProcess {
    child: Child,
    /// Its process id, to read its figures from `/proc`.
    pub pid: u32,
}

/// Resident memory, in MiB.
#[derive(Debug)]
pub struct Memory {
    pub peak_mib: f64,
    pub now_mib: f64,
}

impl ControllerProcess {
    /// Starts `program` with `args`, its log (stderr) written to `log`. `$KUBECONFIG` is
    /// inherited: the controller talks to the same cluster as the benchmark, as its admin.
    pub fn start(
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(program);
        command.args(args);
        progress(format!(
            "starting {} {} (log: {})",
            program.display(),
            args.join(" "),
            log.display()
        ));
        // kill_on_drop: an early return or a panic still ends the controller.
        let child = command
            // A log file, not a terminal: plain text rather than colour codes.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("the controller exited at once")?;
        Ok(Self { child, pid })
    }

    /// Fails if the controller has exited: a figure measured without it would mean nothing.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the controller exited early ({status})");
        }
        Ok(())
    }

    pub async fn stop(mut self) {
        if let Err(err) = self.child.kill().await {
            eprintln!("warning: could not stop the controller: {err}");
        }
    }

    /// Peak and current resident memory, from /proc/<pid>/status (which reports kB, i.e. KiB).
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<f64> {
            let kib: f64 = status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim().trim_end_matches("kB").trim().parse().ok()
                })
                .with_context(|| format!("no {name} in {path}"))?;
            Ok(kib / 1024.0)
        };
        Ok(Memory {
            peak_mib: field("VmHWM:")?,
            now_mib: field("VmRSS:")?,
        })
    }
}

/// The figures, printed one by one as they are measured and as a table at the end.
#[derive(Debug)]
pub struct Report {
    /// The table's first line, e.g. `mirror benchmark: target/release/solution-04-mirror`.
    title: String,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    figure: String,
    value: String,
    /// The target and whether the figure meets it.
    target: Option<(String, bool)>,
}

impl Report {
    pub fn new(title: String) -> Self {
        Self {
            title,
            rows: Vec::new(),
        }
    }

    pub fn add(
        &mut self,
        figure: impl Into<String>,
        value: String,
        target: Option<(String, bool)>,
    ) {
        let row = Row {
            figure: figure.into(),
            value,
            target,
        };
        match &row.target {
            Some((target, ok)) => println!(
                "{}: {} (target {target}: {})",
                row.figure,
                row.value,
                verdict(*ok)
            ),
            None => println!("{}: {}", row.figure, row.value),
        }
        self.rows.push(row);
    }

    /// The table of every figure, or nothing when none was measured.
    pub fn table(&self) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let width = self.rows.iter().map(|r| r.figure.len()).max().unwrap_or(0);
        let mut table = String::new();
        let _ = writeln!(table, "\n{}", self.title);
        let _ = writeln!(
            table,
            "{:<width$}  {:>10}  {:>10}  result",
            "figure", "value", "target"
        );
        for row in &self.rows {
            let (target, result) = match &row.target {
                Some((target, ok)) => (target.as_str(), verdict(*ok)),
                None => ("", ""),
            };
            let _ = writeln!(
                table,
                "{:<width$}  {:>10}  {:>10}  {result}",
                row.figure, row.value, target
            );
        }
        let targets = self.rows.iter().filter(|r| r.target.is_some()).count();
        let missed = self
            .rows
            .iter()
            .filter(|r| matches!(r.target, Some((_, false))))
            .count();
        let _ = writeln!(table, "{} of {targets} targets met", targets - missed);
        table
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// Watches `api` in a task of its own and stamps each event with the instant it arrived, so a
/// stamp is never late because the benchmark was busy sending a request. The watcher retries
/// with backoff; a change it missed shows up as the benchmark's timeout.
pub fn stamped_watch<K>(
    api: Api<K>,
) -> (StampedEvents<K>, tokio::task::JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let (tx, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut watch = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = watch.next().await {
            match event {
                Ok(event) => {
                    if tx.send((Instant::now(), event)).is_err() {
                        return;
                    }
                }
                Err(err) => eprintln!("warning: watch error (retrying): {err}"),
            }
        }
    });
    (events, task)
}

/// The events of [`stamped_watch`], each with the instant it arrived.
pub type StampedEvents<K> = mpsc::UnboundedReceiver<(Instant, watcher::Event<K>)>;

/// The nearest-rank percentile of sorted, non-empty `values` (100 is the maximum).
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// A line of progress, on stderr (stdout holds the figures).
pub fn progress(message: String) {
    eprintln!("==> {message}");
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn mib(value: f64) -> String {
    format!("{value:.1} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Duration::from_millis(50));
        assert_eq!(percentile(&values, 99), Duration::from_millis(99));
        assert_eq!(percentile(&values, 100), Duration::from_millis(100));
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 99),
            Duration::from_millis(7)
        );
    }

    #[test]
    fn the_table_counts_the_targets_met() {
        let mut report = Report::new("demo benchmark: x".into());
        assert_eq!(report.table(), "");
        report.add("fast", "1 ms".into(), Some(("< 2 ms".into(), true)));
        report.add("slow", "3 ms".into(), Some(("< 2 ms".into(), false)));
        report.add("size", "9 MiB".into(), None);
        let table = report.table();
        assert!(table.starts_with("\ndemo benchmark: x\n"), "{table}");
        assert!(
            table.contains("fast        1 ms      < 2 ms  PASS"),
            "{table}"
        );
        assert!(
            table.contains("slow        3 ms      < 2 ms  MISS"),
            "{table}"
        );
        assert!(table.ends_with("1 of 2 targets met\n"), "{table}");
    }
}
