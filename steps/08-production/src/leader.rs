//! Leader election: of all the replicas running, exactly one reconciles.
//!
//! Two replicas of a controller that both reconcile would race each other: both
//! create the run's Pod (one gets a conflict), both write its status, both publish
//! Events. So the replicas hold an election on a shared object, a
//! `coordination.k8s.io/v1` **Lease**:
//!
//! - `holderIdentity` names the leader; `renewTime` is when it last said it is alive;
//!   `leaseDurationSeconds` is how long that promise lasts.
//! - The leader renews the Lease every retry period. A replica that sees the Lease
//!   free, or not renewed for a whole lease duration, takes it.
//! - Every write carries the `resourceVersion` that was read, so when two
//!   replicas try to take the Lease at once the API server accepts one write
//!   and refuses the other with a conflict. That optimistic concurrency is the
//!   whole safety of the scheme.
//! - A leader that cannot renew within the renew deadline stops leading; this program
//!   then exits, and its Pod is restarted as a standby. A leader that shuts down
//!   cleanly releases the Lease (empties `holderIdentity`) so a standby takes over at
//!   once instead of waiting for it to expire.
//!
//! This is client-go's `leaderelection` algorithm, with its defaults (15 s lease, 10
//! s renew deadline, 2 s retry period), plus one thing client-go does not do: a
//! standby also *watches* the Lease, so it sees a release the moment it happens
//! rather than at its next poll.
//!
//! **Why hand-built.** Leader election is not in kube-runtime. Of the crates,
//! `kube-leader-election` is still on kube 4. `kube-lease-manager` 0.13 is on kube 5,
//! but its standby only re-reads the Lease when the lease it last saw expires, so a
//! Lease released on a clean shutdown is noticed up to a whole lease duration later:
//! no faster than after a crash. Handing over at once on a clean shutdown is what
//! this step asks for, and the algorithm is short enough to read whole.
//!
//! Like client-go's, this election is not *fencing*: a leader cut off from the API
//! server keeps acting until its renew deadline passes, and clocks that disagree by
//! more than the lease duration break it. The reconciler tolerates the overlap: every
//! write it makes is conditional.
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;

/// Command-line flags of the election. In a Pod, the Deployment passes the Pod's own
/// name and namespace through the downward API (`POD_NAME`, `POD_NAMESPACE`).
#[derive(Debug, Clone, clap::Args)]
pub struct LeaseArgs {
    /// Name of the Lease the replicas compete for.
    #[arg(long, default_value = "taskrun-controller")]
    pub lease_name: String,
    /// Namespace of the Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "workshop-system")]
    pub lease_namespace: String,
    /// This replica's name in the Lease (default: host name and process id).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Seconds a leader's renewal is valid: how long a crashed
    /// leader blocks its standby.
    #[arg(long, default_value = "15", value_parser = seconds)]
    pub lease_duration: Duration,
    /// Seconds a leader keeps leading while its renewals fail, before it gives up.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub renew_deadline: Duration,
    /// Seconds between two renewals, and between two looks at the Lease by a standby.
    #[arg(long, default_value = "2", value_parser = seconds)]
    pub retry_period: Duration,
}

/// Parses a number of seconds, whole or not: `15`, `0.5`.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("expected a positive number of seconds, got {text:?}"))
}

impl LeaseArgs {
    /// client-go's rules: renewals must fit in a deadline that
    /// ends before the lease does.
    pub fn check(&self) -> Result<(), String> {
        if self.lease_duration.as_secs() < 1
            || self.lease_duration.subsec_nanos() != 0
        {
            return Err("--lease-duration must be a whole number of seconds".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(
                "--renew-deadline must be shorter than --lease-duration".into()
            );
        }
        if self.retry_period >= self.renew_deadline {
            return Err("--retry-period must be shorter than --renew-deadline".into());
        }
        Ok(())
    }

    /// The identity to hold the Lease with: the Pod's name, or
    /// host name and process id.
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .unwrap_or_else(|_| "taskrun-controller".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

/// Why this replica stopped leading before it was asked to.
#[derive(Debug, thiserror::Error)]
#[error("lost the leader election: {0}")]
pub struct LostLeadership(pub String);

// ANCHOR: decision
/// What a candidate may do, given the Lease it just read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew it.
    Renew,
    /// It is free, or its holder stopped renewing it: take it.
    Acquire,
    /// Someone else holds it; their claim lasts `for_at_most` longer.
    Wait {
        holder: String,
        for_at_most: Duration,
    },
}

// TODO(exercise 8.1): Decide what candidate `me` may do with a Lease whose spec is
//     `lease`, at time `now`.
// An empty or missing holderIdentity means the Lease is free. Another holder's claim
// lasts until renewTime + leaseDurationSeconds (at that very instant it has run out);
// a claim with no renewTime has lapsed. Our own Lease is ours to renew, however late.
// Proved by: a_free_lease_is_taken, our_own_lease_is_renewed_even_when_it_has_lapsed,
//   another_holder_is_waited_for_until_the_claim_runs_out,
//   a_claim_without_a_renewal_time_has_lapsed
// Path: stretch, 8 min
// Book: "Step 08 > Leader election"
pub fn decide(lease: &LeaseSpec, me: &str, now: Timestamp) -> Decision {
    todo!(
        "Exercise 8.1: Decide what candidate `me` may do with a Lease whose spec is \
         `lease`, at time `now`."
    )
}
// ANCHOR_END: decision

/// One candidate in the election.
#[derive(Debug, Clone)]
pub struct Elector {
    leases: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

/// The outcome of one look at the Lease.
enum Attempt {
    Leading,
    Following {
        holder: String,
        for_at_most: Duration,
    },
}

impl Elector {
    pub fn new(client: Client, args: &LeaseArgs) -> Self {
        Self {
            leases: Api::namespaced(client, &args.lease_namespace),
            name: args.lease_name.clone(),
            identity: args.identity(),
            lease_duration: args.lease_duration,
            renew_deadline: args.renew_deadline,
            retry_period: args.retry_period,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    // ANCHOR: run
    /// Campaigns until `release` completes, publishing on `leading` whether we
    /// lead. Then it releases the Lease if we hold it. Returns an error if we
    /// lost the lead before that.
    pub async fn run(
        self,
        leading: watch::Sender<bool>,
        release: impl Future<Output = ()>,
    ) -> Result<(), LostLeadership> {
        // Changes to our Lease, so that a standby notices a release at once.
        let one_lease = watcher::Config::default()
            .fields(&format!("metadata.name={}", self.name));
        let changes = watcher(self.leases.clone(), one_lease)
            .default_backoff()
            .applied_objects();
        let mut changes = std::pin::pin!(changes);
        let mut release = std::pin::pin!(release);
        // When our last successful renewal started: the renewTime the standbys see.
        let mut last_renewal = Instant::now();

        loop {
            let mut wait = self.retry_period;
            // Every look at the Lease is bounded. A leader's must succeed before
            // its renew deadline: a request that hangs (an unreachable API
            // server, a black-holed connection) must not keep it leading past the
            // moment a standby may take over.
            let started = Instant::now();
            let deadline = if *leading.borrow() {
                last_renewal + self.renew_deadline
            } else {
                started + self.renew_deadline
            };
            let Ok(attempt) =
                tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await
            else {
                tracing::warn!(
                    lease = %self.name,
                    "no answer from the API server within the renew deadline"
                );
                if *leading.borrow() {
                    leading.send_replace(false);
                    return Err(LostLeadership(format!(
                        "no renewal for {:?}: the API server did not answer",
                        self.renew_deadline
                    )));
                }
                continue;
            };
            match attempt {
                Ok(Attempt::Leading) => {
                    last_renewal = started;
                    if !*leading.borrow() {
                        tracing::info!(
                            identity = %self.identity,
                            lease = %self.name,
                            "became the leader"
                        );
                        leading.send_replace(true);
                    }
                }
                Ok(Attempt::Following {
                    holder,
                    for_at_most,
                }) => {
                    if *leading.borrow() {
                        leading.send_replace(false);
                        return Err(LostLeadership(format!(
                            "{holder} holds the Lease now"
                        )));
                    }
                    tracing::debug!(%holder, "standing by");
                    // Look again when their claim runs out, if that is
                    // sooner than our next poll.
                    wait = wait.min(for_at_most);
                }
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        lease = %self.name,
                        "could not read or write the Lease"
                    );
                    if *leading.borrow()
                        && last_renewal.elapsed() >= self.renew_deadline
                    {
                        leading.send_replace(false);
                        return Err(LostLeadership(format!(
                            "no renewal for {:?}: {err}",
                            self.renew_deadline
                        )));
                    }
                }
            }

            // Sleep until the next look, unless asked to stop, or (standing by) the
            // Lease is seen free before then. A leader whose renewals fail looks
            // again no later than its deadline, and gives up then.
            let mut next_look = Instant::now() + wait;
            if *leading.borrow() {
                next_look = next_look.min(last_renewal + self.renew_deadline);
            }
            loop {
                tokio::select! {
                    () = &mut release => {
                        self.step_down(&leading).await;
                        return Ok(());
                    }
                    () = tokio::time::sleep_until(next_look) => break,
                    Some(change) = changes.next() => {
                        let free = match (&change, *leading.borrow()) {
                            (Ok(lease), false) => {
                                let spec = lease.spec.clone().unwrap_or_default();
                                let now = Timestamp::now();
                                let decision = decide(&spec, &self.identity, now);
                                decision == Decision::Acquire
                            }
                            _ => false,
                        };
                        if free {
                            break;
                        }
                    }
                }
            }
        }
    }
    // ANCHOR_END: run

    /// Reads the Lease and takes it, renews it, or reports who holds it.
    async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.leases.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.claim(LeaseSpec::default(), now)),
            };
            return match self.leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Leading),
                // Another candidate created it first: look again next time.
                Err(kube::Error::Api(status)) if status.is_already_exists() => {
                    Ok(self.following("another candidate"))
                }
                Err(err) => Err(err),
            };
        };
        let spec = lease.spec.take().unwrap_or_default();
        let next = match decide(&spec, &self.identity, now) {
            Decision::Wait {
                holder,
                for_at_most,
            } => {
                return Ok(Attempt::Following {
                    holder,
                    for_at_most,
                });
            }
            Decision::Renew => LeaseSpec {
                renew_time: Some(MicroTime(now)),
                ..spec
            },
            Decision::Acquire => self.claim(spec, now),
        };
        lease.spec = Some(next);
        // `replace` sends the resourceVersion we read: if anyone wrote the Lease
        // since, the API server refuses with a conflict, and the other writer wins.
        match self
            .leases
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Attempt::Leading),
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                Ok(self.following("a faster candidate"))
            }
            Err(err) => Err(err),
        }
    }

    /// The Lease spec that makes us the holder, counting one more transition.
    fn claim(&self, previous: LeaseSpec, now: Timestamp) -> LeaseSpec {
        let seconds =
            i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_duration_seconds: Some(seconds),
            lease_transitions: Some(previous.lease_transitions.unwrap_or(0) + 1),
            ..previous
        }
    }

    fn following(&self, holder: &str) -> Attempt {
        Attempt::Following {
            holder: holder.into(),
            for_at_most: self.retry_period,
        }
    }

    /// Stops leading, and releases the Lease if we hold it.
    async fn step_down(&self, leading: &watch::Sender<bool>) {
        let was_leading = leading.send_replace(false);
        if was_leading {
            match self.release().await {
                Ok(()) => tracing::info!(lease = %self.name, "released the Lease"),
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        "could not release the Lease; it expires on its own"
                    )
                }
            }
        }
    }

    // ANCHOR: release
    // TODO(exercise 8.2): Release the Lease if we hold it, so that a standby takes
    //     over at once.
    // Afterwards the Lease names no holder, and no acquire or renew time: the
    // next candidate that reads it takes it. A Lease someone else holds is left
    // alone, and so is one that someone else wrote after we read it: our write
    // must not overwrite theirs.
    // Proved by: a_clean_shutdown_releases_the_lease_and_hands_over_at_once,
    //   releasing_a_lease_someone_else_holds_leaves_it_untouched
    // Needs: 8.1, 8.3, 8.4, 8.5, 8.6
    // Path: stretch, 8 min
    // Book: "Step 08 > Leader election"
    async fn release(&self) -> Result<(), kube::Error> {
        todo!(
            "Exercise 8.2: Release the Lease if we hold it, so that a standby takes \
             over at once."
        )
    }
    // ANCHOR_END: release
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, renewed: Timestamp, seconds: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(seconds),
            ..LeaseSpec::default()
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_free_lease_is_taken() {
        assert_eq!(decide(&LeaseSpec::default(), "a", at(0)), Decision::Acquire);
        let released = LeaseSpec {
            holder_identity: Some(String::new()),
            ..held_by("", at(0), 15)
        };
        assert_eq!(decide(&released, "a", at(1)), Decision::Acquire);
    }

    #[test]
    fn our_own_lease_is_renewed_even_when_it_has_lapsed() {
        assert_eq!(
            decide(&held_by("a", at(0), 15), "a", at(1)),
            Decision::Renew
        );
        assert_eq!(
            decide(&held_by("a", at(0), 15), "a", at(99)),
            Decision::Renew
        );
    }

    #[test]
    fn another_holder_is_waited_for_until_the_claim_runs_out() {
        let lease = held_by("b", at(0), 15);
        assert_eq!(
            decide(&lease, "a", at(5)),
            Decision::Wait {
                holder: "b".into(),
                for_at_most: Duration::from_secs(10)
            }
        );
        assert_eq!(decide(&lease, "a", at(15)), Decision::Acquire);
        assert_eq!(decide(&lease, "a", at(16)), Decision::Acquire);
    }

    #[test]
    fn a_claim_without_a_renewal_time_has_lapsed() {
        let lease = LeaseSpec {
            holder_identity: Some("b".into()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        };
        assert_eq!(decide(&lease, "a", at(0)), Decision::Acquire);
    }

    #[tokio::test]
    #[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
    async fn releasing_a_lease_someone_else_holds_leaves_it_untouched()
    -> anyhow::Result<()> {
        let admin = workshop_testkit::client().await;
        let ns = workshop_testkit::TestNamespace::create(&admin, "release").await?;
        let leases: Api<Lease> = Api::namespaced(admin.clone(), ns.name());
        let args = LeaseArgs {
            lease_name: "taskrun-controller".into(),
            lease_namespace: ns.name().into(),
            identity: Some("replica-a".into()),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        };
        let elector = Elector::new(admin, &args);
        let lease = |spec| Lease {
            metadata: ObjectMeta {
                name: Some(args.lease_name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        };

        // replica-b took the Lease (replica-a's lead ended, or it never led):
        // replica-a, shutting down, must not free it.
        let theirs = held_by("replica-b", Timestamp::now(), 15);
        let theirs = leases
            .create(&PostParams::default(), &lease(theirs))
            .await?;
        elector.release().await?;
        let after = leases.get(&args.lease_name).await?;
        assert_eq!(
            (
                after.spec.as_ref(),
                after.metadata.resource_version.as_ref()
            ),
            (
                theirs.spec.as_ref(),
                theirs.metadata.resource_version.as_ref()
            ),
            "replica-a released a Lease that replica-b holds: release must check who \
             holds the Lease, and leave another holder's alone"
        );

        // Its own, it releases: no holder, no acquire or renew time.
        let mut ours = after;
        ours.spec = Some(held_by("replica-a", Timestamp::now(), 15));
        leases
            .replace(&args.lease_name, &PostParams::default(), &ours)
            .await?;
        elector.release().await?;
        let spec = leases.get(&args.lease_name).await?.spec.unwrap_or_default();
        assert_eq!(
            (spec.holder_identity, spec.acquire_time, spec.renew_time),
            (None, None, None),
            "replica-a did not release its own Lease"
        );
        Ok(())
    }

    #[test]
    fn durations_are_checked_as_client_go_does() {
        let args = |lease: u64, renew: u64, retry: u64| LeaseArgs {
            lease_name: "l".into(),
            lease_namespace: "ns".into(),
            identity: None,
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        };
        assert!(args(15, 10, 2).check().is_ok());
        assert!(args(10, 10, 2).check().is_err());
        assert!(args(15, 10, 10).check().is_err());
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(seconds("0").is_err());
        assert!(seconds("soon").is_err());
    }
}
