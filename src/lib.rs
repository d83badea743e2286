//! Brook: a streaming SQL database.
//!
//! The data path reads top to bottom through the modules:
//! `server` (Postgres wire) → `sql` (Brook's statements) → `catalog` (names → tables)
//! → `storage` (durable Delta tables). DataFusion plans and runs every query.
//! Kafka messages enter through `pipeline` (source → decode → transform → commit).

pub mod catalog;
pub mod config;
pub mod demo;
pub mod durable_file;
pub mod engine;
pub mod error;
pub mod locks;
pub mod ml;
pub mod observability;
pub mod pipeline;
pub mod query_text;
pub mod scram;
pub mod secrets;
pub mod semantics;
pub mod server;
pub mod sql;
pub mod storage;

pub use config::Settings;
pub use engine::Engine;
pub use error::BrookError;

/// Cases for a randomized (proptest) test: `default` in CI, more when
/// `bench/fuzz/run.sh` asks through `BROOK_FUZZ_CASES`.
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("BROOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
