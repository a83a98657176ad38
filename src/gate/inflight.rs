//! A task of reads running beside the polls (the forecast's history and
//! settings, the history of executions missed between polls): aborted
//! when the gate ends before it is back, so that nothing outlives it.

use futures_util::FutureExt;
use tokio::task::{JoinError, JoinHandle};

/// Reads in flight, bringing back a `T`.
pub(super) struct Inflight<T>(JoinHandle<T>);

impl<T: Send + 'static> Inflight<T> {
    /// Runs `reads` beside the polls.
    pub(super) fn spawn(reads: impl Future<Output = T> + Send + 'static) -> Self {
        Inflight(tokio::spawn(reads))
    }
}

impl<T> Inflight<T> {
    /// What the reads brought back, if they are back already (without
    /// waiting).
    pub(super) fn if_back(&mut self) -> Option<Result<T, JoinError>> {
        if !self.0.is_finished() {
            return None;
        }
        (&mut self.0).now_or_never()
    }
}

/// Waits for the reads in flight, or for ever when there are none (for a
/// `select!` beside a sleep).
pub(super) async fn wait_back<T>(inflight: Option<&mut Inflight<T>>) -> Result<T, JoinError> {
    match inflight {
        Some(inflight) => (&mut inflight.0).await,
        None => std::future::pending().await,
    }
}

impl<T> Drop for Inflight<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::fmt::Debug for Inflight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflight")
    }
}
