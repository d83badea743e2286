//! Brook's integration tests: one binary (DataFusion is linked once), each
//! test against a real `brook serve` process through real Postgres clients.

mod bad_input;
mod chaos;
mod clients;
mod demo;
mod differential;
mod drivers;
mod durability;
mod fuzz;
mod hostile;
mod hostile_user;
mod kafka;
mod limits;
mod load;
mod ml;
mod observability;
mod pipelines;
mod postgres;
mod privileges;
mod roles;
mod security;
mod sessions;
mod slt;
mod support;
mod tools;
mod transactions;
mod wrong_answers;
