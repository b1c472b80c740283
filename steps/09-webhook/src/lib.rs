//! Step 09 (an extension): an admission webhook that refuses a TaskRun whose Task
//! does not exist.
//!
//! Step 07's controller copes with a run of a missing Task: it leaves the run Pending
//! with reason `TaskNotFound`, and starts it if the Task appears. But the user who
//! made a typo in `taskRef.name` learns it only by looking at the run later. The CRD's
//! schema and its CEL rules cannot refuse it at once: they see one object, and this
//! rule needs another (the Task). A **validating admission webhook** can: the API
//! server asks it about every TaskRun being created, before storing it, and passes
//! its refusal on to the user.
//!
//! The pieces, each in its module:
//!
//! - [`review`]: the decision, a function of the request and of what a lookup says
//!   about Tasks;
//! - [`tasks`]: that lookup: a cache that can say yes at once, and the API server
//!   for no;
//! - [`tls`]: the certificate authority and the serving certificate the program makes
//!   for itself at every start (the API server calls webhooks over HTTPS only);
//! - [`register`]: the `ValidatingWebhookConfiguration` that tells the API server
//!   when to call, where, whom to trust (the `caBundle`), and what to do when the
//!   webhook does not answer (`failurePolicy`);
//! - [`server`]: the HTTPS server (axum over rustls) that answers.
//!
//! [`serve`] puts them together. The program registers itself for one namespace, so
//! that on a shared cluster it never judges another learner's runs.

pub mod register;
pub mod review;
pub mod server;
pub mod tasks;
pub mod tls;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use connect::LogFormat;
use kube::Client;

pub use register::FailurePolicy;
pub use tls::Endpoint;

/// Command-line flags, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = "A validating admission webhook: refuses a TaskRun whose Task does not exist"
)]
#[group(id = "webhook")]
pub struct Args {
    #[command(flatten)]
    pub options: Options,
    /// Address of the HTTPS server the API server calls (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Log lines as readable text, compact text (no time, module or spans), or JSON.
    #[arg(
        long,
        value_enum,
        env = connect::LOG_FORMAT_VAR,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// What the webhook guards, how the API server reaches it, and what the API server
/// does when it cannot.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The namespace whose TaskRuns this webhook checks, and no other.
    #[arg(short, long, env = "WEBHOOK_NAMESPACE")]
    pub namespace: String,
    /// The address the API server calls this program at, with a `url`: this
    /// machine's, as the API server sees it (on the Docker-free cluster the API
    /// server runs on this machine, so 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1", conflicts_with = "service")]
    pub host: String,
    /// In the cluster: the Service the API server calls this program through
    /// (NAMESPACE/NAME, port 443), instead of --host.
    #[arg(long, value_parser = tls::parse_service)]
    pub service: Option<(String, String)>,
    /// What the API server does with a TaskRun when the webhook cannot answer: Fail
    /// refuses it, Ignore admits it unchecked.
    #[arg(long, value_enum, default_value_t = FailurePolicy::Fail)]
    pub failure_policy: FailurePolicy,
    /// The name of the ValidatingWebhookConfiguration (a cluster-wide name; the
    /// default, taskrun-webhook-NAMESPACE, is one per namespace).
    #[arg(long)]
    pub configuration: Option<String>,
}

impl Options {
    /// Where the API server calls: the Service, or `https://<host>:<port>`.
    pub fn endpoint(&self, port: u16) -> Endpoint {
        match &self.service {
            Some((namespace, name)) => Endpoint::Service {
                namespace: namespace.clone(),
                name: name.clone(),
                port: tls::SERVICE_PORT,
            },
            None => Endpoint::Url {
                host: self.host.clone(),
                port,
            },
        }
    }

    /// The name of this webhook's ValidatingWebhookConfiguration.
    pub fn configuration_name(&self) -> String {
        self.configuration
            .clone()
            .unwrap_or_else(|| register::configuration_name(&self.namespace))
    }
}

/// Why the program stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(
        "cannot register the webhook (ValidatingWebhookConfiguration {name}): {source}"
    )]
    Register {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the HTTPS server failed: {0}")]
    Serve(std::io::Error),
}

/// The whole program: listen on `--listen`, then [`serve`] until `shutdown`.
pub async fn run(
    client: Client,
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let listener = TcpListener::bind(args.listen)
        .map_err(|err| Error::Listen(args.listen, err))?;
    serve(client, &args.options, listener, shutdown).await
}

// ANCHOR: serve
/// Makes a certificate, starts the cache of Tasks, registers the webhook (with the
/// new `caBundle`), and answers the API server on `listener` until `shutdown`.
///
/// The listener is bound before the webhook is registered: a call that arrives
/// between the two waits in the listener's backlog instead of being refused. The
/// registration stays when the program stops: it is what makes the API server call,
/// and its `failurePolicy` says what happens while nobody answers.
pub async fn serve(
    client: Client,
    options: &Options,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let address = listener
        .local_addr()
        .map_err(|err| Error::Listen(([0, 0, 0, 0], 0).into(), err))?;
    let endpoint = options.endpoint(address.port());
    let certificates = tls::Certificates::generate(&endpoint)?;
    tracing::info!(
        names = ?tls::server_names(&endpoint),
        "made a certificate authority and a serving certificate"
    );

    let (tasks, watch) = tasks::Tasks::watch(client.clone(), &options.namespace);
    let watching = tokio::spawn(watch);

    let name = options.configuration_name();
    let configuration = register::configuration(
        &name,
        &options.namespace,
        endpoint.client_config(certificates.ca_bundle()),
        options.failure_policy,
    );
    register::register(&client, &configuration)
        .await
        .map_err(|source| Error::Register {
            name: name.clone(),
            source,
        })?;
    tracing::info!(
        configuration = %name,
        namespace = %options.namespace,
        failure_policy = %options.failure_policy,
        calls = %endpoint,
        "registered"
    );

    tracing::info!(%address, "serving admission reviews");
    let served = server::serve(
        listener,
        certificates.server_config()?,
        server::router(tasks),
        shutdown,
    )
    .await;
    watching.abort();
    served.map_err(Error::Serve)?;
    tracing::info!("stopped");
    Ok(())
}
// ANCHOR_END: serve

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_well_formed() {
        <Args as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn a_url_webhook_is_called_at_the_host_and_the_port_it_listens_on() {
        let args = <Args as clap::Parser>::try_parse_from([
            "webhook",
            "--namespace",
            "team-a",
        ])
        .unwrap();
        assert_eq!(args.options.failure_policy, FailurePolicy::Fail);
        assert_eq!(args.options.configuration_name(), "taskrun-webhook-team-a");
        assert_eq!(
            args.options.endpoint(8443),
            Endpoint::Url {
                host: "127.0.0.1".into(),
                port: 8443
            }
        );
    }

    #[test]
    fn a_service_webhook_is_called_through_the_service_on_port_443() {
        let args = <Args as clap::Parser>::try_parse_from([
            "webhook",
            "--namespace=team-a",
            "--service=workshop-system/taskrun-webhook",
            "--failure-policy=Ignore",
            "--listen=0.0.0.0:8443",
        ])
        .unwrap();
        assert_eq!(args.options.failure_policy, FailurePolicy::Ignore);
        assert_eq!(
            args.options.endpoint(8443),
            Endpoint::Service {
                namespace: "workshop-system".into(),
                name: "taskrun-webhook".into(),
                port: 443
            }
        );
        assert!(
            <Args as clap::Parser>::try_parse_from([
                "webhook",
                "--namespace=a",
                "--service=no-slash"
            ])
            .is_err()
        );
    }
}
