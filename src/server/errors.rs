//! The one funnel from any error to what the client sees: a SQLSTATE and a
//! message a person understands (GreptimeDB's `convert_err` pattern).
//!
//! pgwire reports every handler error wrapped as `ApiError` with code XX000;
//! [`SqlStateErrors`] rewrites those before they are sent, so XX000 remains for
//! real bugs only.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, ErrorHandler};
use pgwire::error::{ErrorInfo, PgWireError};
use tracing::{debug, error};

use crate::error::{BrookError, ErrorCode, SqlState, io_failure, storage_failure};

/// A classified error: the SQLSTATE and the message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub code: SqlState,
    pub message: String,
    /// PostgreSQL's DETAIL line (`Key (id)=(1) already exists.`).
    pub detail: Option<String>,
}

impl Classified {
    /// An error with a code and a message, no DETAIL.
    pub fn new(code: SqlState, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Any of Brook's own errors, by the code its module chose.
    fn coded(e: &dyn ErrorCode) -> Self {
        Self {
            code: e.sqlstate(),
            message: e.to_string(),
            detail: e.detail(),
        }
    }

    /// The ErrorResponse (severity ERROR) for this error.
    pub fn into_info(self) -> ErrorInfo {
        let mut info = ErrorInfo::new(
            "ERROR".to_string(),
            self.code.code().to_string(),
            self.message,
        );
        info.detail = self.detail;
        info
    }
}

/// Classify any error that can reach the protocol edge. Brook's own errors
/// all travel as [`BrookError`] and name their code through [`ErrorCode`];
/// what remains are the libraries' error types, classified by variant.
pub fn classify(err: &(dyn std::error::Error + 'static)) -> Classified {
    if let Some(e) = err.downcast_ref::<BrookError>() {
        return classify_brook(e);
    }
    if let Some(e) = err.downcast_ref::<DataFusionError>() {
        return classify_datafusion(e);
    }
    if let Some(e) = err.downcast_ref::<ParserError>() {
        return classify_parser(e);
    }
    if let Some(e) = err.downcast_ref::<ArrowError>() {
        return classify_arrow(e);
    }
    if let Some(e) = err.downcast_ref::<std::io::Error>() {
        return Classified::new(io_failure(e), e.to_string());
    }
    Classified::new(SqlState::INTERNAL_ERROR, err.to_string())
}

/// Classify a Brook error.
pub fn classify_brook(e: &BrookError) -> Classified {
    match e {
        BrookError::Query(inner) => classify_datafusion(inner),
        other => Classified::coded(other),
    }
}

fn classify_parser(e: &ParserError) -> Classified {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => {
            return Classified::new(
                SqlState::STATEMENT_TOO_COMPLEX,
                format!(
                    "statement is too complex: more than {} operators or {} levels of parentheses; \
                     break it into smaller statements",
                    crate::sql::parser::MAX_OPERATORS,
                    crate::sql::parser::MAX_NESTING
                ),
            );
        }
    };
    Classified::new(SqlState::SYNTAX_ERROR, format!("syntax error: {text}"))
}

fn classify_arrow(e: &ArrowError) -> Classified {
    match e {
        ArrowError::CastError(m) => {
            let code = cast_message_state(m);
            if code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE {
                Classified::new(code, format!("value out of range: {m}"))
            } else {
                Classified::new(code, m.clone())
            }
        }
        ArrowError::ParseError(m) => {
            Classified::new(SqlState::INVALID_TEXT_REPRESENTATION, m.clone())
        }
        ArrowError::DivideByZero => Classified::new(SqlState::DIVISION_BY_ZERO, "division by zero"),
        ArrowError::ArithmeticOverflow(m) => {
            Classified::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, m.clone())
        }
        ArrowError::ComputeError(m) if mentions_overflow(m) => {
            Classified::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, m.clone())
        }
        ArrowError::InvalidArgumentError(m) => invalid_argument(m),
        ArrowError::ExternalError(inner) => classify(inner.as_ref()),
        ArrowError::IoError(m, io) => Classified::new(io_failure(io), m.clone()),
        other => Classified::new(SqlState::INTERNAL_ERROR, other.to_string()),
    }
}

// Where DataFusion and Arrow leave only a message, the code is read from its
// text here, one function per kind of message, each case unit-tested below.

/// Arrow's cast errors: "Can't cast value 32768 to type Int16" for a number
/// that does not fit, "Cannot cast string 'x' …" for text that is no number.
fn cast_message_state(m: &str) -> SqlState {
    if m.starts_with("Can't cast value") {
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE
    } else {
        SqlState::INVALID_TEXT_REPRESENTATION
    }
}

fn mentions_overflow(m: &str) -> bool {
    m.contains("Overflow") || m.contains("overflow")
}

/// Arrow's InvalidArgumentError: a NULL reaching a NOT NULL column while
/// DataFusion builds the rows (multi-row VALUES) rather than in Brook's own
/// check; a decimal that does not fit its precision (PostgreSQL's "numeric
/// field overflow"); otherwise a bad argument.
fn invalid_argument(m: &str) -> Classified {
    if m.contains("non-nullable") {
        Classified::new(
            SqlState::NOT_NULL_VIOLATION,
            format!("null value violates not-null constraint ({m})"),
        )
    } else if m.contains("too large to store") {
        Classified::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("numeric field overflow: {m}"),
        )
    } else {
        Classified::new(SqlState::INVALID_PARAMETER_VALUE, m.to_string())
    }
}

/// DataFusion's `Plan` errors carry no kind but their text.
fn plan_message_state(m: &str) -> Classified {
    if let Some(table) = missing_table(m) {
        return Classified::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{table}\" does not exist"),
        );
    }
    let code =
        if m.starts_with("Invalid function") || m.contains("function") && m.contains("not found") {
            SqlState::UNDEFINED_FUNCTION
        } else if m.contains("Cannot cast") || m.contains("cannot be cast") {
            SqlState::CANNOT_COERCE
        } else if m.contains("No function matches") || m.contains("does not support") {
            SqlState::UNDEFINED_FUNCTION
        } else if m.contains("already exists") {
            SqlState::DUPLICATE_TABLE
        } else {
            SqlState::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION
        };
    Classified::new(code, m)
}

/// DataFusion's `Execution` errors carry no kind but their text.
fn execution_message_state(m: &str) -> Classified {
    if m.contains("non-nullable") {
        Classified::new(
            SqlState::NOT_NULL_VIOLATION,
            format!("null value violates not-null constraint ({m})"),
        )
    } else if m.contains("Can't cast value") || m.contains("too large to store") {
        Classified::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value out of range: {m}"),
        )
    } else if m.contains("Cannot cast")
        || m.contains("Failed to parse")
        || m.contains("Cannot parse")
    {
        Classified::new(SqlState::INVALID_TEXT_REPRESENTATION, m)
    } else if m.contains("Divide by zero") || m.contains("division by zero") {
        Classified::new(SqlState::DIVISION_BY_ZERO, "division by zero")
    } else if mentions_overflow(m) {
        Classified::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, m)
    } else {
        Classified::new(SqlState::DATA_EXCEPTION, m)
    }
}

/// The table name inside DataFusion's "table 'brook.public.t' not found".
fn missing_table(message: &str) -> Option<String> {
    let rest = message.strip_prefix("table '")?;
    let name = rest.split('\'').next()?;
    let name = name.strip_prefix("brook.").unwrap_or(name);
    let name = name.strip_prefix("public.").unwrap_or(name);
    Some(name.to_string())
}

fn classify_datafusion(e: &DataFusionError) -> Classified {
    match e {
        DataFusionError::External(inner) => classify(inner.as_ref()),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            classify_datafusion(inner)
        }
        DataFusionError::Shared(inner) => classify_datafusion(inner),
        DataFusionError::Collection(errs) => errs
            .first()
            .map(classify_datafusion)
            .unwrap_or_else(|| Classified::new(SqlState::INTERNAL_ERROR, "empty error collection")),
        DataFusionError::ArrowError(inner, _) => classify_arrow(inner),
        DataFusionError::SQL(inner, _) => classify_parser(inner),
        DataFusionError::NotImplemented(m) => Classified::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("{m} is not supported"),
        ),
        DataFusionError::SchemaError(schema_err, _) => {
            use datafusion::common::SchemaError;
            let message = e.strip_backtrace();
            let message = message
                .strip_prefix("Schema error: ")
                .unwrap_or(&message)
                .to_string();
            match schema_err.as_ref() {
                SchemaError::FieldNotFound { field, .. } => Classified::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{}\" does not exist ({message})", field.name),
                ),
                SchemaError::AmbiguousReference { .. } => {
                    Classified::new(SqlState::AMBIGUOUS_COLUMN, message)
                }
                _ => Classified::new(SqlState::DUPLICATE_COLUMN, message),
            }
        }
        DataFusionError::Plan(m) => plan_message_state(m),
        DataFusionError::Execution(m) => execution_message_state(m),
        DataFusionError::ResourcesExhausted(m) => Classified::new(
            SqlState::OUT_OF_MEMORY,
            format!(
                "out of memory: the query needs more than the server's memory_limit leaves free ({m})"
            ),
        ),
        DataFusionError::IoError(io) => Classified::new(io_failure(io), io.to_string()),
        DataFusionError::ObjectStore(os) => {
            let m = os.to_string();
            Classified::new(storage_failure(&m), m)
        }
        DataFusionError::Configuration(m) => {
            Classified::new(SqlState::INVALID_PARAMETER_VALUE, m.clone())
        }
        other => Classified::new(SqlState::INTERNAL_ERROR, other.strip_backtrace()),
    }
}

/// Turn a classified error into the pgwire error the client receives.
pub fn to_pgwire(c: Classified) -> PgWireError {
    PgWireError::UserError(Box::new(c.into_info()))
}

/// An error with its code, as pgwire sends it.
pub fn refuse(code: SqlState, message: impl Into<String>) -> PgWireError {
    to_pgwire(Classified::new(code, message))
}

/// The same, as the response that ends one statement of several.
pub fn error_response(code: SqlState, message: impl Into<String>) -> Response {
    Response::Error(Box::new(Classified::new(code, message).into_info()))
}

/// A FATAL error: the client hears it, then the connection closes (startup
/// refusals, protocol violations).
pub fn fatal(code: SqlState, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(fatal_info(code, message)))
}

/// The FATAL ErrorResponse itself, for a socket pgwire no longer drives.
pub fn fatal_info(code: SqlState, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("FATAL".to_string(), code.code().to_string(), message.into())
}

/// An error that ends the connection, whatever its severity was.
pub fn as_fatal(mut info: ErrorInfo) -> PgWireError {
    if !info.is_fatal() {
        info.severity = "FATAL".to_string();
        if info.severity_nonlocalized.is_some() {
            info.severity_nonlocalized = Some("FATAL".to_string());
        }
    }
    PgWireError::UserError(Box::new(info))
}

/// A NOTICE (`00000` for progress, a warning's own code otherwise).
pub fn notice_info(code: SqlState, text: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("NOTICE".to_string(), code.code().to_string(), text.into())
}

/// A WARNING with SQLSTATE `code`.
pub fn warning_info(code: SqlState, text: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("WARNING".to_string(), code.code().to_string(), text.into())
}

/// Whatever error pgwire holds, as the ErrorInfo the client gets: classified
/// when it is an API error, as is when already a user error.
pub fn info_of(e: PgWireError) -> ErrorInfo {
    match e {
        PgWireError::UserError(info) => *info,
        PgWireError::ApiError(inner) => classify(inner.as_ref()).into_info(),
        other => Classified::new(SqlState::INTERNAL_ERROR, other.to_string()).into_info(),
    }
}

/// Brook's errors as pgwire errors, at the point a hook returns them.
pub fn brook_to_pgwire(e: BrookError) -> PgWireError {
    to_pgwire(classify_brook(&e))
}

/// Rewrites `ApiError` (pgwire's XX000 catch-all) into the classified error, and logs.
pub struct SqlStateErrors;

impl ErrorHandler for SqlStateErrors {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::ApiError(inner) = error {
            let c = classify(inner.as_ref());
            if c.code == SqlState::INTERNAL_ERROR {
                error!(message = %c.message, "internal error sent to a client");
            } else {
                debug!(code = %c.code, message = %c.message, "error sent to a client");
            }
            *error = to_pgwire(c);
        }
        // datafusion-postgres reports a statement in a failed block as 25P01
        // (no_active_sql_transaction); PostgreSQL's code is 25P02.
        if let PgWireError::UserError(info) = error
            && info.code == SqlState::NO_ACTIVE_SQL_TRANSACTION.code()
            && info.message.starts_with("current transaction is aborted")
        {
            info.code = SqlState::IN_FAILED_SQL_TRANSACTION.code().to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tables_read_like_postgres() {
        let e = DataFusionError::Plan("table 'brook.public.nope' not found".into());
        assert_eq!(
            classify_datafusion(&e),
            Classified::new(
                SqlState::UNDEFINED_TABLE,
                "relation \"nope\" does not exist"
            )
        );
    }

    #[test]
    fn brook_errors_inside_datafusion_keep_their_code() {
        let e: DataFusionError = BrookError::NotNullViolation {
            table: "t".into(),
            column: "c".into(),
        }
        .into();
        let c = classify_datafusion(&DataFusionError::Context("insert".into(), Box::new(e)));
        assert_eq!(c.code, "23502");
        assert!(c.message.contains("null value in column \"c\""));
    }

    #[test]
    fn casts_of_bad_text_are_invalid_text_representation() {
        let e = DataFusionError::ArrowError(
            Box::new(ArrowError::CastError(
                "Cannot cast string 'x' to value of Int32 type".into(),
            )),
            None,
        );
        assert_eq!(classify_datafusion(&e).code, "22P02");
    }

    #[test]
    fn plan_texts_read_as_postgres_codes() {
        for (text, code) in [
            ("Invalid function 'nope'", "42883"),
            ("scalar function 'f' not found", "42883"),
            ("Cannot cast Utf8 to Int32", "42846"),
            ("Int64 cannot be cast to Date32", "42846"),
            (
                "No function matches the given name and argument types",
                "42883",
            ),
            (
                "The function 'sum' does not support inputs of type Utf8",
                "42883",
            ),
            ("Table 't' already exists", "42P07"),
            ("something else", "42000"),
        ] {
            assert_eq!(plan_message_state(text).code, code, "{text}");
        }
    }

    #[test]
    fn execution_texts_read_as_postgres_codes() {
        for (text, code) in [
            (
                "Invalid batch column at '0' has null but schema specifies non-nullable",
                "23502",
            ),
            ("Can't cast value 32768 to type Int16", "22003"),
            (
                "value 1e40 is too large to store in a Decimal128 of precision 10",
                "22003",
            ),
            ("Cannot cast string 'x' to value of Int32 type", "22P02"),
            ("Failed to parse 'x' as date", "22P02"),
            ("Cannot parse 'x'", "22P02"),
            ("Divide by zero error", "22012"),
            ("Overflow happened on: 1 * 2", "22003"),
            ("anything", "22000"),
        ] {
            assert_eq!(execution_message_state(text).code, code, "{text}");
        }
    }

    #[test]
    fn arrow_texts_read_as_postgres_codes() {
        assert_eq!(
            cast_message_state("Can't cast value 40000 to type Int16"),
            "22003"
        );
        assert_eq!(
            cast_message_state("Cannot cast string 'a' to value of Int32 type"),
            "22P02"
        );
        assert_eq!(
            invalid_argument("Column 'a' is declared as non-nullable but contains null values")
                .code,
            "23502"
        );
        assert_eq!(
            invalid_argument("12345678901 is too large to store in a Decimal128 of precision 10")
                .code,
            "22003"
        );
        assert_eq!(invalid_argument("bad length").code, "22023");
        assert!(mentions_overflow("Arithmetic overflow"));
    }

    #[test]
    fn module_errors_travel_through_datafusion_with_their_code() {
        let e = crate::error::external(crate::error::BrookError::UniqueViolation {
            constraint: "t_pkey".into(),
            detail: "Key (id)=(1) already exists.".into(),
        });
        let c = classify_datafusion(&e);
        assert_eq!(c.code, "23505");
        assert_eq!(c.detail.as_deref(), Some("Key (id)=(1) already exists."));
    }
}
