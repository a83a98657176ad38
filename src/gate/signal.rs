//! SIGINT and SIGTERM, as outcomes.

use crate::exit_codes::Outcome;

/// Resolves when SIGINT or SIGTERM arrives, with the matching outcome.
/// If a handler cannot be installed, that signal keeps its default action.
pub async fn shutdown_signal() -> Outcome {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            Ok(()) = tokio::signal::ctrl_c() => Outcome::Interrupted,
            () = terminated => Outcome::Terminated,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Outcome::Interrupted,
            Err(_) => std::future::pending().await,
        }
    }
}
