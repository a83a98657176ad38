//! Reads running beside the polls (the forecast's history and settings,
//! the history of executions missed between polls), one task at a time
//! for each kind: started in a pause, taken in whenever they are back, and
//! aborted when the gate ends before they are, so that nothing outlives it.

use futures_util::FutureExt;
use tokio::task::JoinHandle;

/// The reads of one kind in flight, bringing back a `T`, or none.
pub(super) struct Inflight<T>(Option<JoinHandle<T>>);

impl<T> Default for Inflight<T> {
    fn default() -> Self {
        Inflight(None)
    }
}

impl<T: Send + 'static> Inflight<T> {
    /// Runs `reads` beside the polls (the caller checks [`Self::busy`]
    /// first: reads still in flight are aborted, not left running
    /// unowned, which dropping their handle alone would do).
    pub(super) fn start(&mut self, reads: impl Future<Output = T> + Send + 'static) {
        if let Some(earlier) = self.0.replace(tokio::spawn(reads)) {
            earlier.abort();
        }
    }
}

impl<T: Default> Inflight<T> {
    /// Whether reads are in flight.
    pub(super) fn busy(&self) -> bool {
        self.0.is_some()
    }

    /// What the reads brought back, if they are back already (without
    /// waiting); a task that failed brought back nothing.
    pub(super) fn if_back(&mut self) -> Option<T> {
        let handle = self.0.as_mut()?;
        if !handle.is_finished() {
            return None;
        }
        let back = handle.now_or_never()?;
        self.0 = None;
        Some(back.unwrap_or_default())
    }

    /// Waits for the reads in flight, or for ever when there are none (for
    /// a `select!` beside a sleep). Dropped before they are back, it
    /// leaves them in flight.
    pub(super) async fn back(&mut self) -> T {
        let Some(handle) = self.0.as_mut() else {
            return std::future::pending().await;
        };
        let back = handle.await;
        self.0 = None;
        back.unwrap_or_default()
    }
}

impl<T> Drop for Inflight<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

impl<T> std::fmt::Debug for Inflight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Inflight(busy)"
        } else {
            "Inflight(idle)"
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn reads_are_taken_in_once_and_then_none_are_in_flight() {
        let mut reads: Inflight<Vec<u32>> = Inflight::default();
        assert!(!reads.busy());
        assert_eq!(reads.if_back(), None);
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        reads.start(async move {
            let _ = wait.await;
            vec![7]
        });
        assert!(reads.busy());
        tokio::task::yield_now().await;
        assert_eq!(reads.if_back(), None, "not back before they are");
        assert!(reads.busy());
        go.send(()).unwrap();
        assert_eq!(reads.back().await, vec![7]);
        assert!(!reads.busy());
        assert_eq!(reads.if_back(), None);
    }

    #[tokio::test]
    async fn reads_started_over_others_abort_them() {
        let mut reads: Inflight<u32> = Inflight::default();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        reads.start(async move {
            let _ = wait.await;
            1
        });
        tokio::task::yield_now().await;
        reads.start(async { 2 });
        assert_eq!(reads.back().await, 2);
        for _ in 0..100 {
            if go.is_closed() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(go.is_closed(), "the earlier reads still run");
    }

    #[tokio::test]
    async fn a_read_that_panicked_brings_back_nothing() {
        let mut reads: Inflight<Vec<u32>> = Inflight::default();
        reads.start(async { panic!("a read that panics") });
        assert_eq!(reads.back().await, Vec::<u32>::new());
        assert!(!reads.busy());
    }

    #[tokio::test]
    async fn none_in_flight_waits_for_ever_and_a_wait_cut_short_leaves_them_in_flight() {
        let mut idle: Inflight<u32> = Inflight::default();
        let waited = tokio::time::timeout(Duration::from_millis(20), idle.back()).await;
        assert!(waited.is_err());
        let mut reads: Inflight<u32> = Inflight::default();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        reads.start(async move {
            let _ = wait.await;
            3
        });
        let cut = tokio::time::timeout(Duration::from_millis(20), reads.back()).await;
        assert!(cut.is_err());
        assert!(reads.busy());
        go.send(()).unwrap();
        assert_eq!(reads.back().await, 3);
    }

    #[tokio::test]
    async fn reads_end_with_the_gate() {
        let (alive, gone) = tokio::sync::oneshot::channel::<()>();
        let mut reads: Inflight<u32> = Inflight::default();
        reads.start(async move {
            let _alive = alive;
            std::future::pending::<u32>().await
        });
        drop(reads);
        // The task held the sender: it is dropped once the task is aborted.
        let closed = tokio::time::timeout(Duration::from_secs(5), gone).await;
        assert!(matches!(closed, Ok(Err(_))), "{closed:?}");
    }
}
