//! `_pg_expandarray(array)`: PostgreSQL's `information_schema` helper that
//! yields one record `(x, n)` per element (the element and its 1-based
//! position). pgJDBC's `getPrimaryKeys()` and `getIndexInfo()` call it.
//! Here it returns the records as a list of structs, which the rewrite in
//! [`super::pg_rewrites`] unnests into rows.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, ListArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::cast::as_list_array;
use datafusion::common::{Result as DfResult, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgExpandArray {
    signature: Signature,
}

fn record_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

impl ScalarUDFImpl for PgExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        match args.first() {
            Some(DataType::List(element)) => Ok(DataType::List(Arc::new(Field::new_list_field(
                DataType::Struct(record_fields(element.data_type())),
                true,
            )))),
            Some(other) => plan_err!("_pg_expandarray takes an array, not {other}"),
            None => plan_err!("_pg_expandarray takes an array"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(array) = arrays.first() else {
            return plan_err!("_pg_expandarray takes an array");
        };
        let lists = as_list_array(array)?;
        let values = lists.values();
        let offsets = lists.offsets();
        // Each element's position within its own list.
        let mut positions = vec![0i32; values.len()];
        for window in offsets.windows(2) {
            let (start, end) = (window[0] as usize, window[1] as usize);
            for (n, slot) in positions[start..end].iter_mut().enumerate() {
                *slot = i32::try_from(n + 1).unwrap_or(i32::MAX);
            }
        }
        let records = StructArray::try_new(
            record_fields(values.data_type()),
            vec![
                values.clone(),
                Arc::new(Int32Array::from(positions)) as ArrayRef,
            ],
            None,
        )?;
        let field = Arc::new(Field::new_list_field(records.data_type().clone(), true));
        let expanded = ListArray::try_new(
            field,
            offsets.clone(),
            Arc::new(records),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(expanded)))
    }
}
