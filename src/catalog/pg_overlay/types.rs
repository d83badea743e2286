//! `pg_type` with its function columns (`typinput`, `typreceive`, …) as
//! OIDs, the `regproc` values PostgreSQL stores, instead of the function
//! names datafusion-pg-catalog ships. Npgsql (Power BI's driver) tells arrays
//! from base types by joining `pg_proc ON proc.oid = typ.typreceive`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result as DfResult;

use super::relations::{int32, text};

/// The `regproc` columns of `pg_type`.
const REGPROC: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
];

/// The inner schema with the `regproc` columns as OIDs.
pub(super) fn schema(inner: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = inner
        .fields()
        .iter()
        .map(|f| {
            if REGPROC.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                Field::new(f.name(), DataType::Int32, f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `types` with each function name replaced by its OID in `procs` (`-`,
/// no function, is 0).
pub(super) fn with_function_oids(
    schema: &SchemaRef,
    types: &RecordBatch,
    procs: &RecordBatch,
) -> DfResult<RecordBatch> {
    let oid = int32(procs, "oid")?;
    let name = text(procs, "proname")?;
    let mut by_name: HashMap<&str, i32> = HashMap::new();
    for i in 0..procs.num_rows() {
        by_name
            .entry(name.value(i))
            .and_modify(|o| *o = (*o).min(oid.value(i)))
            .or_insert(oid.value(i));
    }
    let columns = schema
        .fields()
        .iter()
        .zip(types.columns())
        .map(|(field, column)| {
            if field.data_type() != &DataType::Int32 || column.data_type() != &DataType::Utf8 {
                return Ok(column.clone());
            }
            let names = text(types, field.name())?;
            let oids: Int32Array = (0..names.len())
                .map(|i| {
                    if names.is_null(i) {
                        return None;
                    }
                    Some(by_name.get(names.value(i)).copied().unwrap_or(0))
                })
                .collect();
            Ok(Arc::new(oids) as ArrayRef)
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
