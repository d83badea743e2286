//! Model errors and the SQLSTATE each carries to the client.

use thiserror::Error;

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

impl MlError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            MlError::UndefinedModel(_) => "42883",
            MlError::UndefinedVersion { .. } => "42704",
            MlError::Duplicate(_) => "42710",
            MlError::InvalidOption(_) => "22023",
            MlError::TrainingData(_) => "22000",
            MlError::Arguments(_) => "42804",
            MlError::Training(_) => "XX000",
            MlError::Storage(m) => crate::error::storage_sqlstate(m),
            MlError::Corrupt(_) => "XX001",
        }
    }
}

impl From<MlError> for datafusion::error::DataFusionError {
    fn from(e: MlError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}

pub type Result<T, E = MlError> = std::result::Result<T, E>;
