//! Step 01: connect to the cluster.
//!
//! Every controller starts the same way: find out which cluster to talk to, build a
//! client, and make one request to prove it works. kube-rs reads the same kubeconfig
//! as kubectl, so whatever `kubectl config current-context` says is the cluster this
//! program talks to. Inside a Pod there is no kubeconfig; the ServiceAccount's token
//! and the `KUBERNETES_SERVICE_*` variables take its place (that is step 08's world).
//!
//! The program prints where it connected and how many ConfigMaps a namespace holds:
//!
//! ```text
//! context: kwok-workshop
//! server:  https://127.0.0.1:32766/
//! version: v1.36.1
//! connected. 1 configmaps in default
//! ```
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

use std::io::Write;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::Action;
use kube::{Api, Client, Config};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

// ANCHOR: args
/// Command-line flags, parsed in `main.rs`. They live here so
/// tests can build them too.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "Connect to the cluster and count the ConfigMaps in a namespace")]
pub struct Args {
    /// Namespace to work in (step 01 counts its ConfigMaps).
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
}
// ANCHOR_END: args

// ANCHOR: errors
/// What can go wrong, each with a message that says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no cluster configured: {0}. Start a local cluster with \
         scripts/cluster-up.sh (it writes the kubeconfig), or point KUBECONFIG at one"
    )]
    NoConfig(String),
    #[error(
        "cannot reach the API server at {server}: {reason}. Is the cluster running? \
         Start it with scripts/cluster-up.sh"
    )]
    Unreachable { server: String, reason: String },
    #[error(
        "the API server refused the request: {}. Check that your kubeconfig's user \
         may use this cluster (kubectl auth whoami), or choose another (--context)",
        refusal(.0)
    )]
    Api(#[from] kube::Error),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}
// ANCHOR_END: errors

/// What the API server answered, in a line: `HTTP 401 Unauthorized: Unauthorized`.
fn refusal(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            format!("HTTP {} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    }
}

/// How long to wait for the API server before saying it is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

// ANCHOR: load_config
/// Loads the client configuration: from the kubeconfig (the `--context` given, else
/// its current context) or, inside a Pod, from the in-cluster ServiceAccount.
pub async fn load_config(context: Option<String>) -> Result<Config, ConnectError> {
    // TODO(exercise 1.1): Load a kube::Config from the kubeconfig (using the given
    //     context if any), falling back to the in-cluster configuration.
    // A context that was asked for and does not exist is an error, never a silent
    // fallback to another cluster; any failure becomes `ConnectError::NoConfig`,
    // whose message says how to get a cluster. With no context asked for and no
    // kubeconfig, the in-cluster configuration is tried, and when it fails too, the
    // message says that it was.
    // Proved by: an_unknown_context_says_how_to_get_a_cluster,
    //   prints_where_it_connected,
    //   without_a_kubeconfig_the_in_cluster_configuration_is_tried
    // Needs: 1.2, 1.3
    // Path: core, 6 min
    // Book: "Step 01 > Configuration"
    todo!(
        "Exercise 1.1: Load a kube::Config from the kubeconfig (using the given \
         context if any), falling back to the in-cluster configuration."
    )
}
// ANCHOR_END: load_config

// ANCHOR: server_version
/// Asks the API server for its version: the cheapest request that proves the
/// connection works (TLS, credentials and network all have to be right).
pub async fn server_version(client: &Client) -> Result<Info, kube::Error> {
    // TODO(exercise 1.2): Ask the API server for its version.
    // One request, the cheapest every API server answers; what it returns is what the
    // program prints on its `version:` line.
    // Proved by: a_server_that_is_not_there_is_reported_as_unreachable,
    //   prints_where_it_connected
    // Needs: 1.1, 1.3
    // Path: core, 3 min
    // Book: "Step 01 > The client"
    todo!("Exercise 1.2: Ask the API server for its version.")
}
// ANCHOR_END: server_version

// ANCHOR: count_configmaps
/// Counts the ConfigMaps in `namespace`.
pub async fn count_configmaps(
    client: &Client,
    namespace: &str,
) -> Result<usize, kube::Error> {
    // TODO(exercise 1.3): List the ConfigMaps in `namespace` and return how many
    //     there are.
    // Only that namespace's, not the whole cluster's.
    // Proved by: an_empty_namespace_still_has_its_root_ca_configmap,
    //   prints_where_it_connected
    // Needs: 1.1, 1.2
    // Path: core, 5 min
    // Book: "Step 01 > Typed APIs"
    todo!(
        "Exercise 1.3: List the ConfigMaps in `namespace` and return how many there \
         are."
    )
}
// ANCHOR_END: count_configmaps

/// The name of the kubeconfig context in use, for the user to
/// see which cluster this is.
fn context_name(flag: Option<&str>) -> String {
    match flag {
        Some(context) => context.to_string(),
        None => Kubeconfig::read()
            .ok()
            .and_then(|kubeconfig| kubeconfig.current_context)
            .unwrap_or_else(|| "(in-cluster)".to_string()),
    }
}

// ANCHOR: connect
/// Builds a client from `config` and proves it can reach the API server.
pub async fn connect(config: Config) -> Result<(Client, Info), ConnectError> {
    let server = config.cluster_url.to_string();
    let unreachable = |reason: String| ConnectError::Unreachable {
        server: server.clone(),
        reason,
    };
    let client = Client::try_from(config).map_err(|err| {
        ConnectError::NoConfig(format!("the kubeconfig cannot be used: {err}"))
    })?;
    // TODO(diagnose 1.4): A request the API server refuses is misreported: fix it.
    // `a_refused_request_is_reported_as_the_servers_answer` fails. It connects with
    // credentials the API server does not accept. Read what the test expects and what
    // your `connect` reports instead; the fix is in the lines below.
    // Proved by: a_refused_request_is_reported_as_the_servers_answer,
    //   a_server_that_is_not_there_is_reported_as_unreachable
    // Needs: 1.2
    // Path: stretch, 8 min
    // Book: "Step 01 > When the server says no"
    match tokio::time::timeout(CONNECT_TIMEOUT, server_version(&client)).await {
        Ok(Ok(info)) => Ok((client, info)),
        Ok(Err(err)) => Err(unreachable(root_cause(&err))),
        Err(_) => Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
    }
}
// ANCHOR_END: connect

/// How log lines look: `text` for people at a terminal; `compact` for the book and
/// slides (the level, the message and its fields, without the time, the module or the
/// enclosing spans); `json` (one object per line, with every field) for a log
/// pipeline to index, as a controller in a cluster usually wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Compact,
    Json,
}

/// The variable that chooses the log format of every step's
/// program: `LOG_FORMAT=compact`.
pub const LOG_FORMAT_VAR: &str = "LOG_FORMAT";

impl LogFormat {
    /// The format `LOG_FORMAT` asks for (`text`, `compact` or
    /// `json`), `text` when it is unset.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(LOG_FORMAT_VAR) {
            Ok(value) => {
                <Self as clap::ValueEnum>::from_str(&value, true).map_err(|_| {
                    format!("{LOG_FORMAT_VAR}={value}: use text, compact or json")
                })
            }
            Err(_) => Ok(Self::Text),
        }
    }
}

/// Sets up logging for a step's program: to stderr (stdout is the program's output),
/// filtered by `RUST_LOG` when it is set (`RUST_LOG=debug` shows every request kube
/// sends), else by `default`, e.g. `"info"` or `"warn,workqueue::controller=error"`;
/// in the format `LOG_FORMAT` names.
pub fn init_tracing(default: &str) {
    match LogFormat::from_env() {
        Ok(format) => init_logging(default, format),
        Err(err) => {
            init_logging(default, LogFormat::Text);
            tracing::warn!("{err}; logging as text");
        }
    }
}

/// [`init_tracing`], in the format asked for.
pub fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal, not in a file or a log collector. A
    // log line that cannot be written (stderr piped into `head`, which has exited)
    // is dropped quietly: by default the logger would report it with `eprintln!`,
    // which panics on that same closed stderr, and take down whatever task was
    // logging (a shutdown handler, say).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Compact => logs.event_format(Compact).init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// The `compact` log format: `LEVEL message field=value...`. Every event the
/// workshop's programs log names its object in its own fields, so the spans
/// around it would only repeat it.
struct Compact;

impl<S, N> FormatEvent<S, N> for Compact
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "{:>5} ", event.metadata().level())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Drives a kube-runtime `Controller`'s stream of results to its end, logging each
/// at debug level: how every controller from step 05 on runs. Nothing happens until
/// the stream is polled. Reconcile errors were logged by the controller's
/// `error_policy` already; the errors here are the runtime's own (a watch that
/// failed and is retried, say).
pub async fn log_results<T, E>(results: impl Stream<Item = Result<(T, Action), E>>)
where
    T: std::fmt::Display,
    E: std::fmt::Display,
{
    results
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(%object, "reconciled"),
                Err(err) => tracing::debug!(error = %err, "controller event"),
            }
        })
        .await;
}

/// How every step's program ends: exit status 0, or the error on stderr and status 1.
pub fn exit_code(
    result: Result<(), impl std::fmt::Display>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The shutdown signal in the form kube-runtime's `Controller::graceful_shutdown_on`
/// takes: a future it can share between its tasks (`Send + Sync + 'static`). Any
/// future that says "stop" becomes one: a task waits for it and fires a oneshot
/// channel, whose receiver is `Sync`.
pub fn shareable_shutdown(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + Sync + 'static {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(());
    });
    async move {
        let _ = stopped.await;
    }
}

/// Loads the configuration and connects: how every later
/// step's program gets its client.
pub async fn client(context: Option<String>) -> Result<Client, ConnectError> {
    let config = load_config(context).await?;
    Ok(connect(config).await?.0)
}

/// The innermost error message ("Connection refused") is the one a person can act on.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

// ANCHOR: run
/// The whole program: connect, say where, count ConfigMaps. Output goes to `out` so
/// the end-to-end test can read exactly what a user sees.
pub async fn run(args: &Args, out: &mut impl Write) -> Result<(), ConnectError> {
    let config = load_config(args.context.clone()).await?;
    let server = config.cluster_url.to_string();
    let (client, info) = connect(config).await?;
    writeln!(out, "context: {}", context_name(args.context.as_deref()))?;
    writeln!(out, "server:  {server}")?;
    writeln!(out, "version: {}", info.git_version)?;
    let count = count_configmaps(&client, &args.namespace).await?;
    writeln!(out, "connected. {count} configmaps in {}", args.namespace)?;
    Ok(())
}
// ANCHOR_END: run

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_log_format_shows_level_message_and_fields_only() {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("not poisoned").write(bytes)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(Compact)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("reconcile", key = "demo/colors");
            let _entered = span.enter();
            tracing::info!(
                action = "create",
                companion = "colors-synced",
                "created companion"
            );
            tracing::warn!(attempt = 2, "reconcile failed");
        });
        let logged =
            String::from_utf8(buffer.0.lock().expect("not poisoned").clone())
                .expect("the log is text");
        assert_eq!(
            logged,
            " INFO created companion action=\"create\" companion=\"colors-synced\"\n \
             WARN reconcile failed attempt=2\n"
        );
    }

    #[tokio::test]
    async fn an_unknown_context_says_how_to_get_a_cluster() {
        let err = match load_config(Some("no-such-context-for-sure".into())).await {
            Err(err) => err,
            Ok(config) => panic!(
                "the kubeconfig has no context no-such-context-for-sure, yet a \
                 configuration loaded (for the cluster at {}): a context that was asked \
                 for and does not exist must be an error, never a fallback to another \
                 cluster",
                config.cluster_url
            ),
        };
        let message = err.to_string();
        assert!(matches!(err, ConnectError::NoConfig(_)), "{message}");
        assert!(message.contains("scripts/cluster-up.sh"), "{message}");
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_reported_as_unreachable() {
        // Port 1 on loopback: nothing listens there, so the
        // connection is refused at once.
        let config = Config::new("https://127.0.0.1:1".parse().expect("a valid URL"));
        let Err(err) = connect(config).await else {
            panic!("nothing listens on port 1, yet the connection worked");
        };
        let message = err.to_string();
        assert!(matches!(err, ConnectError::Unreachable { .. }), "{message}");
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(message.contains("scripts/cluster-up.sh"), "{message}");
    }
}
