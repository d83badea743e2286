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
//! - `TimeZone` applies to this session's context, and is validated;
//! - `SET LOCAL` lasts to the end of the transaction, `RESET` goes back to
//!   the session's start, and a `ROLLBACK` undoes the block's `SET`s
//!   (server::session_settings keeps the scopes).

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{ContextModifier, Expr, Reset, Set, Statement, Value};
use pgwire::api::results::{Response, Tag};
use pgwire::error::PgWireResult;

use crate::error::SqlState;
use crate::server::errors::refuse;
use crate::server::session_settings;
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
    "role",
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
    // pg_dump's session settings.
    "synchronize_seqscans",
    "quote_all_identifiers",
    "lo_compat_privileges",
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

/// What `SET name = values`, `SET LOCAL …` and `RESET` do in this
/// session, or `None` to leave the statement to datafusion-postgres' hook.
pub async fn respond(
    statement: &Statement,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> Option<PgWireResult<Response>> {
    if let Some(call) = set_config_call(statement) {
        return Some(respond_set_config(call, ctx, client).await);
    }
    let (name, value, local) = match statement {
        Statement::Set(Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        }) => {
            // `SET search_path TO a, b` has two values.
            let value = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
            (
                variable.to_string().to_lowercase(),
                value,
                matches!(scope, Some(ContextModifier::Local)),
            )
        }
        Statement::Set(Set::SetTimeZone { value, local }) => {
            ("timezone".to_string(), value_text(value), *local)
        }
        Statement::Set(Set::SetRole {
            context_modifier,
            role_name,
        }) => (
            "role".to_string(),
            role_name
                .as_ref()
                .map_or("none".to_string(), crate::catalog::names::normalize),
            matches!(context_modifier, Some(ContextModifier::Local)),
        ),
        Statement::Reset(reset) => return Some(respond_reset(&reset.reset, ctx, client).await),
        _ => return None,
    };
    let before = session_settings::current(&*client);
    let done = match assign(&name, &value, local, ctx, client).await {
        Ok(done) => done,
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = session_settings::publish(ctx, client, &before).await {
        return Some(Err(e));
    }
    Some(Ok(done))
}

/// `SELECT [pg_catalog.]set_config('name', 'value', is_local) [AS c]`.
struct SetConfigCall {
    column: String,
    name: String,
    value: String,
    local: bool,
}

/// The call, if `statement` is a `SELECT` of `set_config` with constant
/// arguments and nothing else (how pg_dump and ORMs call it).
fn set_config_call(statement: &Statement) -> Option<SetConfigCall> {
    use datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, FunctionArguments, SelectItem, SetExpr,
    };
    let Statement::Query(query) = statement else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty() || select.selection.is_some() || select.projection.len() != 1 {
        return None;
    }
    let (expr, column) = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) => (e, "set_config".to_string()),
        SelectItem::ExprWithAlias { expr, alias } => {
            (expr, crate::catalog::names::normalize(alias))
        }
        _ => return None,
    };
    let Expr::Function(function) = expr else {
        return None;
    };
    let parts: Vec<String> = function
        .name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect();
    if !matches!(parts.as_slice(), [f] | [_, f] if f == "set_config")
        || parts.len() == 2 && parts[0] != "pg_catalog"
    {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    let [name, value, local] = args.as_slice() else {
        return None;
    };
    let text = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let local = match local {
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => *b,
            _ => return None,
        },
        _ => return None,
    };
    Some(SetConfigCall {
        column,
        name: text(name)?.to_lowercase(),
        value: text(value)?,
        local,
    })
}

/// `set_config` as `SET [LOCAL]`, answered with the value it set.
async fn respond_set_config(
    call: SetConfigCall,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    let before = session_settings::current(&*client);
    assign(&call.name, &call.value, call.local, ctx, client).await?;
    session_settings::publish(ctx, client, &before).await?;
    super::show::text_rows(&[call.column.as_str()], &[vec![call.value]])
}

/// `RESET name` / `RESET ALL`.
async fn respond_reset(
    reset: &Reset,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    let before = session_settings::current(&*client);
    match reset {
        Reset::ALL => session_settings::reset_all(client),
        Reset::ConfigurationParameter(name) => {
            let name = name.to_string().to_lowercase();
            if !(KNOWN.contains(&name.as_str()) || name == "time zone" || name.contains('.')) {
                return Err(error(
                    SqlState::UNDEFINED_OBJECT,
                    format!("unrecognized configuration parameter \"{name}\""),
                ));
            }
            session_settings::reset(client, session_settings::key(&name));
        }
    }
    session_settings::publish(ctx, client, &before).await?;
    Ok(Response::Execution(Tag::new("RESET")))
}

/// Store `value` under `name`'s key, unless it is a SET LOCAL outside a
/// transaction block (PostgreSQL warns and leaves the setting alone).
async fn store(
    client: &mut dyn HookClient,
    name: &str,
    value: Option<String>,
    local: bool,
) -> PgWireResult<()> {
    let key = session_settings::key(name).to_string();
    if !session_settings::setting(&*client, &key, local) {
        return crate::server::statements::notice_with(
            client,
            SqlState::NO_ACTIVE_SQL_TRANSACTION,
            "SET LOCAL can only be used in transaction blocks".to_string(),
        )
        .await;
    }
    let metadata = client.metadata_mut();
    match value {
        Some(value) => metadata.insert(key, value),
        None => metadata.remove(&key),
    };
    Ok(())
}

/// `SET ROLE role`: the role must exist, and the role the session logged
/// in as must be a member of it (or a superuser), as in PostgreSQL.
fn check_set_role(ctx: &SessionContext, client: &dyn HookClient, role: &str) -> PgWireResult<()> {
    let privileges = ctx
        .state()
        .config()
        .get_extension::<crate::catalog::privileges::Privileges>();
    let Some(privileges) = privileges else {
        return Ok(());
    };
    let roles = privileges.roles();
    let Some(oid) = roles.oid_of(role) else {
        return Err(error(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("role \"{role}\" does not exist"),
        ));
    };
    let login = client.metadata().get("user").cloned().unwrap_or_default();
    let who = privileges.identity(&login);
    if who.superuser || roles.member_oids(&login).contains(&oid) {
        return Ok(());
    }
    Err(error(
        SqlState::INSUFFICIENT_PRIVILEGE,
        format!("permission denied to set role \"{role}\""),
    ))
}

async fn assign(
    name: &str,
    value: &str,
    local: bool,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    let done = Ok(Response::Execution(Tag::new("SET")));
    if name.starts_with("datafusion.runtime.") || name.starts_with("datafusion.catalog.") {
        return Err(error(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!(
                "parameter \"{name}\" is set for the whole server and cannot be changed from SQL; \
                 set it in the server's configuration"
            ),
        ));
    }
    let is_default = value.eq_ignore_ascii_case("default");
    if name.starts_with("datafusion.") {
        // Kept with the session's other settings (so that ROLLBACK and RESET
        // undo it) and carried to its own context by `publish`; tried on a
        // copy of the options first, so a bad value changes nothing.
        if !is_default {
            let mut options = ctx.state().config_options().as_ref().clone();
            if let Err(e) = options.set(name, value) {
                return Err(error(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid setting \"{name}\": {}", e.strip_backtrace()),
                ));
            }
        }
        store(
            client,
            name,
            (!is_default).then(|| value.to_string()),
            local,
        )
        .await?;
        return done;
    }
    match name {
        "role" => {
            let none = is_default || value.eq_ignore_ascii_case("none");
            if !none {
                check_set_role(ctx, client, value)?;
            }
            store(client, "role", (!none).then(|| value.to_string()), local).await?;
            done
        }
        "statement_timeout" | "idle_in_transaction_session_timeout" => {
            let ms = if is_default {
                Some(0)
            } else {
                parse_duration_ms(value)
            };
            let Some(ms) = ms else {
                return Err(error(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{name}\": \"{value}\""),
                ));
            };
            store(client, name, (ms > 0).then(|| ms.to_string()), local).await?;
            done
        }
        "timezone" | "time zone" => {
            let zone = if is_default || value.eq_ignore_ascii_case("local") {
                "UTC".to_string()
            } else {
                value.to_string()
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
            store(client, "timezone", Some(zone), local).await?;
            done
        }
        "extra_float_digits" => {
            let digits = if is_default {
                Some(1)
            } else {
                value.trim().parse::<i32>().ok()
            };
            match digits {
                Some(d) if (-15..=3).contains(&d) => {
                    store(client, name, Some(d.to_string()), local).await?;
                    done
                }
                _ => Err(error(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{name}\": \"{value}\""),
                )),
            }
        }
        known if KNOWN.contains(&known) || known.contains('.') => {
            // DEFAULT: the server's value (RESET for this one setting).
            let value = (!is_default).then(|| value.to_string());
            store(client, known, value, local).await?;
            done
        }
        unknown => Err(error(
            SqlState::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{unknown}\""),
        )),
    }
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
