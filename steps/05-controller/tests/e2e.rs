//! End-to-end tests of step 05: the very same mirror suite as step 04, run against the
//! Controller-based implementation, and the suite of the mirror into another namespace
//! (`--into`), whose sources carry a finalizer. The suites are test code, not a solution:
//! read them in the test kit, solutions/testkit/src/mirror.rs and mirror_into.rs.
//! Run with `scripts/check.sh 05`.

use futures::future::BoxFuture;
use kube::Client;

/// Runs this step's mirror, scoped to `namespace`, until dropped.
fn start(
    client: Client,
    namespace: String,
) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        controller::start(client, Some(&namespace), 2, 0, std::future::pending())
            .await;
        Ok(())
    })
}

workshop_testkit::mirror_suite!(start);

/// Runs this step's mirror from `namespace` into `into`, until dropped.
fn start_into(
    client: Client,
    namespace: String,
    into: String,
) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        controller::into::start(client, &namespace, &into, 2, std::future::pending())
            .await;
        Ok(())
    })
}

workshop_testkit::mirror_into_suite!(start_into);
