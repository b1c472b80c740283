//! The end-to-end suite of the ConfigMap mirror, shared by step 04 (hand-wired) and step 05
//! (kube-runtime's `Controller`): one suite, two implementations.
//!
//! Each test starts the controller under test in its own namespace, running as the
//! `configmap-mirror` ServiceAccount of `manifests/rbac/mirror.yaml` (impersonation), then
//! changes the world as a user would and waits, with a bound, for the controller to put it right.
//! A step's `tests/e2e.rs` gives a `start` function that runs its controller, and one line
//! makes the suite of it: `workshop_testkit::mirror_suite!(start);`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::{TestNamespace, apply_manifest, service_account_client, wait_until};

/// Starts a mirror controller with `client`, watching only `namespace`, and runs it until the
/// returned future is dropped.
pub type Start = fn(Client, String) -> BoxFuture<'static, anyhow::Result<()>>;

/// The RBAC of both mirrors (step 04's and step 05's, `--into` too), and the namespace of
/// their ServiceAccounts.
pub(crate) const RBAC: &str = "rbac/mirror.yaml";
pub(crate) const SA_NAMESPACE: &str = "workshop-system";
const SA_NAME: &str = "configmap-mirror";
/// The label that makes a ConfigMap a source, and the companion's checksum annotation.
pub(crate) const MANAGED: &str = "workshop.io/managed";
pub(crate) const CHECKSUM: &str = "workshop.io/source-checksum";
/// How long a test waits for a companion to be created, to follow its source or to be healed.
/// Neither mirror polls (a reconcile that finds nothing to do awaits a change), so a companion
/// that is put right within this bound was put right by a watch event, and one whose controller
/// does not watch companions is never healed at all. How *fast* is not a test's business: it
/// depends on the machine's load, and `scripts/bench.sh mirror` measures it (target: a heal's
/// p99 under 100 ms). A bound of 2 s made these tests fail on a busy machine.
pub(crate) const FAST: Duration = Duration::from_secs(15);

/// A namespace with the controller under test running in it, as its ServiceAccount.
pub struct Harness {
    pub admin: Client,
    pub ns: TestNamespace,
    pub api: Api<ConfigMap>,
    controller: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl Harness {
    pub async fn start(start: Start, prefix: &str) -> anyhow::Result<Self> {
        let admin = crate::client().await;
        apply_manifest(RBAC).await;
        let ns = TestNamespace::create(&admin, prefix).await?;
        let api = Api::namespaced(admin.clone(), ns.name());
        let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
        let controller = tokio::spawn(start(as_controller, ns.name().to_string()));
        Ok(Self {
            admin,
            ns,
            api,
            controller,
        })
    }

    /// Fails if the controller stopped (say, it was denied a permission it needs).
    pub fn assert_running(&self) {
        assert!(
            !self.controller.is_finished(),
            "the controller under test stopped early"
        );
    }

    /// Creates a ConfigMap with `data`, managed or not.
    pub async fn create(
        &self,
        name: &str,
        managed: bool,
        data: &[(&str, &str)],
    ) -> anyhow::Result<ConfigMap> {
        create(&self.api, name, managed, data).await
    }

    /// Changes the ConfigMap `name` as a user would, with a JSON merge `patch`.
    pub async fn edit(
        &self,
        name: &str,
        patch: &serde_json::Value,
    ) -> anyhow::Result<()> {
        edit(&self.api, name, patch).await?;
        Ok(())
    }

    /// Waits until `name`'s companion exists and mirrors it exactly; returns the companion.
    pub async fn converged(
        &self,
        name: &str,
        within: Duration,
    ) -> anyhow::Result<(ConfigMap, Duration)> {
        let what = format!("{name}-synced to mirror {name}");
        self.wait(&what, within, || async {
            let source = self.api.get(name).await?;
            let Some(companion) = self.api.get_opt(&format!("{name}-synced")).await?
            else {
                return Ok(None);
            };
            Ok(mirrors(&source, &companion).then_some(companion))
        })
        .await
    }
}

impl Harness {
    /// [`wait_until`], but failing at once if the controller under test stops: a controller
    /// that hit an error or a `todo!` will never put things right, so waiting out the bound
    /// would only hide why.
    pub async fn wait<T, F, Fut>(
        &self,
        what: &str,
        within: Duration,
        check: F,
    ) -> anyhow::Result<(T, Duration)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let stopped = async {
            while !self.controller.is_finished() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            waited = wait_until(what, within, check) => waited,
            () = stopped => anyhow::bail!("the controller under test stopped while waiting for {what} (its error or panic is above)"),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.controller.abort();
    }
}

/// A ConfigMap named `name` that holds `data`, labelled managed: a source.
pub fn managed_configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = crate::configmap(name, data);
    cm.labels_mut().insert(MANAGED.into(), "true".into());
    cm
}

/// Creates a ConfigMap with `data` in `api`'s namespace, managed or not: how a user makes a
/// source, or anything else, in both mirrors' suites.
pub(crate) async fn create(
    api: &Api<ConfigMap>,
    name: &str,
    managed: bool,
    data: &[(&str, &str)],
) -> anyhow::Result<ConfigMap> {
    let cm = if managed {
        managed_configmap(name, data)
    } else {
        crate::configmap(name, data)
    };
    Ok(api.create(&PostParams::default(), &cm).await?)
}

/// Changes `name` in `api` as a user would, with a JSON merge `patch`; returns it changed.
pub(crate) async fn edit(
    api: &Api<ConfigMap>,
    name: &str,
    patch: &serde_json::Value,
) -> anyhow::Result<ConfigMap> {
    Ok(api
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?)
}

/// Whether `event` is a mirror's report that the companion name of the source `source` is
/// held by a ConfigMap it does not control (reason `CompanionExists`, regarding `source`).
pub fn reports_companion_exists(event: &Event, source: &str) -> bool {
    let regarding = event.regarding.as_ref().and_then(|r| r.name.as_deref());
    event.reason.as_deref() == Some("CompanionExists") && regarding == Some(source)
}

/// Whether `companion` holds the same `data` and `binaryData` as `source` (none and empty
/// are the same).
pub(crate) fn same_content(source: &ConfigMap, companion: &ConfigMap) -> bool {
    let empty = BTreeMap::new();
    source.data.as_ref().unwrap_or(&BTreeMap::new())
        == companion.data.as_ref().unwrap_or(&BTreeMap::new())
        && source.binary_data.as_ref().unwrap_or(&empty)
            == companion.binary_data.as_ref().unwrap_or(&empty)
}

/// Whether `sum`, a companion's checksum annotation, is a SHA-256 in lowercase hex.
pub(crate) fn is_checksum(sum: Option<&String>) -> bool {
    sum.is_some_and(|sum| {
        sum.len() == 64
            && sum
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// Whether `companion` is a faithful, owned copy of `source`.
fn mirrors(source: &ConfigMap, companion: &ConfigMap) -> bool {
    let owner_ok = companion.owner_references().iter().any(|o| {
        o.controller == Some(true)
            && o.block_owner_deletion == Some(true)
            && o.kind == "ConfigMap"
            && Some(&o.uid) == source.metadata.uid.as_ref()
    });
    same_content(source, companion)
        && is_checksum(companion.annotations().get(CHECKSUM))
        && owner_ok
}

fn checksum_of(cm: &ConfigMap) -> String {
    cm.annotations().get(CHECKSUM).cloned().unwrap_or_default()
}

pub async fn creates_a_companion_and_follows_the_source(
    start: Start,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-create").await?;
    h.create("colors", true, &[("red", "#f00"), ("green", "#0f0")])
        .await?;
    let (first, took) = h.converged("colors", FAST).await?;
    eprintln!("companion created in {took:?}");

    // The same content, sent in another order, has the same checksum: it is canonical.
    h.create("same", true, &[("green", "#0f0"), ("red", "#f00")])
        .await?;
    let (same, _) = h.converged("same", FAST).await?;
    assert_eq!(checksum_of(&first), checksum_of(&same));

    let patch = serde_json::json!({ "data": { "red": "#ff0000" }, "binaryData": { "logo": "aGVsbG8=" } });
    h.edit("colors", &patch).await?;
    let (followed, took) = h.converged("colors", FAST).await?;
    eprintln!("companion followed the source in {took:?}");
    assert_ne!(
        checksum_of(&first),
        checksum_of(&followed),
        "different content, different checksum"
    );
    assert_eq!(followed.binary_data.map(|b| b.len()), Some(1));
    h.assert_running();
    Ok(())
}

pub async fn heals_a_deleted_or_edited_companion(start: Start) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-heal").await?;
    h.create("colors", true, &[("red", "#f00")]).await?;
    let (companion, _) = h.converged("colors", FAST).await?;

    h.api
        .delete("colors-synced", &DeleteParams::default())
        .await?;
    let (back, took) = h.converged("colors", FAST).await?;
    eprintln!("deleted companion back in {took:?}");
    assert_ne!(back.uid(), companion.uid(), "it is a new object");

    let edit =
        serde_json::json!({ "data": { "red": "edited by hand", "extra": "key" } });
    h.edit("colors-synced", &edit).await?;
    let (healed, took) = h.converged("colors", FAST).await?;
    eprintln!("edited companion healed in {took:?}");
    assert_eq!(
        healed.data.as_ref().map(|d| d.len()),
        Some(1),
        "the extra key is gone"
    );
    h.assert_running();
    Ok(())
}

/// An edit of a companion that reaches the controller behind a burst of big changes is
/// healed all the same. The cache a reconcile reads must already hold the change that woke
/// it: a controller woken by one watch that reads a cache another watch fills finds the old
/// companion there, concludes that nothing is to be done, and is never woken again for that
/// edit. A busy namespace (40 ConfigMaps of 900 KiB, all changed at once, just before the
/// edit) keeps the watch that fills the cache behind long enough for that to happen most of
/// the time; three rounds make a controller with that flaw fail all but never.
pub async fn heals_an_edit_that_arrives_behind_big_changes(
    start: Start,
) -> anyhow::Result<()> {
    const BIG: usize = 40;
    let h = Harness::start(start, "mirror-busy").await?;
    h.create("colors", true, &[("red", "#f00")]).await?;
    h.converged("colors", FAST).await?;
    let blob = |fill: &str| fill.repeat(900 * 1024);
    let big = blob("a");
    for i in 0..BIG {
        h.create(&format!("big-{i}"), false, &[("blob", &big)])
            .await?;
    }
    for round in ["b", "c", "d"] {
        let changed = serde_json::json!({ "data": { "blob": blob(round) } });
        let changes = (0..BIG).map(|i| {
            let (api, changed) = (h.api.clone(), changed.clone());
            async move { edit(&api, &format!("big-{i}"), &changed).await }
        });
        for change in futures::future::join_all(changes).await {
            change?;
        }
        let edit = serde_json::json!({ "data": { "red": format!("edited in round {round}") } });
        h.edit("colors-synced", &edit).await?;
        let (_, took) = h.converged("colors", FAST).await.with_context(|| {
            format!(
                "round {round}: the edit of colors-synced behind {BIG} big changes was \
                 never healed (did the reconcile it woke read a cache that did not hold \
                 the edit yet?)"
            )
        })?;
        eprintln!(
            "round {round}: the edit behind {BIG} big changes healed in {took:?}"
        );
    }
    h.assert_running();
    Ok(())
}

pub async fn garbage_collector_removes_the_companion_with_its_source(
    start: Start,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-gc").await?;
    h.create("colors", true, &[("red", "#f00")]).await?;
    h.converged("colors", FAST).await?;
    h.api.delete("colors", &DeleteParams::background()).await?;
    let (_, took) = h
        .wait(
            "the garbage collector to delete colors-synced",
            Duration::from_secs(30),
            || async {
                Ok(h.api
                    .get_opt("colors-synced")
                    .await?
                    .is_none()
                    .then_some(()))
            },
        )
        .await?;
    eprintln!("companion garbage-collected in {took:?}");
    h.assert_running();
    Ok(())
}

pub async fn never_touches_a_foreign_companion(start: Start) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-foreign").await?;
    let foreign = h.create("x-synced", false, &[("mine", "precious")]).await?;
    h.create("x", true, &[("a", "1")]).await?;

    // The controller says so with an Event on the source...
    let events: Api<Event> = Api::namespaced(h.admin.clone(), h.ns.name());
    let blocked = || async {
        let list = events.list(&ListParams::default()).await?;
        anyhow::Ok(
            list.items
                .into_iter()
                .find(|e| reports_companion_exists(e, "x")),
        )
    };
    // How many times it said so: the Recorder counts a repeat in the Event's series.
    let published = || async {
        let event = blocked().await?;
        anyhow::Ok(event.map(|e| e.series.as_ref().map_or(1, |series| series.count)))
    };
    let (event, _) = h
        .wait(
            "a CompanionExists Event on x",
            Duration::from_secs(10),
            blocked,
        )
        .await?;
    // ...that says which ConfigMap holds the companion's name: the one to look at.
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains("x-synced"),
        "the CompanionExists Event must name the ConfigMap that holds the companion's \
         name (x-synced); its note is {note:?}"
    );
    // ...and comes back to x by itself while it is still blocked, nothing having changed:
    // it says so again.
    h.wait(
        "x to be retried while still blocked (its CompanionExists Event published again)",
        Duration::from_secs(10),
        || async { Ok(published().await?.filter(|&count| count >= 2)) },
    )
    .await?;
    // ...and, after more retries, the foreign ConfigMap is still exactly as its owner left it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = h.api.get("x-synced").await?;
    assert_eq!(
        after.resource_version(),
        foreign.resource_version(),
        "x-synced was written to"
    );
    assert_eq!(after.data, foreign.data);
    assert!(after.owner_references().is_empty());

    // Blocked is retried, with a growing delay: once the way is clear, the companion comes.
    // (Deleting the foreign ConfigMap wakes nobody: it has no owner reference to follow.)
    h.api.delete("x-synced", &DeleteParams::default()).await?;
    h.converged("x", Duration::from_secs(15)).await?;
    h.assert_running();
    Ok(())
}

pub async fn a_source_named_like_a_companion_works_and_unmanaging_removes_its_companion(
    start: Start,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-unmanage").await?;
    h.create("y-synced", true, &[("a", "1")]).await?;
    h.converged("y-synced", FAST).await?;
    assert!(
        h.api.get_opt("y-synced").await?.is_some(),
        "the source itself is untouched"
    );

    let unmanage = serde_json::json!({ "metadata": { "labels": { MANAGED: null } } });
    h.edit("y-synced", &unmanage).await?;
    h.wait("y-synced-synced to be deleted", FAST, || async {
        Ok(h.api
            .get_opt("y-synced-synced")
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    assert!(
        h.api.get_opt("y-synced").await?.is_some(),
        "the unmanaged source stays"
    );
    h.assert_running();
    Ok(())
}

pub async fn a_reconcile_with_nothing_to_do_writes_nothing(
    start: Start,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-noop").await?;
    h.create("colors", true, &[("red", "#f00")]).await?;
    let (companion, _) = h.converged("colors", FAST).await?;
    // A change to the source that does not change its content still triggers a reconcile.
    let relabel =
        serde_json::json!({ "metadata": { "labels": { "unrelated": "change" } } });
    h.edit("colors", &relabel).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = h.api.get("colors-synced").await?;
    assert_eq!(
        after.resource_version(),
        companion.resource_version(),
        "the companion was rewritten"
    );
    h.assert_running();
    Ok(())
}

pub async fn two_hundred_sources_created_at_once_all_converge(
    start: Start,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-many").await?;
    let began = std::time::Instant::now();
    let creates = (0..200).map(|i| {
        let api = h.api.clone();
        async move {
            create(&api, &format!("source-{i}"), true, &[("n", &i.to_string())]).await
        }
    });
    for created in futures::future::join_all(creates).await {
        created?;
    }
    h.wait(
        "200 correct companions",
        Duration::from_secs(60),
        || async {
            let all = h.api.list(&ListParams::default()).await?.items;
            let by_name: BTreeMap<_, _> =
                all.iter().map(|cm| (cm.name_any(), cm)).collect();
            let done = (0..200)
                .filter(|i| {
                    let source = by_name.get(&format!("source-{i}"));
                    let companion = by_name.get(&format!("source-{i}-synced"));
                    matches!((source, companion), (Some(s), Some(c)) if mirrors(s, c))
                })
                .count();
            Ok((done == 200).then_some(()))
        },
    )
    .await?;
    eprintln!(
        "200 sources converged {:?} after the first create",
        began.elapsed()
    );
    h.assert_running();
    Ok(())
}

pub async fn the_service_account_cannot_read_secrets(
    start: Start,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "mirror-rbac").await?;
    let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
    let secrets: Api<Secret> = Api::namespaced(as_controller.clone(), h.ns.name());
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) if status.is_forbidden() => {}
        other => panic!(
            "listing Secrets as the controller should be forbidden, got {other:?}"
        ),
    }
    // What it does need works, so the denial above is about Secrets, not a broken client.
    let configmaps: Api<ConfigMap> = Api::namespaced(as_controller, h.ns.name());
    configmaps.list(&ListParams::default()).await?;
    Ok(())
}

/// Expands to one `#[tokio::test]` per test of the mirror suite, each running `$start`.
#[macro_export]
macro_rules! mirror_suite {
    ($start:path) => {
        $crate::mirror_suite!(@tests $start,
            creates_a_companion_and_follows_the_source,
            heals_a_deleted_or_edited_companion,
            heals_an_edit_that_arrives_behind_big_changes,
            garbage_collector_removes_the_companion_with_its_source,
            never_touches_a_foreign_companion,
            a_source_named_like_a_companion_works_and_unmanaging_removes_its_companion,
            a_reconcile_with_nothing_to_do_writes_nothing,
            two_hundred_sources_created_at_once_all_converge,
            the_service_account_cannot_read_secrets,
        );
    };
    (@tests $start:path, $($name:ident,)*) => {
        $(
            #[tokio::test]
            #[ignore = "end-to-end: needs a cluster (scripts/check.sh runs it)"]
            async fn $name() -> anyhow::Result<()> {
                $crate::mirror::$name($start).await
            }
        )*
    };
}
