//! Casts to and from the OID alias types.
//!
//! `expr::regclass`, the OID of the relation a name denotes:
//!
//! - A constant name (`'pg_extension'::regclass`, `'public.t'::regclass`)
//!   is looked up in `pg_class` along the session's search path with
//!   `pg_catalog` first, as PostgreSQL does: pg_dump writes bare catalog
//!   names with an empty search path. An unknown name is 42P01.
//!   datafusion-pg-catalog's own rewrite looked in `current_schema()` only
//!   and failed on a NULL in a column it declares non-nullable.
//! - A number in quotes (`'16417'::regclass`) is the OID itself.
//! - A computed name (`format('%I.%I', s, t)::regclass`, as Metabase
//!   writes it) is looked up at run time by [`REGCLASS_OF_NAME`].
//!
//! `regproc` columns (`pg_operator.oprcode`, `pg_am.amhandler`, …), which
//! datafusion-pg-catalog stores as the function's name: `col::regproc` is
//! that name, as PostgreSQL prints a regproc, and `col::oid` the OID
//! `pg_proc` lists for it (pg_dump reads both).

use datafusion::sql::sqlparser::ast::{DataType, Expr, Value};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{call, number, search_path, string};
use crate::catalog::names::split_text_name;
use crate::catalog::pg_overlay::{REGCLASS_FOUND, REGCLASS_OF_NAME};

/// `regproc` columns Brook's `pg_catalog` holds as function names.
const REGPROC_NAMES: &[&str] = &[
    "aggfnoid",
    "aggtransfn",
    "aggfinalfn",
    "aggcombinefn",
    "aggserialfn",
    "aggdeserialfn",
    "aggmtransfn",
    "aggminvtransfn",
    "aggmfinalfn",
    "amhandler",
    "amproc",
    "conproc",
    "oprcode",
    "oprrest",
    "oprjoin",
    "prsstart",
    "prstoken",
    "prsend",
    "prsheadline",
    "prslextype",
    "tmplinit",
    "tmpllexize",
];

/// `expr` rewritten if it casts to `regclass`, or a `regproc` column.
pub(super) fn rewrite(expr: &Expr, path: Option<&str>) -> Option<Expr> {
    if let Some(replacement) = regproc_column(expr) {
        return Some(replacement);
    }
    let Expr::Cast {
        expr: inner,
        data_type: DataType::Regclass,
        ..
    } = expr
    else {
        return None;
    };
    match inner.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(text)
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(super::cast(number(text), DataType::Integer(None)))
            }
            Value::SingleQuotedString(text) => {
                let lookup = lookup(text, path)?;
                Some(call(REGCLASS_FOUND, vec![lookup, string(text)]))
            }
            _ => None,
        },
        Expr::Function(_) | Expr::BinaryOp { .. } | Expr::Cast { .. } | Expr::Nested(_) => {
            Some(call(REGCLASS_OF_NAME, vec![(**inner).clone()]))
        }
        _ => None,
    }
}

/// The scalar subquery that finds `name`'s OID in `pg_class` (NULL when
/// there is none): in its schema if qualified, else in the first schema of
/// the lookup path that has it.
fn lookup(name: &str, path: Option<&str>) -> Option<Expr> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let from = "SELECT c.oid FROM pg_catalog.pg_class c \
                JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid";
    let sql = match split_text_name(name).as_slice() {
        [schema, relation] => format!(
            "({from} WHERE n.nspname = {} AND c.relname = {})",
            quote(schema),
            quote(relation)
        ),
        [relation] => {
            let mut schemas = vec!["pg_catalog".to_string()];
            schemas.extend(search_path::schemas(path));
            let ranks: Vec<String> = schemas
                .iter()
                .enumerate()
                .map(|(i, s)| format!("WHEN {} THEN {i}", quote(s)))
                .collect();
            let listed: Vec<String> = schemas.iter().map(|s| quote(s)).collect();
            format!(
                "({from} WHERE c.relname = {} AND n.nspname IN ({}) \
                 ORDER BY CASE n.nspname {} END LIMIT 1)",
                quote(relation),
                listed.join(", "),
                ranks.join(" ")
            )
        }
        // Not a relation name: no OID, so the lookup reports it unknown.
        _ => "(SELECT CAST(NULL AS int))".to_string(),
    };
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// `col::regproc` and `col::oid` of a `regproc` column held as a name.
fn regproc_column(expr: &Expr) -> Option<Expr> {
    let Expr::Cast {
        expr: inner,
        data_type,
        ..
    } = expr
    else {
        return None;
    };
    let column = super::column_of(inner)?;
    if !REGPROC_NAMES.contains(&column.value.to_ascii_lowercase().as_str()) {
        return None;
    }
    let target = match data_type {
        DataType::Custom(name, _) => name.0.last()?.to_string().to_ascii_lowercase(),
        _ => return None,
    };
    match target.as_str() {
        "regproc" => Some((**inner).clone()),
        "oid" => {
            let sql =
                format!("(SELECT min(p.oid) FROM pg_catalog.pg_proc p WHERE p.proname = {inner})");
            Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_expr())
                .ok()
        }
        _ => None,
    }
}
