//! Pipeline errors and the SQLSTATE each carries to the client.

use thiserror::Error;

/// A message that could not become a row, with where it sits in Kafka.
#[derive(Debug, Clone, Error)]
#[error(
    "message at topic \"{topic}\" partition {partition} offset {offset} cannot be loaded: {reason}"
)]
pub struct LoadError {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("pipeline \"{0}\" does not exist")]
    Undefined(String),
    #[error("pipeline \"{0}\" already exists")]
    Duplicate(String),
    #[error("pipeline \"{0}\" is running; STOP PIPELINE {0} first")]
    Running(String),
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    /// The definition cannot work with the table (unknown column, bad SET, …).
    #[error("{0}")]
    Definition(String),
    /// The brokers cannot be reached or refused the client.
    #[error("{0}")]
    Unreachable(String),
    /// The brokers rejected the credentials.
    #[error("{0}")]
    Authentication(String),
    #[error("Kafka topic \"{topic}\" does not exist on {brokers}")]
    TopicMissing { topic: String, brokers: String },
    #[error("{0}")]
    Load(#[from] LoadError),
    /// `REPLACE`/`IGNORE` on a table without a primary key to match on.
    #[error(
        "{mode} INTO TABLE needs a primary key, and table \"{table}\" has none; declare one with PRIMARY KEY"
    )]
    NoPrimaryKey { mode: &'static str, table: String },
    #[error(
        "table \"{table}\" has a PRIMARY KEY: load into it with REPLACE INTO TABLE (a message replaces the row with its key) or IGNORE INTO TABLE (the first row with a key stays)"
    )]
    KeyNeedsMode { table: String },
    #[error("{0}")]
    Storage(String),
    #[error("pipeline \"{0}\" was changed by another session meanwhile; try again")]
    Concurrent(String),
    /// A setting a SQL user may not change (it would reach the server's
    /// files or load code): see `client_settings`.
    #[error("{0}")]
    Forbidden(String),
}

impl PipelineError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            PipelineError::Undefined(_) => "42704",
            PipelineError::Duplicate(_) => "42710",
            PipelineError::Running(_) => "55006",
            PipelineError::UndefinedTable(_) => "42P01",
            PipelineError::Definition(_) => "42P17",
            PipelineError::Unreachable(_) => "08001",
            PipelineError::Authentication(_) => "28000",
            PipelineError::TopicMissing { .. } => "42704",
            PipelineError::Load(_) => "22000",
            PipelineError::NoPrimaryKey { .. } | PipelineError::KeyNeedsMode { .. } => "42P10",
            PipelineError::Storage(m) => crate::error::storage_sqlstate(m),
            PipelineError::Forbidden(_) => "42501",
            PipelineError::Concurrent(_) => "40001",
        }
    }

    /// Worth retrying with backoff (the broker may come back), rather than
    /// stopping the pipeline in `Error`.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PipelineError::Unreachable(_)
                | PipelineError::Authentication(_)
                | PipelineError::TopicMissing { .. }
        )
    }
}
