//! Role names in catalog functions: `pg_get_userbyid(oid)`, and
//! `acldefault(kind, owner)`, the privileges an object of `kind` has before
//! any GRANT, as PostgreSQL 15 spells them (`{=X/owner,owner=X/owner}` for
//! a function). pg_dump compares each object's ACL with it to decide which
//! GRANTs to write; every ACL in Brook's catalog is NULL (the default), so
//! it writes none.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::cast::{as_int32_array, as_string_array};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::roles::Roles;

/// Register `acldefault` and `pg_get_userbyid`, naming owners from `roles`.
pub fn register(ctx: &SessionContext, roles: Roles) {
    super::pg_functions::replace_udf(ctx, acldefault(roles.clone()));
    super::pg_functions::replace_udf(ctx, pg_get_userbyid(roles));
}

/// `pg_get_userbyid(oid)`: the role's name (psql's `\dt` Owner column),
/// `unknown (OID=n)` for none, as PostgreSQL answers; datafusion-pg-catalog
/// said "postgres" for every OID.
fn pg_get_userbyid(roles: Roles) -> ScalarUDF {
    let function = move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let owners = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int32)?;
        let owners = as_int32_array(&owners)?;
        let names: datafusion::arrow::array::StringArray = owners
            .iter()
            .map(|oid| {
                oid.map(|oid| {
                    let name = roles.name_of(oid);
                    if name == oid.to_string() {
                        format!("unknown (OID={oid})")
                    } else {
                        name
                    }
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(names) as ArrayRef))
    };
    let signature = Signature::one_of(
        [DataType::Int32, DataType::Int64]
            .into_iter()
            .map(|oid| TypeSignature::Exact(vec![oid]))
            .collect(),
        Volatility::Stable,
    );
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "pg_get_userbyid",
        signature,
        DataType::Utf8,
        Arc::new(function),
    ))
}

/// (world's rights, owner's rights) of an object kind before any GRANT;
/// None for a kind PostgreSQL does not know.
fn default_rights(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "c" => ("", ""),
        "r" => ("", "arwdDxt"),
        "s" => ("", "rwU"),
        "d" => ("Tc", "CTc"),
        "f" => ("X", "X"),
        "l" => ("U", "U"),
        "L" => ("", "rw"),
        "n" => ("", "UC"),
        "t" => ("", "C"),
        "F" => ("", "U"),
        "S" => ("", "U"),
        "T" => ("U", "U"),
        "p" => ("", "sA"),
        _ => return None,
    })
}

fn acldefault(roles: Roles) -> ScalarUDF {
    let function = move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let kinds = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let kinds = as_string_array(&kinds)?;
        let owners = datafusion::arrow::compute::cast(&arrays[1], &DataType::Int32)?;
        let owners = as_int32_array(&owners)?;
        let mut out = ListBuilder::new(StringBuilder::new());
        for i in 0..kinds.len() {
            if kinds.is_null(i) || owners.is_null(i) {
                out.append_null();
                continue;
            }
            let kind = kinds.value(i);
            let (world, owner_rights) = default_rights(kind).ok_or_else(|| {
                DataFusionError::Execution(format!("unrecognized object type abbreviation: {kind}"))
            })?;
            let owner = roles.name_of(owners.value(i));
            if !world.is_empty() {
                out.values().append_value(format!("={world}/{owner}"));
            }
            if !owner_rights.is_empty() {
                out.values()
                    .append_value(format!("{owner}={owner_rights}/{owner}"));
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    };
    let signature = Signature::one_of(
        [DataType::Int32, DataType::Int64]
            .into_iter()
            .map(|owner| TypeSignature::Exact(vec![DataType::Utf8, owner]))
            .collect(),
        Volatility::Stable,
    );
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "acldefault",
        signature,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        Arc::new(function),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rights_are_postgresql_fifteens() {
        let ctx = SessionContext::new();
        register(&ctx, Roles::default());
        let rows = ctx
            .sql("SELECT array_to_string(acldefault('f', 10), ','), array_to_string(acldefault('r', 77), ',')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        assert!(text.contains("=X/brook,brook=X/brook"), "{text}");
        assert!(text.contains("77=arwdDxt/77"), "{text}");
    }
}
