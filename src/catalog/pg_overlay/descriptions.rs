//! `pg_description` rows for the comments users made (catalog::comments),
//! after datafusion-pg-catalog's own (the built-in functions'), and
//! `obj_description` / `col_description`, which psql's `\d+`, `\dt+` and
//! `\dn+` call to show them.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int32Array, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};

use super::catalog_oids::fixed_oid;
use super::functions::{Snapshot, arrays, oids, seen};
use super::relations::Relations;
use crate::catalog::comments::Described;
use crate::catalog::settings::with_session;

/// One comment as `pg_description` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub objoid: i32,
    pub classoid: i32,
    pub objsubid: i32,
    pub text: String,
}

const PG_CLASS: i32 = 1259;
const PG_NAMESPACE: i32 = 2615;

/// The comments with the OIDs `pg_class` and `pg_namespace` give their
/// objects now; one on an object the relations do not list is left out.
pub(super) fn numbered(
    relations: &Relations,
    comments: Vec<(Described, String)>,
) -> Vec<Description> {
    comments
        .into_iter()
        .filter_map(|(described, text)| {
            let (objoid, classoid, objsubid) = match described {
                Described::Schema(schema) => (relations.namespace(&schema)?, PG_NAMESPACE, 0),
                Described::Relation(name) => {
                    (relations.oid(&name.schema, &name.name)?, PG_CLASS, 0)
                }
                Described::Column(name, attnum) => (
                    relations.oid(&name.schema, &name.name)?,
                    PG_CLASS,
                    i32::from(attnum),
                ),
            };
            Some(Description {
                objoid,
                classoid,
                objsubid,
                text,
            })
        })
        .collect()
}

/// `inner` (datafusion-pg-catalog's rows, PostgreSQL's own) with a row per
/// comment. Its row for `public` gives way: that comment is Brook's to
/// keep or remove.
pub(super) fn with_comments(
    inner: RecordBatch,
    comments: &[Description],
    public: Option<i32>,
) -> DfResult<RecordBatch> {
    let inner = match public {
        Some(public) => without_row_for(inner, public, PG_NAMESPACE)?,
        None => inner,
    };
    if comments.is_empty() {
        return Ok(inner);
    }
    let n = comments.len();
    let schema = inner.schema();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let values: Option<ArrayRef> = match field.name().as_str() {
            "objoid" => Some(Arc::new(Int32Array::from_iter_values(
                comments.iter().map(|c| c.objoid),
            ))),
            "classoid" => Some(Arc::new(Int32Array::from_iter_values(
                comments.iter().map(|c| c.classoid),
            ))),
            "objsubid" => Some(Arc::new(Int32Array::from_iter_values(
                comments.iter().map(|c| c.objsubid),
            ))),
            "description" => Some(Arc::new(StringArray::from_iter_values(
                comments.iter().map(|c| c.text.as_str()),
            ))),
            _ => None,
        };
        columns.push(match values {
            Some(values) => cast(&values, field.data_type())?,
            None => new_null_array(field.data_type(), n),
        });
    }
    let added = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(concat_batches(&schema, [&inner, &added])?)
}

/// `inner` without the comment on object `objoid` of catalog `classoid`.
fn without_row_for(inner: RecordBatch, objoid: i32, classoid: i32) -> DfResult<RecordBatch> {
    let as_oids = |name: &str| -> DfResult<Option<ArrayRef>> {
        inner
            .column_by_name(name)
            .map(|c| cast(c, &DataType::Int32))
            .transpose()
            .map_err(Into::into)
    };
    let (Some(objoids), Some(classoids)) = (as_oids("objoid")?, as_oids("classoid")?) else {
        return Ok(inner);
    };
    let objoids = datafusion::common::cast::as_int32_array(&objoids)?;
    let classoids = datafusion::common::cast::as_int32_array(&classoids)?;
    let keep: datafusion::arrow::array::BooleanArray = (0..inner.num_rows())
        .map(|i| Some(!(objoids.value(i) == objoid && classoids.value(i) == classoid)))
        .collect();
    Ok(datafusion::arrow::compute::filter_record_batch(
        &inner, &keep,
    )?)
}

/// `obj_description(oid [, catalog])`: the comment on object `oid` of the
/// catalog named (`'pg_class'`, `'pg_namespace'`); with one argument, of
/// whichever catalog has one. NULL for no comment.
pub fn obj_description(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let oids = oids(&arrays[0])?;
        let catalogs = match arrays.get(1) {
            Some(names) => Some(cast(names, &DataType::Utf8)?),
            None => None,
        };
        let catalogs = catalogs
            .as_ref()
            .map(|names| datafusion::common::cast::as_string_array(names))
            .transpose()?;
        let (current, _) = seen(&snapshot, config)?;
        let texts: StringArray = (0..oids.len())
            .map(|row| {
                if oids.is_null(row) {
                    return None;
                }
                let oid = i32::try_from(oids.value(row)).ok()?;
                let classoid = match catalogs {
                    Some(names) if names.is_null(row) => return None,
                    Some(names) => Some(catalog_oid(names.value(row))?),
                    None => None,
                };
                current
                    .descriptions
                    .iter()
                    .find(|d| {
                        d.objoid == oid
                            && d.objsubid == 0
                            && classoid.is_none_or(|c| c == d.classoid)
                    })
                    .map(|d| d.text.clone())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
    };
    // Volatile: never folded at planning, before pg_class has been scanned.
    let signature = Signature::one_of(
        vec![TypeSignature::Any(1), TypeSignature::Any(2)],
        Volatility::Volatile,
    );
    with_session(
        "obj_description",
        signature,
        DataType::Utf8,
        Arc::new(function),
    )
}

/// `col_description(table oid, column number)`: the comment on that column.
pub fn col_description(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let tables = oids(&arrays[0])?;
        let columns = oids(&arrays[1])?;
        let (current, _) = seen(&snapshot, config)?;
        let texts: StringArray = tables
            .iter()
            .zip(columns.iter())
            .map(|(table, column)| {
                let (table, column) = (i32::try_from(table?).ok()?, i32::try_from(column?).ok()?);
                current
                    .descriptions
                    .iter()
                    .find(|d| d.objoid == table && d.classoid == PG_CLASS && d.objsubid == column)
                    .map(|d| d.text.clone())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
    };
    with_session(
        "col_description",
        Signature::any(2, Volatility::Volatile),
        DataType::Utf8,
        Arc::new(function),
    )
}

/// The OID of catalog `name` (`pg_class`, `pg_catalog.pg_class`).
fn catalog_oid(name: &str) -> Option<i32> {
    let name = name.trim().trim_start_matches("pg_catalog.");
    fixed_oid(name)
}
