//! What PostgreSQL's semantics refuse at run time, with their SQLSTATEs
//! (mapped at the protocol edge, `server::errors`).

use thiserror::Error;

use crate::error::{BrookError, ErrorCode, SqlState};

#[derive(Debug, Error)]
pub enum SemanticsError {
    /// An integer result that does not fit its type (`integer out of range`).
    #[error("{0}")]
    OutOfRange(String),
    /// An operator over untyped NULLs, which PostgreSQL cannot resolve
    /// (`- NULL`, `NULL + NULL`).
    #[error("operator is not unique: {0}")]
    AmbiguousOperator(String),
    /// A scalar subquery that found more than one row.
    #[error("more than one row returned by a subquery used as an expression")]
    TooManyRows,
    /// A string constant compared with an array that is no array constant.
    #[error("malformed array literal: \"{0}\"")]
    MalformedArray(String),
    /// Text that is no value of the type it is read as.
    #[error("{0}")]
    InvalidInput(String),
    /// A division (of an interval) by zero.
    #[error("division by zero")]
    DivisionByZero,
}

/// The SQLSTATE PostgreSQL reports for the same failure.
impl ErrorCode for SemanticsError {
    fn sqlstate(&self) -> SqlState {
        match self {
            SemanticsError::OutOfRange(_) => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            SemanticsError::TooManyRows => SqlState::CARDINALITY_VIOLATION,
            SemanticsError::AmbiguousOperator(_) => SqlState::AMBIGUOUS_FUNCTION,
            SemanticsError::DivisionByZero => SqlState::DIVISION_BY_ZERO,
            SemanticsError::MalformedArray(_) | SemanticsError::InvalidInput(_) => {
                SqlState::INVALID_TEXT_REPRESENTATION
            }
        }
    }
}

impl From<SemanticsError> for BrookError {
    fn from(e: SemanticsError) -> Self {
        BrookError::Module(Box::new(e))
    }
}
