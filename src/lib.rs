//! peaka-wait: block until a Peaka cache refresh has finished.
//!
//! The binary is a thin shell over this library so that each part can be
//! read and tested alone: [`decision`] is the pure rule of readiness,
//! [`client`] talks HTTP, [`schedule`] paces the polls, [`gate`] runs the
//! loop, [`export`] writes the summary and the GitHub files, and [`app`]
//! wires them together.

pub mod api;
pub mod app;
pub mod cli;
pub mod client;
pub mod decision;
pub mod exec;
pub mod exit_codes;
pub mod export;
pub mod forecast;
pub mod gate;
pub mod list;
pub mod logging;
pub mod planned;
pub mod progress;
pub mod proxy;
pub mod query;
pub mod resume;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod simulation;
pub mod stream;
pub mod tables;
pub mod terminal;
pub mod text;
pub mod timespec;
pub mod tls;
pub mod wire;
