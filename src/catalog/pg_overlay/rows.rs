//! Rows for the overlay's tables, built by column name so that every column
//! the inner table declares is present whether Brook knows it or not.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};

/// A batch of `schema` with `rows` rows: the given columns, every other one
/// NULL where it may be and otherwise its type's zero (0, false, '').
pub fn batch(
    schema: &SchemaRef,
    rows: usize,
    given: Vec<(&str, ArrayRef)>,
) -> DfResult<RecordBatch> {
    let mut given: HashMap<&str, ArrayRef> = given.into_iter().collect();
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            if let Some(array) = given.remove(field.name().as_str()) {
                return Ok(array);
            }
            if field.is_nullable() {
                return Ok(new_null_array(field.data_type(), rows));
            }
            let zero = match field.data_type() {
                DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
                other => ScalarValue::new_zero(other)?,
            };
            zero.to_array_of_size(rows)
        })
        .collect::<DfResult<Vec<ArrayRef>>>()?;
    if let Some(name) = given.keys().next() {
        return Err(DataFusionError::Internal(format!(
            "pg_catalog has no column {name}"
        )));
    }
    debug_assert!(columns.iter().all(|c| c.len() == rows));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
