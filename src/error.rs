//! Brook's own error type and the SQLSTATE each error carries to the client.
//!
//! Errors raised inside DataFusion execution (a table sink, a UDF) travel as
//! `DataFusionError::External(Box<BrookError>)`; the protocol edge
//! (`server::errors`) unwraps them again so that the client sees the code chosen here.

use thiserror::Error;

/// A user-facing failure with the SQLSTATE that Postgres would report for it.
#[derive(Debug, Error)]
pub enum BrookError {
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    #[error("column \"{column}\" of relation \"{table}\" does not exist")]
    UndefinedColumn { table: String, column: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation { table: String, column: String },
    #[error("{0}")]
    InvalidText(String),
    #[error("{0}")]
    Syntax(String),
    /// A subquery used as a value returned more than one row.
    #[error("{0}")]
    Cardinality(String),
    #[error("{0}")]
    UndefinedObject(String),
    /// A text longer than its `varchar(n)`.
    #[error("{0}")]
    StringTooLong(String),
    /// A second row with a PRIMARY KEY's value.
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation { constraint: String, detail: String },
    /// A value larger than PostgreSQL allows (`requested length too large`).
    #[error("{0}")]
    ProgramLimit(String),
    /// A statement that would need more memory than it may have.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    #[error("{0} is not supported")]
    Unsupported(String),
    /// Something no client may do over the wire (`COPY … TO 'file'`).
    #[error("{0}")]
    NotAllowed(String),
    #[error("cannot drop schema \"{0}\" because other objects depend on it")]
    DependentObjects(String),
    #[error(
        "cannot drop table {table} because pipeline {pipeline} loads into it; DROP PIPELINE {pipeline} first"
    )]
    PipelineDepends { table: String, pipeline: String },
    #[error("could not write to the data directory: {0}")]
    Storage(String),
    #[error("catalog file is unreadable: {0}")]
    CatalogCorrupt(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Ml(#[from] crate::ml::MlError),
    /// An error from planning or running a query; its SQLSTATE is derived at the
    /// protocol edge from the DataFusion error kind.
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

impl BrookError {
    /// The five-character SQLSTATE code clients switch on.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            BrookError::UndefinedTable(_) => "42P01",
            BrookError::DuplicateTable(_) => "42P07",
            BrookError::UndefinedSchema(_) => "3F000",
            BrookError::DuplicateSchema(_) => "42P06",
            BrookError::UndefinedColumn { .. } => "42703",
            BrookError::NotNullViolation { .. } => "23502",
            BrookError::InvalidText(_) => "22P02",
            BrookError::Syntax(_) => "42601",
            BrookError::Cardinality(_) => "21000",
            BrookError::Unsupported(_) => "0A000",
            BrookError::NotAllowed(_) => "42501",
            BrookError::UndefinedObject(_) => "42704",

            BrookError::ProgramLimit(_) => "54000",
            BrookError::OutOfMemory(_) => "53200",
            BrookError::StringTooLong(_) => "22001",
            BrookError::UniqueViolation { .. } => "23505",
            BrookError::DependentObjects(_) | BrookError::PipelineDepends { .. } => "2BP01",
            BrookError::Storage(m) => storage_sqlstate(m),
            BrookError::CatalogCorrupt(_) => "XX001",
            BrookError::Io(e) => storage_sqlstate(&e.to_string()),
            BrookError::Pipeline(e) => e.sqlstate(),
            BrookError::Ml(e) => e.sqlstate(),
            BrookError::Query(_) => "42000",
        }
    }
}

/// A failed write to the data directory: 53100 (disk_full) when the disk is
/// full or mounted read-only, as the operator must free or remount it;
/// 58030 (io_error) otherwise. The OS error is only known by its message
/// here: deltalake and object_store hand errors on as text.
pub fn storage_sqlstate(message: &str) -> &'static str {
    const FULL: [&str; 4] = [
        "No space left on device",
        "os error 28",
        "Read-only file system",
        "os error 30",
    ];
    if FULL.iter().any(|m| message.contains(m)) {
        "53100"
    } else {
        "58030"
    }
}

impl From<BrookError> for datafusion::error::DataFusionError {
    fn from(e: BrookError) -> Self {
        match e {
            BrookError::Query(inner) => inner,
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for BrookError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        BrookError::Query(datafusion::error::DataFusionError::ArrowError(
            Box::new(e),
            None,
        ))
    }
}

impl From<deltalake::DeltaTableError> for BrookError {
    fn from(e: deltalake::DeltaTableError) -> Self {
        BrookError::Storage(e.to_string())
    }
}

pub type Result<T, E = BrookError> = std::result::Result<T, E>;
