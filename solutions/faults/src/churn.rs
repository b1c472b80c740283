//! Churn: what users do to the cluster while a fault hits it. Every operation is retried until
//! the API server accepts it (an API server that is restarting refuses or drops requests), and
//! every request sent is counted, so that the controllers' own requests can be told apart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crds::{Param, Step, Task, TaskRun, TaskSpec};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::check::{MANAGED, SUFFIX};

/// How many requests the churn sent, and how many changes it made.
#[derive(Debug, Default)]
pub struct Counter {
    pub requests: AtomicU64,
    pub changes: AtomicU64,
}

impl Counter {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

/// Sends `request` until the API server accepts it, for at most a minute. `done` says whether an
/// error means the change is made anyway (a create that finds the object exists: the first try
/// reached the API server, and only its answer was lost).
async fn retry<T, F, Fut>(
    counter: &Counter,
    what: &str,
    done: impl Fn(&kube::Error) -> bool,
    mut request: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        counter.requests.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(Duration::from_secs(10), request()).await;
        match answer {
            Ok(Ok(_)) => break,
            Ok(Err(err)) if done(&err) => break,
            Ok(Err(err)) if Instant::now() > give_up => {
                anyhow::bail!("{what}: {err}")
            }
            _ if Instant::now() > give_up => anyhow::bail!("{what}: no answer"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    counter.changes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_already_exists())
}

fn missing(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_not_found())
}

pub fn source(name: &str, data: BTreeMap<String, String>) -> ConfigMap {
    let mut cm = ConfigMap {
        data: Some(data),
        ..ConfigMap::default()
    };
    cm.metadata.name = Some(name.into());
    cm.labels_mut().insert(MANAGED.into(), "true".into());
    cm
}

pub async fn create_cm(
    api: &Api<ConfigMap>,
    cm: &ConfigMap,
    counter: &Counter,
) -> anyhow::Result<()> {
    let what = format!("creating {}", cm.name_any());
    let params = PostParams::default();
    retry(counter, &what, exists, || api.create(&params, cm)).await
}

pub async fn patch_cm(
    api: &Api<ConfigMap>,
    name: &str,
    patch: serde_json::Value,
    counter: &Counter,
) -> anyhow::Result<()> {
    let what = format!("patching {name}");
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    // A patch of an object deleted meanwhile is a change nobody needs any more.
    retry(counter, &what, missing, || api.patch(name, &params, &patch)).await
}

/// Deletes `name`; one that is gone already is deleted.
pub async fn delete_cm(
    api: &Api<ConfigMap>,
    name: &str,
    counter: &Counter,
) -> anyhow::Result<()> {
    let (what, params) = (format!("deleting {name}"), DeleteParams::default());
    retry(counter, &what, missing, || api.delete(name, &params)).await
}

/// The life of `sources` managed ConfigMaps `<prefix>-N`, `concurrency` at a time: each is
/// created, changed, and then, depending on N, changed again, unmanaged (its label removed),
/// deleted, or has its companion edited by hand, `pace` between two changes. About 2.5
/// changes per source.
pub async fn mirror(
    api: &Api<ConfigMap>,
    prefix: &str,
    sources: usize,
    concurrency: usize,
    pace: Duration,
    counter: &Counter,
) -> anyhow::Result<()> {
    stream::iter(0..sources)
        .map(|i| async move {
            let name = format!("{prefix}-{i}");
            let data = BTreeMap::from([("n".to_string(), i.to_string())]);
            create_cm(api, &source(&name, data), counter).await?;
            tokio::time::sleep(pace).await;
            patch_cm(api, &name, json!({ "data": { "v": "1" } }), counter).await?;
            tokio::time::sleep(pace).await;
            match i % 10 {
                1 | 2 => {
                    patch_cm(api, &name, json!({ "data": { "v": "2" } }), counter)
                        .await?
                }
                3 => {
                    let unmanage =
                        json!({ "metadata": { "labels": { MANAGED: null } } });
                    patch_cm(api, &name, unmanage, counter).await?
                }
                5 => {
                    let edit = json!({ "data": { "v": "edited by hand" } });
                    patch_cm(api, &format!("{name}{SUFFIX}"), edit, counter).await?
                }
                7 => {
                    let what = format!("deleting {name}");
                    let params = DeleteParams::default();
                    retry(counter, &what, missing, || api.delete(&name, &params))
                        .await?
                }
                _ => {}
            }
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// A ConfigMap named like the companion of a managed source, but the user's own: the mirror
/// must never write to it. Returns its resourceVersion.
pub async fn foreign_companion(
    api: &Api<ConfigMap>,
    source_name: &str,
    counter: &Counter,
) -> anyhow::Result<(String, String)> {
    let name = format!("{source_name}{SUFFIX}");
    let mut mine = ConfigMap {
        data: Some(BTreeMap::from([("owner".into(), "a user".into())])),
        ..ConfigMap::default()
    };
    mine.metadata.name = Some(name.clone());
    let created = api.create(&PostParams::default(), &mine).await?;
    counter.requests.fetch_add(1, Ordering::Relaxed);
    let data = BTreeMap::from([("wants".into(), "a companion".into())]);
    create_cm(api, &source(source_name, data), counter).await?;
    Ok((name, created.resource_version().unwrap_or_default()))
}

/// The Task `nap`: one step that sleeps a second (the fake node's Stage runs it for that long).
pub async fn nap_task(tasks: &Api<Task>, counter: &Counter) -> anyhow::Result<()> {
    let spec = TaskSpec {
        description: Some("naps a second".into()),
        params: Vec::new(),
        steps: vec![Step::script("nap", "busybox:1.37", "sleep 1")],
    };
    let (task, params) = (Task::new("nap", spec), PostParams::default());
    retry(counter, "creating Task nap", exists, || {
        tasks.create(&params, &task)
    })
    .await
}

/// Creates run `name` of `task`.
pub async fn create_run(
    runs: &Api<TaskRun>,
    name: &str,
    task: &str,
    params: Vec<Param>,
    counter: &Counter,
) -> anyhow::Result<()> {
    let mut run = TaskRun::for_task(task, params);
    run.metadata.generate_name = None;
    run.metadata.name = Some(name.into());
    let (what, params) = (format!("creating run {name}"), PostParams::default());
    retry(counter, &what, exists, || runs.create(&params, &run)).await
}

/// `count` runs of `nap`, `<prefix>-N`, one every `every`.
pub async fn runs(
    runs: &Api<TaskRun>,
    prefix: &str,
    count: usize,
    every: Duration,
    counter: &Counter,
) -> anyhow::Result<()> {
    for i in 0..count {
        create_run(runs, &format!("{prefix}-{i}"), "nap", Vec::new(), counter)
            .await?;
        tokio::time::sleep(every).await;
    }
    Ok(())
}

/// A counter shared by concurrent churners.
pub fn counter() -> Arc<Counter> {
    Arc::new(Counter::default())
}
