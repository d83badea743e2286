//! Pipeline errors and the SQLSTATE each carries to the client.

use thiserror::Error;

use crate::error::{BrookError, ErrorCode, SqlState, storage_failure};

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
    /// Pipelines find a row by the PRIMARY KEY only; a second key could be
    /// broken by a replacing or appended message.
    #[error(
        "table \"{table}\" has UNIQUE constraints besides its PRIMARY KEY ({constraints}), which pipelines cannot keep: load into a table whose only key is its PRIMARY KEY"
    )]
    UniqueKeys { table: String, constraints: String },
    #[error("{0}")]
    Storage(String),
    #[error("pipeline \"{0}\" was changed by another session meanwhile; try again")]
    Concurrent(String),
    /// A setting a SQL user may not change (it would reach the server's
    /// files or load code): see `client_settings`.
    #[error("{0}")]
    Forbidden(String),
}

impl ErrorCode for PipelineError {
    fn sqlstate(&self) -> SqlState {
        match self {
            PipelineError::Undefined(_) => SqlState::UNDEFINED_OBJECT,
            PipelineError::Duplicate(_) => SqlState::DUPLICATE_OBJECT,
            PipelineError::Running(_) => SqlState::OBJECT_IN_USE,
            PipelineError::UndefinedTable(_) => SqlState::UNDEFINED_TABLE,
            PipelineError::Definition(_) => SqlState::INVALID_OBJECT_DEFINITION,
            PipelineError::Unreachable(_) => SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            PipelineError::Authentication(_) => SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            PipelineError::TopicMissing { .. } => SqlState::UNDEFINED_OBJECT,
            PipelineError::Load(_) => SqlState::DATA_EXCEPTION,
            PipelineError::NoPrimaryKey { .. } | PipelineError::KeyNeedsMode { .. } => {
                SqlState::INVALID_COLUMN_REFERENCE
            }
            PipelineError::UniqueKeys { .. } => SqlState::FEATURE_NOT_SUPPORTED,
            PipelineError::Storage(m) => storage_failure(m),
            PipelineError::Forbidden(_) => SqlState::INSUFFICIENT_PRIVILEGE,
            PipelineError::Concurrent(_) => SqlState::SERIALIZATION_FAILURE,
        }
    }
}

impl From<PipelineError> for BrookError {
    fn from(e: PipelineError) -> Self {
        BrookError::Module(Box::new(e))
    }
}

impl PipelineError {
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
