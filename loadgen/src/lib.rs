//! Many simulated Hosts and Guests over real sockets: the agent library's own control
//! connections, relay binds and end-to-end Noise sessions, against a running (or spawned)
//! Switchboard provisioned through the admin API.
//!
//! Scenarios (setup storm, bulk, interactive; idle scale, churn, OnDemand) are bounded in count
//! and time and loopback-only; results are hdrhistogram percentiles, rates and errors by
//! reason, written as JSON that `compare` gates on. It does not tune or restart the server.
//!
//! # Layout
//! - `cli`: the command line; `target`: reach or spawn the server; `fleet`: admin-API
//!   provisioning and enrollment; `hosts` / `guests`: simulated Hosts and Guests;
//!   `services`: the echo and sink targets tunnels reach.
//! - `scenario`: `Ctx`, dispatch, one module per scenario; `results`, `progress`, `report`,
//!   `compare`: measurement, live progress, output, regression gate; `procstat`: RSS, CPU
//!   and fds of a process (the spawned server).
#![forbid(unsafe_code)]

pub mod cli;
pub mod compare;
pub mod error;
pub mod fleet;
pub mod guests;
pub mod hosts;
pub mod procstat;
pub mod progress;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod services;
pub mod target;

pub use error::LoadgenError;
