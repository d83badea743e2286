//! `SHOW name` and `SHOW ALL` as PostgreSQL answers them, in front of
//! datafusion-postgres' SET/SHOW hook, which knows a handful of settings and
//! answers any other with an empty `unsupported_show_statement` row (Metabase
//! asks `show timezone;` for the database's default time zone).
//! Settings a session `SET`s (kept in its metadata) win over the defaults.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::ClientInfo;
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::error::PgWireResult;

use crate::error::SqlState;
use crate::server::errors::refuse;

/// The settings `SHOW ALL` lists, with PostgreSQL's descriptions.
const ALL: &[(&str, &str)] = &[
    (
        "application_name",
        "Sets the application name to be reported in statistics and logs.",
    ),
    (
        "client_encoding",
        "Sets the client's character set encoding.",
    ),
    (
        "DateStyle",
        "Sets the display format for date and time values.",
    ),
    (
        "default_transaction_isolation",
        "Sets the transaction isolation level of each new transaction.",
    ),
    (
        "default_transaction_read_only",
        "Sets the default read-only status of new transactions.",
    ),
    (
        "integer_datetimes",
        "Shows whether datetimes are integer based.",
    ),
    (
        "IntervalStyle",
        "Sets the display format for interval values.",
    ),
    (
        "is_superuser",
        "Shows whether the current user is a superuser.",
    ),
    ("lc_collate", "Shows the collation order locale."),
    (
        "lc_ctype",
        "Shows the character classification and case conversion locale.",
    ),
    (
        "max_identifier_length",
        "Shows the maximum identifier length.",
    ),
    (
        "search_path",
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    (
        "server_encoding",
        "Shows the server (database) character set encoding.",
    ),
    ("server_version", "Shows the server version."),
    (
        "server_version_num",
        "Shows the server version as an integer.",
    ),
    (
        "standard_conforming_strings",
        "Causes '...' strings to treat backslashes literally.",
    ),
    (
        "statement_timeout",
        "Sets the maximum allowed duration of any statement.",
    ),
    (
        "TimeZone",
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    (
        "transaction_isolation",
        "Sets the current transaction's isolation level.",
    ),
    (
        "transaction_read_only",
        "Sets the current transaction's read-only status.",
    ),
];

/// Settings datafusion-postgres' hook answers itself (from what SET stored).
const LEFT_TO_DATAFUSION_POSTGRES: &[&str] = &["bytea_output", "extra_float_digits", "catalogs"];

/// The setting a `SHOW` names, if this hook answers it.
fn setting_named(statement: &Statement) -> Option<String> {
    let Statement::ShowVariable { variable } = statement else {
        return None;
    };
    let words: Vec<String> = variable.iter().map(|v| v.value.to_lowercase()).collect();
    let name = match words.as_slice() {
        [] => return None,
        [one] => one.clone(),
        // SHOW TIME ZONE, SHOW TRANSACTION ISOLATION LEVEL
        [a, b] if a == "time" && b == "zone" => "timezone".to_string(),
        [a, b, c] if a == "transaction" && b == "isolation" && c == "level" => {
            "transaction_isolation".to_string()
        }
        _ => words.join(" "),
    };
    (!LEFT_TO_DATAFUSION_POSTGRES.contains(&name.as_str())).then_some(name)
}

/// The columns the answer to `statement` has, if this hook answers it (for
/// the extended protocol's Describe).
pub fn columns(statement: &Statement) -> Option<Vec<String>> {
    let name = setting_named(statement)?;
    if name == "all" {
        return Some(vec!["name".into(), "setting".into(), "description".into()]);
    }
    Some(vec![display_name(&name).to_string()])
}

fn display_name(name: &str) -> &str {
    ALL.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(name, |(n, _)| n)
}

/// The answer to `statement` if it is a `SHOW` this hook answers.
pub fn respond(statement: &Statement, client: &dyn ClientInfo) -> Option<PgWireResult<Response>> {
    let name = setting_named(statement)?;
    if name == "all" {
        return Some(show_all(client));
    }
    match value(&name, client) {
        Some(value) => Some(text_rows(&[display_name(&name)], &[vec![value]])),
        None => Some(Err(refuse(
            SqlState::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{name}\""),
        ))),
    }
}

/// A setting's value in this session: what it SET, else the server's.
fn value(name: &str, client: &dyn ClientInfo) -> Option<String> {
    crate::server::session_settings::value(client.metadata(), name)
}

fn show_all(client: &dyn ClientInfo) -> PgWireResult<Response> {
    let table: Vec<Vec<String>> = ALL
        .iter()
        .map(|(name, description)| {
            vec![
                name.to_string(),
                value(&name.to_lowercase(), client).unwrap_or_default(),
                description.to_string(),
            ]
        })
        .collect();
    text_rows(&["name", "setting", "description"], &table)
}

/// Rows of text columns, as SHOW and `set_config` answer.
pub(super) fn text_rows(columns: &[&str], table: &[Vec<String>]) -> PgWireResult<Response> {
    let fields = Arc::new(
        columns
            .iter()
            .map(|c| FieldInfo::new(c.to_string(), None, None, Type::TEXT, FieldFormat::Text))
            .collect::<Vec<_>>(),
    );
    let mut encoded = Vec::with_capacity(table.len());
    for row in table {
        let mut encoder = DataRowEncoder::new(fields.clone());
        for value in row {
            encoder.encode_field(&Some(value.as_str()))?;
        }
        encoded.push(Ok(encoder.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        Box::pin(futures::stream::iter(encoded)),
    )))
}
