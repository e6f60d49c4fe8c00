//! Many simulated Hosts and Guests over real sockets.
//!
//! Scenarios (setup storm, bulk, interactive, idle scale, churn, OnDemand) bounded in count and
//! time, hdrhistogram percentiles, JSON results and a regression compare.
#![forbid(unsafe_code)]
