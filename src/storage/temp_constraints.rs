//! PRIMARY KEY, UNIQUE and CHECK constraints on a temporary table.
//!
//! A temporary table is a DataFusion `MemTable` (storage::temp_tables),
//! which keeps constraints as information only. [`ConstrainedTemp`] wraps
//! one so that every write keeps them, with PostgreSQL's errors (23505 with
//! the key's DETAIL, 23514 with the failing row): an INSERT or COPY is
//! checked whole before any row is appended (a [`DataSink`] that collects
//! the statement's rows first), and an UPDATE, which `MemTable` applies in
//! place, is checked over the table it leaves and put back if it broke a
//! constraint. The rows live in one session's memory, so checking against
//! all of them is a scan of memory, not of files.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Constraints as DfConstraints, Result as DfResult, SchemaExt};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::{MemTable, TableType};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;

use super::constraints::{Check, UniqueKey, check_rows};
use crate::error::external;

/// A temporary table whose writes keep its keys and checks.
#[derive(Debug)]
pub struct ConstrainedTemp {
    rows: Arc<MemTable>,
    rules: Arc<Rules>,
}

#[derive(Debug)]
struct Rules {
    table: String,
    keys: Vec<UniqueKey>,
    checks: Vec<Check>,
}

impl ConstrainedTemp {
    pub fn new(rows: Arc<MemTable>, table: &str, keys: Vec<UniqueKey>, checks: Vec<Check>) -> Self {
        Self {
            rows,
            rules: Arc::new(Rules {
                table: table.to_string(),
                keys,
                checks,
            }),
        }
    }

    /// The rows, where the session's undo (storage::temp_tables) reads and
    /// restores them.
    pub fn memory(&self) -> &MemTable {
        &self.rows
    }
}

impl Rules {
    /// Refuse `rows` (the whole table a write would leave, the new rows
    /// last) if a check fails for one of `fresh` or a key repeats.
    fn check(&self, rows: &[RecordBatch], fresh: &[RecordBatch]) -> DfResult<()> {
        for batch in fresh {
            check_rows(&self.table, &self.checks, batch).map_err(external)?;
        }
        for key in &self.keys {
            self.check_key(key, rows)?;
        }
        Ok(())
    }

    fn check_key(&self, key: &UniqueKey, rows: &[RecordBatch]) -> DfResult<()> {
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for batch in rows {
            let columns: Vec<ArrayRef> = key
                .columns
                .iter()
                .map(|c| Ok(batch.column(batch.schema().index_of(c)?).clone()))
                .collect::<DfResult<_>>()?;
            let converter = RowConverter::new(
                columns
                    .iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect(),
            )?;
            let encoded = converter.convert_columns(&columns)?;
            for row in 0..batch.num_rows() {
                if key.nulls_distinct && columns.iter().any(|c| c.is_null(row)) {
                    continue;
                }
                if !seen.insert(encoded.row(row).data().to_vec()) {
                    return Err(external(key.violation(&columns, row)));
                }
            }
        }
        Ok(())
    }
}

/// Every row of `table` now.
async fn all_rows(table: &MemTable) -> Vec<Vec<RecordBatch>> {
    let mut partitions = Vec::with_capacity(table.batches.len());
    for partition in &table.batches {
        partitions.push(partition.read().await.clone());
    }
    partitions
}

#[async_trait]
impl TableProvider for ConstrainedTemp {
    fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    fn constraints(&self) -> Option<&DfConstraints> {
        self.rows.constraints()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.rows.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.rows.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.rows.supports_filters_pushdown(filters)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return datafusion::common::not_impl_err!("{insert_op} into a temporary table");
        }
        self.rows
            .schema()
            .logically_equivalent_names_and_types(&input.schema())?;
        let sink = CheckedSink {
            rows: self.rows.clone(),
            rules: self.rules.clone(),
            schema: self.rows.schema(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.rows.delete_from(state, filters).await
    }

    /// `MemTable` updates in place: the table it leaves is checked, and put
    /// back as it was if a constraint broke.
    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let before = all_rows(&self.rows).await;
        let updated = self.rows.update(state, assignments, filters).await?;
        let after: Vec<RecordBatch> = all_rows(&self.rows).await.into_iter().flatten().collect();
        if let Err(e) = self.rules.check(&after, &after) {
            for (partition, rows) in self.rows.batches.iter().zip(before) {
                *partition.write().await = rows;
            }
            return Err(e);
        }
        Ok(updated)
    }
}

/// Appends an INSERT's or COPY's rows once all of them keep the rules.
#[derive(Debug)]
struct CheckedSink {
    rows: Arc<MemTable>,
    rules: Arc<Rules>,
    schema: SchemaRef,
}

impl DisplayAs for CheckedSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ConstrainedTempSink({})", self.rules.table)
    }
}

#[async_trait]
impl DataSink for CheckedSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let mut fresh = Vec::new();
        while let Some(batch) = data.next().await.transpose()? {
            if batch.num_rows() > 0 {
                fresh.push(batch);
            }
        }
        let rows: usize = fresh.iter().map(RecordBatch::num_rows).sum();
        let Some(target) = self.rows.batches.first() else {
            return datafusion::common::internal_err!("a temporary table without a partition");
        };
        // Checked and appended under the partition's lock: nothing of this
        // session writes it meanwhile.
        let mut stored = target.write().await;
        let others: Vec<RecordBatch> = {
            let mut all = Vec::new();
            for partition in self.rows.batches.iter().skip(1) {
                all.extend(partition.read().await.iter().cloned());
            }
            all
        };
        let whole: Vec<RecordBatch> = others
            .into_iter()
            .chain(stored.iter().cloned())
            .chain(fresh.iter().cloned())
            .collect();
        self.rules.check(&whole, &fresh)?;
        stored.extend(fresh);
        Ok(rows as u64)
    }
}
