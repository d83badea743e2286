//! `numeric` parameters in exponent notation, as PostgreSQL's `numeric_in`
//! reads them.
//!
//! psycopg 3 sends a `Decimal` as Python writes it: `-1E-10` for
//! `Decimal("-0.0000000001")`. PostgreSQL reads that; pgwire's decimal
//! parser (rust_decimal) does not ("Invalid decimal: unknown character"),
//! so an application's small or large decimals failed to bind. Before a
//! portal runs, each text-format parameter the statement takes as
//! `numeric` is rewritten in plain notation: the same digits, the same
//! scale (`0E-12` is `0.000000000000`), nothing rounded.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::DataType;
use pgwire::api::Type;
use pgwire::api::portal::Portal;

use super::statements::StoredStatement;
use crate::catalog::pg_rewrites::plain_number;

/// A portal like `portal` with its numeric parameters in plain notation,
/// if any was written with an exponent.
pub fn plain(portal: &Portal<StoredStatement>) -> Option<Portal<StoredStatement>> {
    let numeric = |i: usize| -> bool {
        let declared = portal
            .statement
            .parameter_types
            .get(i)
            .and_then(|t| t.as_ref());
        match declared {
            Some(t) if *t == Type::NUMERIC => true,
            Some(t) if *t != Type::UNKNOWN => false,
            _ => inferred_decimal(&portal.statement.statement, i),
        }
    };
    let mut changed = false;
    let parameters: Vec<Option<Bytes>> = portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let Some(bytes) = value else {
                return None;
            };
            let text = matches!(
                portal.parameter_format.format_for(i),
                pgwire::api::results::FieldFormat::Text
            );
            let plain = (text && numeric(i))
                .then(|| std::str::from_utf8(bytes).ok().and_then(plain_number))
                .flatten();
            match plain {
                Some(plain) => {
                    changed = true;
                    Some(Bytes::from(plain))
                }
                None => Some(bytes.clone()),
            }
        })
        .collect();
    if !changed {
        return None;
    }
    Some(with_parameters(
        portal,
        Arc::clone(&portal.statement),
        parameters,
    ))
}

/// `portal` bound to `statement` with `parameters` instead of its own.
pub(super) fn with_parameters(
    portal: &Portal<StoredStatement>,
    statement: Arc<pgwire::api::stmt::StoredStatement<StoredStatement>>,
    parameters: Vec<Option<Bytes>>,
) -> Portal<StoredStatement> {
    let mut copy = Portal::default();
    copy.name = portal.name.clone();
    copy.statement = statement;
    copy.parameter_format = portal.parameter_format.clone();
    copy.parameters = parameters;
    copy.result_column_format = portal.result_column_format.clone();
    copy.state = Arc::clone(&portal.state);
    copy
}

/// Whether the statement's plan types parameter `i` (0-based) as a decimal.
fn inferred_decimal(statement: &StoredStatement, i: usize) -> bool {
    let (_, Some((_, plan))) = statement else {
        return false;
    };
    plan.get_parameter_types().is_ok_and(|types| {
        matches!(
            types.get(&format!("${}", i + 1)),
            Some(Some(DataType::Decimal128(..) | DataType::Decimal256(..)))
        )
    })
}
