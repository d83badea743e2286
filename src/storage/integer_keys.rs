//! The key check of a large write (a COPY, an INSERT … SELECT) for the
//! commonest key: one integer column.
//!
//! The new keys go into one hash set, which finds a key that comes twice
//! among them; the stored keys are then read as one column and each is
//! looked up in that set. That is one pass over each side with no
//! repartitioning, where the general path (storage::table's semi-join)
//! hashes both sides through DataFusion's join. Other keys (several columns,
//! text) take the general path.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::catalog::TableProvider;
use futures::TryStreamExt;

use super::constraints::UniqueKey;
use crate::error::Result;

/// Whether a key of one column of type `data_type` can take this path.
pub fn applies(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

/// The first repeated key: the column it is in (new rows or stored rows)
/// and its row; `None` when every key is unique. `column` is the key's
/// position in `batches`; `current` reads the stored rows.
pub async fn first_duplicate(
    current: &Arc<dyn TableProvider>,
    batches: &[RecordBatch],
    column: usize,
    key: &UniqueKey,
    ctx: &datafusion::prelude::SessionContext,
) -> Result<Option<(ArrayRef, usize)>> {
    let mut seen: HashSet<i64> =
        HashSet::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    let mut null_seen = false;
    for batch in batches {
        let values = batch.column(column);
        let wide = cast(values, &DataType::Int64)?;
        let wide = wide.as_primitive::<Int64Type>();
        for row in 0..wide.len() {
            if wide.is_null(row) {
                if key.nulls_distinct {
                    continue;
                }
                if null_seen {
                    return Ok(Some((values.clone(), row)));
                }
                null_seen = true;
            } else if !seen.insert(wide.value(row)) {
                return Ok(Some((values.clone(), row)));
            }
        }
    }
    if seen.is_empty() && !null_seen {
        return Ok(None);
    }
    let name = key.columns[0].as_str();
    let mut stored = ctx
        .read_table(current.clone())?
        .select_columns(&[name])?
        .execute_stream()
        .await?;
    while let Some(batch) = stored.try_next().await? {
        let values = batch.column(0);
        let wide = cast(values, &DataType::Int64)?;
        let wide = wide.as_primitive::<Int64Type>();
        for row in 0..wide.len() {
            let repeated = if wide.is_null(row) {
                null_seen
            } else {
                seen.contains(&wide.value(row))
            };
            if repeated {
                return Ok(Some((values.clone(), row)));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;

    fn batch(values: Vec<Option<i32>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(values))]).unwrap()
    }

    fn key(nulls_distinct: bool) -> UniqueKey {
        UniqueKey {
            name: "t_pkey".into(),
            columns: vec!["id".into()],
            nulls_distinct,
        }
    }

    async fn duplicate(
        stored: Vec<Option<i32>>,
        new: Vec<Vec<Option<i32>>>,
        nulls_distinct: bool,
    ) -> Option<i32> {
        let stored = batch(stored);
        let table: Arc<dyn TableProvider> =
            Arc::new(MemTable::try_new(stored.schema(), vec![vec![stored]]).unwrap());
        let new: Vec<RecordBatch> = new.into_iter().map(batch).collect();
        let ctx = datafusion::prelude::SessionContext::new();
        first_duplicate(&table, &new, 0, &key(nulls_distinct), &ctx)
            .await
            .unwrap()
            .map(|(values, row)| {
                let values = values.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
                if values.is_null(row) {
                    -1
                } else {
                    values.value(row)
                }
            })
    }

    #[tokio::test]
    async fn finds_a_key_repeated_among_the_new_rows_or_already_stored() {
        let stored = vec![Some(1), Some(2), None];
        assert_eq!(
            duplicate(stored.clone(), vec![vec![Some(3), Some(4)]], true).await,
            None
        );
        assert_eq!(
            duplicate(
                stored.clone(),
                vec![vec![Some(3)], vec![Some(5), Some(3)]],
                true
            )
            .await,
            Some(3)
        );
        assert_eq!(
            duplicate(stored.clone(), vec![vec![Some(7), Some(2)]], true).await,
            Some(2)
        );
        // NULLs: distinct by default; NULLS NOT DISTINCT meets the stored one.
        assert_eq!(
            duplicate(stored.clone(), vec![vec![None, None]], true).await,
            None
        );
        assert_eq!(
            duplicate(stored.clone(), vec![vec![None]], false).await,
            Some(-1)
        );
        assert_eq!(
            duplicate(vec![], vec![vec![None, None]], false).await,
            Some(-1)
        );
    }
}
