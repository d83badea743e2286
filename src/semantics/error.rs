//! What PostgreSQL's semantics refuse at run time, with their SQLSTATEs
//! (mapped at the protocol edge, `server::errors`).

use thiserror::Error;

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
}

impl SemanticsError {
    /// The SQLSTATE PostgreSQL reports for the same failure.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SemanticsError::OutOfRange(_) => "22003",
            SemanticsError::TooManyRows => "21000",
            SemanticsError::AmbiguousOperator(_) => "42725",
        }
    }
}
