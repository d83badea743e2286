//! The one funnel from any error to what the client sees: a SQLSTATE and a
//! message a person understands (GreptimeDB's `convert_err` pattern).
//!
//! pgwire reports every handler error wrapped as `ApiError` with code XX000;
//! [`SqlStateErrors`] rewrites those before they are sent, so XX000 remains for
//! real bugs only.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::api::{ClientInfo, ErrorHandler};
use pgwire::error::{ErrorInfo, PgWireError};
use tracing::{debug, error};

use crate::error::BrookError;

/// A classified error: the SQLSTATE and the message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub code: &'static str,
    pub message: String,
    /// PostgreSQL's DETAIL line (`Key (id)=(1) already exists.`).
    pub detail: Option<String>,
}

impl Classified {
    /// An error with a code and a message, no DETAIL.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }
}

/// Classify any error that can reach the protocol edge.
pub fn classify(err: &(dyn std::error::Error + 'static)) -> Classified {
    if let Some(e) = err.downcast_ref::<BrookError>() {
        return classify_brook(e);
    }
    if let Some(e) = err.downcast_ref::<DataFusionError>() {
        return classify_datafusion(e);
    }
    if let Some(e) = err.downcast_ref::<crate::query_text::NotAQuery>() {
        return Classified::new("42501", e.to_string());
    }
    if let Some(e) = err.downcast_ref::<crate::semantics::SemanticsError>() {
        return Classified::new(e.sqlstate(), e.to_string());
    }
    if let Some(e) = err.downcast_ref::<crate::ml::MlError>() {
        return Classified::new(e.sqlstate(), e.to_string());
    }
    if let Some(e) = err.downcast_ref::<ParserError>() {
        return classify_parser(e);
    }
    if let Some(e) = err.downcast_ref::<ArrowError>() {
        return classify_arrow(e);
    }
    Classified::new("XX000", err.to_string())
}

/// Classify a Brook error.
pub fn classify_brook(e: &BrookError) -> Classified {
    match e {
        BrookError::Query(inner) => classify_datafusion(inner),
        BrookError::UniqueViolation { detail, .. } => Classified {
            detail: Some(detail.clone()),
            ..Classified::new(e.sqlstate(), e.to_string())
        },
        other => Classified::new(other.sqlstate(), other.to_string()),
    }
}

fn classify_parser(e: &ParserError) -> Classified {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => {
            return Classified::new(
                "54001",
                format!(
                    "statement is too complex: more than {} operators or {} levels of parentheses; \
                     break it into smaller statements",
                    crate::sql::parser::MAX_OPERATORS,
                    crate::sql::parser::MAX_NESTING
                ),
            );
        }
    };
    Classified::new("42601", format!("syntax error: {text}"))
}

fn classify_arrow(e: &ArrowError) -> Classified {
    match e {
        // Arrow says "Can't cast value 32768 to type Int16" for a number that
        // does not fit, and "Cannot cast string …" for text that is no number.
        ArrowError::CastError(m) if m.starts_with("Can't cast value") => {
            Classified::new("22003", format!("value out of range: {m}"))
        }
        ArrowError::CastError(m) | ArrowError::ParseError(m) => Classified::new("22P02", m.clone()),
        ArrowError::DivideByZero => Classified::new("22012", "division by zero"),
        ArrowError::ArithmeticOverflow(m) => Classified::new("22003", m.clone()),
        ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
            Classified::new("22003", m.clone())
        }
        // A NULL reaching a NOT NULL column while DataFusion builds the rows
        // (multi-row VALUES) rather than in Brook's own check.
        ArrowError::InvalidArgumentError(m) if m.contains("non-nullable") => Classified::new(
            "23502",
            format!("null value violates not-null constraint ({m})"),
        ),
        // A decimal that does not fit its precision: PostgreSQL's "numeric
        // field overflow".
        ArrowError::InvalidArgumentError(m) if m.contains("too large to store") => {
            Classified::new("22003", format!("numeric field overflow: {m}"))
        }
        ArrowError::InvalidArgumentError(m) => Classified::new("22023", m.clone()),
        ArrowError::ExternalError(inner) => classify(inner.as_ref()),
        other => Classified::new("XX000", other.to_string()),
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
            .unwrap_or_else(|| Classified::new("XX000", "empty error collection")),
        DataFusionError::ArrowError(inner, _) => classify_arrow(inner),
        DataFusionError::SQL(inner, _) => classify_parser(inner),
        DataFusionError::NotImplemented(m) => {
            Classified::new("0A000", format!("{m} is not supported"))
        }
        DataFusionError::SchemaError(schema_err, _) => {
            use datafusion::common::SchemaError;
            let message = e.strip_backtrace();
            let message = message
                .strip_prefix("Schema error: ")
                .unwrap_or(&message)
                .to_string();
            match schema_err.as_ref() {
                SchemaError::FieldNotFound { field, .. } => Classified::new(
                    "42703",
                    format!("column \"{}\" does not exist ({message})", field.name),
                ),
                SchemaError::AmbiguousReference { .. } => Classified::new("42702", message),
                _ => Classified::new("42701", message),
            }
        }
        DataFusionError::Plan(m) => {
            if let Some(table) = missing_table(m) {
                Classified::new("42P01", format!("relation \"{table}\" does not exist"))
            } else if m.starts_with("Invalid function")
                || m.contains("function") && m.contains("not found")
            {
                Classified::new("42883", m.clone())
            } else if m.contains("Cannot cast") || m.contains("cannot be cast") {
                Classified::new("42846", m.clone())
            } else if m.contains("No function matches") || m.contains("does not support") {
                Classified::new("42883", m.clone())
            } else if m.contains("already exists") {
                Classified::new("42P07", m.clone())
            } else {
                Classified::new("42000", m.clone())
            }
        }
        DataFusionError::Execution(m) => {
            if m.contains("non-nullable") {
                Classified::new(
                    "23502",
                    format!("null value violates not-null constraint ({m})"),
                )
            } else if m.contains("Can't cast value") || m.contains("too large to store") {
                Classified::new("22003", format!("value out of range: {m}"))
            } else if m.contains("Cannot cast")
                || m.contains("Failed to parse")
                || m.contains("Cannot parse")
            {
                Classified::new("22P02", m.clone())
            } else if m.contains("Divide by zero") || m.contains("division by zero") {
                Classified::new("22012", "division by zero")
            } else if m.contains("Overflow") || m.contains("overflow") {
                Classified::new("22003", m.clone())
            } else {
                Classified::new("22000", m.clone())
            }
        }
        DataFusionError::ResourcesExhausted(m) => Classified::new(
            "53200",
            format!(
                "out of memory: the query needs more than the server's memory_limit leaves free ({m})"
            ),
        ),
        DataFusionError::IoError(io) => {
            let m = io.to_string();
            Classified::new(crate::error::storage_sqlstate(&m), m)
        }
        DataFusionError::ObjectStore(os) => {
            let m = os.to_string();
            Classified::new(crate::error::storage_sqlstate(&m), m)
        }
        DataFusionError::Configuration(m) => Classified::new("22023", m.clone()),
        other => Classified::new("XX000", other.strip_backtrace()),
    }
}

/// Turn a classified error into the pgwire error the client receives.
pub fn to_pgwire(c: Classified) -> PgWireError {
    let mut info = ErrorInfo::new("ERROR".to_string(), c.code.to_string(), c.message);
    info.detail = c.detail;
    PgWireError::UserError(Box::new(info))
}

/// A FATAL error: the client hears it, then the connection closes (startup
/// refusals, protocol violations).
pub fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message.into(),
    )))
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
            if c.code == "XX000" {
                error!(message = %c.message, "internal error sent to a client");
            } else {
                debug!(code = c.code, message = %c.message, "error sent to a client");
            }
            *error = to_pgwire(c);
        }
        // datafusion-postgres reports a statement in a failed block as 25P01
        // (no_active_sql_transaction); PostgreSQL's code is 25P02.
        if let PgWireError::UserError(info) = error
            && info.code == "25P01"
            && info.message.starts_with("current transaction is aborted")
        {
            info.code = "25P02".to_string();
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
            Classified::new("42P01", "relation \"nope\" does not exist")
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
}
