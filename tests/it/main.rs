//! The integration tests, one crate with a module per area (as fd and
//! ripgrep keep theirs): one link step instead of one per area. Most run the
//! built binary against `fake-peaka` or a scripted server (`common`).

mod common;

mod action_inputs;
mod action_install;
mod adversarial;
mod benchmarks;
mod beyond_waiting;
mod ca_store;
mod cancel;
mod cli;
mod evidence;
mod examples;
mod exec;
mod faults;
mod first_contact;
mod forecast;
mod gate;
mod live_api;
mod live_evidence;
mod materialized;
mod messages;
mod progress;
mod properties;
mod proxy;
mod resume;
mod tables;
