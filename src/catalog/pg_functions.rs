//! Postgres functions that clients call while connecting or browsing the
//! catalog and that datafusion-pg-catalog does not provide.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, cast::as_string_array};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

/// The Postgres version Brook speaks for (wire protocol, catalog shape,
/// answers): PostgreSQL 15, the oracle of its differential tests. Tools
/// check it: pg_dump refuses a server newer than itself, so a 16 here
/// shut out every pg_dump 15 (Debian 12's).
pub const SERVER_VERSION: &str = "15.18";
/// `server_version_num` for [`SERVER_VERSION`].
pub const SERVER_VERSION_NUM: &str = "150018";

/// What `SELECT version()` answers. Drivers (SQLAlchemy, pgJDBC, Metabase) parse
/// the leading `PostgreSQL <major>.<minor>` to pick their dialect.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Brook {}) on {}-{}, compiled by rustc",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// Server-wide settings as `current_setting()` reports them to a session
/// that has not changed them (catalog::settings).
pub fn setting(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "server_encoding" | "client_encoding" => "UTF8",
        "standard_conforming_strings" => "on",
        "datestyle" => "ISO, MDY",
        "intervalstyle" => "postgres",
        "timezone" => "UTC",
        "search_path" => "\"$user\", public",
        "max_identifier_length" => "63",
        "integer_datetimes" => "on",
        "is_superuser" => "on",
        "default_transaction_isolation" | "transaction_isolation" => "repeatable read",
        "default_transaction_read_only" | "transaction_read_only" => "off",
        "lc_collate" | "lc_ctype" => "en_US.UTF-8",
        "application_name" => "",
        "role" => "none",
        _ => return None,
    })
}

/// A function whose answer is always a text NULL, one per row.
fn always_null_text(
    name: &str,
    signature: datafusion::logical_expr::Signature,
) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
    datafusion::logical_expr::ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        name,
        signature,
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| {
            let rows = ColumnarValue::values_to_arrays(args)?
                .first()
                .map_or(1, |a| a.len());
            Ok(ColumnarValue::Array(
                Arc::new(StringArray::from(vec![None::<&str>; rows])) as ArrayRef,
            ))
        }),
    ))
}

/// A catalog function of one oid whose answer is NULL: Brook's functions are
/// built in and have no SQL-level signature text to show (psql's `\df`).
fn no_text_for_oid(name: &str) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::Signature;
    always_null_text(
        name,
        Signature::exact(vec![DataType::Int64], Volatility::Stable),
    )
}

/// `pg_get_expr(expr, relation [, pretty])`: Brook keeps defaults and other
/// stored expressions as their SQL text already, so the text is the answer
/// (datafusion-pg-catalog's answers '' for everything).
fn pg_get_expr() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{Signature, TypeSignature, expr_fn::SimpleScalarUDF};
    let mut forms = Vec::new();
    for relation in [DataType::Int32, DataType::Int64, DataType::UInt32] {
        forms.push(TypeSignature::Exact(vec![DataType::Utf8, relation.clone()]));
        forms.push(TypeSignature::Exact(vec![
            DataType::Utf8,
            relation,
            DataType::Boolean,
        ]));
    }
    datafusion::logical_expr::ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "pg_get_expr",
        Signature::one_of(forms, Volatility::Stable),
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let exprs = arrays.first().ok_or_else(|| {
                DataFusionError::Plan("pg_get_expr takes an expression".to_string())
            })?;
            // An empty stored expression is no expression: NULL.
            let out: StringArray = as_string_array(exprs)?
                .iter()
                .map(|e| e.filter(|e| !e.is_empty()))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ))
}

/// `shobj_description`: NULL, the answer for an object without a comment.
/// The arguments' types are not checked, only their number.
fn no_description(name: &str, arities: &[usize]) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{Signature, TypeSignature};
    let forms = arities.iter().map(|n| TypeSignature::Any(*n)).collect();
    always_null_text(name, Signature::one_of(forms, Volatility::Stable))
}

/// `octet_length` of text and of bytea (DataFusion's takes text only).
fn octet_length() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::Int32Array;
    use datafusion::logical_expr::{Signature, TypeSignature, expr_fn::SimpleScalarUDF};
    let forms = [
        DataType::Utf8,
        DataType::LargeUtf8,
        DataType::Utf8View,
        DataType::Binary,
        DataType::LargeBinary,
        DataType::BinaryView,
    ]
    .into_iter()
    .map(|t| TypeSignature::Exact(vec![t]))
    .collect();
    datafusion::logical_expr::ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "octet_length",
        Signature::one_of(forms, Volatility::Immutable),
        DataType::Int32,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let Some(values) = arrays.first() else {
                return Err(DataFusionError::Plan("octet_length takes one value".into()));
            };
            let lengths = datafusion::arrow::compute::kernels::length::length(values)?;
            let lengths = datafusion::arrow::compute::cast(&lengths, &DataType::Int32)?;
            let lengths = lengths
                .as_any()
                .downcast_ref::<Int32Array>()
                .cloned()
                .ok_or_else(|| DataFusionError::Internal("octet_length cast".into()))?;
            Ok(ColumnarValue::Array(Arc::new(lengths) as ArrayRef))
        }),
    ))
}

/// Register `udf` in place of any function of the same name. DataFusion's
/// registry keeps a replaced function under its aliases (`to_char` stays as
/// `date_format`), and a session state copied from this one registers every
/// entry again in hash order, so the old function could win back its name in
/// some sessions: it is removed with its aliases first.
pub fn replace_udf(ctx: &SessionContext, udf: datafusion::logical_expr::ScalarUDF) {
    ctx.deregister_udf(udf.name());
    ctx.register_udf(udf);
}

/// Register `version()`, `current_setting(name)` and the catalog functions
/// psql's `\df` and drivers' reflection call.
pub fn register(ctx: &SessionContext) {
    let version = version_string();
    replace_udf(
        ctx,
        create_udf(
            "version",
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_args: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                    version.clone(),
                ))))
            }),
        ),
    );
    for udf in super::settings::udfs() {
        replace_udf(ctx, udf);
    }
    replace_udf(ctx, pg_get_expr());
    replace_udf(ctx, super::pg_format::udf());
    replace_udf(ctx, super::pg_regexp_split::udf());
    for udf in super::pg_format::quoting_udfs() {
        replace_udf(ctx, udf);
    }
    replace_udf(ctx, super::pg_to_char::udf());
    for udf in super::size_limits::udfs() {
        replace_udf(ctx, udf);
    }
    replace_udf(ctx, octet_length());
    // Roles and databases carry no comments in Brook (the other objects'
    // come from catalog::pg_overlay).
    replace_udf(ctx, no_description("shobj_description", &[2]));
    replace_udf(ctx, super::pg_expandarray::udf());
    replace_udf(ctx, no_text_for_oid("pg_get_function_result"));
    replace_udf(ctx, no_text_for_oid("pg_get_function_arguments"));
    replace_udf(ctx, no_text_for_oid("pg_get_function_identity_arguments"));
    // psql's `\df+` asks for a function's SQL body: Brook's are built in.
    replace_udf(ctx, no_text_for_oid("pg_get_function_sqlbody"));
    // Every function and collation Brook has is on the search path.
    replace_udf(ctx, always_visible("pg_function_is_visible"));
    replace_udf(ctx, always_visible("pg_collation_is_visible"));
    // A Brook server is never a standby replaying another's log (pg_dump
    // asks before it starts).
    replace_udf(
        ctx,
        create_udf(
            "pg_is_in_recovery",
            vec![],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|_args: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))))
            }),
        ),
    );
    super::pg_scalar_functions::register(ctx);
}

fn always_visible(name: &str) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            Ok(match args.first() {
                Some(ColumnarValue::Array(a)) => ColumnarValue::Array(Arc::new(BooleanArray::from(
                    vec![true; a.len()],
                ))
                    as ArrayRef),
                _ => ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))),
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::execution::SessionStateBuilder;

    use super::*;

    /// Every session copies the server's state; in each copy `to_char` must
    /// be PostgreSQL's, never DataFusion's (which refuses numbers).
    #[tokio::test]
    async fn replaced_functions_stay_replaced_in_copied_states() {
        // A state's copies all share its hash order: each round starts anew.
        for _ in 0..32 {
            let ctx = SessionContext::new();
            register(&ctx);
            let copy = SessionContext::new_with_state(
                SessionStateBuilder::new_from_existing(ctx.state()).build(),
            );
            let df = copy
                .sql("SELECT to_char(1234.5, '9,999.99')")
                .await
                .expect("to_char of a number plans");
            let batches = df.collect().await.expect("to_char of a number runs");
            assert_eq!(
                batches[0].column(0).as_string::<i32>().value(0),
                " 1,234.50"
            );
        }
    }
}
