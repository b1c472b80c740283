//! Backoff per Kubernetes object, for kube-runtime's `Controller` (steps 05 and 07).
//!
//! This step's queue reconciles every key it is given, a deleted object's too: that
//! reconcile finds the object gone, succeeds, and `forget` clears the key's failure
//! count. kube-runtime's `Controller` keeps no count of its own, so a controller built
//! on it keeps one in its context, and the runtime never reconciles an object that has
//! left its cache. A count reset only by a success would then stay for ever: the map
//! grows with every object that failed once and was deleted, and an object created
//! again under the same name would start from the old count. So the count here lives
//! exactly as long as its object:
//!
//! - it is kept by uid, which a new object never shares with an old one, even under the
//!   same name;
//! - [`ObjectBackoff::observe`] drops it when the watch says the object is gone: its
//!   `Delete` event, or the end of a re-list that no longer lists it (an object deleted
//!   while the watch was down never gets a `Delete`);
//! - it is never kept for an object already gone from the cache: a reconcile can fail
//!   because its object is being deleted, and its `when` comes after the `Delete`.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

use kube::Resource;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::rate_limiter::{ItemExponentialFailureRateLimiter, RateLimiter};

// ANCHOR: object_backoff
/// Step 03's exponential backoff, per object of kind `K`, for as long as the object
/// is in `cache`.
pub struct ObjectBackoff<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    /// Failures by object uid.
    limiter: ItemExponentialFailureRateLimiter<String>,
    /// The controller's cache of `K`: an object not in it is gone.
    cache: Store<K>,
}
// ANCHOR_END: object_backoff

impl<K> ObjectBackoff<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    /// A backoff that waits `base_delay` after an object's first failure, doubling
    /// up to `max_delay`, for the objects in `cache`.
    pub fn new(cache: Store<K>, base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            limiter: ItemExponentialFailureRateLimiter::new(base_delay, max_delay),
            cache,
        }
    }

    // ANCHOR: when
    /// Records one more failure of `object` and says how long to wait before
    /// retrying it.
    pub fn when(&self, object: &K) -> Duration {
        let key = key(object);
        let wait = self.limiter.when(&key);
        // Counted first, looked up second. If the object is still cached now, its
        // removal from the cache is still to come, and the `Delete` that follows it
        // will find this count. If it is gone already, its `Delete` may have come
        // and gone before the count: drop it here.
        if !self.cached(object) {
            self.limiter.forget(&key);
        }
        wait
    }
    // ANCHOR_END: when

    /// Forgets the failures of `object`: it succeeded, so its next failure is a
    /// first one again.
    pub fn forget(&self, object: &K) {
        self.limiter.forget(&key(object));
    }

    /// How many times `object` has failed since it last succeeded.
    pub fn num_requeues(&self, object: &K) -> u32 {
        self.limiter.num_requeues(&key(object))
    }

    // ANCHOR: observe
    /// Drops the counts of the objects that `event` says are gone. Call it with every
    /// event of the watch that fills `cache`, after the cache has taken it in.
    pub fn observe(&self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Delete(object) => self.forget(object),
            // A re-list has replaced the cache: what it did not list is gone.
            watcher::Event::InitDone => {
                let listed: HashSet<String> = self
                    .cache
                    .state()
                    .iter()
                    .map(|object| key(object.as_ref()))
                    .collect();
                self.limiter.retain(|key| listed.contains(key));
            }
            watcher::Event::Init
            | watcher::Event::InitApply(_)
            | watcher::Event::Apply(_) => {}
        }
    }
    // ANCHOR_END: observe

    /// How many objects have a failure count now.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no object has a failure count.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Whether the cache holds `object` (this very object: the same uid).
    fn cached(&self, object: &K) -> bool {
        self.cache
            .get(&ObjectRef::from_obj(object))
            .is_some_and(|cached| cached.uid() == object.uid())
    }
}

impl<K> std::fmt::Debug for ObjectBackoff<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackoff")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// What an object's count is kept under: its uid. An object that was never stored
/// by the API server (built in a unit test) has none, and is known by its kind,
/// name and namespace.
fn key<K>(object: &K) -> String
where
    K: Resource,
    K::DynamicType: Default,
{
    object
        .uid()
        .unwrap_or_else(|| ObjectRef::from_obj(object).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn cm(name: &str, uid: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.uid = Some(uid.into());
        cm
    }

    /// A backoff over a cache holding `objects`, and the cache's writer.
    fn backoff(
        objects: &[&ConfigMap],
    ) -> (
        ObjectBackoff<ConfigMap>,
        reflector::store::Writer<ConfigMap>,
    ) {
        let (cache, mut writer) = reflector::store();
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::Apply((*object).clone()));
        }
        (ObjectBackoff::new(cache, ms(5), ms(1000)), writer)
    }

    #[test]
    fn each_object_backs_off_on_its_own_until_it_succeeds() {
        let (a, b) = (cm("a", "uid-a"), cm("b", "uid-b"));
        let (backoff, _writer) = backoff(&[&a, &b]);
        let waits: Vec<_> = (0..3).map(|_| backoff.when(&a)).collect();
        assert_eq!(waits, [ms(5), ms(10), ms(20)]);
        assert_eq!(backoff.when(&b), ms(5), "b has a count of its own");
        backoff.forget(&a);
        assert_eq!(backoff.when(&a), ms(5), "a success starts a's count again");
        assert_eq!(backoff.num_requeues(&b), 1);
    }

    #[test]
    fn an_object_created_again_under_the_same_name_starts_from_zero() {
        let old = cm("a", "uid-old");
        let (backoff, mut writer) = backoff(&[&old]);
        for _ in 0..5 {
            backoff.when(&old);
        }
        // Deleted, then created again: another object, with another uid.
        writer.apply_watcher_event(&watcher::Event::Delete(old.clone()));
        let new = cm("a", "uid-new");
        writer.apply_watcher_event(&watcher::Event::Apply(new.clone()));
        assert_eq!(
            backoff.when(&new),
            ms(5),
            "a new object named like a deleted one inherits nothing from it"
        );
    }

    #[test]
    fn a_deleted_object_leaves_no_count_behind() {
        let (a, b) = (cm("a", "uid-a"), cm("b", "uid-b"));
        let (backoff, mut writer) = backoff(&[&a, &b]);
        backoff.when(&a);
        backoff.when(&b);
        // The cache takes the deletion in first, then passes it on.
        let deleted = watcher::Event::Delete(a.clone());
        writer.apply_watcher_event(&deleted);
        backoff.observe(&deleted);
        assert_eq!(backoff.len(), 1, "b's count only");
        // A reconcile of `a` that was running when `a` was deleted fails now.
        assert_eq!(backoff.when(&a), ms(5));
        assert_eq!(backoff.len(), 1, "a is gone: its failure is not kept");
    }

    #[test]
    fn a_relist_drops_the_objects_deleted_while_the_watch_was_down() {
        let (a, b) = (cm("a", "uid-a"), cm("b", "uid-b"));
        let (backoff, mut writer) = backoff(&[&a, &b]);
        backoff.when(&a);
        backoff.when(&b);
        // The watch restarts and lists only `b`: `a` was deleted meanwhile, and no
        // `Delete` ever says so.
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(b.clone()),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            backoff.observe(&event);
        }
        assert_eq!(backoff.len(), 1);
        assert_eq!(backoff.num_requeues(&a), 0);
        assert_eq!(backoff.num_requeues(&b), 1);
    }
}
