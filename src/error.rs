//! The ground floor of Brook's errors: the SQLSTATE codes clients switch on,
//! the one trait every module's error type implements to name its code, and
//! [`BrookError`], the error that carries any of them up to the protocol edge.
//!
//! This file imports nothing of Brook's, so that every module may use it:
//! a subsystem's own error (`pipeline::PipelineError`, `ml::MlError`, …)
//! implements [`ErrorCode`] where it is defined and converts into
//! [`BrookError::Module`] there, rather than being named here.
//!
//! Errors raised inside DataFusion execution (a table sink, a UDF) travel as
//! `DataFusionError::External(Box<BrookError>)` (see [`external`]); the
//! protocol edge (`server::errors`) unwraps them again so that the client
//! sees the code chosen by the module that failed.

use std::fmt;

use thiserror::Error;

/// A five-character SQLSTATE (PostgreSQL's Appendix A). Every code Brook sends
/// is a named constant here, so that a code is chosen by its meaning and the
/// list of codes Brook can answer with is in one place.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState(&'static str);

impl SqlState {
    pub const SUCCESSFUL_COMPLETION: Self = Self("00000");
    pub const PRIVILEGE_NOT_REVOKED: Self = Self("01006");
    pub const PRIVILEGE_NOT_GRANTED: Self = Self("01007");
    pub const FEATURE_NOT_SUPPORTED: Self = Self("0A000");
    pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: Self = Self("08001");
    pub const PROTOCOL_VIOLATION: Self = Self("08P01");
    pub const CARDINALITY_VIOLATION: Self = Self("21000");
    pub const DATA_EXCEPTION: Self = Self("22000");
    pub const STRING_DATA_RIGHT_TRUNCATION: Self = Self("22001");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: Self = Self("22003");
    pub const DIVISION_BY_ZERO: Self = Self("22012");
    pub const INVALID_PARAMETER_VALUE: Self = Self("22023");
    pub const SEQUENCE_GENERATOR_LIMIT_EXCEEDED: Self = Self("2200H");
    pub const INVALID_TEXT_REPRESENTATION: Self = Self("22P02");
    pub const NOT_NULL_VIOLATION: Self = Self("23502");
    pub const UNIQUE_VIOLATION: Self = Self("23505");
    pub const CHECK_VIOLATION: Self = Self("23514");
    pub const GENERATED_ALWAYS: Self = Self("428C9");
    pub const ACTIVE_SQL_TRANSACTION: Self = Self("25001");
    pub const NO_ACTIVE_SQL_TRANSACTION: Self = Self("25P01");
    pub const IN_FAILED_SQL_TRANSACTION: Self = Self("25P02");
    pub const IDLE_IN_TRANSACTION_SESSION_TIMEOUT: Self = Self("25P03");
    pub const INVALID_AUTHORIZATION_SPECIFICATION: Self = Self("28000");
    pub const INVALID_PASSWORD: Self = Self("28P01");
    pub const DEPENDENT_OBJECTS_STILL_EXIST: Self = Self("2BP01");
    pub const INVALID_GRANT_OPERATION: Self = Self("0LP01");
    pub const INVALID_SAVEPOINT_SPECIFICATION: Self = Self("3B001");
    pub const INVALID_SCHEMA_NAME: Self = Self("3F000");
    pub const INVALID_CATALOG_NAME: Self = Self("3D000");
    pub const SERIALIZATION_FAILURE: Self = Self("40001");
    pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: Self = Self("42000");
    pub const INSUFFICIENT_PRIVILEGE: Self = Self("42501");
    pub const SYNTAX_ERROR: Self = Self("42601");
    pub const NAME_TOO_LONG: Self = Self("42622");
    pub const DUPLICATE_COLUMN: Self = Self("42701");
    pub const AMBIGUOUS_COLUMN: Self = Self("42702");
    pub const UNDEFINED_COLUMN: Self = Self("42703");
    pub const UNDEFINED_OBJECT: Self = Self("42704");
    pub const RESERVED_NAME: Self = Self("42939");
    pub const DUPLICATE_OBJECT: Self = Self("42710");
    pub const AMBIGUOUS_FUNCTION: Self = Self("42725");
    pub const DATATYPE_MISMATCH: Self = Self("42804");
    pub const WRONG_OBJECT_TYPE: Self = Self("42809");
    pub const CANNOT_COERCE: Self = Self("42846");
    pub const UNDEFINED_FUNCTION: Self = Self("42883");
    pub const UNDEFINED_TABLE: Self = Self("42P01");
    pub const DUPLICATE_SCHEMA: Self = Self("42P06");
    pub const DUPLICATE_TABLE: Self = Self("42P07");
    pub const INVALID_TABLE_DEFINITION: Self = Self("42P16");
    pub const INVALID_COLUMN_REFERENCE: Self = Self("42P10");
    pub const INVALID_OBJECT_DEFINITION: Self = Self("42P17");
    pub const DISK_FULL: Self = Self("53100");
    pub const UNDEFINED_FILE: Self = Self("58P01");
    pub const OUT_OF_MEMORY: Self = Self("53200");
    pub const TOO_MANY_CONNECTIONS: Self = Self("53300");
    pub const PROGRAM_LIMIT_EXCEEDED: Self = Self("54000");
    pub const STATEMENT_TOO_COMPLEX: Self = Self("54001");
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: Self = Self("55000");
    pub const OBJECT_IN_USE: Self = Self("55006");
    pub const QUERY_CANCELED: Self = Self("57014");
    pub const IO_ERROR: Self = Self("58030");
    pub const INTERNAL_ERROR: Self = Self("XX000");
    pub const DATA_CORRUPTED: Self = Self("XX001");

    /// The code as it goes on the wire.
    pub const fn code(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.0)
    }
}

/// Tests and clients compare with the code they see on the wire.
impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// An error a client may receive: it names its SQLSTATE. Each module's error
/// type implements this once, next to its variants, and the protocol edge
/// asks through it instead of knowing every type.
pub trait ErrorCode: std::error::Error + Send + Sync + 'static {
    fn sqlstate(&self) -> SqlState;

    /// PostgreSQL's DETAIL line (`Key (id)=(1) already exists.`), if any.
    fn detail(&self) -> Option<String> {
        None
    }
}

/// A user-facing failure with the SQLSTATE that Postgres would report for it.
#[derive(Debug, Error)]
pub enum BrookError {
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("database \"{0}\" does not exist")]
    UndefinedDatabase(String),
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
    /// An option's value outside what it may be (a sequence's bounds).
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Syntax(String),
    /// A subquery used as a value returned more than one row.
    #[error("{0}")]
    Cardinality(String),
    #[error("{0}")]
    UndefinedObject(String),
    /// ON CONFLICT naming no unique key of the table.
    #[error("{0}")]
    InvalidColumnReference(String),
    /// A sequence past its bounds (`nextval: reached maximum value …`).
    #[error("{0}")]
    SequenceLimit(String),
    /// `currval` before `nextval` in the session.
    #[error("{0}")]
    SequenceState(String),
    /// A state Brook's own code should never reach.
    #[error("internal error: {0}")]
    Internal(String),
    /// A text longer than its `varchar(n)`.
    #[error("{0}")]
    StringTooLong(String),
    /// A row for which a CHECK constraint's condition is false.
    #[error("new row for relation \"{table}\" violates check constraint \"{constraint}\"")]
    CheckViolation {
        table: String,
        constraint: String,
        detail: String,
    },
    /// A value of its own for a `GENERATED ALWAYS AS IDENTITY` column.
    #[error("{message}")]
    GeneratedAlways { message: String, detail: String },
    /// A second row with a PRIMARY KEY's value.
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation { constraint: String, detail: String },
    /// A transaction whose changes collide with a commit made after its
    /// snapshot: the first committer wins, the second is told to retry.
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    /// A write that waited for a table an `ALTER TABLE` or `DROP TABLE`
    /// replaced meanwhile: it would have gone into files no catalog names.
    #[error(
        "table \"{0}\" was altered or dropped by another transaction while this statement waited for it; run the statement again"
    )]
    TableReplaced(String),
    /// A column named without its table (`RENAME COLUMN nope TO …`).
    #[error("column \"{0}\" does not exist")]
    UndefinedColumnName(String),
    /// `ADD CONSTRAINT … UNIQUE` (or PRIMARY KEY) over rows whose key repeats.
    #[error("could not create unique index \"{constraint}\"")]
    UniqueIndexFailed { constraint: String, detail: String },
    #[error("column \"{column}\" of relation \"{table}\" already exists")]
    DuplicateColumn { table: String, column: String },
    #[error("role \"{0}\" does not exist")]
    UndefinedRole(String),
    /// A name PostgreSQL keeps for its own roles (`pg_…`, `public`).
    #[error("{0}")]
    ReservedName(String),
    /// A view or CREATE TABLE AS whose query names two columns alike.
    #[error("column \"{0}\" specified more than once")]
    RepeatedColumn(String),
    /// `ALTER TABLE … SET NOT NULL` (or `ADD COLUMN … NOT NULL`) over rows
    /// that hold NULL there.
    #[error("column \"{column}\" of relation \"{table}\" contains null values")]
    ColumnHasNulls { table: String, column: String },
    #[error("{0}")]
    DuplicateObject(String),
    /// Something else uses the object (55006): a pipeline loading a table.
    #[error("{0}")]
    ObjectInUse(String),
    /// A second PRIMARY KEY, a key column made nullable (42P16).
    #[error("{0}")]
    InvalidTableDefinition(String),
    /// A statement for one kind of relation named another (`ALTER VIEW` of a table).
    #[error("{0}")]
    WrongObjectType(String),
    /// A change a view depends on (2BP01), with PostgreSQL's DETAIL.
    #[error("{message}")]
    ViewDepends { message: String, detail: String },
    #[error("savepoint \"{0}\" does not exist")]
    UndefinedSavepoint(String),
    /// A statement that cannot take part in a transaction, inside one.
    #[error("{0} cannot run inside a transaction block")]
    InTransactionBlock(String),
    /// A statement that means something only inside a transaction block.
    #[error("{0} can only be used in transaction blocks")]
    NoTransactionBlock(String),
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
    /// A GRANT or REVOKE that cannot be made (0LP01).
    #[error("{0}")]
    InvalidGrant(String),
    /// A REVOKE of what the grantee granted on, without CASCADE.
    #[error("dependent privileges exist")]
    DependentPrivileges,
    /// DROP ROLE of a role that still owns objects or holds privileges.
    #[error("role \"{role}\" cannot be dropped because some objects depend on it")]
    RoleInUse { role: String, detail: String },
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
    /// A failure of a module above this floor (a pipeline, a model, the
    /// planner's semantics), with the SQLSTATE that module chose.
    #[error("{0}")]
    Module(Box<dyn ErrorCode>),
    /// An error from planning or running a query; its SQLSTATE is derived at the
    /// protocol edge from the DataFusion error kind.
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

impl ErrorCode for BrookError {
    fn sqlstate(&self) -> SqlState {
        match self {
            BrookError::UndefinedTable(_) => SqlState::UNDEFINED_TABLE,
            BrookError::DuplicateTable(_) => SqlState::DUPLICATE_TABLE,
            BrookError::UndefinedSchema(_) => SqlState::INVALID_SCHEMA_NAME,
            BrookError::UndefinedDatabase(_) => SqlState::INVALID_CATALOG_NAME,
            BrookError::DuplicateSchema(_) => SqlState::DUPLICATE_SCHEMA,
            BrookError::UndefinedColumn { .. } => SqlState::UNDEFINED_COLUMN,
            BrookError::NotNullViolation { .. } => SqlState::NOT_NULL_VIOLATION,
            BrookError::InvalidText(_) => SqlState::INVALID_TEXT_REPRESENTATION,
            BrookError::InvalidParameter(_) => SqlState::INVALID_PARAMETER_VALUE,
            BrookError::Syntax(_) => SqlState::SYNTAX_ERROR,
            BrookError::Cardinality(_) => SqlState::CARDINALITY_VIOLATION,
            BrookError::Unsupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
            BrookError::NotAllowed(_) => SqlState::INSUFFICIENT_PRIVILEGE,
            BrookError::UndefinedObject(_) => SqlState::UNDEFINED_OBJECT,
            BrookError::InvalidColumnReference(_) => SqlState::INVALID_COLUMN_REFERENCE,
            BrookError::Internal(_) => SqlState::INTERNAL_ERROR,
            BrookError::SequenceLimit(_) => SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED,
            BrookError::SequenceState(_) => SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            BrookError::ProgramLimit(_) => SqlState::PROGRAM_LIMIT_EXCEEDED,
            BrookError::OutOfMemory(_) => SqlState::OUT_OF_MEMORY,
            BrookError::StringTooLong(_) => SqlState::STRING_DATA_RIGHT_TRUNCATION,
            BrookError::UniqueViolation { .. } => SqlState::UNIQUE_VIOLATION,
            BrookError::CheckViolation { .. } => SqlState::CHECK_VIOLATION,
            BrookError::GeneratedAlways { .. } => SqlState::GENERATED_ALWAYS,
            BrookError::SerializationFailure | BrookError::TableReplaced(_) => {
                SqlState::SERIALIZATION_FAILURE
            }
            BrookError::UndefinedRole(_) => SqlState::UNDEFINED_OBJECT,
            BrookError::ReservedName(_) => SqlState::RESERVED_NAME,
            BrookError::DuplicateColumn { .. } | BrookError::RepeatedColumn(_) => {
                SqlState::DUPLICATE_COLUMN
            }
            BrookError::UndefinedColumnName(_) => SqlState::UNDEFINED_COLUMN,
            BrookError::UniqueIndexFailed { .. } => SqlState::UNIQUE_VIOLATION,
            BrookError::DuplicateObject(_) => SqlState::DUPLICATE_OBJECT,
            BrookError::ObjectInUse(_) => SqlState::OBJECT_IN_USE,
            BrookError::ColumnHasNulls { .. } => SqlState::NOT_NULL_VIOLATION,
            BrookError::InvalidTableDefinition(_) => SqlState::INVALID_TABLE_DEFINITION,
            BrookError::WrongObjectType(_) => SqlState::WRONG_OBJECT_TYPE,
            BrookError::ViewDepends { .. } => SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            BrookError::InvalidGrant(_) => SqlState::INVALID_GRANT_OPERATION,
            BrookError::DependentPrivileges | BrookError::RoleInUse { .. } => {
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST
            }
            BrookError::UndefinedSavepoint(_) => SqlState::INVALID_SAVEPOINT_SPECIFICATION,
            BrookError::InTransactionBlock(_) => SqlState::ACTIVE_SQL_TRANSACTION,
            BrookError::NoTransactionBlock(_) => SqlState::NO_ACTIVE_SQL_TRANSACTION,
            BrookError::DependentObjects(_) | BrookError::PipelineDepends { .. } => {
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST
            }
            BrookError::Storage(m) => storage_failure(m),
            BrookError::CatalogCorrupt(_) => SqlState::DATA_CORRUPTED,
            BrookError::Io(e) => io_failure(e),
            BrookError::Module(e) => e.sqlstate(),
            // Refined by variant at the protocol edge (`server::errors`),
            // which knows DataFusion's error kinds.
            BrookError::Query(_) => SqlState::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            BrookError::UniqueViolation { detail, .. }
            | BrookError::CheckViolation { detail, .. }
            | BrookError::GeneratedAlways { detail, .. }
            | BrookError::ViewDepends { detail, .. }
            | BrookError::RoleInUse { detail, .. }
            | BrookError::UniqueIndexFailed { detail, .. } => Some(detail.clone()),
            BrookError::Module(e) => e.detail(),
            _ => None,
        }
    }
}

/// A failed read or write of the data directory, known by its OS error kind:
/// 53100 (disk_full) when the disk is full or mounted read-only, as the
/// operator must free or remount it; 58030 (io_error) otherwise.
pub fn io_failure(e: &std::io::Error) -> SqlState {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::ReadOnlyFilesystem => SqlState::DISK_FULL,
        ErrorKind::NotFound => SqlState::UNDEFINED_FILE,
        _ => storage_failure(&e.to_string()),
    }
}

/// The same judgement when only the text of the OS error is left:
/// deltalake and object_store hand their I/O errors on as strings, so the
/// kind is gone by the time Brook sees them. The one place that reads text.
pub fn storage_failure(message: &str) -> SqlState {
    const FULL: [&str; 4] = [
        "No space left on device",
        "os error 28",
        "Read-only file system",
        "os error 30",
    ];
    if FULL.iter().any(|m| message.contains(m)) {
        SqlState::DISK_FULL
    } else {
        SqlState::IO_ERROR
    }
}

/// Wrap a Brook error for DataFusion to carry (a UDF, a sink, an analyzer
/// rule), so that the protocol edge finds its SQLSTATE again.
pub fn external(e: impl Into<BrookError>) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::from(e.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_disk_full_by_kind() {
        let e = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert_eq!(io_failure(&e), SqlState::DISK_FULL);
        let e = std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem);
        assert_eq!(io_failure(&e), SqlState::DISK_FULL);
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(io_failure(&e), SqlState::IO_ERROR);
    }

    #[test]
    fn a_full_disk_is_disk_full_by_text() {
        // What deltalake passes on for ENOSPC and EROFS.
        for text in [
            "Generic LocalFileSystem error: No space left on device (os error 28)",
            "Unable to write: os error 28",
            "Read-only file system (os error 30)",
        ] {
            assert_eq!(storage_failure(text), SqlState::DISK_FULL, "{text}");
        }
        assert_eq!(
            storage_failure("Permission denied (os error 13)"),
            SqlState::IO_ERROR
        );
    }

    #[derive(Debug, Error)]
    #[error("a module's error")]
    struct ModuleError;

    impl ErrorCode for ModuleError {
        fn sqlstate(&self) -> SqlState {
            SqlState::OBJECT_IN_USE
        }
        fn detail(&self) -> Option<String> {
            Some("why".into())
        }
    }

    #[test]
    fn a_module_error_keeps_its_code_and_detail() {
        let e = BrookError::Module(Box::new(ModuleError));
        assert_eq!(e.sqlstate(), "55006");
        assert_eq!(e.detail().as_deref(), Some("why"));
        assert_eq!(e.to_string(), "a module's error");
    }
}
