//! End-to-end tests of step 04 against a real API server: the shared mirror suite
//! (solutions/testkit/src/mirror.rs), run against this step's controller. Run with
//! `scripts/check.sh 04`.

use futures::future::BoxFuture;
use kube::Client;

/// Runs this step's mirror, scoped to `namespace`, until dropped.
fn start(client: Client, namespace: String) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        mirror::start(client, Some(&namespace), 2, std::future::pending()).await?;
        Ok(())
    })
}

workshop_testkit::mirror_suite!(start);
