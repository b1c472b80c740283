//! A TCP proxy that a test can cut: a network partition between one process and the API server,
//! on one machine.
//!
//! Give a controller process a kubeconfig whose server is the proxy
//! ([`crate::ServiceAccountKubeconfig::through`]) and it reaches the API server only through it,
//! while the test and every other process still reach it directly. [`Proxy::cut`] freezes the
//! proxy the way a black-holed network does: connections stay open, but no byte moves either way,
//! and new connections are accepted but lead nowhere. Requests neither fail nor answer: they
//! hang, which is the hardest case for a client, because nothing tells it to give up.
//! [`Proxy::heal`] lets the bytes flow again.
//!
//! The proxy forwards bytes and understands none of them, so TLS passes through it untouched: the
//! client still checks the API server's certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A running proxy; it stops, closing every connection, when dropped.
#[derive(Debug)]
pub struct Proxy {
    address: SocketAddr,
    cut: watch::Sender<bool>,
    connections: Arc<AtomicU64>,
    /// The accepting task; it owns the connections' tasks, so aborting it ends them all.
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (cut, cut_rx) = watch::channel(false);
        let connections = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept(
            listener,
            upstream,
            cut_rx,
            Arc::clone(&connections),
        ));
        Ok(Self {
            address,
            cut,
            connections,
            task,
        })
    }

    /// A proxy to the API server of the kubeconfig the tests use.
    pub async fn to_api_server() -> anyhow::Result<Self> {
        let config = kube::Config::infer().await.context(
            "no usable kubeconfig; start a cluster with scripts/cluster-up.sh",
        )?;
        let url = &config.cluster_url;
        let host = url.host().context("the API server's URL has no host")?;
        let port = url.port_u16().unwrap_or(443);
        Self::start(format!("{host}:{port}")).await
    }

    /// Where clients connect: 127.0.0.1 and the proxy's port.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Freezes every connection, open or new, until [`heal`](Self::heal).
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets bytes flow again, those held since the cut first.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }

    /// How many connections clients have opened through the proxy so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts clients, and forwards each one's bytes to its own connection to `upstream`.
async fn accept(
    listener: TcpListener,
    upstream: String,
    cut: watch::Receiver<bool>,
    connections: Arc<AtomicU64>,
) {
    let mut forwarding = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                forwarding.spawn(forward(client, upstream.clone(), cut.clone()));
            }
            // Reap the finished ones, so that a long test does not accumulate them.
            Some(_) = forwarding.join_next() => {}
        }
    }
}

/// One client connection: connected upstream once the proxy is not cut, then copied both ways.
async fn forward(
    client: TcpStream,
    upstream: String,
    mut cut: watch::Receiver<bool>,
) {
    if cut.wait_for(|cut| !*cut).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // When one direction ends, so does the other: the connection is over.
    tokio::select! {
        () = copy(client_read, server_write, cut.clone()) => {}
        () = copy(server_read, client_write, cut) => {}
    }
}

/// Copies bytes from `from` to `to`. Bytes read while the proxy is cut are held until it heals.
async fn copy(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut cut: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if cut.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if cut.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A server that echoes whatever it reads.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    async fn echo(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(text).await?;
        let mut answer = vec![0; text.len()];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn bytes_pass_until_the_cut_and_flow_again_once_healed() {
        let proxy = Proxy::start(echo_server().await.to_string()).await.unwrap();
        let mut stream = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(echo(&mut stream, b"before").await.unwrap(), b"before");

        proxy.cut();
        let frozen = tokio::time::timeout(
            Duration::from_millis(300),
            echo(&mut stream, b"during"),
        );
        assert!(frozen.await.is_err(), "an answer came through a cut proxy");
        // A new connection is accepted, but goes nowhere either.
        let mut late = TcpStream::connect(proxy.address()).await.unwrap();
        let frozen = tokio::time::timeout(
            Duration::from_millis(300),
            echo(&mut late, b"late"),
        );
        assert!(
            frozen.await.is_err(),
            "a new connection got through a cut proxy"
        );

        proxy.heal();
        // What was sent during the cut arrives now, in order.
        let mut held = vec![0; b"during".len()];
        stream.read_exact(&mut held).await.unwrap();
        assert_eq!(held, b"during");
        assert_eq!(echo(&mut stream, b"after").await.unwrap(), b"after");
        assert_eq!(proxy.connections(), 2);
    }
}
