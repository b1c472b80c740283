//! The cluster's side of a fault: restarting the API server or etcd for real, and counting the
//! requests the API server served.
//!
//! `kwokctl`'s binary runtime runs each component as a plain process and writes its process id
//! to `~/.kwok/clusters/<name>/pids/<component>.pid`. A restart here is what a crash and a
//! supervisor would do: the process is killed with SIGKILL (no chance to say goodbye), then
//! started again with the very same command line, working directory and environment, read from
//! `/proc/<pid>/` before the kill. The new process id goes back into the pid file, so that
//! `kwokctl delete cluster` stops the new process as it would have stopped the old one.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::Client;
use tokio::time::Instant;

/// A cluster made by `kwokctl` with the binary runtime.
#[derive(Debug)]
pub struct Kwok {
    dir: PathBuf,
}

impl Kwok {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let home = std::env::var_os("HOME").context("HOME is not set")?;
        let dir = PathBuf::from(home).join(".kwok/clusters").join(name);
        anyhow::ensure!(
            dir.join("pids").is_dir(),
            "{} has no pids/: '{name}' is not a kwokctl cluster with the binary runtime, \
             whose API server and etcd this suite can restart",
            dir.display()
        );
        Ok(Self { dir })
    }

    /// Every component as it runs now: what it takes to start it again.
    pub fn components(&self) -> anyhow::Result<Vec<Component>> {
        let mut components = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("pids"))? {
            let path = entry?.path();
            let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
                continue;
            };
            let pid = read_pid(&path)?;
            components.push(Component::of(name, pid)?);
        }
        Ok(components)
    }

    /// Kills `component` (`kube-apiserver`, `etcd`) with SIGKILL and starts it again as it was.
    pub fn restart(&self, component: &str) -> anyhow::Result<()> {
        let pid = read_pid(&self.pid_file(component))?;
        let running = Component::of(component, pid)?;
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?;
        anyhow::ensure!(killed.success(), "kill -KILL {pid} ({component}) failed");
        let gone_by = Instant::now() + Duration::from_secs(10);
        while is_running(pid) {
            if Instant::now() > gone_by {
                bail!("{component} (pid {pid}) still runs 10 s after SIGKILL");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.start(&running)
    }

    /// Starts again every one of `components` that is no longer running, as a kubelet restarts
    /// the static Pods of a control plane. The controller-manager and the scheduler exit when
    /// they cannot renew their own leases, which an API server restart of a few seconds causes,
    /// and kwokctl does not start them again. Returns the names of those it started.
    pub fn revive(&self, components: &[Component]) -> anyhow::Result<Vec<String>> {
        let mut revived = Vec::new();
        for component in components {
            let pid = read_pid(&self.pid_file(&component.name))?;
            if !is_running(pid) {
                self.start(component)?;
                revived.push(component.name.clone());
            }
        }
        Ok(revived)
    }

    fn pid_file(&self, component: &str) -> PathBuf {
        self.dir.join("pids").join(format!("{component}.pid"))
    }

    /// Starts `component` with its command line, directory and environment; its output goes to
    /// its log, its process id to its pid file.
    fn start(&self, component: &Component) -> anyhow::Result<()> {
        let name = &component.name;
        let log_path = self.dir.join("logs").join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let (program, args) =
            component.argv.split_first().context("empty command line")?;
        let child = std::process::Command::new(program)
            .args(args)
            .current_dir(&component.cwd)
            .env_clear()
            .envs(&component.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C of the suite must not stop the cluster's component.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {program} again"))?;
        std::fs::write(self.pid_file(name), child.id().to_string())?;
        // A component that cannot start (its port still taken, say) exits at once: say so here,
        // rather than as a minute of refused connections later.
        std::thread::sleep(Duration::from_secs(1));
        if !is_running(child.id()) {
            bail!(
                "{name} exited at once after its restart; see {}",
                log_path.display()
            );
        }
        Ok(())
    }
}

/// What it takes to start a component again, read from `/proc/<pid>/` while it runs.
#[derive(Debug, Clone)]
pub struct Component {
    name: String,
    argv: Vec<String>,
    env: HashMap<String, String>,
    cwd: PathBuf,
}

impl Component {
    fn of(name: &str, pid: u32) -> anyhow::Result<Self> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let split = |bytes: Vec<u8>| -> Vec<String> {
            bytes
                .split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect()
        };
        let argv = split(
            std::fs::read(proc.join("cmdline"))
                .with_context(|| format!("{name} (pid {pid}) is not running"))?,
        );
        anyhow::ensure!(!argv.is_empty(), "{name} (pid {pid}) is not running");
        let env = split(std::fs::read(proc.join("environ"))?)
            .into_iter()
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                Some((key.to_string(), value.to_string()))
            })
            .collect();
        let cwd = std::fs::read_link(proc.join("cwd"))?;
        Ok(Self {
            name: name.to_string(),
            argv,
            env,
            cwd,
        })
    }
}

fn read_pid(path: &std::path::Path) -> anyhow::Result<u32> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .parse()
        .with_context(|| format!("{} holds no process id", path.display()))
}

/// Whether any thread of process `pid` is still alive. The main thread of a killed Go program
/// can be a zombie while its other threads still exit and hold its sockets: a new process that
/// binds the same port too early fails with "address already in use".
fn is_running(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.flatten().any(|thread| {
        std::fs::read_to_string(thread.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    })
}

/// Waits until the API server answers a request that needs etcd too; returns how long it took.
pub async fn wait_healthy(
    client: &Client,
    within: Duration,
) -> anyhow::Result<Duration> {
    use k8s_openapi::api::core::v1::Namespace;
    let began = Instant::now();
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    loop {
        let listed = tokio::time::timeout(
            Duration::from_secs(2),
            namespaces.list_metadata(&kube::api::ListParams::default().limit(1)),
        )
        .await;
        if let Ok(Ok(_)) = listed {
            return Ok(began.elapsed());
        }
        if began.elapsed() > within {
            bail!("the API server did not answer within {within:?} of the restart");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests the API server served on the resources the controllers under test use (ConfigMaps,
/// Tasks, TaskRuns and their status), all verbs but WATCH: `apiserver_request_total`, summed.
/// The counters start at 0 when the API server starts.
pub async fn requests_served(client: &Client) -> anyhow::Result<u64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client
        .request_text(request)
        .await
        .context("reading the API server's /metrics")?;
    let mut total = 0.0;
    let mut samples = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        samples += 1;
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split("\",")
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|value| value.trim_end_matches('"'))
        };
        let counted =
            matches!(label("resource"), Some("configmaps" | "tasks" | "taskruns"))
                && !matches!(label("verb"), Some("WATCH" | "CONNECT"));
        if counted {
            total += value.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    anyhow::ensure!(
        samples > 0,
        "the API server's /metrics has no apiserver_request_total"
    );
    Ok(total as u64)
}
