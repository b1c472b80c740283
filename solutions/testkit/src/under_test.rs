//! A controller under test, run by a test in a task of its own.
//!
//! Two ways to run one, for two kinds of test:
//! - [`ControllerUnderTest`]: a harness keeps it running while the test changes the world,
//!   and a wait fails at once when it stops (a `todo!` panicked, it returned an error) or
//!   when the API server refuses it a request (its RBAC lacks a verb), instead of waiting out
//!   its bound. The harness may stop it as a crash would, and start it again.
//! - [`Graceful`]: the test stops it with its shutdown signal, as a real one is stopped,
//!   and then reads what it returned (say, the state it kept).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::log::ControllerLog;

/// What a panic says: its message, when it has one (`panic!` and `todo!` give one).
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}

/// Why a controller under test will not get anywhere, as [`ControllerUnderTest::gave_up`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// It stopped: why (it returned, its error, or its panic's message).
    Stopped(String),
    /// The API server refused it a request (403 Forbidden): the line it logged.
    Refused(String),
}

/// The controller a harness runs, its log kept across restarts.
#[derive(Debug, Default)]
pub struct ControllerUnderTest {
    log: ControllerLog,
    running: Option<Running>,
}

/// The controller's task, and why it stopped, once it has.
#[derive(Debug)]
struct Running {
    task: tokio::task::JoinHandle<()>,
    stopped: tokio::sync::watch::Receiver<Option<String>>,
}

impl ControllerUnderTest {
    /// Starts `controller` in a task of its own, its warnings and errors kept in the log.
    /// A panic (a `todo!` not done yet) ends it: its message is kept as the reason it
    /// stopped, so that a test fails at once with it instead of waiting out its bound.
    pub fn start(
        &mut self,
        controller: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        let (report, stopped) = tokio::sync::watch::channel(None);
        let log = self.log.clone();
        let task = tokio::spawn(async move {
            let why = match AssertUnwindSafe(log.attach(controller))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => "it returned".to_string(),
                Ok(Err(err)) => format!("it failed: {err:#}"),
                Err(panic) => {
                    panic_message(&*panic).unwrap_or_else(|| "it panicked".into())
                }
            };
            let _ = report.send(Some(why));
        });
        self.running = Some(Running { task, stopped });
    }

    /// Stops the controller at once, wherever it is: as a crash, or an uninstall, would.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.task.abort();
            let _ = running.task.await;
        }
    }

    /// The warnings and errors it logged, in every run so far.
    pub fn log(&self) -> &ControllerLog {
        &self.log
    }

    /// Whether it is running: started, and not stopped since.
    pub fn is_running(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|running| !running.task.is_finished())
    }

    /// Fails if the controller is not running (say, it was denied a permission it needs).
    pub fn assert_running(&self) {
        assert!(
            self.is_running(),
            "the controller under test is not running"
        );
    }

    /// Whether it stopped, or was refused a request: then a wait that failed says so
    /// itself, and what the cluster looks like is only a consequence.
    pub fn has_given_up(&self) -> bool {
        let stopped = self
            .running
            .as_ref()
            .is_some_and(|running| running.task.is_finished());
        stopped || self.log.forbidden().is_some()
    }

    /// Resolves once the controller gives up: it stops (never, while none is running), or
    /// the API server refuses it a request. Race it against a wait with `select!`.
    pub async fn gave_up(&self) -> GaveUp {
        let stopped = async {
            let Some(running) = &self.running else {
                return std::future::pending().await;
            };
            let mut stopped = running.stopped.clone();
            match stopped.wait_for(Option::is_some).await {
                Ok(why) => why.clone().unwrap_or_default(),
                Err(_) => "it was stopped".into(),
            }
        };
        let refused = async {
            loop {
                if let Some(line) = self.log.forbidden() {
                    return line;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            why = stopped => GaveUp::Stopped(why),
            line = refused => GaveUp::Refused(line),
        }
    }
}

impl Drop for ControllerUnderTest {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.task.abort();
        }
    }
}

/// A controller that runs until the test sends its shutdown signal, and returns what it
/// returns: what a test reads once the controller has stopped.
#[derive(Debug)]
pub struct Graceful<T> {
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<T>,
}

impl<T: Send + 'static> Graceful<T> {
    /// Spawns the controller that `start` makes, given the future that resolves when the
    /// test calls [`Graceful::stop`]: its shutdown signal.
    pub fn start<F, Fut>(start: F) -> Self
    where
        F: FnOnce(BoxFuture<'static, ()>) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let running = tokio::spawn(start(Box::pin(shutdown)));
        Self { stop, running }
    }

    /// Sends the shutdown signal, and waits (30 s at most) for the controller to stop.
    ///
    /// # Errors
    /// When it does not stop in time, or panicked.
    pub async fn stop(self) -> anyhow::Result<T> {
        let _ = self.stop.send(());
        let stopped = tokio::time::timeout(Duration::from_secs(30), self.running)
            .await
            .map_err(|_| {
                anyhow::anyhow!("the controller did not stop within 30 s")
            })??;
        Ok(stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_s_message_is_read_whether_formatted_or_not() {
        let formatted =
            std::panic::catch_unwind(|| panic!("not {}", "yet")).unwrap_err();
        assert_eq!(panic_message(&*formatted).as_deref(), Some("not yet"));
        let literal = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*literal).as_deref(), Some("plain"));
        let other =
            std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
        assert_eq!(panic_message(&*other), None);
    }

    #[tokio::test]
    async fn a_controller_that_panics_or_fails_gives_up_saying_why() {
        let mut controller = ControllerUnderTest::default();
        controller.start(async { todo!("exercise 9.9") });
        assert_eq!(
            controller.gave_up().await,
            GaveUp::Stopped("not yet implemented: exercise 9.9".into())
        );
        assert!(controller.has_given_up() && !controller.is_running());

        controller.start(async { anyhow::bail!("no cluster") });
        assert_eq!(
            controller.gave_up().await,
            GaveUp::Stopped("it failed: no cluster".into())
        );
    }

    #[tokio::test]
    async fn a_running_controller_has_not_given_up_and_stops_when_told() {
        let mut controller = ControllerUnderTest::default();
        controller.start(std::future::pending());
        let waited =
            tokio::time::timeout(Duration::from_millis(300), controller.gave_up())
                .await;
        assert!(waited.is_err(), "gave up: {waited:?}");
        assert!(controller.is_running() && !controller.has_given_up());
        controller.stop().await;
        assert!(!controller.is_running());
    }

    #[tokio::test]
    async fn a_graceful_controller_returns_what_it_kept_once_signalled() {
        let running = Graceful::start(|shutdown| async move {
            shutdown.await;
            42
        });
        assert_eq!(running.stop().await.unwrap(), 42);
    }
}
