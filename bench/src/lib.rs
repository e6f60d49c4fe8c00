//! Benchmarks: criterion micro-benchmarks under `benches/` and the side-by-side comparison
//! scripts under `scripts/`. This library holds only what they share.
#![forbid(unsafe_code)]
