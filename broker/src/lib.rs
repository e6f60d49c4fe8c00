//! The Switchboard broker: the control plane.
//!
//! Control listeners (TLS over TCP, QUIC), login and MFA, the admin HTTP API, configuration and
//! `/metrics`; it wires the directory, the actors and (for `switchboard serve`) an in-process
//! relay together. The `switchboard` binary lives here.
//!
//! It never forwards session payload: that is the relay's job.
//!
//! Layout:
//! - `config`: the TOML file, `SWITCHBOARD_*` env and flags, `validate()`;
//! - `tls`: the control-plane certificate and the ticket-signing keys in the data directory;
//! - `bootstrap`: the first tenant and its owner on first start;
//! - `auth`: bearer tokens and MFA tickets (hashed, in memory, with a TTL), login rate limits;
//! - `api`: the admin HTTP API (axum), one file per resource family, OpenAPI from the route table;
//! - `server`: serving the API over HTTP or HTTPS;
//! - `control`: the TLS control listener and connections, the relay link, and `Node` (all of
//!   `switchboard serve` on one machine);
//! - `sessions`: the live-session view of the admin API, over the actors' hub;
//! - `metrics`: metric names and the process's one Prometheus recorder;
//! - `app`: starting all of the above from a configuration;
//! - `admin_cli`: the `switchboard admin` command-line client (on the agent's HTTP client).
#![forbid(unsafe_code)]

pub mod admin_cli;
pub mod api;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod config_limits;
pub mod control;
pub mod error;
pub mod metrics;
pub mod server;
pub mod sessions;
pub mod tls;

pub use error::BrokerError;
