//! The log of a controller under test, kept so that a test that fails can say why.
//!
//! A controller that is refused a request (403 Forbidden: its RBAC does not grant the verb
//! it used) does not stop: it logs a warning and retries, for ever, and the test that waits
//! for its work waits out its bound. Running the controller inside
//! [`ControllerLog::attach`] prints its warnings and errors in the test's output as they
//! happen and keeps them, so the test can fail at once on a refusal, naming the verb and
//! the resource, and a wait that times out can show what the controller said meanwhile.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

use tracing::instrument::WithSubscriber;

/// The warnings and errors a controller logged, shared with the test that runs it.
#[derive(Debug, Clone, Default)]
pub struct ControllerLog {
    text: Arc<Mutex<String>>,
}

impl ControllerLog {
    /// `controller`, logging its warnings and errors here: only its own, not another
    /// test's. What counts is what the future logs while it is polled, which is where a
    /// controller's reconcile errors are logged. A task it spawns (kube's client spawns one
    /// to send requests) logs to the global subscriber instead, and is not kept.
    pub fn attach<F: Future>(
        &self,
        controller: F,
    ) -> impl Future<Output = F::Output> {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .without_time()
            .finish();
        controller.with_subscriber(subscriber)
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        let text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        text.lines().map(String::from).collect()
    }

    /// The first line that reports a request the API server refused with 403 Forbidden
    /// (its message says which verb on which resource, and for whom), without the
    /// error's debug form that repeats it.
    pub fn forbidden(&self) -> Option<String> {
        let line = self.lines().into_iter().find(|line| {
            line.contains("is forbidden") || line.contains("code: 403")
        })?;
        Some(
            line.split(" (Status {")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        )
    }
}

impl io::Write for ControllerLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        eprint!("controller under test: {line}");
        self.text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&line);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ControllerLog {
    type Writer = ControllerLog;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
