//! `uuid`, `json` and `jsonb` parameters, bound as the text Brook keeps
//! those types in (`storage::text_types`).
//!
//! psycopg 3 declares a `UUID` parameter as `uuid` and a `Jsonb(...)` as
//! `jsonb`; the parameter decoder (arrow-pg) reads only the types Arrow
//! has and refused them ("Cannot convert postgres type uuid"). Before a
//! portal runs, each such parameter is given as `text`: a text-format value
//! is already the type's text; a binary one is turned into it (a uuid's 16
//! bytes into its 8-4-4-4-12 form, jsonb's version byte dropped). The cast
//! or column it reaches checks and normalises it as any text.

use std::sync::Arc;

use bytes::Bytes;
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::api::results::FieldFormat;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use super::statements::StoredStatement;
use crate::storage::text_types::uuid_text;

/// A portal like `portal` whose uuid/json/jsonb parameters are text, if it
/// has any; an error for a binary value that is not one of the type's.
pub fn as_text(portal: &Portal<StoredStatement>) -> PgWireResult<Option<Portal<StoredStatement>>> {
    let declared = &portal.statement.parameter_types;
    let typed = |t: &Option<Type>| matches!(t, Some(t) if *t == Type::UUID || *t == Type::JSON || *t == Type::JSONB);
    if !declared.iter().any(typed) {
        return Ok(None);
    }
    let mut parameters = Vec::with_capacity(portal.parameters.len());
    for (i, value) in portal.parameters.iter().enumerate() {
        let binary = portal.parameter_format.format_for(i) == FieldFormat::Binary;
        let value = match (value, declared.get(i).and_then(Option::as_ref)) {
            (Some(bytes), Some(t)) if binary && *t == Type::UUID => {
                let bytes: [u8; 16] = bytes.as_ref().try_into().map_err(|_| {
                    invalid(format!("a binary uuid is 16 bytes, not {}", bytes.len()))
                })?;
                Some(Bytes::from(uuid_text(&bytes)))
            }
            (Some(bytes), Some(t)) if binary && *t == Type::JSONB => match bytes.split_first() {
                Some((1, text)) => Some(bytes.slice_ref(text)),
                _ => return Err(invalid("unsupported jsonb version number".to_string())),
            },
            (value, _) => value.clone(),
        };
        parameters.push(value);
    }
    let statement = pgwire::api::stmt::StoredStatement::new(
        portal.statement.id.clone(),
        portal.statement.statement.clone(),
        declared
            .iter()
            .map(|t| {
                if typed(t) {
                    Some(Type::TEXT)
                } else {
                    t.clone()
                }
            })
            .collect(),
    );
    Ok(Some(super::numeric_params::with_parameters(
        portal,
        Arc::new(statement),
        parameters,
    )))
}

fn invalid(message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        "22P03".to_string(),
        message,
    )))
}
