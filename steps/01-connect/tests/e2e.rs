//! End-to-end tests of step 01 against a real API server.
//!
//! Run them with `scripts/check.sh 01` (or
//! `cargo test -p step-01-connect -- --include-ignored` with a cluster in your
//! kubeconfig). They carry `#[ignore = "..."]` only so that a plain
//! `cargo test`, which may have no cluster, stays fast; with no cluster they
//! fail, they never pass by skipping.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use workshop_testkit::{TestNamespace, wait_until};

// ANCHOR: e2e
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 01 runs it)"]
async fn prints_where_it_connected_and_counts_the_configmaps() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "connect").await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());

    // The controller-manager publishes `kube-root-ca.crt` into every new namespace.
    // Wait for it, so the count below does not depend on how fast that happened.
    wait_until(
        "kube-root-ca.crt in the new namespace",
        Duration::from_secs(30),
        || async { Ok(configmaps.get_opt("kube-root-ca.crt").await?) },
    )
    .await?;
    for i in 0..3 {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": { "name": format!("counted-{i}") },
            "data": { "n": i.to_string() }
        }))?;
        configmaps.create(&PostParams::default(), &cm).await?;
    }

    let args = connect::Args {
        namespace: ns.name().to_string(),
        context: None,
    };
    let mut out = Vec::new();
    connect::run(&args, &mut out).await?;
    let out = String::from_utf8(out)?;

    let expected = format!("connected. 4 configmaps in {}", ns.name());
    assert_eq!(
        out.lines().last(),
        Some(expected.as_str()),
        "output:\n{out}"
    );
    let version = client.apiserver_version().await?.git_version;
    assert!(
        out.lines()
            .any(|line| line == format!("version: {version}")),
        "the version line should name the server's version {version}; output:\n{out}"
    );
    Ok(())
}
// ANCHOR_END: e2e

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 01 runs it)"]
async fn an_empty_namespace_still_has_its_root_ca_configmap() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "connect-empty").await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    wait_until(
        "kube-root-ca.crt in the new namespace",
        Duration::from_secs(30),
        || async { Ok(configmaps.get_opt("kube-root-ca.crt").await?) },
    )
    .await?;
    assert_eq!(connect::count_configmaps(&client, ns.name()).await?, 1);
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 01 runs it)"]
async fn a_refused_request_is_reported_as_the_servers_answer() -> anyhow::Result<()> {
    // The cluster of your kubeconfig, with credentials it does not know: it answers
    // every request, with 401 Unauthorized.
    let mut config = kube::Config::infer().await?;
    config.auth_info = kube::config::AuthInfo {
        token: Some("not-a-token-this-cluster-knows".to_string().into()),
        ..Default::default()
    };
    // What the server answers that request, asked directly.
    let direct = kube::Client::try_from(config.clone())?;
    let answer = match direct.apiserver_version().await {
        Err(kube::Error::Api(status)) => status,
        other => {
            panic!("the API server should refuse a made-up token; got {other:?}")
        }
    };
    let Err(err) = connect::connect(config).await else {
        panic!("the API server accepted a made-up token");
    };
    assert!(
        matches!(&err, connect::ConnectError::Api(kube::Error::Api(status))
            if status.code == answer.code),
        "the request reached the API server, which answered HTTP {} {} (\"{}\"). The \
         user was told: \"{err}\" ({err:?})",
        answer.code,
        answer.reason,
        answer.message,
    );
    assert!(
        err.to_string().contains(&format!("HTTP {}", answer.code)),
        "the message should give the server's answer: {err}"
    );

    // Any answer of the server is an answer, not only a 401: the same cluster, asked at a
    // path it does not serve, answers 404 Not Found.
    let mut config = kube::Config::infer().await?;
    let server = config.cluster_url.to_string();
    config.cluster_url =
        format!("{}/no-such-prefix", server.trim_end_matches('/')).parse()?;
    let Err(err) = connect::connect(config).await else {
        panic!("the API server served /version under a prefix it does not have");
    };
    assert!(
        matches!(&err, connect::ConnectError::Api(kube::Error::Api(status))
            if status.code == 404),
        "the request reached the API server, which answered HTTP 404 Not Found. The \
         user was told: \"{err}\" ({err:?})"
    );
    Ok(())
}
