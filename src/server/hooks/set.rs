//! `SET` as PostgreSQL answers it, in front of datafusion-postgres' SET/SHOW
//! hook (which accepts any name and value and ignores what it cannot apply):
//!
//! - an unknown setting is refused with 42704, a bad value with 22023, as
//!   PostgreSQL does (`SET statement_timeout = 'banana'` used to succeed and
//!   leave the session without a timeout);
//! - settings with a dot that are not DataFusion's are PostgreSQL's custom
//!   placeholders (`SET myapp.tenant = 3`): kept in the session;
//! - `datafusion.runtime.*` and `datafusion.catalog.*` are the server's
//!   (its memory limit, its spill directory): refused with 42501. Every other
//!   `datafusion.*` option applies to the session's own context only;
//! - `TimeZone` applies to this session's context, and is validated.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};
use pgwire::api::results::{Response, Tag};
use pgwire::error::PgWireResult;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

use crate::error::SqlState;
use crate::server::auth::STATEMENT_TIMEOUT_KEY;
use crate::server::errors::refuse;
use datafusion_postgres::hooks::HookClient;

/// PostgreSQL settings a client may SET that datafusion-postgres' hook
/// stores or that have no effect in Brook (accepted as PostgreSQL accepts
/// them; SHOW reports what Brook does).
const KNOWN: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "default_with_oids",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "intervalstyle",
    "jit",
    "lock_timeout",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "row_security",
    "search_path",
    "session_replication_role",
    "standard_conforming_strings",
    "synchronous_commit",
    "transaction_isolation",
    "transaction_read_only",
    "work_mem",
    "maintenance_work_mem",
    "max_parallel_workers_per_gather",
    "enable_seqscan",
    "geqo",
    "plan_cache_mode",
    "escape_string_warning",
    "backslash_quote",
    "check_function_bodies",
    "xmloption",
    "default_table_access_method",
    "default_tablespace",
    "temp_tablespaces",
    "statement_timeout",
    "timezone",
];

fn error(code: SqlState, message: String) -> pgwire::error::PgWireError {
    refuse(code, message)
}

/// The text of a SET value: `'50ms'`, `50`, `DEFAULT`, an identifier.
fn value_text(value: &Expr) -> String {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

/// A PostgreSQL duration setting (milliseconds by default; `us`, `ms`, `s`,
/// `min`, `h`, `d` units), as milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let per_ms = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (number * per_ms).round();
    (ms.is_finite() && (0.0..=i32::MAX as f64).contains(&ms)).then_some(ms as u64)
}

/// What `SET name = values` does in this session, or `None` to leave it to
/// datafusion-postgres' hook.
pub async fn respond(
    statement: &Statement,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> Option<PgWireResult<Response>> {
    let Statement::Set(set) = statement else {
        return None;
    };
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = variable.to_string().to_lowercase();
            let value = values.first().map(value_text).unwrap_or_default();
            Some(assign(&name, &value, statement, ctx, client).await)
        }
        Set::SetTimeZone { value, .. } => {
            Some(set_time_zone(&value_text(value), ctx, client).await)
        }
        _ => None,
    }
}

async fn assign(
    name: &str,
    value: &str,
    statement: &Statement,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    let done = || Ok(Response::Execution(Tag::new("SET")));
    if name.starts_with("datafusion.runtime.") || name.starts_with("datafusion.catalog.") {
        return Err(error(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!(
                "parameter \"{name}\" is set for the whole server and cannot be changed from SQL; \
                 set it in the server's configuration"
            ),
        ));
    }
    if name.starts_with("datafusion.") {
        // The session's own context (server::handlers gives each connection one).
        return match ctx.sql(&statement.to_string()).await {
            Ok(_) => done(),
            Err(e) => Err(error(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("invalid setting \"{name}\": {}", e.strip_backtrace()),
            )),
        };
    }
    match name {
        "statement_timeout" => {
            let ms = if value.eq_ignore_ascii_case("default") {
                Some(0)
            } else {
                parse_duration_ms(value)
            };
            let Some(ms) = ms else {
                return Err(error(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"statement_timeout\": \"{value}\""),
                ));
            };
            let metadata = client.metadata_mut();
            if ms == 0 {
                metadata.remove(STATEMENT_TIMEOUT_KEY);
            } else {
                metadata.insert(STATEMENT_TIMEOUT_KEY.to_string(), ms.to_string());
            }
            done()
        }
        "timezone" | "time zone" => set_time_zone(value, ctx, client).await,
        known if KNOWN.contains(&known) => {
            // datafusion-postgres' hook stores what it knows of these.
            let hook = datafusion_postgres::hooks::set_show::SetShowHook;
            use datafusion_postgres::QueryHook;
            match hook.handle_simple_query(statement, ctx, client).await {
                Some(r) => r,
                None => done(),
            }
        }
        custom if custom.contains('.') => {
            client
                .metadata_mut()
                .insert(custom.to_string(), value.to_string());
            done()
        }
        unknown => Err(error(
            SqlState::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{unknown}\""),
        )),
    }
}

/// `SET TIME ZONE` / `SET timezone`: this session's context and the value
/// reported to the client (ParameterStatus), after checking the name.
async fn set_time_zone(
    zone: &str,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    let zone = if zone.eq_ignore_ascii_case("default") || zone.eq_ignore_ascii_case("local") {
        "UTC".to_string()
    } else {
        zone.to_string()
    };
    if zone
        .parse::<datafusion::arrow::array::timezone::Tz>()
        .is_err()
    {
        return Err(error(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"TimeZone\": \"{zone}\""),
        ));
    }
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .execution
        .time_zone = Some(zone.clone());
    client
        .metadata_mut()
        .insert("timezone".to_string(), zone.clone());
    client
        .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            "TimeZone".to_string(),
            zone,
        )))
        .await?;
    Ok(Response::Execution(Tag::new("SET")))
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_as_postgres_reads_them() {
        assert_eq!(parse_duration_ms("50ms"), Some(50));
        assert_eq!(parse_duration_ms("50"), Some(50));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1.5 s"), Some(1500));
        assert_eq!(parse_duration_ms("1min"), Some(60_000));
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("banana"), None);
        assert_eq!(parse_duration_ms("5 parsecs"), None);
        assert_eq!(parse_duration_ms(""), None);
        assert_eq!(parse_duration_ms("-5"), None);
    }
}
