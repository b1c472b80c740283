//! A controller under test, run as a real process: SIGKILL must hit a process, and a panic must
//! show in its log, not in ours.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};
use workshop_testkit::ServiceAccountKubeconfig;

/// One controller process, restartable, its stderr appended to a log file.
#[derive(Debug)]
pub struct Process {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    kubeconfig: ServiceAccountKubeconfig,
    log: PathBuf,
    /// Behind a lock so that a health check needs no `&mut`: waits poll it from closures.
    child: Mutex<Option<Child>>,
    /// How many times it was started.
    pub starts: u32,
}

impl Process {
    /// Starts `program` with `args`, as the kubeconfig says (a ServiceAccount's permissions).
    pub fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        kubeconfig: ServiceAccountKubeconfig,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut process = Self {
            name: name.to_string(),
            program: program.to_path_buf(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            kubeconfig,
            log: log_dir.join(format!("{name}.log")),
            child: Mutex::new(None),
            starts: 0,
        };
        std::fs::write(&process.log, "")?;
        process.spawn()?;
        Ok(process)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().append(true).open(&self.log)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .env("KUBECONFIG", self.kubeconfig.path())
            // Debug lines of the informer (each list) and the workqueue (each
            // notification's keys, each reconcile) let a failed scenario be traced key by key.
            .env("RUST_LOG", "info,informer=debug,workqueue=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        *self.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// SIGKILL, then wait for the process to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        let child = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            child.kill().await?;
        }
        Ok(())
    }

    /// SIGKILL and start again: what a node does to a crashed container.
    pub async fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        self.spawn()
    }

    /// Fails if the process has exited, or has panicked (a panic in a task need not end it).
    pub fn ensure_healthy(&self) -> anyhow::Result<()> {
        if let Some(panic) = self.panic() {
            bail!(
                "{} panicked: {panic} (log: {})",
                self.name,
                self.log.display()
            );
        }
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let child = child.as_mut().context("not running")?;
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}); the end of its log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// The first panic in the log, if any.
    pub fn panic(&self) -> Option<String> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        let mut lines = log.lines();
        let at = lines.position(|line| line.contains("panicked at"))?;
        let line = log.lines().nth(at)?;
        let message = log.lines().nth(at + 1).unwrap_or_default();
        Some(format!("{line} {message}"))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Lines of the log containing `text`.
    pub fn log_lines_with(&self, text: &str) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(text))
            .map(str::to_string)
            .collect()
    }
}
