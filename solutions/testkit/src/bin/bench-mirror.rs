//! `bench-mirror`: how fast and how lean is a ConfigMap mirror? Run it with `scripts/bench.sh mirror`.
//!
//! Starts a built mirror controller (step 04 or 05) as a child process, cluster-wide, against the
//! cluster in `$KUBECONFIG`, and measures four figures, each beside the workshop's target:
//!
//! - **convergence**: 1000 managed sources created at once, until every companion mirrors its
//!   source;
//! - **self-heal latency**: a companion deleted, until the watch shows its replacement (100 times);
//! - **idle writes**: the ConfigMap and Event writes the API server counts while the world is as
//!   it should be and nothing happens for 60 s;
//! - **memory**: the controller's peak RSS once the cluster holds 10 000 ConfigMaps, all of them in
//!   its cache.
//!
//! A benchmark reports; it is not a test. It exits 0 whenever the figures could be measured, met
//! targets or not, and non-zero only when a measurement could not be made.
//!
//! It leaves thousands of ConfigMaps behind while it runs: use a throwaway cluster
//! (`scripts/bench.sh` makes one and deletes it afterwards).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::time::Instant;
use workshop_testkit::bench::{
    ControllerProcess, Report, StampedEvents, mib, millis, percentile, progress,
    seconds, stamped_watch,
};
use workshop_testkit::{unique_name, wait_until};

// The mirror's contract, as the shared end-to-end suite (src/mirror.rs) checks it.
const MANAGED_LABEL: &str = "workshop.io/managed";
const CHECKSUM_ANNOTATION: &str = "workshop.io/source-checksum";
const COMPANION_SUFFIX: &str = "-synced";

/// The targets the workshop sets for its mirror.
const CONVERGENCE_TARGET: Duration = Duration::from_secs(10);
const HEAL_P99_TARGET: Duration = Duration::from_millis(100);
const RSS_TARGET_MIB: f64 = 40.0;

/// Generous bounds: past them the controller is broken, not slow, and there is no figure.
const CONVERGENCE_BOUND: Duration = Duration::from_secs(120);
const HEAL_BOUND: Duration = Duration::from_secs(10);
const SETTLE_BOUND: Duration = Duration::from_secs(120);

#[derive(Debug, Parser)]
#[command(
    about = "Benchmark a ConfigMap mirror controller against the cluster in $KUBECONFIG \
             (use a throwaway cluster: this creates thousands of ConfigMaps)"
)]
struct Args {
    /// The built controller binary to run, e.g. target/release/solution-04-mirror.
    #[arg(long)]
    controller: PathBuf,
    /// Where the controller's log (its stderr) goes.
    #[arg(long, default_value = "bench-mirror-controller.log")]
    controller_log: PathBuf,
    /// Passed on to the controller as --workers (default: the controller's own default).
    #[arg(long)]
    workers: Option<usize>,
    /// Managed sources created at once for the convergence figure.
    #[arg(long, default_value_t = 1000)]
    sources: usize,
    /// How many companions to delete, one after the other, for the self-heal figures.
    #[arg(long, default_value_t = 100)]
    heals: usize,
    /// How long to watch the API server's write counters while nothing happens.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// ConfigMaps the cluster holds (in all, counted) when the controller's memory is read.
    #[arg(long, default_value_t = 10_000)]
    total_configmaps: usize,
    /// Create requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.sources > 0 && args.heals > 0 && args.concurrency > 0,
        "--sources, --heals and --concurrency must be at least 1"
    );
    let client = Client::try_default()
        .await
        .context("no usable kubeconfig: set $KUBECONFIG (scripts/bench.sh does)")?;
    client
        .apiserver_version()
        .await
        .context("the API server does not answer")?;

    let controller_args = match args.workers {
        Some(workers) => vec!["--workers".to_string(), workers.to_string()],
        None => Vec::new(),
    };
    let mut controller = ControllerProcess::start(
        &args.controller,
        &controller_args,
        &args.controller_log,
    )?;
    let namespaces = BenchNamespaces::create(&client).await?;
    let mut report =
        Report::new(format!("mirror benchmark: {}", args.controller.display()));
    let result = run(&args, &client, &namespaces, &mut controller, &mut report).await;
    // Always stop the controller, and leave the cluster as we found it (the namespace
    // controller deletes their ConfigMaps in the background).
    controller.stop().await;
    namespaces.delete(&client).await;
    result.with_context(|| {
        format!(
            "the benchmark could not finish; the controller's log is {}",
            args.controller_log.display()
        )
    })?;
    print!("{}", report.table());
    Ok(())
}

/// The four measurements, in an order where each leaves the cluster as the next one needs it.
async fn run(
    args: &Args,
    client: &Client,
    ns: &BenchNamespaces,
    controller: &mut ControllerProcess,
    report: &mut Report,
) -> anyhow::Result<()> {
    warm_up(client, &ns.warmup).await?;
    controller.ensure_running()?;

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.sources);
    let mut tracker = Tracker::start(api.clone()).await?;

    progress(format!(
        "creating {} managed sources in {}, {} at a time",
        args.sources, ns.sources, args.concurrency
    ));
    let took = convergence(args, &api, &mut tracker).await?;
    controller.ensure_running()?;
    report.add(
        format!("convergence, {} sources", args.sources),
        seconds(took),
        Some((
            format!("< {}", seconds(CONVERGENCE_TARGET)),
            took < CONVERGENCE_TARGET,
        )),
    );

    progress(format!(
        "deleting {} companions one at a time, timing each replacement",
        args.heals
    ));
    let heals = self_heal(args, &api, &mut tracker, controller).await?;
    let p99 = percentile(&heals, 99);
    report.add("self-heal p50", millis(percentile(&heals, 50)), None);
    report.add(
        "self-heal p99",
        millis(p99),
        Some((
            format!("< {}", millis(HEAL_P99_TARGET)),
            p99 < HEAL_P99_TARGET,
        )),
    );
    report.add("self-heal max", millis(percentile(&heals, 100)), None);
    anyhow::ensure!(
        tracker.mirrored() == args.sources,
        "after the self-heal runs only {} of {} companions mirror their source",
        tracker.mirrored(),
        args.sources
    );
    drop(tracker);

    progress(format!(
        "all {} sources converged; counting API writes over {} s of nothing to do",
        args.sources, args.idle_seconds
    ));
    // Let the last heal's requests finish, so they are not counted as idle writes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = WriteCounts::read(client).await?;
    // The sources and their companions were all POSTs: a counter below that counts something
    // else, and its idle delta of 0 would prove nothing.
    anyhow::ensure!(
        before.configmaps >= 2 * args.sources as u64,
        "the API server counts only {} ConfigMap writes so far, fewer than the {} sources and \
         companions created: /metrics does not count what this benchmark expects",
        before.configmaps,
        2 * args.sources
    );
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let after = WriteCounts::read(client).await?;
    controller.ensure_running()?;
    let idle = format!("{} s", args.idle_seconds);
    let configmap_writes = after.configmaps - before.configmaps;
    let event_writes = after.events - before.events;
    report.add(
        format!("idle writes, configmaps ({idle})"),
        format!("{configmap_writes}"),
        Some(("0".into(), configmap_writes == 0)),
    );
    report.add(
        format!("idle writes, events ({idle})"),
        format!("{event_writes}"),
        Some(("0".into(), event_writes == 0)),
    );

    let total = fill_cluster(args, client, &ns.bulk).await?;
    progress(format!(
        "{total} ConfigMaps in the cluster; waiting for the controller's CPU to settle"
    ));
    let settled = wait_until_idle(controller).await?;
    progress(format!("controller idle after {}", seconds(settled)));
    let memory = controller.memory()?;
    report.add(
        format!("peak RSS (VmHWM), {total} ConfigMaps"),
        mib(memory.peak_mib),
        Some((
            format!("< {}", mib(RSS_TARGET_MIB)),
            memory.peak_mib < RSS_TARGET_MIB,
        )),
    );
    report.add(
        format!("RSS now (VmRSS), {total} ConfigMaps"),
        mib(memory.now_mib),
        None,
    );
    Ok(())
}

/// Creates one managed source and waits for its companion: proves the controller has started,
/// synced its cache and can write, so its start-up is not counted in the convergence figure.
async fn warm_up(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut source = ConfigMap::default();
    source.metadata.name = Some("warm-up".into());
    source
        .labels_mut()
        .insert(MANAGED_LABEL.into(), "true".into());
    api.create(&PostParams::default(), &source)
        .await
        .context("creating the warm-up source")?;
    let (_, took) = wait_until(
        "the controller to mirror the warm-up source",
        Duration::from_secs(60),
        || async {
            let companion =
                api.get_opt(&format!("warm-up{COMPANION_SUFFIX}")).await?;
            Ok(companion.map(|_| ()))
        },
    )
    .await?;
    progress(format!(
        "controller is up (warm-up source mirrored after {})",
        seconds(took)
    ));
    Ok(())
}

/// Creates every source at once and returns the time from the first create until the watch
/// shows the last companion mirroring its source.
async fn convergence(
    args: &Args,
    api: &Api<ConfigMap>,
    tracker: &mut Tracker,
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let deadline = began + CONVERGENCE_BOUND;
    let sources = (0..args.sources).map(source);
    let all_mirrored = async {
        loop {
            let arrived = tracker.next(deadline).await.with_context(|| {
                format!(
                    "{} of {} companions mirror their source",
                    tracker.mirrored(),
                    args.sources
                )
            })?;
            if let Some((at, _)) = arrived
                && tracker.mirrored() == args.sources
            {
                return Ok::<_, anyhow::Error>(at);
            }
        }
    };
    // Both at once: companions appear while sources are still being created.
    let ((), done_at) =
        tokio::try_join!(create_all(api, sources, args.concurrency), all_mirrored)?;
    Ok(done_at - began)
}

/// Deletes companions one at a time, spread over the sources, and returns how long each took to
/// come back, sorted: from just before the DELETE is sent until the watch shows a companion with the
/// same name and a new uid that mirrors its source.
async fn self_heal(
    args: &Args,
    api: &Api<ConfigMap>,
    tracker: &mut Tracker,
    controller: &mut ControllerProcess,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(args.heals);
    for n in 0..args.heals {
        controller.ensure_running()?;
        let name = companion_name(n * args.sources / args.heals);
        let old_uid = tracker
            .uid(&name)
            .with_context(|| format!("{name} is not in the watch's view"))?
            .to_string();
        let sent = Instant::now();
        api.delete(&name, &DeleteParams::default())
            .await
            .with_context(|| format!("deleting {name}"))?;
        let latency = loop {
            let arrived = tracker
                .next(sent + HEAL_BOUND)
                .await
                .with_context(|| format!("waiting for {name} to come back"))?;
            if let Some((at, seen)) = arrived
                && seen == name
                && tracker.uid(&name) != Some(old_uid.as_str())
            {
                break at - sent;
            }
        };
        latencies.push(latency);
    }
    latencies.sort();
    Ok(latencies)
}

/// Adds unmanaged ConfigMaps until the cluster holds `--total-configmaps`; returns the count.
async fn fill_cluster(
    args: &Args,
    client: &Client,
    namespace: &str,
) -> anyhow::Result<usize> {
    let existing = count_configmaps(client).await?;
    let missing = args.total_configmaps.saturating_sub(existing);
    progress(format!(
        "{existing} ConfigMaps in the cluster; creating {missing} unmanaged ones in {namespace}"
    ));
    let began = Instant::now();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let unmanaged = (0..missing).map(|i| {
        let mut cm = ConfigMap {
            data: Some(BTreeMap::from([("n".to_string(), i.to_string())])),
            ..ConfigMap::default()
        };
        cm.metadata.name = Some(format!("unmanaged-{i}"));
        cm
    });
    create_all(&api, unmanaged, args.concurrency).await?;
    progress(format!("created {missing} in {}", seconds(began.elapsed())));
    let total = count_configmaps(client).await?;
    anyhow::ensure!(
        total >= args.total_configmaps,
        "the cluster holds {total} ConfigMaps after the creates, fewer than {}",
        args.total_configmaps
    );
    Ok(total)
}

/// Every ConfigMap in the cluster, counted page by page (metadata only, so it stays cheap).
async fn count_configmaps(client: &Client) -> anyhow::Result<usize> {
    let api: Api<ConfigMap> = Api::all(client.clone());
    let mut params = ListParams::default().limit(1000);
    let mut count = 0;
    loop {
        let page = api
            .list_metadata(&params)
            .await
            .context("listing ConfigMaps")?;
        count += page.items.len();
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(count),
        }
    }
}

/// Creates `objects` with at most `concurrency` requests in flight; the first failure stops it.
async fn create_all(
    api: &Api<ConfigMap>,
    objects: impl Iterator<Item = ConfigMap>,
    concurrency: usize,
) -> anyhow::Result<()> {
    stream::iter(objects)
        .map(|cm| async move {
            api.create(&PostParams::default(), &cm)
                .await
                .with_context(|| format!("creating ConfigMap {}", cm.name_any()))
        })
        .buffer_unordered(concurrency)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Source number `i`: managed, with a little data of its own.
fn source(i: usize) -> ConfigMap {
    let mut cm = ConfigMap {
        data: Some(source_data(i)),
        ..ConfigMap::default()
    };
    cm.metadata.name = Some(format!("source-{i}"));
    cm.labels_mut().insert(MANAGED_LABEL.into(), "true".into());
    cm
}

fn source_data(i: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("index".to_string(), i.to_string()),
        ("greeting".to_string(), format!("hello from source {i}")),
    ])
}

fn companion_name(i: usize) -> String {
    format!("source-{i}{COMPANION_SUFFIX}")
}

/// Whether `companion` (named `source-N-synced`) faithfully mirrors source N: same data, a
/// SHA-256 checksum annotation, and a controller owner reference to the source.
fn mirrors(companion: &ConfigMap) -> bool {
    let name = companion.name_any();
    let Some(source_name) = name.strip_suffix(COMPANION_SUFFIX) else {
        return false;
    };
    let Some(index) = source_name
        .strip_prefix("source-")
        .and_then(|i| i.parse().ok())
    else {
        return false;
    };
    let checksum_ok = companion
        .annotations()
        .get(CHECKSUM_ANNOTATION)
        .is_some_and(|sum| {
            sum.len() == 64
                && sum
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
    let owner_ok = companion.owner_references().iter().any(|owner| {
        owner.controller == Some(true)
            && owner.kind == "ConfigMap"
            && owner.name == source_name
    });
    companion.data.as_ref() == Some(&source_data(index)) && checksum_ok && owner_ok
}

/// The companions in the sources' namespace as a watch sees them, with the instant each change
/// arrived. A task of its own receives the watch and stamps each event, so a stamp is never
/// late because the benchmark was busy sending a request.
struct Tracker {
    events: StampedEvents<ConfigMap>,
    task: tokio::task::JoinHandle<()>,
    /// Companion name → (uid, whether it mirrors its source).
    companions: HashMap<String, (String, bool)>,
    listed: bool,
}

impl Tracker {
    /// Starts the watch and returns once its initial list is in, so no later change is missed.
    async fn start(api: Api<ConfigMap>) -> anyhow::Result<Self> {
        let (events, task) = stamped_watch(api);
        let mut tracker = Self {
            events,
            task,
            companions: HashMap::new(),
            listed: false,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !tracker.listed {
            tracker.next(deadline).await.context("starting the watch")?;
        }
        Ok(tracker)
    }

    /// Takes the next change into the view. Returns when it arrived and the companion's name
    /// when it is a companion that now mirrors its source; `None` for any other change.
    async fn next(
        &mut self,
        deadline: Instant,
    ) -> anyhow::Result<Option<(Instant, String)>> {
        let (at, event) =
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(arrived)) => arrived,
                Ok(None) => bail!("the watch ended"),
                Err(_) => bail!("timed out waiting for a change"),
            };
        match event {
            watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => {
                let name = cm.name_any();
                if name.ends_with(COMPANION_SUFFIX) {
                    let ok = mirrors(&cm);
                    self.companions
                        .insert(name.clone(), (cm.uid().unwrap_or_default(), ok));
                    if ok {
                        return Ok(Some((at, name)));
                    }
                }
            }
            watcher::Event::Delete(cm) => {
                self.companions.remove(&cm.name_any());
            }
            // A re-list follows: the view is rebuilt from it.
            watcher::Event::Init => self.companions.clear(),
            watcher::Event::InitDone => self.listed = true,
        }
        Ok(None)
    }

    fn mirrored(&self) -> usize {
        self.companions.values().filter(|(_, ok)| *ok).count()
    }

    fn uid(&self, name: &str) -> Option<&str> {
        self.companions.get(name).map(|(uid, _)| uid.as_str())
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes the API server has counted since it started (`apiserver_request_total`).
#[derive(Debug, Clone, Copy)]
struct WriteCounts {
    configmaps: u64,
    events: u64,
}

impl WriteCounts {
    const WRITE_VERBS: [&str; 5] = ["POST", "PUT", "PATCH", "DELETE", "APPLY"];

    /// Reads the API server's own metrics: every request it served, by resource and verb. They
    /// count the writes of every client, so a figure above 0 is not proof against the
    /// controller; on an otherwise empty cluster it is the likeliest author.
    async fn read(client: &Client) -> anyhow::Result<Self> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .context("building the /metrics request")?;
        let text = client
            .request_text(request)
            .await
            .context("reading the API server's /metrics")?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut counts = Self {
            configmaps: 0,
            events: 0,
        };
        let mut samples = 0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            samples += 1;
            let (labels, value) = rest
                .rsplit_once("} ")
                .with_context(|| format!("unexpected metrics line: {line}"))?;
            let labels = parse_labels(labels);
            if !labels
                .get("verb")
                .is_some_and(|verb| Self::WRITE_VERBS.contains(verb))
            {
                continue;
            }
            let value: f64 = value
                .trim()
                .parse()
                .with_context(|| format!("unexpected sample value in: {line}"))?;
            match labels.get("resource") {
                Some(&"configmaps") => counts.configmaps += value as u64,
                Some(&"events") => counts.events += value as u64,
                _ => {}
            }
        }
        anyhow::ensure!(
            samples > 0,
            "the API server's /metrics has no apiserver_request_total"
        );
        Ok(counts)
    }
}

/// `a="x",b="y"` → {a: x, b: y}. Kubernetes' label values here hold no quotes or escapes.
fn parse_labels(labels: &str) -> HashMap<&str, &str> {
    labels
        .split("\",")
        .filter_map(|pair| {
            let (key, value) = pair.split_once("=\"")?;
            Some((key.trim(), value.trim_end_matches('"')))
        })
        .collect()
}

/// CPU time (user + system) the controller has used, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat =
        std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    // Then utime and stime are fields 14 and 15, i.e. the 12th and 13th after the name.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("unexpected {path}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("unexpected {path}"))
    };
    Ok(tick(11)? + tick(12)?)
}

/// Waits until the controller has used (nearly) no CPU for 3 s in a row: it has taken every
/// ConfigMap into its cache and has nothing left to do. Returns how long that took.
async fn wait_until_idle(
    controller: &mut ControllerProcess,
) -> anyhow::Result<Duration> {
    const WINDOW: usize = 12; // samples, every 250 ms: 3 s
    // Linux reports CPU time in USER_HZ ticks, 100 a second: 3 ticks in 3 s is 1% of a core.
    const MAX_TICKS: u64 = 3;
    let began = Instant::now();
    let mut samples = vec![cpu_ticks(controller.pid)?];
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        controller.ensure_running()?;
        samples.push(cpu_ticks(controller.pid)?);
        if samples.len() > WINDOW {
            let recent = &samples[samples.len() - 1 - WINDOW..];
            if recent[WINDOW] - recent[0] <= MAX_TICKS {
                return Ok(began.elapsed());
            }
        }
        if began.elapsed() > SETTLE_BOUND {
            bail!(
                "the controller still used CPU after {}",
                seconds(SETTLE_BOUND)
            );
        }
    }
}

/// The benchmark's namespaces: one for the sources, one to warm the controller up, one for the
/// unmanaged bulk. Fresh names, so a run never meets the objects of another.
struct BenchNamespaces {
    sources: String,
    warmup: String,
    bulk: String,
}

impl BenchNamespaces {
    async fn create(client: &Client) -> anyhow::Result<Self> {
        let this = Self {
            sources: unique_name("bench-mirror"),
            warmup: unique_name("bench-mirror-warmup"),
            bulk: unique_name("bench-mirror-bulk"),
        };
        let api: Api<Namespace> = Api::all(client.clone());
        for name in this.names() {
            let mut ns = Namespace::default();
            ns.metadata.name = Some(name.to_string());
            api.create(&PostParams::default(), &ns)
                .await
                .with_context(|| format!("creating namespace {name}"))?;
        }
        Ok(this)
    }

    fn names(&self) -> [&str; 3] {
        [&self.sources, &self.warmup, &self.bulk]
    }

    /// Best effort: the API server finishes the deletion in the background.
    async fn delete(&self, client: &Client) {
        let api: Api<Namespace> = Api::all(client.clone());
        for name in self.names() {
            if let Err(err) = api.delete(name, &DeleteParams::background()).await {
                eprintln!("warning: could not delete namespace {name}: {err}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_counts_sum_configmap_and_event_writes_only() {
        let text = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"} 1000
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="PUT",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 50
apiserver_request_total{code="201",component="apiserver",dry_run="",group="events.k8s.io",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 9
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="APPLY",version="v1"} 1e+00
"#;
        let counts = WriteCounts::parse(text).unwrap();
        assert_eq!(counts.configmaps, 1003);
        assert_eq!(counts.events, 3);
    }

    #[test]
    fn a_companion_mirrors_only_with_data_checksum_and_owner() {
        let mut companion = ConfigMap {
            data: Some(source_data(7)),
            ..ConfigMap::default()
        };
        companion.metadata.name = Some(companion_name(7));
        assert!(!mirrors(&companion), "no checksum, no owner");
        companion
            .annotations_mut()
            .insert(CHECKSUM_ANNOTATION.into(), "ab".repeat(32));
        companion.owner_references_mut().push(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "source-7".into(),
                uid: "u".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        );
        assert!(mirrors(&companion));
        companion.data = Some(source_data(8));
        assert!(!mirrors(&companion), "someone else's data");
    }
}
