//! Which Tasks exist: a cache that can say yes, and the API server for no.
//!
//! The API server waits for the webhook's answer before it stores the run, and the
//! user waits for the API server: the answer must be quick. A cache of the namespace's
//! Tasks (step 02's reflector) answers without a request. But a cache is always a
//! little behind: a Task created a moment before its run (`kubectl apply -f` of a file
//! that holds both does exactly that) may not have reached it yet. So the cache can
//! say "it exists", but only the API server can say "it does not": a Task the cache
//! has not seen is looked up there, with one GET. Runs of existing Tasks, the common
//! case, cost no request; refusals cost one.

use std::future::Future;

use crds::Task;
use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::review::{LookupError, TaskLookup};

/// The Tasks of the guarded namespace, cached, with the client to ask about the
/// others.
#[derive(Clone)]
pub struct Tasks {
    client: Client,
    cache: Store<Task>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("cached", &self.cache.state().len())
            .finish_non_exhaustive()
    }
}

impl Tasks {
    /// A lookup that reads `cache` first and asks the API server with `client`.
    pub fn new(client: Client, cache: Store<Task>) -> Self {
        Self { client, cache }
    }

    /// The lookup, and the watch that fills its cache with the Tasks of `namespace`
    /// (it must be polled: spawn it).
    pub fn watch(
        client: Client,
        namespace: &str,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (cache, writer) = reflector::store();
        let api: Api<Task> = Api::namespaced(client.clone(), namespace);
        let watch = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(|task| task.managed_fields_mut().clear())
            .reflect(writer)
            .applied_objects()
            .for_each(|task| async move {
                match task {
                    Ok(task) => tracing::debug!(task = %task.name_any(), "cached"),
                    Err(err) => tracing::warn!(error = %err, "watching Tasks"),
                }
            });
        (Self::new(client, cache), watch)
    }

    /// Whether the cache holds the Task `namespace/name`.
    pub fn cached(&self, namespace: &str, name: &str) -> bool {
        self.cache
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    }
}

// ANCHOR: lookup
impl TaskLookup for Tasks {
    // EXERCISE 9.2: Tell whether a Task exists, from the cache when it can.
    // A Task in the cache exists: answer without a request. A Task the cache does not
    // hold may still exist (created a moment ago, not yet seen by the watch): only
    // the API server can say that it does not. A lookup that fails (the API server
    // refuses or cannot be reached) is an error, never "missing": that would refuse
    // every run with a message that blames the user.
    // Proved by: a_task_in_the_cache_is_found_without_a_request,
    //   a_task_the_cache_has_not_seen_is_asked_for,
    //   a_lookup_that_fails_is_not_taken_for_a_missing_task,
    //   a_task_created_just_before_its_run_is_not_refused
    // Needs: 9.1, 9.3, 9.4
    // Path: stretch, 15 min
    // Book: "Step 09 > A cache that can only say yes"
    async fn exists(&self, namespace: &str, name: &str) -> Result<bool, LookupError> {
        // BEGIN SOLUTION
        let key = ObjectRef::new(name).within(namespace);
        if self.cache.get(&key).is_some() {
            return Ok(true);
        }
        let api: Api<Task> = Api::namespaced(self.client.clone(), namespace);
        match api.get_metadata_opt(name).await {
            Ok(found) => Ok(found.is_some()),
            Err(source) => Err(LookupError {
                namespace: namespace.into(),
                name: name.into(),
                source,
            }),
        }
        // END SOLUTION
    }
}
// ANCHOR_END: lookup

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    /// A client whose every request fails: nothing listens at its address.
    fn unreachable_client() -> Client {
        let config = kube::Config::new("https://127.0.0.1:9".parse().unwrap());
        Client::try_from(config).expect("a client (it connects only when used)")
    }

    #[tokio::test]
    async fn a_task_in_the_cache_is_found_without_a_request() {
        let (cache, mut writer) = reflector::store::<Task>();
        let mut task = crds::hello_task();
        task.metadata.namespace = Some("team-a".into());
        writer.apply_watcher_event(&Event::Apply(task));
        let tasks = Tasks::new(unreachable_client(), cache);
        let found = tasks.exists("team-a", "hello").await;
        assert!(
            matches!(found, Ok(true)),
            "a Task in the cache: {found:?} (the lookup made a request, which failed: \
             a cached Task needs none)"
        );
    }
}
