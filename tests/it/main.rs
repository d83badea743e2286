//! Brook's integration tests: one binary (DataFusion is linked once), each
//! test against a real `brook serve` process through real Postgres clients.

mod bad_input;
mod clients;
mod demo;
mod durability;
mod kafka;
mod ml;
mod pipelines;
mod slt;
mod support;
