//! End-to-end tests of step 05: the very same mirror suite as step 04, run against the
//! Controller-based implementation. The suite is test code, not a solution: read it in the
//! test kit, solutions/testkit/src/mirror.rs.
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
