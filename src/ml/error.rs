//! Model errors and the SQLSTATE each carries to the client.

use thiserror::Error;

use crate::error::{BrookError, ErrorCode, SqlState, storage_failure};

#[derive(Debug, Error)]
pub enum MlError {
    /// Postgres reports an unknown function as 42883; an unknown model is
    /// the same mistake seen from SQL (`PREDICT('typo', …)`).
    #[error("model \"{0}\" does not exist")]
    UndefinedModel(String),
    #[error("model \"{name}\" has no version {version}")]
    UndefinedVersion { name: String, version: u64 },
    #[error("model \"{0}\" already exists")]
    Duplicate(String),
    /// An option name or value the trainer cannot use.
    #[error("{0}")]
    InvalidOption(String),
    /// The rows cannot train a model (empty, one class, non-finite label…).
    #[error("{0}")]
    TrainingData(String),
    /// PREDICT called with features that do not match the model.
    #[error("{0}")]
    Arguments(String),
    /// The learning library refused the data.
    #[error("training failed: {0}")]
    Training(String),
    #[error("could not store model: {0}")]
    Storage(String),
    #[error("model file is unreadable: {0}")]
    Corrupt(String),
}

impl ErrorCode for MlError {
    fn sqlstate(&self) -> SqlState {
        match self {
            MlError::UndefinedModel(_) => SqlState::UNDEFINED_FUNCTION,
            MlError::UndefinedVersion { .. } => SqlState::UNDEFINED_OBJECT,
            MlError::Duplicate(_) => SqlState::DUPLICATE_OBJECT,
            MlError::InvalidOption(_) => SqlState::INVALID_PARAMETER_VALUE,
            MlError::TrainingData(_) => SqlState::DATA_EXCEPTION,
            MlError::Arguments(_) => SqlState::DATATYPE_MISMATCH,
            MlError::Training(_) => SqlState::INTERNAL_ERROR,
            MlError::Storage(m) => storage_failure(m),
            MlError::Corrupt(_) => SqlState::DATA_CORRUPTED,
        }
    }
}

impl From<MlError> for BrookError {
    fn from(e: MlError) -> Self {
        BrookError::Module(Box::new(e))
    }
}

/// Model errors inside DataFusion (PREDICT, EVALUATE) travel as Brook errors.
impl From<MlError> for datafusion::error::DataFusionError {
    fn from(e: MlError) -> Self {
        crate::error::external(e)
    }
}

pub type Result<T, E = MlError> = std::result::Result<T, E>;
