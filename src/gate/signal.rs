//! SIGINT and SIGTERM, as outcomes, and the sentence of a gate they end.

use super::Ended;
use crate::exit_codes::Outcome;

/// How a gate that `signal` (from [`shutdown_signal`]) stopped ends.
pub(super) fn interrupted(signal: Outcome) -> Ended {
    let name = match signal {
        Outcome::Terminated => "SIGTERM",
        _ => "SIGINT",
    };
    (
        signal,
        format!("interrupted by {name} before the gate was decided"),
    )
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_ends_the_gate_with_its_own_outcome_and_name() {
        assert_eq!(
            interrupted(Outcome::Terminated),
            (
                Outcome::Terminated,
                "interrupted by SIGTERM before the gate was decided".to_owned()
            )
        );
        assert_eq!(
            interrupted(Outcome::Interrupted),
            (
                Outcome::Interrupted,
                "interrupted by SIGINT before the gate was decided".to_owned()
            )
        );
    }
}
