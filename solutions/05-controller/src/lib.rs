//! Step 05: the same mirror, on kube-runtime's `Controller`.
//!
//! In step 04 you wired the informer, the workqueue and the workers yourself.
//! kube-runtime's [`Controller`] is that machinery, ready-made (client-go readers:
//! this is controller-runtime):
//!
//! - it runs on a watch of the root kind (sources) that fills a cache, like your
//!   informer;
//! - `owns_stream` maps each child to its controller owner, like your `keys_for` did
//!   for companions;
//! - it schedules reconciles by object, never runs two for one object at once, and
//!   collapses bursts of changes, like your workqueue;
//! - it calls `reconcile(object, context)` with a bounded number in
//!   flight, like your workers.
//!
//! What stays yours is the part that knows about ConfigMaps: step 04's
//! `desired::plan` and `Mirror::reconcile_source` are reused as they are. And one
//! thing the runtime does *not* do: back off per object. `error_policy` returns when
//! to retry, but the runtime does not count a key's failures, so the count lives in
//! [`Context`], in step 03's exponential backoff per object: a success resets it, and
//! it goes with its object (the runtime never reconciles an object that is gone, so
//! the watch says when).

pub mod into;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use informer::key_of;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use mirror::Mirror;
use workqueue::ObjectBackoff;
use workqueue::reconcile::{FailFirst, Injected};

/// Command-line flags, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "The ConfigMap mirror on kube-runtime's Controller")]
// Flattened flags bring their own group; this one needs a name of its own.
#[group(id = "controller")]
pub struct Args {
    /// The same flags as step 04 (--namespace, --context, --workers).
    #[command(flatten)]
    pub mirror: mirror::Args,
    /// Make reconcile fail the first N tries of every source, to watch the backoff.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
    /// Keep the companions in this other namespace (needs --namespace): the sources
    /// then carry a finalizer.
    #[arg(long, value_name = "NAMESPACE", requires = "namespace")]
    pub into: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Injected(#[from] Injected),
    #[error(transparent)]
    Mirror(#[from] mirror::Error),
    /// The finalizer of the mirror into another namespace could not be added or
    /// removed.
    #[error(transparent)]
    Finalizer(Box<kube::runtime::finalizer::Error<mirror::Error>>),
}

// ANCHOR: context
/// What every reconcile shares: step 04's mirror (client, cache, Event recorder), and
/// the per-source failure count the runtime does not keep for us.
pub struct Context {
    mirror: Arc<Mirror>,
    backoff: ObjectBackoff<ConfigMap>,
    fail_first: FailFirst,
}
// ANCHOR_END: context

impl Context {
    /// How many sources the backoff holds a failure count for.
    pub fn backoff_entries(&self) -> usize {
        self.backoff.len()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("mirror", &self.mirror)
            .finish_non_exhaustive()
    }
}

// ANCHOR: backoff_constants
/// client-go's defaults, as in step 03: 5 ms, doubling, at most 1000 s.
const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1000);
// ANCHOR_END: backoff_constants

// ANCHOR: reconcile
/// Reconciles one source. The runtime calls this for every ConfigMap it sees change,
/// and for the owner of every companion that changes.
pub async fn reconcile(
    source: Arc<ConfigMap>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    // EXERCISE 5.1: Reconcile `source` with step 04's mirror, and
    //     reset its backoff on success.
    // The --fail-first injection comes first. Only a success resets the count: a
    // source that keeps failing, whatever the reason, waits longer each time, and
    // after a success its next failure waits the base delay again. No later
    // reconcile is asked for: the watches report every change to a source and to its
    // companion.
    // Proved by: failures_back_off_per_object_and_a_success_resets_them,
    //   a_source_that_keeps_failing_waits_longer_each_time,
    //   creates_a_companion_and_follows_the_source,
    //   the_backoff_forgets_sources_that_are_gone
    // Needs: 5.2, 5.3, 5.4
    // Path: core, 6 min
    // Book: "Step 05 > reconcile returns an Action"
    // BEGIN SOLUTION
    ctx.fail_first.check(&key_of(source.as_ref()))?;
    let namespace = source.namespace().unwrap_or_default();
    ctx.mirror
        .reconcile_source(&namespace, &source.name_any(), Some(&source))
        .await?;
    ctx.backoff.forget(source.as_ref());
    Ok(Action::await_change())
    // END SOLUTION
}
// ANCHOR_END: reconcile

// ANCHOR: error_policy
/// Decides when a failed source is tried again: 5 ms, 10 ms, 20 ms, ... per source.
pub fn error_policy(
    source: Arc<ConfigMap>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    // EXERCISE 5.2: Say when to try a failed source again: 5 ms,
    //     then twice as long each time.
    // Each source has a count of its own: another source's failures never
    // lengthen its wait. Log the source's key, the error and the wait: at debug
    // level for `mirror::Error::CacheBehind` (expected now and then), as a
    // warning for anything else.
    // Proved by: failures_back_off_per_object_and_a_success_resets_them,
    //   a_failure_is_a_warning_that_names_the_source_and_the_error
    // Needs: 5.1
    // Path: core, 6 min
    // Book: "Step 05 > Backing off per object"
    // BEGIN SOLUTION
    let wait = ctx.backoff.when(source.as_ref());
    let key = key_of(source.as_ref());
    match error {
        // Expected now and then: the companion watch can run ahead
        // of the cache (see Mirror).
        Error::Mirror(mirror::Error::CacheBehind) => {
            tracing::debug!(key, %error, retry_in = ?wait, "cache behind")
        }
        _ => tracing::warn!(key, %error, retry_in = ?wait, "reconcile failed"),
    }
    Action::requeue(wait)
    // END SOLUTION
}
// ANCHOR_END: error_policy

// ANCHOR: lean_watch
/// The watch the Controller runs on: every event about a ConfigMap that `config`
/// selects, after it went into the cache `writer` fills, without managedFields.
pub fn lean_watch(
    api: kube::Api<ConfigMap>,
    config: watcher::Config,
    writer: reflector::store::Writer<ConfigMap>,
) -> WatchEvents {
    // EXERCISE 5.3: Build the watch the Controller runs on, with a
    //     lean cache.
    // Every ConfigMap that `config` selects goes into the cache that `writer`
    // fills, without its managedFields; the stream passes every watch event on
    // once the cache has taken it in. A watch that fails is retried with
    // backoff: the stream never ends on an error.
    // Proved by: creates_a_companion_and_follows_the_source,
    //   heals_a_deleted_or_edited_companion, the_cache_holds_no_managed_fields,
    //   a_refused_watch_is_retried_with_backoff
    // Needs: 5.1, 5.4
    // Path: core, 8 min
    // Book: "Step 05 > A lean cache"
    // BEGIN SOLUTION
    watcher(api, config)
        .default_backoff()
        .modify(|cm| cm.managed_fields_mut().clear())
        .reflect(writer)
        .boxed()
    // END SOLUTION
}
// ANCHOR_END: lean_watch

/// What [`lean_watch`] yields.
pub type WatchEvents =
    BoxStream<'static, Result<watcher::Event<ConfigMap>, watcher::Error>>;

// ANCHOR: triggers
/// The two streams the Controller is woken by, both taken from the one watch that
/// fills the cache: the ConfigMaps added or changed (its roots), and the ConfigMaps
/// added, changed or deleted (`owns_stream` wakes a companion's owner with them).
/// Each item comes out only after the cache holds it, so a reconcile always reads a
/// cache that holds the change that woke it. `pump` feeds both: the Controller sees
/// nothing until it is polled.
pub fn triggers(
    events: WatchEvents,
) -> (ConfigMaps, ConfigMaps, impl Future<Output = ()> + Send) {
    let (to_roots, roots) = mpsc::channel(TRIGGER_BUFFER);
    let (to_owners, owned) = mpsc::channel(TRIGGER_BUFFER);
    let events = events.filter_map(|event| async move {
        match event {
            Ok(event) => Some(Ok(event)),
            // The watcher retries by itself, with backoff.
            Err(err) => {
                tracing::warn!(error = %err, "watch failed; retrying");
                None
            }
        }
    });
    // Ends only when the Controller has stopped taking events.
    let pump = async move {
        let _ = events.forward(to_roots.fanout(to_owners)).await;
    };
    let roots = roots.map(Ok).applied_objects().boxed();
    let owned = owned.map(Ok).touched_objects().boxed();
    (roots, owned, pump)
}
// ANCHOR_END: triggers

/// A stream of ConfigMaps the Controller is woken by.
pub type ConfigMaps = BoxStream<'static, Result<ConfigMap, watcher::Error>>;

/// How many watch events may wait for the Controller to take them, per stream.
const TRIGGER_BUFFER: usize = 256;

// ANCHOR: start
/// Runs the mirror on kube-runtime's `Controller` until `shutdown` completes, and
/// returns its context (a test reads what its backoff still holds).
pub async fn start(
    client: Client,
    namespace: Option<&str>,
    workers: u16,
    fail_first: u32,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Arc<Context> {
    let api = informer::configmaps(client.clone(), namespace);
    let (store, writer) = reflector::store();
    // DIAGNOSE 5.4: The mirror creates companions but then stops
    //     following its sources: fix it.
    // With exercises 5.1 to 5.3 done, five end-to-end tests of the mirror
    // suite still fail. Run one, read the controller's log at debug level, and
    // find out why before you change anything.
    // Proved by: creates_a_companion_and_follows_the_source,
    //   heals_a_deleted_or_edited_companion, never_touches_a_foreign_companion,
    //   a_source_named_like_a_companion_works_and_unmanaging_removes_its_companion,
    //   heals_an_edit_that_arrives_behind_big_changes
    // Needs: 5.1, 5.2, 5.3
    // Path: core, 10 min
    // Book: "Step 05 > Exercise 5.4: the mirror stops following"
    // BEGIN SOLUTION
    let events = lean_watch(api, watcher::Config::default(), writer);
    // STARTER
    // // Only managed ConfigMaps are sources: watching just those keeps the cache
    // // small.
    // let managed = watcher::Config::default().labels("workshop.io/managed=true");
    // let events = lean_watch(api, managed, writer);
    // END SOLUTION
    let ctx = Arc::new(Context {
        mirror: Mirror::new(client, store.clone()),
        backoff: ObjectBackoff::new(store.clone(), BASE_DELAY, MAX_DELAY),
        fail_first: FailFirst::new(fail_first),
    });
    // The runtime never reconciles a source that is gone: the watch is where its
    // failure count learns that it has to go.
    let gone = ctx.clone();
    let events = events
        .inspect(move |event| {
            if let Ok(event) = event {
                gone.backoff.observe(event);
            }
        })
        .boxed();
    let (sources, companions, pump) = triggers(events);
    let results = Controller::for_stream(sources, store)
        .owns_stream(companions)
        .with_config(controller::Config::default().concurrency(workers))
        .graceful_shutdown_on(connect::shareable_shutdown(shutdown))
        .run(reconcile, error_policy, ctx.clone());
    // The watch never ends by itself: the Controller's end (at shutdown) ends both.
    tokio::select! {
        () = connect::log_results(results) => {}
        () = pump => {}
    }
    ctx
}
// ANCHOR_END: start

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_well_formed() {
        <Args as clap::CommandFactory>::command().debug_assert();
    }

    /// A context whose client points nowhere (these tests never reach the API
    /// server), and whose cache holds `plain` and `other`.
    fn context(fail_first: u32) -> Arc<Context> {
        let config =
            kube::Config::new("http://127.0.0.1:1".parse().expect("a valid URL"));
        let client = Client::try_from(config)
            .expect("a client needs no connection to be built");
        let (store, mut writer) = reflector::store();
        for cm in [plain(), other()] {
            writer.apply_watcher_event(&watcher::Event::Apply((*cm).clone()));
        }
        Arc::new(Context {
            mirror: Mirror::new(client, store.clone()),
            backoff: ObjectBackoff::new(store, BASE_DELAY, MAX_DELAY),
            fail_first: FailFirst::new(fail_first),
        })
    }

    /// An unmanaged ConfigMap named `name` with no companion: its plan is to do
    /// nothing, with no API call.
    fn unmanaged(name: &str) -> Arc<ConfigMap> {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.uid = Some(format!("uid-{name}"));
        Arc::new(cm)
    }

    fn plain() -> Arc<ConfigMap> {
        unmanaged("plain")
    }

    fn other() -> Arc<ConfigMap> {
        unmanaged("other")
    }

    // ANCHOR: backoff_test
    #[tokio::test]
    async fn failures_back_off_per_object_and_a_success_resets_them() {
        let ctx = context(3);
        let ms = Duration::from_millis;
        let mut waits = Vec::new();
        for _ in 0..3 {
            let error = reconcile(plain(), ctx.clone())
                .await
                .expect_err("an injected failure");
            waits.push(error_policy(plain(), &error, ctx.clone()));
        }
        assert_eq!(
            waits,
            [
                Action::requeue(ms(5)),
                Action::requeue(ms(10)),
                Action::requeue(ms(20))
            ]
        );

        // Another object has a count of its own.
        let error = Error::Injected(Injected { n: 1, of: 1 });
        assert_eq!(
            error_policy(other(), &error, ctx.clone()),
            Action::requeue(ms(5))
        );

        // The fourth try succeeds (nothing to do), which resets the count.
        assert_eq!(
            reconcile(plain(), ctx.clone())
                .await
                .expect("nothing to do"),
            Action::await_change()
        );
        assert_eq!(error_policy(plain(), &error, ctx), Action::requeue(ms(5)));
    }
    // ANCHOR_END: backoff_test

    /// A managed source whose companion's name is taken, in the cache of a context
    /// with no other source: its reconcile fails (Blocked) every time, for a reason
    /// of its own, whatever `--fail-first` says.
    fn blocked_context(fail_first: u32) -> (Arc<ConfigMap>, Arc<Context>) {
        let mut source = (*unmanaged("blocked")).clone();
        source
            .labels_mut()
            .insert(mirror::desired::MANAGED_LABEL.into(), "true".into());
        let foreign = unmanaged("blocked-synced");
        let config =
            kube::Config::new("http://127.0.0.1:1".parse().expect("a valid URL"));
        let client = Client::try_from(config)
            .expect("a client needs no connection to be built");
        let (store, mut writer) = reflector::store();
        for cm in [source.clone(), (*foreign).clone()] {
            writer.apply_watcher_event(&watcher::Event::Apply(cm));
        }
        let ctx = Arc::new(Context {
            mirror: Mirror::new(client, store.clone()),
            backoff: ObjectBackoff::new(store, BASE_DELAY, MAX_DELAY),
            fail_first: FailFirst::new(fail_first),
        });
        (Arc::new(source), ctx)
    }

    #[tokio::test]
    async fn a_source_that_keeps_failing_waits_longer_each_time() {
        // Two injected failures, then failures of its own: its companion's name is
        // taken (the Event it publishes about it goes nowhere: no API server here).
        let (source, ctx) = blocked_context(2);
        let mut waits = Vec::new();
        for _ in 0..5 {
            let error = reconcile(source.clone(), ctx.clone())
                .await
                .expect_err("blocked-synced is not its companion: Blocked");
            waits.push(error_policy(source.clone(), &error, ctx.clone()));
        }
        let ms = |n| Action::requeue(Duration::from_millis(n));
        assert_eq!(
            waits,
            [ms(5), ms(10), ms(20), ms(40), ms(80)],
            "blocked fails twice by --fail-first, then three times because its              companion's name is taken: each failure must wait twice as long as the one              before. Only a success resets the count: a reconcile that resets it before              the work has succeeded retries a source that keeps failing every 5 ms,              publishing an Event each time"
        );
    }

    #[tokio::test]
    async fn a_failure_is_a_warning_that_names_the_source_and_the_error() {
        let ctx = context(0);
        let error = Error::Mirror(mirror::Error::Blocked {
            companion: "plain-synced".into(),
        });
        let log = workshop_testkit::log::ControllerLog::default();
        log.attach(async { error_policy(plain(), &error, ctx.clone()) })
            .await;
        let lines = log.lines();
        let warned = lines
            .iter()
            .any(|line| line.contains("WARN") && line.contains("ns/plain"));
        assert!(
            warned && lines.iter().any(|line| line.contains(&error.to_string())),
            "a failed reconcile of ns/plain ({error}) must be logged as a warning that              names the source by its key and gives the error: that line is how anyone              finds out why a source is not mirrored. Logged at warn level or above:              {lines:?}"
        );

        // A cache that is behind is expected now and then: no warning.
        let log = workshop_testkit::log::ControllerLog::default();
        let behind = Error::Mirror(mirror::Error::CacheBehind);
        log.attach(async { error_policy(other(), &behind, ctx.clone()) })
            .await;
        assert_eq!(
            log.lines(),
            Vec::<String>::new(),
            "a CacheBehind is expected now and then: it is logged at debug level, not              as a warning"
        );
    }
}
