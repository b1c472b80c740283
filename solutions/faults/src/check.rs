//! The invariant checker: after each scenario, it lists the cluster and says what is wrong.
//!
//! It shares no code with the controllers: it reads the objects as a user would and checks the
//! promises of DESIGN.md directly, so a bug in a controller cannot hide itself by also being in
//! the check. An empty list of violations is the only passing result.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crds::{TaskRun, TaskRunPhase};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use tokio::time::Instant;

pub const MANAGED: &str = "workshop.io/managed";
pub const CHECKSUM: &str = "workshop.io/source-checksum";
pub const SUFFIX: &str = "-synced";
/// The label that ties a Pod to its run (step 07's `RUN_LABEL`, spelled out: independent).
const RUN_LABEL: &str = "workshop.io/taskrun";

/// What a scenario expects beyond the general rules: ConfigMaps nobody but the user may touch,
/// by name, with the resourceVersion they had when the user wrote them.
#[derive(Debug, Default, Clone)]
pub struct Foreign(pub BTreeMap<String, String>);

/// Every violation of the mirror's invariants in `api`'s namespace:
/// - every managed source has exactly one companion, `<name>-synced`, that mirrors it (same
///   data and binaryData, a hex SHA-256 checksum annotation, a controller owner reference to the
///   source's uid with blockOwnerDeletion) — unless that name is taken by a foreign ConfigMap;
/// - no orphans: every ConfigMap controlled by a ConfigMap is the companion of a managed source
///   that exists;
/// - foreign ConfigMaps are exactly as the user left them.
pub async fn mirror(
    api: &Api<ConfigMap>,
    foreign: &Foreign,
) -> anyhow::Result<Vec<String>> {
    let all = api.list(&ListParams::default()).await?.items;
    let by_name: HashMap<String, &ConfigMap> =
        all.iter().map(|cm| (cm.name_any(), cm)).collect();
    let mut wrong = Vec::new();
    for (name, version) in &foreign.0 {
        match by_name.get(name) {
            None => wrong.push(format!("foreign {name} was deleted")),
            Some(cm) if cm.resource_version().as_deref() != Some(version) => {
                wrong.push(format!("foreign {name} was written to"))
            }
            Some(_) => {}
        }
    }
    for source in all.iter().filter(|cm| is_managed(cm)) {
        let name = source.name_any();
        let companion_name = format!("{name}{SUFFIX}");
        let uid = source.uid().unwrap_or_default();
        let controlled: Vec<&ConfigMap> = all
            .iter()
            .filter(|cm| controller_uid(cm).as_deref() == Some(uid.as_str()))
            .collect();
        if foreign.0.contains_key(&companion_name) {
            if !controlled.is_empty() {
                wrong.push(format!(
                    "{name} controls a ConfigMap though its name is taken"
                ));
            }
            continue;
        }
        match by_name.get(&companion_name) {
            None => wrong.push(format!("{name} has no companion")),
            Some(companion) => {
                if let Some(why) = not_a_mirror(source, companion) {
                    wrong.push(format!(
                        "{companion_name} does not mirror {name}: {why}"
                    ));
                }
            }
        }
        if controlled.len() > 1 {
            wrong.push(format!("{name} controls {} ConfigMaps", controlled.len()));
        }
    }
    for cm in &all {
        let Some(owner_uid) = controller_uid(cm) else {
            continue;
        };
        let owner = all.iter().find(|o| o.uid().as_deref() == Some(&owner_uid));
        match owner {
            None => wrong.push(format!(
                "{} is an orphan: its source is gone",
                cm.name_any()
            )),
            Some(owner) if !is_managed(owner) => wrong.push(format!(
                "{} outlived its source's label: {} is not managed",
                cm.name_any(),
                owner.name_any()
            )),
            Some(owner)
                if cm.name_any() != format!("{}{SUFFIX}", owner.name_any()) =>
            {
                wrong.push(format!(
                    "{} is controlled by {}",
                    cm.name_any(),
                    owner.name_any()
                ))
            }
            Some(_) => {}
        }
    }
    Ok(wrong)
}

/// Step 05's mirror into another namespace: its finalizer, and the labels and annotation
/// of a companion that name its source (spelled out: independent of the controller).
pub const FINALIZER: &str = "workshop.io/companion-cleanup";
const SOURCE_NAMESPACE_LABEL: &str = "workshop.io/source-namespace";
const SOURCE_UID_LABEL: &str = "workshop.io/source-uid";
const SOURCE_NAME_ANNOTATION: &str = "workshop.io/source-name";

/// Every violation of the promises of the mirror from `sources`' namespace into `copies'`:
/// - no source is Terminating: a deleted source is gone once its companion is;
/// - every managed source carries the finalizer, and has a companion `<name>-synced` in the
///   other namespace that mirrors it (same data and binaryData, a hex checksum), names it
///   (its namespace and uid as labels, its name as an annotation), and has no owner
///   reference;
/// - no ConfigMap that is not managed carries the finalizer;
/// - nothing is left behind: every companion names a managed source that exists.
pub async fn mirror_into(
    sources: &Api<ConfigMap>,
    copies: &Api<ConfigMap>,
) -> anyhow::Result<Vec<String>> {
    let all = sources.list(&ListParams::default()).await?.items;
    let companions = copies.list(&ListParams::default()).await?.items;
    let by_name: HashMap<String, &ConfigMap> =
        companions.iter().map(|cm| (cm.name_any(), cm)).collect();
    let namespace = sources.namespace().unwrap_or_default().to_string();
    let mut wrong = Vec::new();
    for source in &all {
        let name = source.name_any();
        let held = source.finalizers().iter().any(|f| f == FINALIZER);
        if source.metadata.deletion_timestamp.is_some() {
            wrong.push(format!(
                "{name} is Terminating, with the finalizers {:?}",
                source.finalizers()
            ));
            continue;
        }
        if !is_managed(source) {
            if held {
                wrong.push(format!("{name} is not managed but carries {FINALIZER}"));
            }
            continue;
        }
        if !held {
            wrong.push(format!("{name} is managed but does not carry {FINALIZER}"));
        }
        let Some(companion) = by_name.get(&format!("{name}{SUFFIX}")) else {
            wrong.push(format!("{name} has no companion"));
            continue;
        };
        let names_it = companion.labels().get(SOURCE_NAMESPACE_LABEL)
            == Some(&namespace)
            && companion.labels().get(SOURCE_UID_LABEL) == source.uid().as_ref()
            && companion.annotations().get(SOURCE_NAME_ANNOTATION) == Some(&name);
        let why = if !names_it {
            Some("it does not name its source".to_string())
        } else if !companion.owner_references().is_empty() {
            Some("it has an owner reference".to_string())
        } else {
            not_a_mirror_content(source, companion)
        };
        if let Some(why) = why {
            wrong.push(format!("{name}{SUFFIX} does not mirror {name}: {why}"));
        }
    }
    for companion in &companions {
        let Some(uid) = companion.labels().get(SOURCE_UID_LABEL) else {
            continue;
        };
        let source = all.iter().find(|s| s.uid().as_ref() == Some(uid));
        match source {
            None => wrong.push(format!(
                "{} is left behind: its source is gone",
                companion.name_any()
            )),
            Some(source) if !is_managed(source) => wrong.push(format!(
                "{} outlived its source's label: {} is not managed",
                companion.name_any(),
                source.name_any()
            )),
            Some(_) => {}
        }
    }
    Ok(wrong)
}

fn is_managed(cm: &ConfigMap) -> bool {
    cm.labels().get(MANAGED).map(String::as_str) == Some("true")
}

/// The uid of `cm`'s controller, when that is a ConfigMap.
fn controller_uid(cm: &ConfigMap) -> Option<String> {
    cm.owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "ConfigMap")
        .map(|o| o.uid.clone())
}

/// Why `companion` is not a faithful copy of `source`, if it is not.
fn not_a_mirror(source: &ConfigMap, companion: &ConfigMap) -> Option<String> {
    if let Some(why) = not_a_mirror_content(source, companion) {
        return Some(why);
    }
    let owned = companion.owner_references().iter().any(|o| {
        o.controller == Some(true)
            && o.block_owner_deletion == Some(true)
            && o.kind == "ConfigMap"
            && Some(&o.uid) == source.metadata.uid.as_ref()
    });
    if !owned {
        return Some("no controller owner reference to the source".into());
    }
    None
}

/// Why `companion` does not hold what `source` holds (data, binaryData, a checksum), if
/// it does not.
fn not_a_mirror_content(source: &ConfigMap, companion: &ConfigMap) -> Option<String> {
    let (want, have) = (
        source.data.clone().unwrap_or_default(),
        companion.data.clone().unwrap_or_default(),
    );
    if want != have {
        // Both sides, with their versions: what a failed run needs to be traced in the
        // controller's log.
        return Some(format!(
            "data differs: the source (resourceVersion {}) has {want:?}, the companion \
             (resourceVersion {}) {have:?}",
            source.resource_version().unwrap_or_default(),
            companion.resource_version().unwrap_or_default(),
        ));
    }
    if source.binary_data.clone().unwrap_or_default()
        != companion.binary_data.clone().unwrap_or_default()
    {
        return Some("binaryData differs".into());
    }
    let sum = companion.annotations().get(CHECKSUM);
    let hex = sum.is_some_and(|s| {
        s.len() == 64
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if !hex {
        return Some(format!("checksum annotation {sum:?}"));
    }
    None
}

/// Every violation of the Task Runner's invariants in a namespace: every run has at most one
/// Pod, and a phase consistent with it; with `settled`, every run whose Task exists has been
/// started, and the runs have caught up with their Pods. Whether a Pod ends is the node's
/// business: a run whose Pod still runs may still run.
pub async fn taskruns(
    runs: &Api<TaskRun>,
    pods: &Api<Pod>,
    settled: bool,
) -> anyhow::Result<Vec<String>> {
    let runs = runs.list(&ListParams::default()).await?.items;
    let pods = pods.list(&ListParams::default()).await?.items;
    let mut wrong = Vec::new();
    for run in &runs {
        let name = run.name_any();
        let uid = run.uid().unwrap_or_default();
        let theirs: Vec<&Pod> = pods
            .iter()
            .filter(|pod| {
                pod.labels().get(RUN_LABEL) == Some(&name)
                    || pod.owner_references().iter().any(|o| o.uid == uid)
            })
            .collect();
        if theirs.len() > 1 {
            wrong.push(format!("run {name} has {} Pods", theirs.len()));
        }
        let pod_phase = theirs
            .first()
            .and_then(|pod| pod.status.as_ref())
            .and_then(|status| status.phase.clone());
        let reason = run
            .status
            .as_ref()
            .and_then(|s| s.conditions.first())
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        let consistent = match (run.phase(), pod_phase.as_deref()) {
            (None | Some(TaskRunPhase::Pending), None | Some("Pending")) => true,
            (Some(TaskRunPhase::Running), Some("Running" | "Pending")) => true,
            (Some(TaskRunPhase::Succeeded), Some("Succeeded")) => true,
            (Some(TaskRunPhase::Failed), Some("Failed")) => true,
            // A run that failed without a Pod (bad input), or whose Pod is gone or was stopped.
            (Some(TaskRunPhase::Failed), _) => {
                matches!(reason.as_str(), "InvalidRun" | "PodDeleted" | "TimedOut")
            }
            // A Pod that just moved on: the run follows at its next reconcile.
            (Some(TaskRunPhase::Running | TaskRunPhase::Pending), Some(_)) => {
                !settled
            }
            _ => false,
        };
        if !consistent {
            wrong.push(format!(
                "run {name} is {:?} ({reason}) but its Pod is {pod_phase:?}",
                run.phase()
            ));
        }
        let waits_for_task = reason == "TaskNotFound";
        let done = run.phase().is_some_and(TaskRunPhase::is_terminal);
        if settled && !waits_for_task && !done && theirs.is_empty() {
            wrong.push(format!("run {name} never started: {:?}", run.phase()));
        }
    }
    Ok(wrong)
}

/// Polls `check` until it finds nothing wrong; returns how long that took. On timeout, the
/// error lists what was still wrong.
pub async fn until_clean<F, Fut>(
    what: &str,
    within: Duration,
    mut check: F,
) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<String>>>,
{
    let began = Instant::now();
    let mut last = Vec::new();
    let mut next_report = Duration::from_secs(10);
    while began.elapsed() < within {
        match check().await {
            Ok(wrong) if wrong.is_empty() => return Ok(began.elapsed()),
            Ok(wrong) => last = wrong,
            Err(err) => last = vec![format!("could not list: {err:#}")],
        }
        // Progress on a long wait: what is still wrong, so nobody wonders whether it hangs.
        if began.elapsed() >= next_report {
            println!(
                "    ... {what}: {} violation(s) after {} s, e.g. {}",
                last.len(),
                next_report.as_secs(),
                last.first().map_or("", String::as_str)
            );
            next_report += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shown: Vec<_> = last.iter().take(8).cloned().collect();
    anyhow::bail!(
        "{what}: still {} violation(s) after {within:?}: {}",
        last.len(),
        shown.join("; ")
    )
}
