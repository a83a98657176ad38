//! The `peaka-wait` binary: all of it lives in the library; see `app`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    ExitCode::from(peaka_wait::app::main(std::env::args_os(), &env))
}
